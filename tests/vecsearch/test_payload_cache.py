"""Automatic payload indexes (vecsearch.payload_index_auto): filters on fields without a
declared index are answered by an index built on first use and kept current by writes, with
exactly the payload scan's answers.

The oracle is the scan itself: the same filter evaluated with automatic indexes switched off
(``Selector.auto_index = None``) over the same state, on seeded random payloads that mix
types (strings, integers, floats, bools, date-times, arrays, nulls, missing fields, integers
beyond 2**53) and after every kind of write.
"""

from __future__ import annotations

import numpy as np
import pytest

from vecsearch.database import Database
from vecsearch.filters import parse_filter
from vecsearch.payload_index_auto import AutoIndexes, auto_type

DIM = 4
WORDS = ["a", "b", "ab", "ba", "abc", ""]


def rand_value(rng: np.random.Generator):
    kind = int(rng.integers(0, 10))
    if kind == 0:
        return WORDS[int(rng.integers(0, len(WORDS)))]
    if kind == 1:
        return int(rng.integers(-3, 4))
    if kind == 2:
        return float(rng.integers(-6, 7)) / 2
    if kind == 3:
        return bool(rng.integers(0, 2))
    if kind == 4:
        return f"2024-01-0{int(rng.integers(1, 4))}T00:00:00Z"
    if kind == 5:
        return [rand_value(rng) for _ in range(int(rng.integers(0, 3)))]
    if kind == 6:
        return None
    if kind == 7:
        return 2**53 + int(rng.integers(0, 3))
    return int(rng.integers(0, 3))


def rand_payload(rng: np.random.Generator) -> dict:
    p = {}
    for key in ("f", "g"):
        if rng.random() < 0.8:
            p[key] = rand_value(rng)
    if rng.random() < 0.3:
        p["o"] = {"f": rand_value(rng)}
    return p


FILTERS = [
    {"must": [{"key": "f", "match": {"value": "a"}}]},
    {"must": [{"key": "f", "match": {"value": 1}}]},
    {"must": [{"key": "f", "match": {"value": True}}]},
    {"must": [{"key": "f", "match": {"any": ["a", "ab"]}}]},
    {"must": [{"key": "f", "match": {"any": [0, 2]}}]},
    {"must": [{"key": "f", "match": {"prefix": "a"}}]},
    {"must": [{"key": "f", "match": {"substring": "b"}}]},
    {"must": [{"key": "f", "range": {"gte": 0.5, "lt": 2}}]},
    {"must": [{"key": "f", "range": {"gt": 2**53}}]},
    {"must": [{"key": "f", "range": {"gte": "2024-01-02T00:00:00Z"}}]},
    {"should": [{"key": "f", "match": {"value": 0}}, {"key": "g", "match": {"value": "b"}}]},
    {"must_not": [{"key": "g", "range": {"lt": 0}}]},
    {"must": [{"key": "o.f", "match": {"value": 2}}], "must_not": [{"key": "f", "is_null": True}]},
    {"min_should": {"conditions": [{"key": "f", "match": {"value": 1}},
                                   {"key": "g", "match": {"value": 1}},
                                   {"key": "g", "range": {"gt": 0}}], "min_count": 2}},
    # not answerable by an automatic index: still scanned, same answer
    {"must": [{"key": "f", "match": {"except": ["a"]}}]},
    {"must": [{"key": "f", "values_count": {"gte": 2}}]},
]  # fmt: skip


def scan_mask(coll, flt):
    sel = coll._state.selector()
    sel.auto_index = None
    return sel.mask(parse_filter(flt))


def check_all(coll) -> None:
    with coll.reading():
        for flt in FILTERS:
            got = coll.filter_mask(parse_filter(flt))
            want = scan_mask(coll, flt)
            assert np.array_equal(got, want), flt
            assert coll.count(flt) == int(want.sum())


@pytest.fixture
def coll(tmp_path):
    db = Database(tmp_path / "data")
    c = db.create_collection("p", {"vectors": {"size": DIM, "distance": "Dot"}})
    yield c
    db.close()


