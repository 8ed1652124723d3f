"""Geo, full-text, datetime and uuid conditions and payload indexes, values_count and nested
payload selection: each against qdrant-client's local mode (point by point) where local mode
defines the answer, through a collection with and without the index, and the refusals."""

from __future__ import annotations

import random
import uuid

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qdrant_client.http import models
from qdrant_client.local import datetime_utils
from qdrant_client.local.payload_filters import check_filter
from qdrant_client.local.payload_value_extractor import exclude_payload, include_payload

from vecsearch.database import Database
from vecsearch.datetimes import parse_datetime
from vecsearch.errors import FilterError, ValidationError
from vecsearch.filter_eval import matches
from vecsearch.filters import parse_filter
from vecsearch.geo import as_geo_point, distance
from vecsearch.models import PayloadSelector
from vecsearch.payload_schema import IndexSpec, load_index_spec, parse_index_spec
from vecsearch.text.tokenizers import TextOptions, document_terms, query_terms, tokens


def local(flt: dict, payload: dict, pid: int = 1) -> bool:
    return check_filter(models.Filter.model_validate(flt), payload, pid, {})


def ours(flt: dict, payload: dict, pid: int = 1) -> bool:
    return matches(parse_filter(flt), payload, pid)


def _ring(*pts):
    return {"points": [{"lon": lon, "lat": lat} for lon, lat in pts]}


SQUARE = _ring((-70, -70), (60, -70), (60, 60), (-70, 60), (-70, -70))
HOLE = _ring((-65, -65), (0, -65), (0, 0), (-65, 0), (-65, -65))
GEO_CONDITIONS = [
    {"geo_radius": {"center": {"lon": 13.405, "lat": 52.52}, "radius": 600_000.0}},
    {"geo_radius": {"center": {"lon": 179.0, "lat": 0.0}, "radius": 300_000.0}},
    {
        "geo_bounding_box": {
            "top_left": {"lon": -10, "lat": 60},
            "bottom_right": {"lon": 30, "lat": 40},
        }
    },
    {
        "geo_bounding_box": {
            "top_left": {"lon": 170, "lat": 10},
            "bottom_right": {"lon": -170, "lat": -10},
        }
    },
    {"geo_polygon": {"exterior": SQUARE}},
    {"geo_polygon": {"exterior": SQUARE, "interiors": [HOLE]}},
]


def _geo_payload(rng: random.Random) -> dict:
    def point():
        # vertices and edges of the shapes above are drawn often: boundaries must agree too
        lon = rng.choice([rng.uniform(-180, 180), rng.choice([-70, -65, 0, 60, 170, -170, 13.405])])
        lat = rng.choice([rng.uniform(-90, 90), rng.choice([-70, -65, 0, 60, 10, -10, 52.52])])
        return {"lon": lon, "lat": lat}

    kind = rng.randrange(6)
    if kind == 0:
        return {}
    if kind == 1:
        return {"loc": [point() for _ in range(rng.randrange(4))]}
    if kind == 2:
        return {"loc": {"lon": "x", "lat": 1}}
    return {"loc": point()}


@pytest.mark.parametrize("cond", GEO_CONDITIONS, ids=lambda c: next(iter(c)))
def test_geo_conditions_agree_with_local_mode(cond):
    rng = random.Random(7)
    flt = {"must": [{"key": "loc", **cond}]}
    for _ in range(1500):
        p = _geo_payload(rng)
        assert ours(flt, p) is local(flt, p), p


def test_haversine_is_local_modes():
    from qdrant_client.local.geo import geo_distance

    rng = random.Random(1)
    for _ in range(200):
        a = (rng.uniform(-90, 90), rng.uniform(-180, 180))
        b = (rng.uniform(-90, 90), rng.uniform(-180, 180))
        assert distance(a[0], a[1], b[0], b[1]) == geo_distance(a[1], a[0], b[1], b[0])


