"""Crash safety: a child process writing in a loop is killed with SIGKILL at random moments,
several times. After every kill the data directory is reopened and checked: every
acknowledged write is there (exact vectors and payloads), the one write in flight is either
wholly there or wholly absent, SQLite's integrity check passes, and the index agrees with the
store (exact search finds every point)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from tests.vecsearch._crash_worker import payload, vector
from vecsearch.database import Database

ROOT = Path(__file__).resolve().parents[2]
KILLS = 5


class Model:
    """What the parent knows from the child's log: points that must exist, and one op in flight."""

    def __init__(self) -> None:
        self.points: dict[int, dict] = {}
        self.next_id = 0

    def apply(self, op: str) -> None:
        kind, *args = op.split()
        if kind == "upsert":
            lo, hi = int(args[0]), int(args[1])
            for i in range(lo, hi + 1):
                self.points[i] = payload(i)
        elif kind == "delete":
            for i in map(int, args):
                self.points.pop(i, None)
        elif kind == "touch":
            step, ids = int(args[0]), list(map(int, args[1:]))
            for i in ids:
                self.points[i]["touched"] = step
        elif kind == "batch":  # upserts lo..hi, deletes the rest (older ids)
            self.apply(f"upsert {args[0]} {args[1]}")
            self.apply("delete " + " ".join(args[2:]))

    def ids_of(self, op: str) -> list[int]:
        kind, *args = op.split()
        if kind == "upsert":
            return list(range(int(args[0]), int(args[1]) + 1))
        if kind == "delete":
            return list(map(int, args))
        if kind == "touch":
            return list(map(int, args[1:]))
        if kind == "batch":
            return list(range(int(args[0]), int(args[1]) + 1))
        return []


def run_child(data_dir: Path, first: int, seed: int, acks: int, delay: float) -> list[str]:
    """Run the writer, kill it with SIGKILL ``delay`` seconds after its ``acks``-th
    acknowledgement (or after 120 s), and return its log. Counting acknowledgements rather
    than wall time makes every round exercise writes however loaded the machine is; the
    random sub-write ``delay`` still lands the kill at random points of a write."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.vecsearch._crash_worker",
            str(data_dir),
            str(first),
            str(seed),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    try:
        first_line = proc.stdout.readline()
        if first_line.strip() == "ready":
            deadline = time.monotonic() + 120
            n_acks = 0
            while n_acks < acks and time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                seen.append(line)
                n_acks += line.startswith("ack ")
            time.sleep(delay)
    finally:
        proc.send_signal(signal.SIGKILL)
        # read through the same buffered wrapper as readline (communicate() would skip
        # lines it already buffered)
        out, err = proc.stdout.read(), proc.stderr.read()
        proc.wait(timeout=30)
    assert first_line.strip() == "ready", first_line + err
    assert proc.returncode == -signal.SIGKILL, err
    text = "".join(seen) + out
    # a line the kill tore (no newline yet) was never acknowledged
    return text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]


def check(data_dir: Path, model: Model, pending: str | None) -> None:
    db = Database(data_dir)
    try:
        coll = db.get_collection("crash")
        assert coll.store.integrity_check() == "ok"
        stored = {}
        offset = None
        while True:
            page, offset = coll.scroll(limit=1000, offset=offset, with_vector=True)
            stored.update({r.id: r for r in page})
            if offset is None:
                break
        pend_ids = set(model.ids_of(pending)) if pending else set()
        kind = pending.split()[0] if pending else None
        # the in-flight write: all or nothing
        if kind == "upsert":
            present = pend_ids & set(stored)
            assert present in (set(), pend_ids), f"partial upsert {pending}"
            if present:
                model.apply(pending)
        elif kind == "delete":
            gone = {i for i in pend_ids if i in model.points and i not in stored}
            live_before = {i for i in pend_ids if i in model.points}
            assert gone in (set(), live_before), f"partial delete {pending}"
            if gone:
                model.apply(pending)
        elif kind == "batch":  # the upserts and the deletes: all or nothing
            present = pend_ids & set(stored)
            assert present in (set(), pend_ids), f"partial batch {pending}"
            dels = {int(x) for x in pending.split()[3:]} & set(model.points)
            gone = {i for i in dels if i not in stored}
            assert gone == (dels if present else set()), f"partial batch {pending}"
            if present:
                model.apply(pending)
        elif kind == "touch":
            step = int(pending.split()[1])
            done = {i for i in pend_ids if stored[i].payload.get("touched") == step}
            assert done in (set(), pend_ids), f"partial payload update {pending}"
            if done:
                model.apply(pending)
        assert set(stored) == set(model.points)
        for i, want in model.points.items():
            rec = stored[i]
            assert rec.payload == want, i
            assert np.array_equal(np.asarray(rec.vector, dtype=np.float32), vector(i)), i
        # the index agrees with the store
        assert coll.count() == len(model.points) == coll.space("").index.ntotal
        for i in sorted(model.points)[:: max(1, len(model.points) // 20)]:
            hit = coll.search(vector(i), limit=1)[0]
            assert hit.id == i and hit.score == 0.0
    finally:
        db.close()


def test_acknowledged_writes_survive_sigkill(tmp_path):
    rng = np.random.default_rng(7)
    model = Model()
    data_dir = tmp_path / "data"
    total_acked = 0
    for round_ in range(KILLS):
        lines = run_child(
            data_dir,
            model.next_id,
            seed=round_,
            acks=int(rng.integers(5, 60)),
            delay=float(rng.uniform(0.0, 0.05)),
        )
        pending = None
        for line in lines:
            word, _, op = line.partition(" ")
            if word == "begin":
                pending = op
            elif word == "ack":
                assert op == pending
                model.apply(op)
                total_acked += 1
                pending = None
            if word in ("begin", "ack") and op.startswith(("upsert", "batch")):
                model.next_id = max(model.next_id, int(op.split()[2]) + 1)
        check(data_dir, model, pending)
    assert total_acked > 10, "the child made too little progress to test anything"
    assert len(model.points) > 100