def test_auto_indexes_answer_as_the_scan_does_through_writes(coll, monkeypatch):
    monkeypatch.setattr(AutoIndexes, "MAX_INDEXES", 16)  # the filters use 9 (field, type)
    rng = np.random.default_rng(19)
    vec = [1.0, 0.0, 0.0, 0.0]
    coll.upsert([{"id": i, "vector": vec, "payload": rand_payload(rng)} for i in range(300)])
    check_all(coll)
    built = coll._state.auto.built
    assert built == 9  # f: keyword, integer, bool, float, datetime; g: 3 types; o.f
    check_all(coll)
    assert coll._state.auto.built == built  # reused, not rebuilt
    for step in range(6):  # every kind of write keeps them current
        ids = [int(x) for x in rng.integers(0, 400, size=20)]
        coll.upsert([{"id": i, "vector": vec, "payload": rand_payload(rng)} for i in set(ids)])
        coll.delete(points=ids[:5])
        live = [r.id for r in coll.retrieve(ids[5:10], with_payload=False)]
        if live:
            coll.overwrite_payload(rand_payload(rng), points=live)
            coll.set_payload({"g": rand_value(rng)}, points=live[:2])
            coll.delete_payload(["f"], points=live[-1:])
        coll.set_payload({"f": "a"}, filter={"must": [{"key": "g", "match": {"value": 1}}]})
        coll.batch_update(
            [
                {"upsert": {"points": [{"id": 1000 + step, "vector": vec, "payload": {"f": 1}}]}},
                {"delete": {"points": ids[10:12]}},
            ]
        )
        check_all(coll)
    # a search with such a filter returns exactly the points that pass
    flt = {"must": [{"key": "f", "match": {"any": ["a", "ab"]}}]}
    hits = coll.search(vec, limit=1000, filter=flt, with_payload=True)
    with coll.reading():
        want = int(scan_mask(coll, flt).sum())
    assert len(hits) == want > 0


def test_declared_index_wins_and_the_auto_index_is_not_in_the_schema(coll):
    vec = [1.0, 0.0, 0.0, 0.0]
    coll.upsert([{"id": i, "vector": vec, "payload": {"u": f"t{i % 3}"}} for i in range(30)])
    assert coll.count({"must": [{"key": "u", "match": {"value": "t1"}}]}) == 10
    assert coll._state.auto.indexes and coll.payload_schema() == {}
    coll.create_payload_index("u", "keyword")
    built = coll._state.auto.built
    assert coll.count({"must": [{"key": "u", "match": {"value": "t2"}}]}) == 10
    assert coll._state.auto.built == built  # the declared index answered


def test_memory_is_bounded_by_the_number_of_indexes(coll, monkeypatch):
    monkeypatch.setattr(AutoIndexes, "MAX_INDEXES", 3)
    vec = [1.0, 0.0, 0.0, 0.0]
    coll.upsert([{"id": i, "vector": vec, "payload": {f"k{j}": i % 4 for j in range(6)}}
                 for i in range(40)])  # fmt: skip
    for j in range(6):
        assert coll.count({"must": [{"key": f"k{j}", "match": {"value": 1}}]}) == 10
        assert len(coll._state.auto.indexes) <= 3
    assert set(coll._state.auto.indexes) == {(f"k{j}", "integer") for j in (3, 4, 5)}
    # a dropped index is rebuilt when needed, with the same answer
    assert coll.count({"must": [{"key": "k0", "match": {"value": 2}}]}) == 10


def test_no_auto_index_past_the_point_budget(coll, monkeypatch):
    monkeypatch.setattr(AutoIndexes, "POINT_BUDGET", 50)
    vec = [1.0, 0.0, 0.0, 0.0]
    coll.upsert([{"id": i, "vector": vec, "payload": {"a": i % 2, "b": i % 2}} for i in range(20)])
    assert coll.count({"must": [{"key": "a", "match": {"value": 1}}]}) == 10
    assert coll.count({"must": [{"key": "b", "match": {"value": 1}}]}) == 10
    assert len(coll._state.auto.indexes) == 2  # 50 // 20 points
    assert coll.count({"must": [{"key": "a", "match": {"value": "x"}}]}) == 0
    assert len(coll._state.auto.indexes) == 2  # the least recently used one made room
    assert set(coll._state.auto.indexes) == {("b", "integer"), ("a", "keyword")}
    monkeypatch.setattr(AutoIndexes, "POINT_BUDGET", 10)
    vec = [1.0, 0.0, 0.0, 0.0]
    coll.upsert([{"id": i, "vector": vec, "payload": {"k": i % 2}} for i in range(20)])
    assert coll.count({"must": [{"key": "k", "match": {"value": 1}}]}) == 10
    assert ("k", "integer") not in coll._state.auto.indexes  # 10 // 20 points: none


def test_auto_type_only_for_conditions_with_the_scans_meaning():
    def cond(c):
        return parse_filter({"must": [c]}).must[0]

    assert auto_type(cond({"key": "k", "match": {"value": "x"}})) == "keyword"
    assert auto_type(cond({"key": "k", "match": {"value": 3}})) == "integer"
    assert auto_type(cond({"key": "k", "match": {"value": False}})) == "bool"
    assert auto_type(cond({"key": "k", "range": {"gt": 1}})) == "float"
    assert auto_type(cond({"key": "k", "range": {"gt": "2024-01-01T00:00:00Z"}})) == "datetime"
    for c in (
        {"key": "k", "match": {"text": "x"}},
        {"key": "k", "match": {"except": [1]}},
        {"key": "k", "values_count": {"gt": 1}},
        {"key": "k", "geo_radius": {"center": {"lon": 0, "lat": 0}, "radius": 1}},
    ):
        assert auto_type(cond(c)) is None, c