def test_geo_index_answers_like_the_payload_scan(db):
    rng = random.Random(11)
    payloads = [_geo_payload(rng) for _ in range(600)]
    plain = db.create_collection("plain", {"vectors": {"size": 2, "distance": "Euclid"}})
    indexed = db.create_collection("indexed", {"vectors": {"size": 2, "distance": "Euclid"}})
    indexed.create_payload_index("loc", "geo")
    vecs = np.random.default_rng(0).normal(size=(len(payloads), 2))
    for c in (plain, indexed):
        c.upsert_batch(list(range(len(payloads))), vecs, payloads)
    # updates move points between one, several and no locations
    changed = [_geo_payload(rng) for _ in range(100)]
    for c in (plain, indexed):
        c.upsert_batch(list(range(100)), vecs[:100], changed)
        c.delete([100, 101, 102])
    final = changed + payloads[100:]
    for cond in GEO_CONDITIONS:
        flt = {"must": [{"key": "loc", **cond}]}
        want = sorted(i for i, p in enumerate(final) if i not in (100, 101, 102) and local(flt, p))
        for c in (plain, indexed):
            recs, _ = c.scroll(filter=flt, limit=1000)
            assert [r.id for r in recs] == want
        # mixed with a condition no index answers (the scan path keeps the index's answer)
        mixed = {"must": [flt["must"][0], {"is_empty": {"key": "nothing"}}]}
        assert indexed.count(mixed) == len(want)
    info = indexed.payload_schema()["loc"]
    assert info == {
        "data_type": "geo",
        "points": sum(1 for p in final[:100] + final[103:] if _has_point(p)),
    }


def _has_point(p: dict) -> bool:
    loc = p.get("loc")
    locs = loc if isinstance(loc, list) else [loc]
    return any(as_geo_point(x) is not None for x in locs)


@pytest.mark.parametrize(
    ("cond", "field"),
    [
        ({"geo_radius": {"center": {"lon": 0, "lat": 91}, "radius": 1}}, "geo_radius.center.lat"),
        ({"geo_radius": {"center": {"lon": -181, "lat": 0}, "radius": 1}}, "geo_radius.center.lon"),
        ({"geo_radius": {"center": {"lon": 0, "lat": 0}, "radius": -1}}, "geo_radius.radius"),
        ({"geo_radius": {"center": {"lon": 0, "lat": 0}}}, "geo_radius.radius"),
        ({"geo_radius": {"center": {"lon": "0", "lat": 0}, "radius": 1}}, "geo_radius.center.lon"),
        ({"geo_bounding_box": {"top_left": {"lon": 0, "lat": 0}}}, "geo_bounding_box.bottom_right"),
        (
            {"geo_polygon": {"exterior": _ring((0, 0), (1, 0), (0, 0))}},
            "geo_polygon.exterior.points",
        ),
        (
            {"geo_polygon": {"exterior": _ring((0, 0), (1, 0), (1, 1), (0, 1))}},
            "geo_polygon.exterior.points",
        ),
        (
            {"geo_polygon": {"exterior": SQUARE, "interiors": [_ring((0, 0), (1, 1), (0, 0))]}},
            "geo_polygon.interiors[0].points",
        ),
        ({"geo_polygon": {"exterior": SQUARE, "holes": []}}, "geo_polygon.holes"),
        (
            {
                "geo_radius": {"center": {"lon": 0, "lat": 0}, "radius": 1},
                "geo_polygon": {"exterior": SQUARE},
            },
            "geo_polygon",
        ),
    ],
)
def test_bad_geo_conditions_name_their_field(cond, field):
    with pytest.raises(FilterError) as info:
        parse_filter({"must": [{"key": "loc", **cond}]})
    assert info.value.field == f"filter.must[0].{field}"


# --------------------------------------------------------------------------------------------
# Full text
# --------------------------------------------------------------------------------------------

TEXTS = [
    "The quick brown fox jumps over the lazy dog",
    "Qdrant is a vector database; vectors are fast",
    "quick-brown FOX",
    "über Straße café",
    "北京欢迎你 hello",
    "",
    "dog_fox jumps",
]
QUERIES = ["quick fox", "fox quick", "brown fox", "fox brown", "Vector", "cafe", "dog", "", "qdr"]


