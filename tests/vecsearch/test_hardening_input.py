"""Issue 19, request validation in the engine: the limits hold for callers of the Python API
too (no HTTP body guard in front), each refusal names the field and the limit, and a refused
write changes nothing.

Also the scanners of :mod:`vecsearch.json_limits`, checked against plain recursive
definitions on seeded random JSON.
"""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np
import pytest

from vecsearch.database import Database
from vecsearch.errors import FilterError, ValidationError, VectorValueError
from vecsearch.filters import MAX_FILTER_DEPTH, parse_filter
from vecsearch.json_limits import (
    MAX_PAYLOAD_DEPTH,
    json_depth,
    lone_surrogate_path,
    may_hold_lone_surrogate,
    value_depth,
)
from vecsearch.payload_path import parse_path
from vecsearch.sparse_space import check_sparse
from vecsearch.validate import MAX_VECTOR_NORM, check_vectors, payload_json

BIG = [3e38, 3e38, 3e38, 3e38]
NORM = (
    "vector norm 6e+38 exceeds the limit 1e+15 (outside Cosine, larger vectors could make "
    "scores overflow float32); scale the vectors down"
)
PAYLOAD_DEPTH = (
    "payload nested deeper than 64 levels of objects and arrays (the limit; the payload "
    "object is level 1)"
)
LONE = (
    "holds a lone UTF-16 surrogate, which is not valid Unicode (escape characters outside "
    "the BMP as a surrogate pair, or send UTF-8)"
)


def _depth(v: Any) -> int:
    """The plain recursive definition."""
    if isinstance(v, dict):
        return 1 + max((_depth(x) for x in v.values()), default=0)
    if isinstance(v, list):
        return 1 + max((_depth(x) for x in v), default=0)
    return 0


_TRICKY = ["a[b{", 'q"]\\', "\\\\", '\\"', "x\\u1234", "}}}", '\\\\"[', '\\\\\\"{', "é[", "😀{"]


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if depth > 9 or r < 0.3:
        return rng.choice([1, -2.5, None, True, *_TRICKY])
    if r < 0.65:
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = [rng.choice(["k", "[", '"{', "\\", "]]"]) + str(i) for i in range(rng.randint(0, 3))]
    return {k: _random_json(rng, depth + 1) for k in keys}


def test_json_depth_agrees_with_the_recursive_definition() -> None:
    rng = random.Random(19)
    for _ in range(3000):
        v = _random_json(rng)
        want = _depth(v)
        for text in (json.dumps(v), json.dumps(v, ensure_ascii=False)):
            assert json_depth(text) == want, text
            assert json_depth(text.encode()) == want, text
            for limit in (0, 2, 5):
                assert (json_depth(text, limit) > limit) == (want > limit), (text, limit)
        assert value_depth(v, 100) == want
        assert (value_depth(v, 3) > 3) == (want > 3)


def test_json_depth_of_a_deep_body_stops_at_the_limit() -> None:
    deep = b"[" * 1_000_000 + b"]" * 1_000_000
    assert json_depth(deep) == 1_000_000
    assert json_depth(deep, 128) > 128
    assert json_depth(b'{"a": "[[[[[[[[", "b": [1, 2]}', 1) == 2  # strings are skipped


def test_lone_surrogates_are_found_escaped_or_raw_and_pairs_are_not() -> None:
    rng = random.Random(4)
    for _ in range(500):
        v = _random_json(rng)
        text = json.dumps(v)
        assert not may_hold_lone_surrogate(text.encode())
        assert lone_surrogate_path(v, "f") is None
    pair = json.dumps({"e": "😀"})  # ensure_ascii: "\ud83d\ude00", a valid pair
    assert "\\ud83d\\ude00" in pair and not may_hold_lone_surrogate(pair.encode())
    for escape in ("\\ud800", "\\udbff", "\\udc00", "\\uDFFF", "\\ud800\\ud800\\udc00"):
        body = f'{{"a": [1, {{"b": "x{escape}y"}}]}}'.encode()
        assert may_hold_lone_surrogate(body), escape
        path, what = lone_surrogate_path(json.loads(body), "payload")  # type: ignore[misc]
        assert path == "payload.a[1].b" and what.startswith("the string 'x\\ud"), what
    raw = b'{"k": "\xed\xb0\x80"}'  # UTF-8 form of U+DC00, which json.loads accepts
    assert may_hold_lone_surrogate(raw)
    assert lone_surrogate_path(json.loads(raw)) == ("k", "the string '\\udc00'")
    assert lone_surrogate_path({"a": {"\udc00": 1}}, "p") == ("p.a", "the key '\\udc00'")


