"""Snapshots: round trip into a new and into the same collection, consistency while a writer
keeps writing, checksum and format verification."""

from __future__ import annotations

import tarfile
import threading

import numpy as np
import pytest

from vecsearch.errors import (
    CollectionNotFoundError,
    SnapshotIntegrityError,
    SnapshotNotFoundError,
)


def contents(coll):
    recs, nxt = coll.scroll(limit=10_000, with_vector=True)
    assert nxt is None
    return [(r.id, r.payload, r.vector.tolist()) for r in recs]


def test_round_trip_new_and_same_collection(db, rng):
    coll = db.create_collection("src", {"vectors": {"size": 6, "distance": "Cosine"}})
    x = rng.normal(size=(200, 6)).astype(np.float32)
    coll.upsert_batch(list(range(200)), x, [{"k": i % 4, "s": str(i)} for i in range(200)])
    coll.create_payload_index("k", "integer")
    coll.save_index()
    coll.delete(points=[0, 1, 2])  # after the index save: restore must catch up
    before = contents(coll)
    q = rng.normal(size=6)
    flt = {"must": [{"key": "k", "match": {"value": 2}}]}
    hits = coll.search(q, limit=5, filter=flt)

    snap = db.create_snapshot("src")
    assert len(snap.checksum) == 64 and snap.size > 0
    assert [s.name for s in db.list_snapshots("src")] == [snap.name]
    path = db.snapshot_path("src", snap.name)

    copy = db.restore_snapshot(path, "copy")
    assert contents(copy) == before
    assert copy.payload_schema() == {"k": {"data_type": "integer", "points": 197}}
    assert copy.search(q, limit=5, filter=flt) == hits
    assert copy.space("").index.ntotal == 197

    coll.upsert([{"id": 999, "vector": [1, 0, 0, 0, 0, 0]}])
    coll.overwrite_payload({}, points=[5])
    same = db.restore_snapshot(path, "src")
    assert same is not coll and coll.closed
    assert contents(same) == before
    assert sorted(db.list_collections()) == ["copy", "src"]


def test_snapshot_is_consistent_while_writes_continue(db, rng):
    """A writer adds ids 0, 1, 2, ... one write each; every snapshot must hold a prefix."""
    coll = db.create_collection("w", {"vectors": {"size": 4, "distance": "Euclid"}})
    coll.upsert([{"id": i, "vector": [i, 0, 0, 0]} for i in range(50)])
    coll.save_index()
    stop = threading.Event()
    written = []
    errors = []

    def writer():
        i = 50
        try:
            while not stop.is_set() and i < 2000:
                coll.upsert([{"id": i, "vector": [i, 0, 0, 0], "payload": {"i": i}}])
                written.append(i)
                i += 1
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=writer)
    t.start()
    try:
        snaps = []
        while len(snaps) < 3:
            snaps.append(db.create_snapshot("w"))
    finally:
        stop.set()
        t.join()
    assert not errors
    sizes = []
    for k, snap in enumerate(snaps):
        restored = db.restore_snapshot(db.snapshot_path("w", snap.name), f"r{k}")
        ids = [r.id for r in restored.scroll(limit=10_000, with_payload=False)[0]]
        assert ids == list(range(len(ids))), "snapshot is not a prefix of the writes"
        assert restored.count() == restored.space("").index.ntotal == len(ids)
        hit = restored.search([len(ids) - 1, 0, 0, 0], limit=1)[0]
        assert hit.id == len(ids) - 1 and hit.score == 0.0
        sizes.append(len(ids))
    assert sizes == sorted(sizes) and sizes[0] >= 50


def test_checksum_and_format_are_verified(db, tmp_path):
    coll = db.create_collection("c", {"vectors": {"size": 2, "distance": "Dot"}})
    coll.upsert([{"id": 1, "vector": [1, 2]}])
    snap = db.create_snapshot("c")
    path = db.snapshot_path("c", snap.name)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad.snapshot"
    bad.write_bytes(bytes(data))
    with pytest.raises(SnapshotIntegrityError, match="checksum"):
        db.restore_snapshot(bad, "c", checksum=snap.checksum)
    with pytest.raises(SnapshotIntegrityError, match="checksum"):
        db.restore_snapshot(path, "c", checksum="0" * 64)
    foreign = tmp_path / "foreign.snapshot"
    (tmp_path / "evil.txt").write_text("x")
    with tarfile.open(foreign, "w") as tar:
        tar.add(tmp_path / "evil.txt", arcname="../evil.txt")
    with pytest.raises(SnapshotIntegrityError):
        db.restore_snapshot(foreign, "c")
    not_tar = tmp_path / "junk.snapshot"
    not_tar.write_bytes(b"junk" * 100)
    with pytest.raises(SnapshotIntegrityError):
        db.restore_snapshot(not_tar, "other")
    # nothing was touched by the failed restores
    assert db.list_collections() == ["c"]
    assert [r.id for r in db.get_collection("c").scroll()[0]] == [1]
    assert not list(db.tmp_dir.iterdir())
    with pytest.raises(SnapshotNotFoundError):
        db.snapshot_path("c", "nope.snapshot")
    with pytest.raises(CollectionNotFoundError):  # like list_snapshots
        db.snapshot_path("nope", snap.name)
    with pytest.raises(CollectionNotFoundError):
        db.delete_snapshot("nope", snap.name)
    with pytest.raises(SnapshotNotFoundError):
        db.restore_snapshot(tmp_path / "missing.snapshot", "c")
    db.delete_snapshot("c", snap.name)
    assert db.list_snapshots("c") == []