@pytest.mark.parametrize("kind", ["text", "text_any", "phrase"])
def test_unindexed_text_matches_agree_with_local_mode(kind):
    for t in TEXTS:
        for q in QUERIES:
            flt = {"must": [{"key": "t", "match": {kind: q}}]}
            for p in ({"t": t}, {"t": [t, "other words"]}, {"t": 5}, {}):
                assert ours(flt, p) is local(flt, p), (kind, t, q, p)


def test_prefix_and_substring_matches_agree_with_local_mode():
    for t in TEXTS:
        for q in ("qu", "Qu", "fox", "", "über"):
            for kind in ("prefix", "substring"):
                flt = {"must": [{"key": "t", "match": {kind: q}}]}
                assert ours(flt, {"t": t}) is local(flt, {"t": t})


def test_tokenizers():
    assert tokens("Hello, World! foo_bar", TextOptions()) == ["hello", "world", "foo", "bar"]
    assert tokens("Hello, World!", TextOptions(tokenizer="whitespace")) == ["hello,", "world!"]
    assert tokens("Hello", TextOptions(lowercase=False)) == ["Hello"]
    assert tokens("北京欢迎你 hi", TextOptions(tokenizer="multilingual")) == [
        "北",
        "京",
        "欢",
        "迎",
        "你",
        "hi",
    ]
    assert tokens("café Ação", TextOptions(ascii_folding=True)) == ["cafe", "acao"]
    opts = TextOptions(min_token_len=3, max_token_len=5)
    assert tokens("a bb ccc dddddd", opts) == ["ccc"]
    prefix = TextOptions(tokenizer="prefix", min_token_len=2, max_token_len=4)
    assert document_terms("Qdrant", prefix) == {"qd", "qdr", "qdra"}
    assert query_terms("Qdrant q", prefix) == ["qdra"]
    spec = parse_index_spec(
        {
            "type": "text",
            "stopwords": "english",
            "stemmer": {"type": "snowball", "language": "english"},
        }
    )
    assert tokens("The runners are running", spec.text_options) == ["runner", "run"]
    custom = parse_index_spec({"type": "text", "stopwords": {"custom": ["fox"]}}).text_options
    assert tokens("the fox", custom) == ["the"]


def _text_collection(db: Database, name: str, schema) -> object:
    c = db.create_collection(name, {"vectors": {"size": 2, "distance": "Euclid"}})
    if schema is not None:
        c.create_payload_index("t", schema)
    payloads = [{"t": t} for t in TEXTS] + [{"t": [TEXTS[0], TEXTS[1]]}, {"t": 3}, {}]
    c.upsert_batch(list(range(len(payloads))), np.zeros((len(payloads), 2)), payloads)
    return c


def _ids(c, match: dict, extra: list | None = None) -> list:
    flt = {"must": [{"key": "t", "match": match}, *(extra or [])]}
    recs, _ = c.scroll(filter=flt, limit=100)
    assert c.count(flt) == len(recs)
    return [r.id for r in recs]


def test_text_index_answers(db):
    word = _text_collection(db, "word", "text")
    assert _ids(word, {"text": "fox quick"}) == [0, 2, 7]  # every token, any order
    assert _ids(word, {"text": "fox database"}) == [7]  # tokens of all a point's strings
    assert _ids(word, {"text_any": "lazy database"}) == [0, 1, 7]
    assert _ids(word, {"phrase": "brown fox"}) == [0, 2, 7]
    assert _ids(word, {"phrase": "fox brown"}) == []
    assert _ids(word, {"text": ""}) == []
    assert _ids(word, {"text": "qdr"}) == []
    assert _ids(word, {"value": "quick-brown FOX"}) == [2]  # not a text match: payload scan
    # the index's answer holds when another condition needs the payload scan
    assert _ids(word, {"text": "fox"}, [{"is_empty": {"key": "x"}}]) == [0, 2, 6, 7]
    prefix = _text_collection(db, "prefix", {"type": "text", "tokenizer": "prefix"})
    assert _ids(prefix, {"text": "qdr"}) == [1, 7]
    assert _ids(prefix, {"text": "qdr"}, [{"is_empty": {"key": "x"}}]) == [1, 7]
    cased = _text_collection(db, "cased", {"type": "text", "lowercase": False})
    assert _ids(cased, {"text": "FOX"}) == [2]
    stop = _text_collection(
        db, "stop", {"type": "text", "stopwords": "english", "phrase_matching": True}
    )
    assert _ids(stop, {"phrase": "fox jumps over the lazy"}) == [0, 7]  # stop words dropped
    ws = _text_collection(db, "ws", {"type": "text", "tokenizer": "whitespace"})
    assert _ids(ws, {"text": "database;"}) == [1, 7]
    assert _ids(ws, {"text": "database"}) == []
    info = stop.payload_schema()["t"]
    assert info == {
        "data_type": "text",
        "params": {"type": "text", "stopwords": "english", "phrase_matching": True},
        "points": 8,
    }


