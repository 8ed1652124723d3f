"""Filter semantics: Qdrant's documented cases, and random filters on random payloads against
an independent Python oracle (itself checked against qdrant-client's local mode), evaluated
both point by point and through a collection (with and without payload indexes)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qdrant_client.http import models
from qdrant_client.local.payload_filters import check_filter as local_check_filter

from vecsearch.errors import FilterError, ValidationError
from vecsearch.filter_eval import matches
from vecsearch.filters import parse_filter

# --------------------------------------------------------------------------------------------
# Documented cases (Qdrant's condition-checker tests and filtering docs)
# --------------------------------------------------------------------------------------------

PAYLOAD = {
    "price": 499.90,
    "amount": 10,
    "rating": [3, 7, 9, 9],
    "color": "red",
    "has_delivery": True,
    "shipped_at": "2020-02-15T00:00:00Z",
    "parts": [],
    "packaging": None,
    "not_null": [None],
    "country": {
        "name": "Germany",
        "cities": [
            {"name": "Berlin", "population": 3.7, "sightseeing": ["Brandenburg Gate"]},
            {"name": "Munich", "population": 1.5, "sightseeing": ["Marienplatz", "Park"]},
        ],
    },
}


def ok(flt: dict, payload: dict = PAYLOAD, pid=1) -> bool:
    return matches(parse_filter(flt), payload, pid)


def must(cond: dict) -> dict:
    return {"must": [cond]}


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        ({"is_empty": {"key": "price"}}, False),
        ({"is_empty": {"key": "something_new"}}, True),
        ({"is_empty": {"key": "parts"}}, True),
        ({"is_empty": {"key": "not_null"}}, False),
        ({"is_empty": {"key": "packaging"}}, True),
        ({"is_null": {"key": "amount"}}, False),
        ({"is_null": {"key": "parts"}}, False),
        ({"is_null": {"key": "something_else"}}, False),
        ({"is_null": {"key": "packaging"}}, True),
        ({"is_null": {"key": "not_null"}}, True),  # an array with a null (local mode)
        ({"key": "color", "match": {"value": "red"}}, True),
        ({"key": "color", "match": {"value": "blue"}}, False),
        ({"key": "has_delivery", "match": {"value": True}}, True),
        ({"key": "has_delivery", "match": {"value": 1}}, False),  # bool is not an integer
        ({"key": "amount", "match": {"value": 10}}, True),
        ({"key": "amount", "match": {"value": True}}, False),
        ({"key": "price", "match": {"value": 499}}, False),  # float is not an integer
        ({"key": "rating", "match": {"value": 7}}, True),  # arrays: any element
        ({"key": "rating", "match": {"any": [1, 9]}}, True),
        ({"key": "rating", "match": {"any": ["9"]}}, False),
        ({"key": "rating", "match": {"except": [3, 7, 9]}}, False),
        ({"key": "rating", "match": {"except": [3, 7]}}, True),
        ({"key": "color", "match": {"except": ["blue"]}}, True),
        ({"key": "color", "match": {"except": [1, 2]}}, True),  # other type: not excluded
        ({"key": "missing", "match": {"except": ["blue"]}}, False),  # missing never matches
        ({"key": "packaging", "match": {"except": ["x"]}}, False),  # null never matches
        ({"key": "color", "match": {"text": "re"}}, False),  # tokens, not substrings
        ({"key": "color", "match": {"text": "RED"}}, True),  # lowercased tokens
        ({"key": "color", "match": {"substring": "re"}}, True),
        ({"key": "color", "match": {"prefix": "Re"}}, False),
        ({"key": "price", "range": {"gte": 400, "lt": 500}}, True),
        ({"key": "price", "range": {"gt": 499.9}}, False),
        ({"key": "rating", "range": {"gt": 8}}, True),
        ({"key": "has_delivery", "range": {"gte": 0}}, False),  # bools are not numbers
        ({"key": "shipped_at", "range": {"gte": "2020-02-01T00:00:00Z", "lt": "2020-03-01"}}, True),
        ({"key": "shipped_at", "range": {"gte": "2020-03-01T00:00:00+00:00"}}, False),
        ({"key": "rating", "values_count": {"lt": 5}}, True),
        ({"key": "rating", "values_count": {"gte": 10}}, False),
        ({"key": "country.name", "match": {"value": "Germany"}}, True),
        ({"key": "country.cities[].name", "match": {"value": "Munich"}}, True),
        ({"key": "country.cities.name", "match": {"value": "Munich"}}, False),  # need []
        ({"key": "country.cities[].population", "range": {"gte": 3}}, True),
        ({"key": "country.cities[1].population", "range": {"gte": 3}}, False),
        ({"key": "country.cities[].sightseeing", "match": {"value": "Park"}}, True),
        ({"key": "country.cities[].sightseeing", "values_count": {"gt": 1}}, True),
        ({"has_id": [1, 5]}, True),
        ({"has_id": [2]}, False),
        (
            {
                "nested": {
                    "key": "country.cities",
                    "filter": {
                        "must": [
                            {"key": "name", "match": {"value": "Berlin"}},
                            {"key": "population", "range": {"gt": 3}},
                        ]
                    },
                }
            },
            True,
        ),
        (
            {
                "nested": {
                    "key": "country.cities",
                    "filter": {
                        "must": [
                            {"key": "name", "match": {"value": "Munich"}},
                            {"key": "population", "range": {"gt": 3}},
                        ]
                    },
                }
            },
            False,
        ),
        ({"nested": {"key": "country", "filter": {}}}, False),  # an object is not an array
        ({"key": "parts", "is_empty": True}, True),
        ({"key": "parts", "is_empty": False}, False),
    ],
)
def test_documented_condition(cond, expected):
    assert ok(must(cond)) is expected
    assert ok({"must_not": [cond]}) is (not expected)


def test_clauses():
    red = {"key": "color", "match": {"value": "red"}}
    blue = {"key": "color", "match": {"value": "blue"}}
    ten = {"key": "amount", "match": {"value": 10}}
    assert ok({"should": [red, blue]})
    assert not ok({"should": [blue]})
    assert ok({"should": []})  # as in Qdrant (and local mode): an empty should is no constraint
    assert ok({"must": []})
    assert ok({})
    assert ok({"must": red})  # a single condition instead of a list
    assert ok({"min_should": {"conditions": [red, blue, ten], "min_count": 2}})
    assert not ok({"min_should": {"conditions": [red, blue, ten], "min_count": 3}})
    assert ok({"must": [{"should": [blue, {"must_not": [blue]}]}]})
    assert matches(None, {}, None)


@pytest.mark.parametrize(
    ("flt", "field"),
    [
        ({"must": [{"key": "a", "match": {"value": 1.5}}]}, "filter.must[0].match.value"),
        ({"must": [{"key": "a", "match": {"any": [1, "x"]}}]}, "filter.must[0].match.any"),
        ({"must": [{"key": "a", "match": {"foo": 1}}]}, "filter.must[0].match.foo"),
        ({"must": [{"key": "a", "match": {"value": 1, "text": "x"}}]}, "filter.must[0].match"),
        ({"must": [{"key": "a", "range": {"gt": "yesterday"}}]}, "filter.must[0].range.gt"),
        ({"must": [{"key": "a", "range": {"between": 1}}]}, "filter.must[0].range.between"),
        ({"must": [{"key": "a"}]}, "filter.must[0]"),
        ({"must": [{"key": "a..b", "match": {"value": 1}}]}, "filter.must[0].key"),
        ({"must": [{"key": 5, "match": {"value": 1}}]}, "filter.must[0].key"),
        ({"should": [{"has_id": [-1]}]}, "filter.should[0].has_id[0]"),
        ({"should": [{"has_id": "1"}]}, "filter.should[0].has_id"),
        ({"must_not": [{"bogus": 1}]}, "filter.must_not[0].bogus"),
        (
            {"must": [{"key": "g", "geo_radius": {"center": {}}}]},
            "filter.must[0].geo_radius.radius",
        ),
        ({"mustnt": []}, "filter.mustnt"),
        ({"min_should": {"conditions": [], "min_count": -1}}, "filter.min_should.min_count"),
        ({"min_should": {"conditions": [], "min_count": 0}}, "filter.min_should.min_count"),
        ({"must": [{"is_empty": {"key": "a", "x": 1}}]}, "filter.must[0].is_empty"),
        ({"must": [{"nested": {"key": "a"}}]}, "filter.must[0].nested"),
        ([1, 2], "filter"),
    ],
)
def test_malformed_filters_name_their_field(flt, field):
    with pytest.raises(FilterError) as info:
        parse_filter(flt)
    assert info.value.field == field
    assert info.value.code == "invalid_filter"
    assert isinstance(info.value, ValidationError)
    assert str(info.value).startswith(field + ":")


# --------------------------------------------------------------------------------------------
# Random payloads and filters against an independent oracle
# --------------------------------------------------------------------------------------------

KEYS = ["a", "b", "n.x", "arr[].x", "arr[]", "arr[0].x", "z"]


def oracle_values(payload, key):
    """Values at a path, written independently of vecsearch.payload_path."""
    current = [payload]
    for part in key.split("."):
        m = re.fullmatch(r"([a-z]+)((?:\[\d*\])*)", part)
        name, brackets = m.group(1), m.group(2)
        nxt = []
        for v in current:
            if isinstance(v, dict) and name in v:
                nxt.append(v[name])
        for br in re.findall(r"\[(\d*)\]", brackets):
            opened = []
            for v in nxt:
                if isinstance(v, list):
                    if br == "":
                        opened.extend(v)
                    elif int(br) < len(v):
                        opened.append(v[int(br)])
            nxt = opened
        current = nxt
    return current


def flat_values(payload, key):
    out = []
    for v in oracle_values(payload, key):
        out.extend(v if isinstance(v, list) else [v])
    return out


def is_int(v):
    return type(v) is int


def oracle_match(m, v):
    kind, arg = next(iter(m.items()))
    if kind == "value":
        return type(v) is type(arg) and v == arg
    if kind == "any":
        return any(type(v) is type(a) and v == a for a in arg)
    if kind == "except":
        if v is None:
            return False
        strs = all(isinstance(a, str) for a in arg)  # [] counts as a string list
        if (strs and isinstance(v, str)) or (not strs and is_int(v)):
            return v not in arg
        return True
    if not isinstance(v, str):  # text: every lowercased word of the query is a word of v
        return False
    words = set(re.findall(r"[^\W_]+", v.lower()))
    query = re.findall(r"[^\W_]+", arg.lower())
    return bool(query) and all(w in words for w in query)


def oracle_range(r, v):
    if not isinstance(v, int | float) or isinstance(v, bool):
        return False
    checks = {
        "gt": v > r.get("gt", -1e99),
        "gte": v >= r.get("gte", -1e99),
        "lt": v < r.get("lt", 1e99),
        "lte": v <= r.get("lte", 1e99),
    }
    return all(checks[k] for k in r)


def oracle_cond(c, payload, pid):
    if "key" in c:
        if "match" in c:
            return any(oracle_match(c["match"], v) for v in flat_values(payload, c["key"]))
        if "range" in c:
            return any(oracle_range(c["range"], v) for v in flat_values(payload, c["key"]))
        if "values_count" in c:  # null counts 0, and so does a missing field
            vals = oracle_values(payload, c["key"]) or [None]
            return any(
                oracle_range(
                    c["values_count"], len(v) if isinstance(v, list) else int(v is not None)
                )
                for v in vals
            )
    if "is_empty" in c:
        return all(v is None or v == [] for v in oracle_values(payload, c["is_empty"]["key"]))
    if "is_null" in c:  # null, or an array holding a null
        vals = oracle_values(payload, c["is_null"]["key"])
        return any(v is None or (isinstance(v, list) and None in v) for v in vals)
    if "has_id" in c:
        return pid in c["has_id"]
    if "nested" in c:  # objects of the array at key (a plain object is not an array)
        arrays = [v for v in oracle_values(payload, c["nested"]["key"]) if isinstance(v, list)]
        objs = [o for arr in arrays for o in arr if isinstance(o, dict)]
        return any(_oracle_filter(c["nested"]["filter"], o, None) for o in objs)
    return _oracle_filter(c, payload, pid)


def oracle_filter(f, payload, pid):
    """The hand-written oracle, cross-checked with qdrant-client's local mode."""
    res = _oracle_filter(f, payload, pid)
    local = local_check_filter(models.Filter.model_validate(f), payload, pid, {})
    assert res is local, "the oracle disagrees with local mode"
    return res


