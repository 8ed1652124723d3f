"""Filters through the served API agree with qdrant-client's local mode: geo radius / box /
polygon, date-time ranges, uuid matches, values_count and is_null / is_empty, full-text
text / text_any / phrase, an empty should, and nested payload selection, in scroll, count
and exact query, without payload indexes and with them (geo, datetime, uuid, word-tokenized
text, keyword, integer: an index never changes these answers). Plus the refusals: bad geo
shapes and index definitions are 400s on our side (as on Qdrant's server), and change
nothing."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

pytestmark = [
    pytest.mark.filterwarnings("ignore:Local mode performs exact"),
    pytest.mark.filterwarnings("ignore:Payload indexes have no effect"),
]
N = 240
EXACT = models.SearchParams(exact=True)
WORDS = ["quick", "brown", "fox", "lazy", "dog", "vector", "search", "Qdrant", "über"]
UUIDS = [str(uuid.UUID(int=random.Random(i).getrandbits(128))) for i in range(6)]
CITIES = ["Berlin", "Paris", "Tokyo", "Lima"]


def _payload(rng: random.Random, i: int) -> dict[str, Any]:
    p: dict[str, Any] = {"n": i % 7}
    kind = rng.randrange(5)
    point = {"lon": round(rng.uniform(-180, 180), 3), "lat": round(rng.uniform(-90, 90), 3)}
    if kind == 1:
        p["loc"] = [point, {"lon": round(rng.uniform(-20, 40), 3), "lat": 50.0}]
    elif kind:
        p["loc"] = point
    day = dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=rng.randrange(24 * 200))
    fmt = rng.choice(["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%Y-%m-%dT%H:%M"])
    if rng.random() < 0.8:
        p["when"] = day.strftime(fmt)
    if rng.random() < 0.7:
        p["uid"] = rng.choice(UUIDS)
    tags = rng.choice([None, [], ["a"], ["a", "b"], ["b", "c", "d"], "solo", "absent"])
    if tags != "absent":
        p["tags"] = tags
    if rng.random() < 0.9:
        p["text"] = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6)))
    p["city"] = {"name": rng.choice(CITIES), "pop": rng.randint(1, 9)}
    p["items"] = [{"a": rng.randint(0, 3), "b": "x"} for _ in range(rng.randint(0, 2))]
    return p


RNG = random.Random(42)
PAYLOADS = [_payload(RNG, i) for i in range(N)]
VECTORS = np.random.default_rng(42).normal(size=(N, 4)).astype(np.float32)
INDEXES = {
    "loc": models.PayloadSchemaType.GEO,
    "when": models.PayloadSchemaType.DATETIME,
    "uid": models.PayloadSchemaType.UUID,
    "text": models.TextIndexParams(type=models.TextIndexType.TEXT, phrase_matching=True),
    "tags": models.PayloadSchemaType.KEYWORD,
    "n": models.IntegerIndexParams(type=models.IntegerIndexType.INTEGER, lookup=True),
}


def _fill(c: QdrantClient, indexed: bool) -> None:
    c.create_collection("f", vectors_config=models.VectorParams(size=4, distance="Euclid"))
    c.upsert(
        "f",
        [
            models.PointStruct(id=i, vector=VECTORS[i].tolist(), payload=PAYLOADS[i])
            for i in range(N)
        ],
    )
    if indexed:
        for key, schema in INDEXES.items():
            c.create_payload_index("f", key, field_schema=schema)


@pytest.fixture(params=[False, True], ids=["no index", "indexed"])
def pair(request, qclient):
    ref = QdrantClient(":memory:")
    for c in (qclient, ref):
        _fill(c, request.param)
    return qclient, ref


def fc(key: str, **kw: Any) -> models.Filter:
    return models.Filter(must=[models.FieldCondition(key=key, **kw)])


def gp(lon: float, lat: float) -> models.GeoPoint:
    return models.GeoPoint(lon=lon, lat=lat)


def ring(*pts: tuple[float, float]) -> models.GeoLineString:
    return models.GeoLineString(points=[gp(*p) for p in pts])


def utc(*a: int) -> dt.datetime:
    return dt.datetime(*a, tzinfo=dt.UTC)


FILTERS: dict[str, models.Filter] = {
    "geo radius": fc("loc", geo_radius=models.GeoRadius(center=gp(10, 50), radius=1_500_000)),
    "geo radius small": fc("loc", geo_radius=models.GeoRadius(center=gp(0, 0), radius=3e6)),
    "geo box": fc(
        "loc",
        geo_bounding_box=models.GeoBoundingBox(top_left=gp(-30, 60), bottom_right=gp(60, -20)),
    ),
    "geo box across the antimeridian": fc(
        "loc",
        geo_bounding_box=models.GeoBoundingBox(top_left=gp(150, 80), bottom_right=gp(-150, -80)),
    ),
    "geo polygon with a hole": fc(
        "loc",
        geo_polygon=models.GeoPolygon(
            exterior=ring((-100, -60), (100, -60), (100, 60), (-100, 60), (-100, -60)),
            interiors=[ring((-20, -20), (20, -20), (20, 55), (-20, 55), (-20, -20))],
        ),
    ),
    "datetime gte": fc("when", range=models.DatetimeRange(gte=utc(2024, 3, 1))),
    "datetime window": fc(
        "when", range=models.DatetimeRange(gt=utc(2024, 2, 10, 12), lt=utc(2024, 4, 1))
    ),
    "datetime naive lte": fc("when", range=models.DatetimeRange(lte=dt.datetime(2024, 1, 20))),
    "datetime date bound": fc("when", range=models.DatetimeRange(lt=dt.date(2024, 2, 1))),
    "uuid value": fc("uid", match=models.MatchValue(value=UUIDS[1])),
    "uuid any": fc("uid", match=models.MatchAny(any=UUIDS[2:4])),
    "uuid except": fc("uid", match=models.MatchExcept(**{"except": UUIDS[:3]})),
    "values_count below 1 (missing counts 0)": fc("tags", values_count=models.ValuesCount(lt=1)),
    "values_count 2..3": fc("tags", values_count=models.ValuesCount(gte=2, lte=3)),
    "values_count of nested": fc("items[].a", values_count=models.ValuesCount(gte=1)),
    "is_null": models.Filter(
        must=[models.IsNullCondition(is_null=models.PayloadField(key="tags"))]
    ),
    "is_empty": models.Filter(
        must=[models.IsEmptyCondition(is_empty=models.PayloadField(key="tags"))]
    ),
    "text": fc("text", match=models.MatchText(text="fox quick")),
    "text one word": fc("text", match=models.MatchText(text="QDRANT")),
    "text_any": fc("text", match=models.MatchTextAny(text_any="lazy über")),
    "phrase": fc("text", match=models.MatchPhrase(phrase="brown fox")),
    "tags match": fc("tags", match=models.MatchValue(value="a")),
    "n range": fc("n", range=models.Range(gte=2, lt=5)),
    "empty should": models.Filter(should=[]),
    "combined": models.Filter(
        must=[
            models.FieldCondition(
                key="loc",
                geo_bounding_box=models.GeoBoundingBox(
                    top_left=gp(-180, 90), bottom_right=gp(0, 0)
                ),
            ),
            models.FieldCondition(key="text", match=models.MatchText(text="dog")),
        ],
        must_not=[models.FieldCondition(key="uid", match=models.MatchValue(value=UUIDS[0]))],
        should=[
            models.FieldCondition(key="when", range=models.DatetimeRange(lt=utc(2024, 5, 1))),
            models.IsEmptyCondition(is_empty=models.PayloadField(key="when")),
        ],
    ),
}


def _records(res: Any) -> list[tuple[Any, Any]]:
    return [(r.id, r.payload) for r in res[0]]


def _calls() -> dict[str, Callable[[QdrantClient], Any]]:
    calls: dict[str, Callable[[QdrantClient], Any]] = {}
    for name, flt in FILTERS.items():
        calls[f"count {name}"] = lambda c, f=flt: c.count("f", count_filter=f, exact=True).count
        calls[f"scroll {name}"] = lambda c, f=flt: _records(
            c.scroll("f", scroll_filter=f, limit=N, with_payload=["n", "uid"])
        )
    for name in ("geo polygon with a hole", "datetime window", "text", "combined"):
        calls[f"query {name}"] = lambda c, f=FILTERS[name]: [
            (p.id, round(p.score, 4))
            for p in c.query_points(
                "f", query=[0.1, 0.2, 0.3, 0.4], query_filter=f, limit=7, search_params=EXACT
            ).points
        ]
    selectors = {
        "include nested": ["city.name", "items[].a"],
        "include arrays": ["loc", "items[0]", "tags"],
        "exclude nested": models.PayloadSelectorExclude(exclude=["city.pop", "items[].b", "text"]),
        "include object": models.PayloadSelectorInclude(include=["city"]),
    }
    for name, sel in selectors.items():
        calls[f"payload {name}"] = lambda c, s=sel: _records(
            c.scroll("f", limit=40, with_payload=s)
        )
        calls[f"query payload {name}"] = lambda c, s=sel: [
            (p.id, p.payload)
            for p in c.query_points(
                "f", query=[0.0, 0.0, 0.0, 1.0], limit=5, with_payload=s, search_params=EXACT
            ).points
        ]
    return calls


CALLS = _calls()


def test_same_answers(pair):
    """Every call gives the same answer on both sides (one server per index variant; the
    list of disagreeing calls is the failure message)."""
    ours, ref = pair
    differ = []
    for name, call in CALLS.items():
        got, want = call(ours), call(ref)
        if got != want:
            differ.append(name)
    assert not differ, differ
    # the filters select something and not everything (so agreement means something)
    for name, flt in FILTERS.items():
        n = ref.count("f", count_filter=flt, exact=True).count
        assert 0 < n < N or name == "empty should", (name, n)


BAD_FILTERS: dict[str, models.Filter] = {
    "latitude above 90": fc("loc", geo_radius=models.GeoRadius(center=gp(0, 91), radius=10)),
    "longitude below -180": fc(
        "loc", geo_bounding_box=models.GeoBoundingBox(top_left=gp(-181, 10), bottom_right=gp(0, 0))
    ),
    "negative radius": fc("loc", geo_radius=models.GeoRadius(center=gp(0, 0), radius=-1)),
    "ring of 3 points": fc(
        "loc", geo_polygon=models.GeoPolygon(exterior=ring((0, 0), (1, 0), (0, 0)))
    ),
    "ring not closed": fc(
        "loc", geo_polygon=models.GeoPolygon(exterior=ring((0, 0), (1, 0), (1, 1), (0, 1)))
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_FILTERS))
def test_bad_geo_filters_are_400s(qclient, name):
    _fill(qclient, indexed=False)
    for call in (
        lambda: qclient.count("f", count_filter=BAD_FILTERS[name]),
        lambda: qclient.scroll("f", scroll_filter=BAD_FILTERS[name]),
        lambda: qclient.delete(
            "f", points_selector=models.FilterSelector(filter=BAD_FILTERS[name])
        ),
    ):
        with pytest.raises(Exception) as info:
            call()
        assert "400" in str(info.value) and "geo_" in str(info.value), str(info.value)
    assert qclient.count("f").count == N  # the delete deleted nothing


def test_min_count_zero_is_refused_by_both(qclient):
    ref = QdrantClient(":memory:")
    flt = models.Filter(
        min_should=models.MinShould(
            conditions=[models.FieldCondition(key="n", match=models.MatchValue(value=1))],
            min_count=0,
        )
    )
    for c in (qclient, ref):
        _fill(c, indexed=False)
        with pytest.raises(Exception) as info:
            c.count("f", count_filter=flt)
        if c is qclient:
            assert "400" in str(info.value) and "min_count" in str(info.value)


BAD_INDEXES: dict[str, Any] = {
    "integer without lookup and range": models.IntegerIndexParams(
        type=models.IntegerIndexType.INTEGER, lookup=False, range=False
    ),
    "code tokenizer": models.TextIndexParams(
        type=models.TextIndexType.TEXT, tokenizer=models.TokenizerType.CODE
    ),
    "BM25 scoring": models.TextIndexParams(type=models.TextIndexType.TEXT, scoring=True),
    "nested": models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, nested="items"),
    "stop words of an unsupported language": models.TextIndexParams(
        type=models.TextIndexType.TEXT, stopwords=models.Language.FRENCH
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_INDEXES))
def test_bad_index_definitions_are_400s(qclient, name):
    _fill(qclient, indexed=False)
    with pytest.raises(Exception) as info:
        qclient.create_payload_index("f", "n", field_schema=BAD_INDEXES[name])
    assert "400" in str(info.value) and "field_schema" in str(info.value), str(info.value)
    assert qclient.get_collection("f").payload_schema == {}


def test_payload_schema_in_collection_info(qclient):
    _fill(qclient, indexed=True)
    info = qclient.get_collection("f").payload_schema
    assert set(info) == set(INDEXES)
    assert info["loc"].data_type == models.PayloadSchemaType.GEO and info["loc"].params is None
    assert info["loc"].points == sum(1 for p in PAYLOADS if "loc" in p)
    assert info["text"].params == INDEXES["text"]
    assert info["n"].params == INDEXES["n"] and info["n"].points == N
    assert info["when"].points == sum(1 for p in PAYLOADS if "when" in p)
    assert info["uid"].points == sum(1 for p in PAYLOADS if "uid" in p)
