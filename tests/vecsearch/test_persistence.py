"""Index persistence (saved with its sequence number, caught up at open, rebuilt when
unusable), the collection lock, leftovers of interrupted work, and concurrent readers with a
writer."""

from __future__ import annotations

import json
import os
import threading

import numpy as np
import pytest

from vecsearch.database import Database
from vecsearch.errors import CollectionLockedError


def make(db, rng, n=100, dim=5):
    coll = db.create_collection("p", {"vectors": {"size": dim, "distance": "Euclid"}})
    x = rng.normal(size=(n, dim)).astype(np.float32)
    coll.upsert_batch(list(range(n)), x, [{"i": i} for i in range(n)])
    return coll, x


def nearest(coll, q, k=5):
    return [(h.id, round(h.score, 5)) for h in coll.search(q, limit=k)]


def test_saved_index_is_caught_up_after_unsaved_writes(tmp_path, rng):
    db = Database(tmp_path)
    coll, _ = make(db, rng)
    coll.save_index()
    # after the save: new points, deletions, vector replacements, payload-only changes
    y = rng.normal(size=(20, 5)).astype(np.float32)
    coll.upsert_batch(list(range(100, 120)), y)
    coll.delete(points=list(range(10)))
    coll.upsert_batch([50, 51], y[:2])
    coll.set_payload({"z": 1}, points=[60])
    q = rng.normal(size=(4, 5))
    want = [nearest(coll, v) for v in q]
    coll.close(save_index=False)  # as after kill -9: the saved index is stale
    db = Database(tmp_path)
    again = db.get_collection("p")
    assert again.index_source == "loaded"
    assert again.space("").index.ntotal == again.count() == 110
    assert [nearest(again, v) for v in q] == want
    db.close()  # saves the caught-up index
    db = Database(tmp_path)
    again = db.get_collection("p")
    assert again.index_source == "loaded" and again.space("").index.ntotal == 110
    assert [nearest(again, v) for v in q] == want
    db.close()


@pytest.mark.parametrize("damage", ["garbage", "missing", "foreign", "future"])
def test_unusable_index_files_are_rebuilt(tmp_path, rng, damage):
    db = Database(tmp_path)
    coll, _ = make(db, rng)
    q = rng.normal(size=5)
    want = nearest(coll, q)
    db.close()
    idx = tmp_path / "collections" / "p" / "spaces" / "0" / "index"
    if damage == "garbage":
        for f in (idx / "data").glob("*.npy"):
            f.write_bytes(b"not numpy")
    elif damage == "missing":
        (idx / "data" / "manifest.json").unlink()
    else:
        state = json.loads((idx / "state.json").read_text())
        if damage == "foreign":
            state["uuid"] = "another collection"
        else:
            state["applied_seq"] = 10**9
        (idx / "state.json").write_text(json.dumps(state))
    db = Database(tmp_path)
    coll = db.get_collection("p")
    assert coll.index_source == "rebuilt"
    assert nearest(coll, q) == want
    db.close()


def test_one_process_or_database_per_collection(tmp_path, rng):
    db = Database(tmp_path)
    make(db, rng, n=3)
    other = Database(tmp_path)
    with pytest.raises(CollectionLockedError):
        other.get_collection("p")
    db.close()
    assert other.get_collection("p").count() == 3
    other.close()


def test_leftovers_of_dead_processes_are_cleaned(tmp_path):
    db = Database(tmp_path)
    dead = db.tmp_dir / "build.999999999.abcd.half"
    dead.mkdir()
    (dead / "store.sqlite").write_bytes(b"")
    mine = db.work_dir("build", "live")
    mine.mkdir()
    db.close()
    db = Database(tmp_path)
    assert not dead.exists() and mine.exists()  # our own pid is alive
    assert db.list_collections() == []
    db.close()


def test_concurrent_searches_with_a_writer(db, rng):
    """Readers search and count while a writer upserts and deletes; nothing fails, every hit
    is consistent with its stored vector, and the final state is exact."""
    coll, x = make(db, rng, n=200, dim=8)
    errors: list[BaseException] = []
    stop = threading.Event()
    done = threading.Event()

    def reader(seed):
        r = np.random.default_rng(seed)
        try:
            while not stop.is_set():
                q = r.normal(size=8).astype(np.float32)
                for h in coll.search(q, limit=10, with_vector=True):
                    d = float(np.linalg.norm(np.asarray(h.vector) - q))
                    assert abs(d - h.score) < 1e-4
                coll.count({"must": [{"key": "i", "range": {"lt": 100}}]})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def writer():
        try:
            for i in range(60):
                coll.upsert_batch([1000 + i], x[i : i + 1], [{"i": 1000 + i}])
                coll.delete(points=[i])
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)
        finally:
            done.set()

    threads = [threading.Thread(target=reader, args=(s,)) for s in range(3)]
    threads.append(threading.Thread(target=writer))
    for t in threads:
        t.start()
    done.wait(timeout=120)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors
    assert coll.count() == 200 and coll.space("").index.ntotal == 200
    for i in range(60):
        assert coll.search(x[i], limit=1)[0].id == 1000 + i
    assert coll.count({"must": [{"key": "i", "range": {"lt": 100}}]}) == 40


def test_flush_leaves_nothing_behind(tmp_path, rng):
    db = Database(tmp_path)
    coll, _ = make(db, rng, n=10)
    for _ in range(3):
        coll.flush()
    names = sorted(os.listdir(tmp_path / "collections" / "p" / "spaces" / "0"))
    assert "index" in names and not [n for n in names if n.startswith(".index")]
    db.close()


def test_rebuild_and_close_racing_saves(tmp_path, rng):
    db = Database(tmp_path)
    coll, x = make(db, rng, n=50)
    want = nearest(coll, x[3])
    coll.rebuild_index()
    assert nearest(coll, x[3]) == want
    errors = []

    def saver():
        try:
            for _ in range(20):
                coll.save_index()
        except Exception as exc:  # closed meanwhile: the expected way for this loop to end
            errors.append(exc)

    t = threading.Thread(target=saver)
    t.start()
    coll.close()  # takes the locks in the same order as save_index: no deadlock
    t.join(timeout=60)
    assert not t.is_alive()
    assert all(e.code == "collection_not_found" for e in errors)
    db.close()
    db = Database(tmp_path)
    assert nearest(db.get_collection("p"), x[3]) == want
    db.close()