def test_norm_limit_applies_outside_cosine_only() -> None:
    x = np.asarray([BIG, [1, 2, 3, 4]], dtype=np.float64)
    with pytest.raises(VectorValueError) as e:
        check_vectors(x, 4, lambda i: f"v[{i}]", cosine=False)
    assert str(e.value) == f"v[0]: {NORM}"
    out = check_vectors(x, 4, lambda i: f"v[{i}]", cosine=True)  # normalised: no overflow
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0)
    at_limit = np.full((1, 4), MAX_VECTOR_NORM / 2 * 0.999)  # norm just under 1e15
    assert check_vectors(at_limit, 4, str, cosine=False).shape == (1, 4)
    with pytest.raises(ValidationError) as e:
        check_sparse({"indices": [1, 2], "values": [3e38, 1.0]}, "q")
    assert str(e.value) == "q.values: " + NORM.replace("6e+38", "3e+38")


@pytest.fixture
def coll(db: Database):
    c = db.create_collection(
        "c",
        {
            "vectors": {
                "dot": {"size": 4, "distance": "Dot"},
                "l2": {"size": 4, "distance": "Euclid"},
                "m": {
                    "size": 4,
                    "distance": "Dot",
                    "multivector_config": {"comparator": "max_sim"},
                },
            }
        },
    )
    c.upsert(
        [
            {
                "id": i,
                "vector": {"dot": [1.0, i, 0, 0], "l2": [i, 1.0, 0, 0], "m": [[1.0, 0, 0, i]]},
                "payload": {"i": i, "tags": ["a", "b"]},
            }
            for i in range(1, 4)
        ]
    )
    return c


def state(c) -> Any:
    recs, _ = c.scroll(limit=100, with_vector=True)
    vectors = [{k: np.asarray(v).tolist() for k, v in r.vector.items()} for r in recs]
    return c.count(), c.store.seq, [(r.id, r.payload) for r in recs], vectors


REFUSED = [
    # (call, error type, message)
    (
        lambda c: c.upsert([{"id": 9, "vector": {"dot": BIG}}]),
        VectorValueError,
        f"points[0].vector.dot: {NORM}",
    ),
    (
        lambda c: c.upsert_batch([8, 9], {"l2": [[1, 1, 1, 1], BIG]}),
        VectorValueError,
        f"batch.vectors.l2[1]: {NORM}",
    ),
    (
        lambda c: c.update_vectors([{"id": 1, "vector": {"m": [[1, 1, 1, 1], BIG]}}]),
        VectorValueError,
        f"points[0].vector.m[1]: {NORM}",
    ),
    (lambda c: c.search(BIG, using="dot"), VectorValueError, f"vector.vector: {NORM}"),
    (lambda c: c.query({"query": BIG, "using": "l2"}), VectorValueError, f"query: {NORM}"),
    (
        lambda c: c.upsert([{"id": 9, "vector": {}, "payload": {"a": "x\ud800"}}]),
        ValidationError,
        f"points[0].payload.a: the string 'x\\ud800' {LONE}",
    ),
    (
        lambda c: c.upsert([{"id": 9, "vector": {}, "payload": {"ok": 1, "\udfff": 1}}]),
        ValidationError,
        f"points[0].payload: the key '\\udfff' {LONE}",
    ),
    (
        lambda c: c.upsert([{"id": 9, "vector": {}, "payload": {"n": [1, 2**64]}}]),
        ValidationError,
        "points[0].payload.n[1]: integer 18446744073709551616 is outside the 64-bit range "
        "[-9223372036854775808, 18446744073709551615] (send it as a float or a string)",
    ),
    (
        lambda c: c.upsert([{"id": 9, "vector": {}, "payload": _deep(MAX_PAYLOAD_DEPTH + 1)}]),
        ValidationError,
        f"points[0].payload: {PAYLOAD_DEPTH}",
    ),
    (  # deeper than Python's own recursion limit: json.dumps raises RecursionError
        lambda c: c.upsert([{"id": 9, "vector": {}, "payload": _deep(5000)}]),
        ValidationError,
        f"points[0].payload: {PAYLOAD_DEPTH}",
    ),
    (
        lambda c: c.set_payload(_deep(60), points=[1], key="a.b.c.d.e.f"),
        ValidationError,
        f"payload: {PAYLOAD_DEPTH}",
    ),
    (
        lambda c: c.set_payload({"x": 1}, points=[1], key="a\ud800"),
        ValidationError,
        f"key: the key 'a\\ud800' {LONE}",
    ),
    (
        lambda c: c.delete_payload(["tags", "\ud800"], points=[1]),
        ValidationError,
        f"keys[1]: the key '\\ud800' {LONE}",
    ),
    (
        lambda c: c.delete(filter={"must": [{"key": "tags", "match": {"any": ["a", "\udc00"]}}]}),
        FilterError,
        f"filter.must[0].match.any[1]: the string '\\udc00' {LONE}",
    ),
    (
        lambda c: c.delete(filter=_deep_filter(MAX_FILTER_DEPTH + 1)),
        FilterError,
        "filter: filter nested deeper than 64 levels (the limit; each filter inside must, "
        "should, must_not, min_should or nested adds a level)",
    ),
]