# --------------------------------------------------------------------------------------------
# Date-times and UUIDs
# --------------------------------------------------------------------------------------------

DATES = [
    "2024-01-01",
    "2024-01-01T10:00",
    "2024-01-01 10:00",
    "2024-01-01T10:00Z",
    "2024-01-01T10:00:00Z",
    "2024-01-01T10:00:00z",
    "2024-01-01T10:00:00.123456789+01:00",
    "2024-01-01T10:00:00+01",
    "2024-01-01T10:00:00 +01:00",
    "2024-01-01 10:00:00 UTC",
    "  2024-01-01T10:00:00",
    "2024-01-01Z",
    "20240101",
    "2024-W01-1",
    "2024-01-01T10",
    "2024-13-01",
    "2024-02-30",
    "2024-01-01T10:00:00.5",
    "2024-01-01T10:00:00+0130",
    "2024-01-01T10:00:00-10",
    "not a date",
]


@pytest.mark.parametrize("text", DATES)
def test_datetime_formats_are_local_modes(text):
    want = datetime_utils.parse(text)
    assert parse_datetime(text) == (None if want is None else want.timestamp())


def test_datetime_index_answers_ranges(db):
    rng = random.Random(5)
    payloads = []
    for _ in range(400):
        kind = rng.randrange(5)
        day = f"2024-0{rng.randint(1, 9)}-{rng.randint(10, 28)}"
        if kind == 0:
            payloads.append({"d": day})
        elif kind == 1:
            payloads.append({"d": f"{day}T{rng.randint(10, 23)}:30:00+02:00"})
        elif kind == 2:
            payloads.append({"d": [day, "2025-01-01T00:00:00Z"]})
        elif kind == 3:
            payloads.append({"d": "garbage"})
        else:
            payloads.append({})
    plain = db.create_collection("plain", {"vectors": {"size": 2, "distance": "Euclid"}})
    indexed = db.create_collection("indexed", {"vectors": {"size": 2, "distance": "Euclid"}})
    indexed.create_payload_index("d", {"type": "datetime", "is_principal": True})
    for c in (plain, indexed):
        c.upsert_batch(list(range(400)), np.zeros((400, 2)), payloads)
    for rng_cond in (
        {"gte": "2024-03-01T00:00:00Z"},
        {"gt": "2024-03-15", "lt": "2024-06-01T12:00:00+02:00"},
        {"lte": "2024-05-20 12:00:00"},
        {"gt": "2024-12-31T23:59:59.999999Z"},
    ):
        flt = {"must": [{"key": "d", "range": rng_cond}]}
        want = [i for i, p in enumerate(payloads) if local(flt, p)]
        assert want, rng_cond
        for c in (plain, indexed):
            assert [r.id for r in c.scroll(filter=flt, limit=1000)[0]] == want
        sel = indexed._state.selector()  # the datetime index answers (no payload scan)
        sel.mask(parse_filter(flt))
        assert sel.last_method == "index"
    assert indexed.payload_schema()["d"]["points"] == sum(
        1 for p in payloads if p.get("d") not in (None, "garbage")
    )