def _oracle_filter(f, payload, pid):
    res = True
    if "must" in f:
        res &= all(oracle_cond(c, payload, pid) for c in f["must"])
    if f.get("should"):
        res &= any(oracle_cond(c, payload, pid) for c in f["should"])
    if "must_not" in f:
        res &= not any(oracle_cond(c, payload, pid) for c in f["must_not"])
    if "min_should" in f:
        ms = f["min_should"]
        res &= sum(oracle_cond(c, payload, pid) for c in ms["conditions"]) >= ms["min_count"]
    return res


scalars = st.one_of(
    st.sampled_from(["x", "y", "xy", ""]),
    st.integers(-3, 3),
    st.sampled_from([0.5, -1.5, 2.0]),
    st.booleans(),
    st.none(),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3))
objects = st.fixed_dictionaries({}, optional={"x": values, "y": values})
payloads = st.fixed_dictionaries(
    {},
    optional={
        "a": values,
        "b": values,
        "n": objects,
        "arr": st.one_of(st.lists(st.one_of(objects, scalars), max_size=3), scalars),
    },
)

str_list = st.lists(st.sampled_from(["x", "y", "xy", ""]), max_size=3, unique=True)
int_list = st.lists(st.integers(-3, 3), max_size=3, unique=True)
matchers = st.one_of(
    st.builds(
        lambda v: {"value": v},
        st.one_of(st.sampled_from(["x", "y", ""]), st.integers(-3, 3), st.booleans()),
    ),
    st.builds(lambda v: {"any": v}, st.one_of(str_list, int_list)),
    st.builds(lambda v: {"except": v}, st.one_of(str_list, int_list)),
    st.builds(lambda v: {"text": v}, st.sampled_from(["x", "y", ""])),
)
bound = st.one_of(st.integers(-3, 3), st.sampled_from([-1.5, 0.5, 2.0]))
ranges = st.dictionaries(st.sampled_from(["gt", "gte", "lt", "lte"]), bound, min_size=1)
counts = st.dictionaries(st.sampled_from(["gt", "gte", "lt", "lte"]), st.integers(0, 3), min_size=1)
key = st.sampled_from(KEYS)
leaf = st.one_of(
    st.builds(lambda k, m: {"key": k, "match": m}, key, matchers),
    st.builds(lambda k, r: {"key": k, "range": r}, key, ranges),
    st.builds(lambda k, r: {"key": k, "values_count": r}, key, counts),
    st.builds(lambda k: {"is_empty": {"key": k}}, key),
    st.builds(lambda k: {"is_null": {"key": k}}, key),
    st.builds(lambda ids: {"has_id": ids}, st.lists(st.integers(0, 11), max_size=4)),
)