def _deep(levels: int) -> dict:
    """A payload ``levels`` deep (the payload object is level 1)."""
    v: dict = {"x": 1}
    for _ in range(levels - 1):
        v = {"a": v}
    return v


def _deep_filter(levels: int) -> dict:
    f: dict = {"must": [{"key": "i", "match": {"value": 1}}]}
    for i in range(levels - 1):
        f = {"should": [f]} if i % 2 else {"must_not": f}
    assert _filter_levels(f) == levels
    return f


def _filter_levels(f: Any) -> int:
    if not isinstance(f, dict) or "key" in f:
        return 0
    subs = [c for k in ("must", "should", "must_not") for c in _as_list(f.get(k))]
    return 1 + max((_filter_levels(c) for c in subs), default=0)


def _as_list(v: Any) -> list:
    return [] if v is None else v if isinstance(v, list) else [v]


@pytest.mark.parametrize(("call", "kind", "message"), REFUSED)
def test_refused_write_or_query_names_the_field_and_changes_nothing(coll, call, kind, message):
    before = state(coll)
    with pytest.raises(kind) as e:
        call(coll)
    assert str(e.value) == message
    assert state(coll) == before


def test_limits_themselves_are_accepted(coll) -> None:
    """A payload of exactly 64 levels, a filter of exactly 64, a vector just under the norm
    limit: stored or answered, with finite scores."""
    coll.upsert([{"id": 9, "vector": {}, "payload": _deep(MAX_PAYLOAD_DEPTH)}])
    assert coll.retrieve([9], with_payload=True)[0].payload == _deep(MAX_PAYLOAD_DEPTH)
    assert coll.count(filter=_deep_filter(MAX_FILTER_DEPTH)) in (0, 1, 2, 3, 4)
    v = [4.99e14] * 4
    coll.upsert([{"id": 10, "vector": {"dot": v, "l2": [-x for x in v], "m": [v, v]}}])
    for using in ("dot", "l2"):
        hits = coll.search(v, using=using, limit=5)
        assert 10 in [h.id for h in hits]
        assert all(np.isfinite(h.score) for h in hits)
    hits = coll.query({"query": [v] * 40, "using": "m", "limit": 5})
    assert all(np.isfinite(h.score) for h in hits)


def test_filter_depth_counts_nested_conditions_and_single_clauses() -> None:
    leaf = {"key": "i", "match": {"value": 1}}
    f: Any = leaf
    for level in range(1, MAX_FILTER_DEPTH + 2):  # each wrapping adds one filter level
        f = {"must": f} if level % 3 else {"must": {"nested": {"key": "arr", "filter": f}}}
        if level <= MAX_FILTER_DEPTH:
            assert parse_filter(f) is not None
    with pytest.raises(FilterError) as e:
        parse_filter(f, "flt")
    assert str(e.value).startswith("flt: filter nested deeper than 64 levels (the limit;")


def test_payload_keys_with_lone_surrogates_are_refused() -> None:
    with pytest.raises(ValidationError) as e:
        parse_path("a.\udc00b", "order_by.key")
    assert str(e.value) == f"order_by.key: the key 'a.\\udc00b' {LONE}"
    assert parse_path("a.😀", "k") == (("key", "a"), ("key", "😀"))
    assert payload_json({"e": "😀", "u": 2**64 - 1, "s": -(2**63)}, "p") == (
        '{"e":"😀","u":18446744073709551615,"s":-9223372036854775808}'
    )