def test_uuid_index_compares_uuids(db):
    u = [str(uuid.UUID(int=i * 7919 + 1)) for i in range(5)]
    payloads = [{"u": u[0]}, {"u": u[1].upper()}, {"u": [u[2], u[3]]}, {"u": "not-a-uuid"}, {}]
    c = db.create_collection("c", {"vectors": {"size": 2, "distance": "Euclid"}})
    c.upsert_batch(list(range(5)), np.zeros((5, 2)), payloads)

    def ids(m):
        return [r.id for r in c.scroll(filter={"must": [{"key": "u", "match": m}]}, limit=9)[0]]

    assert ids({"value": u[1]}) == []  # without the index: strings compared exactly
    c.create_payload_index("u", "uuid")
    assert ids({"value": u[1]}) == [1]  # with it: as UUIDs, as Qdrant's uuid index does
    assert ids({"value": u[0].upper()}) == [0]
    assert ids({"any": [u[3], u[1]]}) == [1, 2]
    assert ids({"value": "not-a-uuid"}) == [3]  # not a UUID: left to the payload scan
    assert c.payload_schema()["u"] == {"data_type": "uuid", "points": 3}


# --------------------------------------------------------------------------------------------
# Index definitions
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "integer", "lookup": True, "range": False, "is_principal": True, "on_disk": True},
        {"type": "keyword", "is_tenant": True, "on_disk": False, "memory": "cached"},
        {"type": "float", "is_principal": True},
        {"type": "bool", "on_disk": True},
        {"type": "uuid", "is_tenant": True},
        {"type": "datetime", "is_principal": False, "enable_hnsw": False},
        {"type": "geo", "on_disk": True},
        {
            "type": "text",
            "tokenizer": "multilingual",
            "min_token_len": 2,
            "max_token_len": 10,
            "lowercase": True,
            "ascii_folding": True,
            "phrase_matching": True,
            "stopwords": {"languages": ["english"], "custom": ["x"]},
            "stemmer": {"type": "snowball", "language": "english"},
            "scoring": False,
        },
    ],
)
def test_index_params_are_accepted_and_persisted(tmp_path, schema):
    db = Database(tmp_path)
    c = db.create_collection("c", {"vectors": {"size": 2, "distance": "Euclid"}})
    c.create_payload_index("f", schema)
    c.create_payload_index("plain", "keyword")
    want = {k: v for k, v in schema.items() if v is not None}
    assert c.payload_schema()["f"] == {"data_type": schema["type"], "params": want, "points": 0}
    db.close()
    db = Database(tmp_path)
    try:
        info = db.get_collection("c").payload_schema()
        assert info["f"]["params"] == want
        assert info["plain"] == {"data_type": "keyword", "points": 0}
    finally:
        db.close()


def test_stored_definitions_old_and_new():
    assert load_index_spec("keyword") == IndexSpec("keyword")  # the pre-params store format
    spec = parse_index_spec({"type": "integer", "range": False})
    assert load_index_spec(spec.stored()) == spec
    assert spec.lookup and not spec.range


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        ("vector", "field_schema"),
        (5, "field_schema"),
        ({"type": "keyword", "lookup": True}, "field_schema.lookup"),
        ({"type": "integer", "lookup": False, "range": False}, "field_schema"),
        ({"type": "integer", "lookup": "no"}, "field_schema.lookup"),
        ({"type": "text", "tokenizer": "code"}, "field_schema.tokenizer"),
        ({"type": "text", "tokenizer": "ngram"}, "field_schema.tokenizer"),
        ({"type": "text", "min_token_len": -1}, "field_schema.min_token_len"),
        ({"type": "text", "stopwords": "klingon"}, "field_schema.stopwords"),
        ({"type": "text", "stopwords": "french"}, "field_schema.stopwords"),
        ({"type": "text", "scoring": True}, "field_schema.scoring"),
        ({"type": "text", "stemmer": {"type": "porter"}}, "field_schema.stemmer"),
        ({"type": "keyword", "nested": "offers"}, "field_schema.nested"),
        ({"type": "geo", "memory": "hot"}, "field_schema.memory"),
        ({"type": "geometry"}, "field_schema.type"),
    ],
)
def test_bad_index_definitions_name_their_field(db, schema, field):
    c = db.create_collection("c", {"vectors": {"size": 2, "distance": "Euclid"}})
    with pytest.raises(ValidationError) as info:
        c.create_payload_index("f", schema)
    assert info.value.field == field
    assert c.payload_schema() == {}


