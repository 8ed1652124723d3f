"""Batch updates (vecsearch.batch_update): order, atomicity in the store and in searches,
durability across reopen, and the refusals that change nothing."""

from __future__ import annotations

import sqlite3
import threading

import numpy as np
import pytest

from vecsearch.collection import Collection
from vecsearch.database import Database
from vecsearch.errors import PointNotFoundError, ValidationError

DIM = 4
BODY = {
    "vectors": {
        "a": {"size": DIM, "distance": "Dot"},
        "b": {"size": DIM, "distance": "Euclid"},
    },
    "sparse_vectors": {"s": {}},
    "index": {"type": "flat"},
}


def vec(i: int) -> list[float]:
    return np.random.default_rng(i).normal(size=DIM).round(4).tolist()


def filled(db: Database, n: int = 20) -> Collection:
    coll = db.create_collection("c", BODY)
    coll.upsert(
        [
            {"id": i, "vector": {"a": vec(i), "b": vec(100 + i)}, "payload": {"i": i, "g": i % 3}}
            for i in range(n)
        ]
    )
    coll.create_payload_index("g", "integer")
    return coll


def state(coll: Collection) -> dict:
    """Everything a reader can observe: points (payload + vectors), counts, search results."""
    records, _ = coll.scroll(limit=1000, with_payload=True, with_vector=True)
    pts = {
        r.id: (r.payload, {k: np.asarray(v).tolist() for k, v in (r.vector or {}).items()})
        for r in records
    }
    hits = coll.query({"query": vec(7), "using": "a", "limit": 50, "params": {"exact": True}})
    by_g = coll.count({"must": [{"key": "g", "match": {"value": 1}}]})
    sparse = coll.query({"query": {"indices": [1, 2], "values": [1.0, 1.0]}, "using": "s"})
    return {
        "points": pts,
        "count": coll.count(),
        "hits": [(h.id, round(h.score, 5)) for h in hits],
        "g1": by_g,
        "sparse": [h.id for h in sparse],
        "schema": coll.payload_schema(),
    }


def test_operations_apply_in_order_and_see_each_other(db: Database) -> None:
    coll = filled(db)
    results = coll.batch_update(
        [
            {"upsert": {"points": [{"id": 100, "vector": {"a": vec(1)}, "payload": {"new": 1}}]}},
            {"upsert": {"batch": {"ids": [101, 102], "vectors": {"b": [vec(2), vec(3)]}}}},
            {"set_payload": {"payload": {"x": 5}, "points": [100, 101]}},
            {"set_payload": {"payload": {"y": 1}, "key": "nested", "points": [100]}},
            # the filter sees the payload set by the operation before it
            {"delete": {"filter": {"must": [{"key": "x", "match": {"value": 5}}]}}},
            {"overwrite_payload": {"payload": {"only": True}, "points": [102]}},
            {"update_vectors": {"points": [{"id": 102, "vector": {"a": vec(9)}}]}},
            {"delete_vectors": {"vector": ["b"], "points": [102]}},
            {"delete_payload": {"keys": ["g"], "filter": {"must": [{"has_id": [0, 1]}]}}},
            {"clear_payload": {"points": [2]}},
        ]
    )
    assert [r.status for r in results] == ["completed"] * 10
    ops = [r.operation_id for r in results]
    assert ops == sorted(ops) and len(set(ops)) == 10  # each took its own sequence number
    assert coll.retrieve([100, 101]) == []
    (p102,) = coll.retrieve([102], with_vector=True)
    assert p102.payload == {"only": True}
    assert set(p102.vector) == {"a"}
    assert np.allclose(p102.vector["a"], vec(9))
    assert [r.payload for r in coll.retrieve([0, 1, 2])] == [{"i": 0}, {"i": 1}, {}]
    # the payload index followed every step
    assert coll.count({"must": [{"key": "g", "match": {"value": 0}}]}) == 6  # 3..18 step 3
    assert coll.count() == 21


@pytest.mark.parametrize("after_filter_delete", [False, True])
@pytest.mark.parametrize("failing", ["set_payload", "update_vectors", "delete_vectors"])
def test_a_failing_operation_changes_nothing(
    db: Database, failing: str, after_filter_delete: bool, monkeypatch
) -> None:
    """Caught before writing (ids followed through the batch), or, after a delete by
    filter, while applying: then the store rolls back and the memory state is reloaded."""
    coll = filled(db)
    before, seq = state(coll), coll.store.seq
    loads = []
    real_load = coll._state.load
    monkeypatch.setattr(coll._state, "load", lambda: (loads.append(1), real_load()))
    bad = {
        "set_payload": {"set_payload": {"payload": {"z": 1}, "points": [5, 999]}},
        "update_vectors": {"update_vectors": {"points": [{"id": 999, "vector": {"a": vec(0)}}]}},
        "delete_vectors": {"delete_vectors": {"vector": ["a"], "points": [999]}},
    }[failing]
    ops = [
        {"upsert": {"points": [{"id": 50, "vector": {"a": vec(50)}, "payload": {"g": 1}}]}},
        {"upsert": {"points": [{"id": 3, "vector": {"s": {"indices": [1], "values": [2.0]}}}]}},
        {"delete": {"points": [0, 1, 2]}},
        {"set_payload": {"payload": {"g": 1}, "filter": {"must": [{"has_id": [4, 5]}]}}},
        {"delete_vectors": {"vector": ["b"], "points": [6]}},
        {"delete": {"filter": {"must": [{"has_id": [8]}]}}} if after_filter_delete else None,
        bad,
        {"delete": {"points": [7]}},
    ]
    ops = [op for op in ops if op is not None]
    with pytest.raises(PointNotFoundError, match="999"):
        coll.batch_update(ops)
    assert state(coll) == before
    assert coll.store.seq == seq
    assert len(loads) == (1 if after_filter_delete else 0)
    # and on disk: a fresh connection sees the old store
    conn = sqlite3.connect(coll.path / "store.sqlite")
    try:
        assert conn.execute("SELECT COUNT(*) FROM points").fetchone()[0] == 20
    finally:
        conn.close()
    # the collection still takes writes, with fresh labels and sequence numbers
    (r,) = coll.batch_update(ops[:1])
    assert r.operation_id == seq + 1
    assert coll.retrieve([50])[0].payload == {"g": 1}


