"""Every bad-input path gives a named error (stable code, the field it concerns) and changes
nothing: the collection's points, payloads, vectors and sequence number stay as they were."""

from __future__ import annotations

import math

import numpy as np
import pytest

from indexes.errors import DimensionMismatchError, InvalidVectorError
from vecsearch.config import CollectionConfig
from vecsearch.config_qdrant import parse_create
from vecsearch.database import Database
from vecsearch.errors import (
    CollectionExistsError,
    CollectionNotFoundError,
    IndexTypeUnavailableError,
    PointNotFoundError,
    ValidationError,
    error_category,
)


def _fill(database):
    c = database.create_collection("c", {"vectors": {"size": 3, "distance": "Cosine"}})
    c.upsert([{"id": i, "vector": [1.0, i, 0.5], "payload": {"i": i}} for i in range(5)])
    return c


@pytest.fixture
def coll(db):
    return _fill(db)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One collection for the many rejected-request cases: each case checks that it changed
    nothing, so sharing is sound (a case that changed state would fail itself)."""
    database = Database(tmp_path_factory.mktemp("bad"))
    yield _fill(database)
    database.close()


def state(c):
    recs, _ = c.scroll(limit=100, with_vector=True)
    return c.store.seq, [(r.id, r.payload, r.vector.tolist()) for r in recs], c.payload_schema()


GOOD = {"id": 9, "vector": [1.0, 2.0, 3.0]}

WRITE_CASES = [
    # (call, expected code, expected field)
    (
        lambda c: c.upsert([GOOD, {"id": 10, "vector": [1.0, 2.0]}]),
        "dimension_mismatch",
        "points[1].vector",
    ),
    (
        lambda c: c.upsert([GOOD, {"id": 10, "vector": [1.0, math.nan, 2.0]}]),
        "invalid_vector",
        "points[1].vector",
    ),
    (
        lambda c: c.upsert([{"id": 10, "vector": [1.0, math.inf, 2.0]}]),
        "invalid_vector",
        "points[0].vector",
    ),
    (
        lambda c: c.upsert([{"id": 10, "vector": [1e39, 0.0, 0.0]}]),
        "invalid_vector",
        "points[0].vector",
    ),
    (
        lambda c: c.upsert([{"id": 10, "vector": [0.0, 0.0, 0.0]}]),
        "invalid_vector",
        "points[0].vector",
    ),  # zero vector under Cosine
    (
        lambda c: c.upsert([{"id": 10, "vector": ["a", 1, 2]}]),
        "validation_error",
        "points[0].vector",
    ),
    (
        lambda c: c.upsert([{"id": 10, "vector": {"named": [1, 2, 3]}}]),
        "validation_error",
        "points[0].vector.named",
    ),
    (
        lambda c: c.upsert([GOOD, {"id": -1, "vector": [1, 2, 3]}]),
        "invalid_point_id",
        "points[1].id",
    ),
    (
        lambda c: c.upsert([{"id": "not-a-uuid", "vector": [1, 2, 3]}]),
        "invalid_point_id",
        "points[0].id",
    ),
    (lambda c: c.upsert([{"id": 1.5, "vector": [1, 2, 3]}]), "invalid_point_id", "points[0].id"),
    (lambda c: c.upsert([{"id": True, "vector": [1, 2, 3]}]), "invalid_point_id", "points[0].id"),
    (lambda c: c.upsert([{"id": 2**64, "vector": [1, 2, 3]}]), "invalid_point_id", "points[0].id"),
    (
        lambda c: c.upsert([{"id": 10, "vector": [1, 2, 3], "payload": [1]}]),
        "validation_error",
        "points[0].payload",
    ),
    (
        lambda c: c.upsert([{"id": 10, "vector": [1, 2, 3], "payload": {"x": math.nan}}]),
        "validation_error",
        "points[0].payload",
    ),
    (lambda c: c.upsert([{"vector": [1, 2, 3]}]), "validation_error", "points[0].id"),
    (
        lambda c: c.upsert([{"id": 1, "vector": [1, 2, 3], "vectors": 1}]),
        "validation_error",
        "points[0].vectors",
    ),
    (lambda c: c.upsert({"id": 1}), "validation_error", "points"),
    (lambda c: c.upsert_batch([10, 11], np.ones((2, 4))), "dimension_mismatch", "batch.vectors[0]"),
    (
        lambda c: c.upsert_batch([10, 11], np.array([[1, 2, 3], [np.nan, 1, 1]])),
        "invalid_vector",
        "batch.vectors[1]",
    ),
    (lambda c: c.upsert_batch([10, 11], [[1, 2, 3]]), "validation_error", "batch.vectors"),
    (
        lambda c: c.upsert_batch([10, "x"], [[1, 2, 3], [1, 2, 3]]),
        "invalid_point_id",
        "batch.ids[1]",
    ),
    (
        lambda c: c.upsert_batch([10], [[1, 2, 3]], [{"a": 1}, {}]),
        "validation_error",
        "batch.payloads",
    ),
    (
        lambda c: c.delete(filter={"must": [{"key": "i", "match": {"value": 1.5}}]}),
        "invalid_filter",
        "filter.must[0].match.value",
    ),
    (lambda c: c.delete(points=[1, "bad"]), "invalid_point_id", "points[1]"),
    (lambda c: c.delete(), "validation_error", "points"),
    (lambda c: c.delete(points=[1], filter={}), "validation_error", "points"),
    (lambda c: c.set_payload({"a": 1}, points=[1, 77]), "point_not_found", None),
    (lambda c: c.set_payload([1], points=[1]), "validation_error", "payload"),
    (
        lambda c: c.set_payload({"a": 1}, filter={"must": [{"nope": 1}]}),
        "invalid_filter",
        "filter.must[0].nope",
    ),
    (lambda c: c.set_payload({"a": 1}, points=[1], key="a..b"), "validation_error", "key"),
    (lambda c: c.overwrite_payload({"a": math.inf}, points=[1]), "validation_error", "payload"),
    (lambda c: c.delete_payload("i", points=[1]), "validation_error", "keys"),
    (
        lambda c: c.create_payload_index("i", {"type": "integer", "lookup": False, "range": False}),
        "validation_error",
        "field_schema",
    ),
    (lambda c: c.create_payload_index("i", "nonsense"), "validation_error", "field_schema"),
]


@pytest.mark.parametrize(("call", "code", "field"), WRITE_CASES)
def test_bad_writes_change_nothing(shared, call, code, field):
    coll = shared
    before = state(coll)
    with pytest.raises(Exception) as info:
        call(coll)
    err = info.value
    assert err.code == code, err
    if field is not None:
        assert err.field == field, err
        assert str(err).startswith(f"{field}: ")
    assert error_category(err) in ("bad_request", "not_found")
    assert state(coll) == before


def test_index_layer_error_types_are_kept(coll):
    with pytest.raises(DimensionMismatchError):
        coll.upsert([{"id": 1, "vector": [1.0]}])
    with pytest.raises(InvalidVectorError):
        coll.search([math.nan, 0, 0])


READ_CASES = [
    (lambda c: c.search([1.0, 2.0]), "dimension_mismatch", "vector"),
    (lambda c: c.search([1.0, math.nan, 2.0]), "invalid_vector", "vector"),
    (lambda c: c.search([1, 2, 3], limit=0), "validation_error", "limit"),
    (lambda c: c.search([1, 2, 3], offset=-1), "validation_error", "offset"),
    (
        lambda c: c.search([1, 2, 3], score_threshold=math.nan),
        "validation_error",
        "score_threshold",
    ),
    (lambda c: c.search([1, 2, 3], params={"hnsw_ef": "x"}), "validation_error", "params.hnsw_ef"),
    (lambda c: c.search([1, 2, 3], params={"bogus": 1}), "validation_error", "params.bogus"),
    (
        lambda c: c.search([1, 2, 3], filter={"must": [{"key": "i", "match": {}}]}),
        "invalid_filter",
        "filter.must[0].match",
    ),
    (
        lambda c: c.search([1, 2, 3], with_payload={"include": "i"}),
        "validation_error",
        "with_payload.include",
    ),
    (
        lambda c: c.search_batch([{"vector": [1, 2, 3]}, {"vector": [1, 2]}]),
        "dimension_mismatch",
        "searches[1].vector",
    ),
    (
        lambda c: c.search_batch([{"vector": [1, 2, 3], "limt": 3}]),
        "validation_error",
        "searches[0].limt",
    ),
    (lambda c: c.scroll(offset="zzz"), "invalid_point_id", "offset"),
    (lambda c: c.scroll(limit=-5), "validation_error", "limit"),
    (lambda c: c.count({"should": {"has_id": 5}}), "invalid_filter", "filter.should.has_id"),
    (lambda c: c.retrieve([1, None]), "invalid_point_id", "ids[1]"),
    (lambda c: c.retrieve(5), "invalid_point_id", "ids"),
]


@pytest.mark.parametrize(("call", "code", "field"), READ_CASES)
def test_bad_reads_are_named(shared, call, code, field):
    coll = shared
    before = state(coll)
    with pytest.raises(ValidationError) as info:
        call(coll)
    assert (info.value.code, info.value.field) == (code, field)
    assert state(coll) == before


def test_database_level_errors(db, coll):
    with pytest.raises(CollectionNotFoundError) as info:
        db.get_collection("nope")
    assert info.value.code == "collection_not_found" and error_category(info.value) == "not_found"
    with pytest.raises(CollectionExistsError):
        db.create_collection("c", {"vectors": {"size": 3, "distance": "Dot"}})
    assert db.get_collection("c").config.distance.value == "Cosine"  # untouched
    for bad_name in ("", ".hidden", "a/b", "x" * 300, "../c", 5):
        with pytest.raises(ValidationError) as info:
            db.create_collection(bad_name, {"vectors": {"size": 3, "distance": "Dot"}})
        assert info.value.field == "collection_name"
    bad_configs = [
        ({"vectors": {"size": 0, "distance": "Dot"}}, "vectors.size"),
        ({"vectors": {"size": 3, "distance": "Manhattan"}}, "vectors.distance"),
        ({"vectors": {"size": 3}}, "vectors.distance"),
        (
            {
                "vectors": {"size": 3, "distance": "Dot"},
                "index": {"type": "flat", "params": {"M": 4}},
            },
            "index.params.M",
        ),
        ({"vectors": {"size": 3, "distance": "Dot"}, "colour": 1}, "colour"),
        ({"vectors": {"a": {"size": 3, "distance": "Dot", "sise": 1}}}, "vectors.a.sise"),
        ({"vectors": {"a": {"size": 3, "distance": "Dot"}, "b": {"size": -1}}}, "vectors.b.size"),
        ({"vectors": {}}, "vectors"),
        (
            {"vectors": {"size": 3, "distance": "Dot"}, "sparse_vectors": {"s": {"m": 1}}},
            "sparse_vectors.s.m",
        ),
        ({"vectors": {"size": 3, "distance": "Dot"}, "sparse_vectors": {"": {}}}, "sparse_vectors"),
    ]
    for body, field in bad_configs:
        with pytest.raises(ValidationError) as info:
            db.create_collection("new", body)
        assert info.value.field == field
    with pytest.raises(IndexTypeUnavailableError, match="unknown index type 'nope'"):
        db.create_collection(
            "new", {"vectors": {"size": 3, "distance": "Dot"}, "index": {"type": "nope"}}
        )
    assert db.list_collections() == ["c"]
    assert db.delete_collection("nope") is False
    with pytest.raises(PointNotFoundError):
        coll.clear_payload(points=[123])


def test_closed_collection_reports_not_found(db, coll):
    assert db.delete_collection("c")
    with pytest.raises(CollectionNotFoundError):
        coll.search([1, 2, 3])
    with pytest.raises(CollectionNotFoundError):
        coll.upsert([GOOD])
    with pytest.raises(CollectionNotFoundError):
        db.get_collection("c")


def test_config_accepts_qdrant_bodies():
    cfg = parse_create(
        {
            "vectors": {"size": 4, "distance": "Euclid", "on_disk": None},
            "shard_number": 1,
            "optimizers_config": {"indexing_threshold": 0},
            "hnsw_config": {"full_scan_threshold": 500},
        }
    )
    assert (cfg.size, cfg.metric, cfg.vector.full_scan_threshold_kb) == (4, "l2", 500)
    again = CollectionConfig.from_stored(cfg.to_dict())
    assert again == cfg


def test_huge_limit_and_offset_are_bounded_by_the_collection(coll):
    hits = coll.search([1.0, 2.0, 0.5], limit=10**12)
    assert sorted(h.id for h in hits) == [0, 1, 2, 3, 4]
    assert coll.search([1.0, 2.0, 0.5], limit=3, offset=10**12) == []
    res = coll.search_batch([{"vector": [1.0, 0.0, 0.0], "limit": 2**62, "offset": 2**62}])
    assert res == [[]]