def test_integer_index_without_lookup_still_matches(db):
    c = db.create_collection("c", {"vectors": {"size": 2, "distance": "Euclid"}})
    c.create_payload_index("n", {"type": "integer", "lookup": False})
    c.upsert_batch([1, 2, 3], np.zeros((3, 2)), [{"n": 1}, {"n": 2}, {"n": [1, 5]}])
    assert c.count({"must": [{"key": "n", "match": {"value": 1}}]}) == 2
    assert c.count({"must": [{"key": "n", "range": {"gte": 2}}]}) == 2


# --------------------------------------------------------------------------------------------
# values_count, is_null and payload selection
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"a": None},
        {"a": []},
        {"a": [1, 2]},
        {"a": 3},
        {"a": [None]},
        {"b": {"a": 1}},
        {"o": [{"a": 1}, {"a": [1, 2, 3]}, {}]},
    ],
)
@pytest.mark.parametrize(
    "bounds", [{"lt": 1}, {"lte": 0}, {"gte": 1}, {"gt": 1}, {"gte": 1, "lt": 3}, {"gt": 2}]
)
@pytest.mark.parametrize("key", ["a", "o[].a"])
def test_values_count_and_is_null_agree_with_local_mode(payload, bounds, key):
    flt = {"must": [{"key": key, "values_count": bounds}]}
    assert ours(flt, payload) is local(flt, payload)
    for cond in ({"is_null": {"key": key}}, {"is_empty": {"key": key}}):
        assert ours({"must": [cond]}, payload) is local({"must": [cond]}, payload)