def _filters(children):
    clause = st.lists(children, max_size=3)
    return st.builds(
        lambda must, should, must_not, ms: {
            k: v
            for k, v in (
                ("must", must),
                ("should", should),
                ("must_not", must_not),
                ("min_should", ms),
            )
            if v is not None
        },
        st.none() | clause,
        st.none() | clause,
        st.none() | clause,
        st.none()
        | st.builds(lambda c, n: {"conditions": c, "min_count": n}, clause, st.integers(1, 2)),
    )


nested = st.builds(
    lambda k, f: {"nested": {"key": k, "filter": f}},
    st.sampled_from(["arr", "n"]),
    _filters(st.builds(lambda k, m: {"key": k, "match": m}, st.sampled_from(["x", "y"]), matchers)),
)
conditions = st.recursive(leaf | nested, _filters, max_leaves=6)
filters = _filters(conditions)


@settings(max_examples=300, deadline=None)
@given(flt=filters, payload=payloads, pid=st.integers(0, 11))
def test_random_filters_match_oracle(flt, payload, pid):
    assert matches(parse_filter(flt), payload, pid) is oracle_filter(flt, payload, pid)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.lists(payloads, min_size=1, max_size=12),
    flts=st.lists(filters, min_size=1, max_size=6),
    indexed=st.booleans(),
)
def test_collection_filtering_matches_oracle(tmp_path_factory, data, flts, indexed):
    """count / scroll / delete-free search through a collection, with payload indexes on
    or off, select exactly the oracle's points (indexes must never change the answer)."""
    from vecsearch.database import Database

    db = Database(tmp_path_factory.mktemp("f"))
    try:
        coll = db.create_collection("c", {"vectors": {"size": 2, "distance": "Euclid"}})
        if indexed:
            for k, t in (("a", "keyword"), ("b", "integer"), ("n.x", "float"), ("a", "bool")):
                coll.create_payload_index(k, t)
            coll.create_payload_index("arr[].x", "integer")
        rng = np.random.default_rng(len(data))
        coll.upsert_batch(list(range(len(data))), rng.normal(size=(len(data), 2)), data)
        for flt in flts:
            want = {i for i, p in enumerate(data) if oracle_filter(flt, p, i)}
            assert coll.count(flt) == len(want)
            recs, nxt = coll.scroll(filter=flt, limit=100)
            assert nxt is None and [r.id for r in recs] == sorted(want)
            hits = coll.search([0.0, 0.0], limit=20, filter=flt)
            assert {h.id for h in hits} == want
    finally:
        db.close()