def test_validation_errors_name_the_operation_and_change_nothing(db: Database) -> None:
    coll = filled(db)
    before = state(coll)
    good = {"upsert": {"points": [{"id": 60, "vector": {"a": vec(1)}}]}}
    cases = [
        (
            [good, {"upsert": {"points": [{"id": 61, "vector": {"a": [1.0]}}]}}],
            "operations[1].upsert.points[0].vector.a",
        ),
        (
            [good, {"upsert": {"batch": {"ids": [1], "vectors": {"zz": [vec(1)]}}}}],
            "operations[1].upsert.batch.vectors",
        ),
        ([good, {"frobnicate": {}}], "operations[1]"),
        ([good, {"delete": {}, "upsert": {}}], "operations[1]"),
        ([good, {"delete": {"points": [1], "filter": {}}}], "operations[1].delete"),
        ([good, {"delete": {"filter": {"must": [{"nope": 1}]}}}], "operations[1].delete.filter"),
        ([good, {"delete": {"points": [-1]}}], "operations[1].delete.points[0]"),
        ([good, {"set_payload": {"points": [1]}}], "operations[1].set_payload.payload"),
        (
            [good, {"set_payload": {"payload": {}, "points": [1], "key": "a..b"}}],
            "operations[1].set_payload.key",
        ),
        (
            [good, {"overwrite_payload": {"payload": {}, "points": [1], "key": "a"}}],
            "operations[1].overwrite_payload.key",
        ),
        (
            [good, {"delete_payload": {"keys": [3], "points": [1]}}],
            "operations[1].delete_payload.keys[0]",
        ),
        (
            [good, {"clear_payload": {"points": [1], "bogus": 1}}],
            "operations[1].clear_payload.bogus",
        ),
        ([good, {"update_vectors": {"points": []}}], "operations[1].update_vectors.points"),
        (
            [good, {"delete_vectors": {"vector": ["zz"], "points": [1]}}],
            "operations[1].delete_vectors.vector[0]",
        ),
        ([good, {"upsert": {"points": [], "shard_key": "x"}}], "operations[1].upsert.shard_key"),
        (
            [good, {"upsert": {"points": [], "update_mode": "insert_only"}}],
            "operations[1].upsert.update_mode",
        ),
        ({"upsert": {}}, "operations"),
    ]
    for ops, field in cases:
        with pytest.raises(ValidationError) as err:
            coll.batch_update(ops)
        assert err.value.field.startswith(field), (ops, err.value.field)
    assert state(coll) == before


def test_ids_are_followed_through_the_batch(db: Database) -> None:
    coll = filled(db)
    ok = [
        {"upsert": {"points": [{"id": 200, "vector": {"a": vec(1)}}]}},
        {"set_payload": {"payload": {"k": 1}, "points": [200]}},  # exists by then
        {"delete": {"points": [200, 3]}},
        {"upsert": {"points": [{"id": 3, "vector": {"b": vec(2)}}]}},
        {"update_vectors": {"points": [{"id": 3, "vector": {"a": vec(3)}}]}},
    ]
    assert len(coll.batch_update(ok)) == 5
    assert coll.retrieve([200]) == []
    (p3,) = coll.retrieve([3], with_vector=True)
    assert set(p3.vector) == {"a", "b"} and p3.payload == {}
    before = state(coll)
    gone = [{"delete": {"points": [4]}}, {"clear_payload": {"points": [4]}}]
    with pytest.raises(PointNotFoundError, match="id 4"):
        coll.batch_update(gone)
    assert state(coll) == before


def test_empty_batch_is_a_no_op(db: Database) -> None:
    coll = filled(db)
    seq = coll.store.seq
    assert coll.batch_update([]) == []
    assert coll.store.seq == seq


def test_batch_is_durable_across_reopen(db: Database, tmp_path) -> None:
    coll = filled(db)
    coll.batch_update(
        [
            {"delete": {"points": [0]}},
            {"upsert": {"points": [{"id": 70, "vector": {"a": vec(70)}, "payload": {"g": 2}}]}},
            {"set_payload": {"payload": {"k": "v"}, "points": [70]}},
        ]
    )
    expected = state(coll)
    db.close()
    with Database(tmp_path / "data") as again:
        assert state(again.get_collection("c")) == expected


def test_searches_never_see_a_partly_applied_batch(db: Database) -> None:
    """A reader counting points during batches that add then remove 50 points sees either
    all or none of each batch's points."""
    coll = filled(db)
    seen: set[int] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.add(coll.count())

    t = threading.Thread(target=reader)
    t.start()
    try:
        pts = [{"id": 1000 + i, "vector": {"a": vec(i)}} for i in range(50)]
        for _ in range(20):
            coll.batch_update(
                [
                    {"upsert": {"points": pts[:25]}},
                    {"upsert": {"points": pts[25:]}},
                    {"delete": {"points": [p["id"] for p in pts]}},
                ]
            )
    finally:
        stop.set()
        t.join()
    assert seen == {20}