json_leaf = st.one_of(st.integers(-2, 2), st.sampled_from(["x", "y"]), st.none())
json_value = st.recursive(
    json_leaf,
    lambda kids: (
        st.lists(kids, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "c"]), kids, max_size=3)
    ),
    max_leaves=8,
)
payloads = st.dictionaries(st.sampled_from(["a", "b", "c", "a.b"]), json_value, max_size=4)
selector_keys = st.lists(
    st.sampled_from(["a", "b", "a.b", "a.c", "a[]", "a[].b", "a[0]", "b.a.c", '"a.b"', "c[].a[]"]),
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(payload=payloads, keys=selector_keys)
def test_payload_selection_agrees_with_local_mode(payload, keys):
    assert PayloadSelector.parse(keys).apply(payload) == include_payload(payload, keys)
    got = PayloadSelector.parse({"include": keys}).apply(payload)
    assert got == include_payload(payload, keys)
    got = PayloadSelector.parse({"exclude": keys}).apply(payload)
    assert got == exclude_payload(payload, keys)


def test_nested_include_example():
    p = {"country": {"name": "Germany", "capital": "Berlin"}, "cities": [{"n": 1, "m": 2}]}
    assert PayloadSelector.parse(["country.name", "cities[].m"]).apply(p) == {
        "country": {"name": "Germany"},
        "cities": [{"m": 2}],
    }
    assert PayloadSelector.parse({"exclude": ["country.name"]}).apply(p) == {
        "country": {"capital": "Berlin"},
        "cities": [{"n": 1, "m": 2}],
    }


def test_slice_conditions_are_refused_as_not_supported():
    with pytest.raises(FilterError) as info:
        parse_filter({"must": [{"slice": {"total": 2, "index": 0}}]})
    assert info.value.field == "filter.must[0].slice" and "not supported" in info.value.reason


# --------------------------------------------------------------------------------------------
# Random filters of the new kinds through a collection, indexed or not, against local mode
# --------------------------------------------------------------------------------------------

coord = st.sampled_from([-70, -65, -10, 0, 10, 52.52, 60, 170, -170, 13.405, 33.3])
geo_point = st.builds(lambda lon, lat: {"lon": lon, "lat": max(-90, min(90, lat))}, coord, coord)
random_payloads = st.fixed_dictionaries(
    {},
    optional={
        "loc": st.one_of(geo_point, st.lists(geo_point, max_size=3), st.none()),
        "d": st.sampled_from([*DATES[:11], "2024-03-05", "2023-12-31T23:00:00-02:00", "x"]),
        "u": st.sampled_from([str(uuid.UUID(int=i)) for i in range(4)]),
        "t": st.lists(st.sampled_from(["fox", "Quick", "brown", "dog", "the"]), max_size=5).map(
            " ".join
        ),
    },
)
geo_conds = st.sampled_from([{"key": "loc", **c} for c in GEO_CONDITIONS])
date_conds = st.builds(
    lambda op, v: {"key": "d", "range": {op: v}},
    st.sampled_from(["gt", "gte", "lt", "lte"]),
    st.sampled_from(["2024-01-01", "2024-01-01T10:00:00Z", "2024-01-01T09:30:00+01:00"]),
)
uuid_conds = st.one_of(
    st.builds(lambda i: {"key": "u", "match": {"value": str(uuid.UUID(int=i))}}, st.integers(0, 4)),
    st.builds(
        lambda ids: {"key": "u", "match": {"any": [str(uuid.UUID(int=i)) for i in ids]}},
        st.lists(st.integers(0, 4), max_size=3),
    ),
)
text_conds = st.builds(
    lambda kind, words: {"key": "t", "match": {kind: " ".join(words)}},
    st.sampled_from(["text", "text_any", "phrase"]),
    st.lists(st.sampled_from(["fox", "quick", "BROWN", "dog", "cat"]), max_size=3),
)
other_conds = st.one_of(
    st.builds(
        lambda k, b: {"key": k, "values_count": b},
        st.sampled_from(["loc", "t"]),
        st.sampled_from([{"lt": 1}, {"gte": 2}, {"gt": 0, "lte": 2}]),
    ),
    st.builds(lambda k: {"is_empty": {"key": k}}, st.sampled_from(["loc", "t", "d"])),
)
new_leaf = st.one_of(geo_conds, date_conds, uuid_conds, text_conds, other_conds)


def _clauses(children):
    return st.builds(
        lambda must, should, must_not: {
            k: v for k, v in (("must", must), ("should", should), ("must_not", must_not)) if v
        },
        st.lists(children, max_size=2),
        st.lists(children, max_size=2),
        st.lists(children, max_size=2),
    )


new_filters = _clauses(st.recursive(new_leaf, _clauses, max_leaves=4))


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    data=st.lists(random_payloads, min_size=1, max_size=15),
    flts=st.lists(new_filters, min_size=1, max_size=5),
    indexed=st.booleans(),
)
def test_random_filters_through_a_collection_agree_with_local_mode(
    tmp_path_factory, data, flts, indexed
):
    db = Database(tmp_path_factory.mktemp("g"))
    try:
        c = db.create_collection("c", {"vectors": {"size": 2, "distance": "Euclid"}})
        if indexed:
            for key, schema in (("loc", "geo"), ("d", "datetime"), ("u", "uuid"), ("t", "text")):
                c.create_payload_index(key, schema)
        c.upsert_batch(list(range(len(data))), np.zeros((len(data), 2)), data)
        for flt in flts:
            want = [i for i, p in enumerate(data) if local(flt, p, i)]
            assert c.count(flt) == len(want), flt
            assert [r.id for r in c.scroll(filter=flt, limit=100)[0]] == want, flt
    finally:
        db.close()


def test_keyword_index_answers_prefix_and_substring(db):
    words = ["apple", "apricot", "Apple", "banana", "grape", "pineapple"]
    payloads = [{"k": w} for w in words] + [{"k": ["band", "ape"]}, {"k": 5}, {}]
    plain = db.create_collection("plain", {"vectors": {"size": 2, "distance": "Euclid"}})
    indexed = db.create_collection("indexed", {"vectors": {"size": 2, "distance": "Euclid"}})
    indexed.create_payload_index("k", {"type": "keyword", "prefix": True})
    for c in (plain, indexed):
        c.upsert_batch(list(range(len(payloads))), np.zeros((len(payloads), 2)), payloads)
    for m in ({"prefix": "ap"}, {"prefix": "ban"}, {"prefix": ""}, {"substring": "ape"}):
        flt = {"must": [{"key": "k", "match": m}]}
        want = [i for i, p in enumerate(payloads) if local(flt, p)]
        assert want
        for c in (plain, indexed):
            assert [r.id for r in c.scroll(filter=flt, limit=20)[0]] == want
        sel = indexed._state.selector()
        sel.mask(parse_filter(flt))
        assert sel.last_method == "index"
