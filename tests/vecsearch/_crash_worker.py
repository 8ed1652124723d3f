"""Child process of the crash test: ingests, deletes, updates payloads and saves the index in
a loop, logging ``begin <op>`` before and ``ack <op>`` after every call, until killed.

Point content is a pure function of the id, so the parent can check vectors and payloads
exactly. Usage: ``python -m tests.vecsearch._crash_worker DATA_DIR FIRST_ID SEED [THREADS]``.

With ``THREADS`` (group commit, tests/vecsearch/test_group_commit.py), that many threads
upsert new points concurrently instead, one or a few points per call (thread ``t`` takes the
ids ``FIRST_ID + t (mod THREADS)``), so concurrent writes share commits; each call is logged
with its own ``begin`` / ``ack`` lines, and several may be in flight at the kill.
"""

from __future__ import annotations

import sys
import threading

import numpy as np

from vecsearch.database import Database

DIM = 8


def vector(i: int) -> np.ndarray:
    """The vector of point ``i``."""
    return np.random.default_rng(i).normal(size=DIM).astype(np.float32)


def payload(i: int) -> dict:
    """The payload of point ``i`` as first written."""
    return {"id": i, "s": "x" * (i % 7), "nested": {"k": i % 3, "l": list(range(i % 4))}}


_SAY = threading.Lock()


def say(*words: str) -> None:
    """Log one line with a single write: under ``PYTHONUNBUFFERED`` print() writes each
    argument separately, and a kill between them would leave a torn ``ack`` line."""
    with _SAY:
        sys.stdout.write(" ".join(words) + "\n")
        sys.stdout.flush()


def concurrent_upserts(coll, first: int, seed: int, threads: int) -> None:
    """``threads`` writers upserting new points (1-3 per call) until killed."""

    def writer(t: int) -> None:
        rng = np.random.default_rng(seed * 1000 + t)
        nxt = first + t
        while True:
            ids = [nxt + threads * j for j in range(int(rng.integers(1, 4)))]
            nxt = ids[-1] + threads
            op = "upsert " + " ".join(map(str, ids))
            say("begin", op)
            coll.upsert(
                [{"id": i, "vector": vector(i).tolist(), "payload": payload(i)} for i in ids]
            )
            say("ack", op)

    workers = [threading.Thread(target=writer, args=(t,), daemon=True) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def main() -> None:
    data_dir, first, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = np.random.default_rng(seed)
    db = Database(data_dir)
    if "crash" in db.list_collections():
        coll = db.get_collection("crash")
    else:
        coll = db.create_collection("crash", {"vectors": {"size": DIM, "distance": "Euclid"}})
    say("ready")
    if len(sys.argv) > 4:
        concurrent_upserts(coll, first, seed, int(sys.argv[4]))
        return
    nxt = first
    step = 0
    while True:
        step += 1
        kind = rng.choice(["upsert", "upsert", "upsert", "delete", "payload", "save", "batch"])
        if kind == "upsert":
            n = int(rng.integers(1, 60))
            ids = list(range(nxt, nxt + n))
            nxt += n
            op = f"upsert {ids[0]} {ids[-1]}"
            say("begin", op)
            coll.upsert_batch(ids, np.stack([vector(i) for i in ids]), [payload(i) for i in ids])
        elif kind == "delete" and nxt > first:
            ids = sorted({int(x) for x in rng.integers(0, nxt, size=5)})
            op = "delete " + " ".join(map(str, ids))
            say("begin", op)
            coll.delete(points=ids)
        elif kind == "payload" and nxt > first:
            ids = sorted({int(x) for x in rng.integers(0, nxt, size=3)})
            # set_payload raises if an id was deleted: only touch ids that exist now
            live = [r.id for r in coll.retrieve(ids, with_payload=False)]
            if not live:
                continue
            op = f"touch {step} " + " ".join(map(str, live))
            say("begin", op)
            coll.set_payload({"touched": step}, points=live)
        elif kind == "batch" and nxt > first:
            # one atomic batch: new points, and deletes of older ones
            n = int(rng.integers(1, 30))
            ids = list(range(nxt, nxt + n))
            nxt += n
            dels = sorted({int(x) for x in rng.integers(0, ids[0], size=4)})
            op = f"batch {ids[0]} {ids[-1]} " + " ".join(map(str, dels))
            say("begin", op)
            vecs = [vector(i).tolist() for i in ids]
            coll.batch_update(
                [
                    {"upsert": {"batch": {"ids": ids, "vectors": vecs}}},
                    {"set_payload": {"payload": {}, "points": ids}},
                    {"overwrite_payload": {"payload": {"x": 1}, "points": ids[:1]}},
                    {"delete": {"points": dels}},
                    {
                        "upsert": {
                            "points": [
                                {"id": i, "vector": vecs[j], "payload": payload(i)}
                                for j, i in enumerate(ids)
                            ]
                        }
                    },
                ]
            )
        elif kind == "save":
            op = "save"
            say("begin", op)
            coll.save_index()
        else:
            continue
        say("ack", op)


if __name__ == "__main__":
    main()
