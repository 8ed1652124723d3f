"""Group commit (vecsearch.group_commit) and full-disk writes (vecsearch.store).

Concurrency is made deterministic by holding the collection's write lock while writers
queue: the first writer becomes the leader and waits for the lock, the others queue behind it
and form the next group. Full disk is simulated with SQLite's ``PRAGMA max_page_count``,
which makes SQLite fail exactly as on a full filesystem (``SQLITE_FULL``, "database or disk
is full"); no real filesystem is filled. A kill -9 test runs concurrent writers in a child
process and checks every acknowledged write after each kill.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.vecsearch._crash_worker import payload, vector
from vecsearch.database import Database
from vecsearch.errors import PointNotFoundError, StorageFullError

ROOT = Path(__file__).resolve().parents[2]
DIM = 4


@pytest.fixture
def coll(tmp_path):
    db = Database(tmp_path / "data")
    c = db.create_collection("g", {"vectors": {"size": DIM, "distance": "Euclid"}})
    yield c
    db.close()


def point(i: int, **payload) -> dict:
    return {"id": i, "vector": [float(i), 1.0, 2.0, 3.0], "payload": {"i": i, **payload}}


def wait_queued(c, n: int) -> None:
    """Wait (not a timing assertion: a bound on a hang) until ``n`` writes are queued."""
    deadline = time.monotonic() + 60
    while len(c._committer._queue) < n:
        assert time.monotonic() < deadline, "writers did not queue"
        time.sleep(0.005)


def run_queued(c, jobs):
    """Start one thread per job while holding the write lock; release it once the leader
    waits for it and every other job is queued; return each job's result or exception."""
    out: list = [None] * len(jobs)

    def go(i, job):
        try:
            out[i] = job()
        except Exception as exc:
            out[i] = exc

    threads = [threading.Thread(target=go, args=(i, j)) for i, j in enumerate(jobs)]
    with c._write_lock:
        threads[0].start()
        deadline = time.monotonic() + 60
        while not c._committer._leading:  # the first writer leads and waits for the lock
            assert time.monotonic() < deadline
            time.sleep(0.005)
        for t in threads[1:]:
            t.start()
        wait_queued(c, len(jobs) - 1)
    for t in threads:
        t.join(60)
    return out


def test_concurrent_writes_share_one_commit(coll):
    coll.upsert([point(0)])
    groups = coll._committer.groups
    out = run_queued(coll, [lambda i=i: coll.upsert([point(i)]) for i in range(1, 21)])
    assert coll._committer.groups == groups + 2  # the leader's own group, then the other 19
    assert coll._committer.last_group_size == 19
    seqs = sorted(r.operation_id for r in out)
    assert seqs == list(range(seqs[0], seqs[0] + 20))  # each write still has its own seq
    assert coll.count() == 21
    got = {r.id: r.payload for r in coll.retrieve(list(range(21)))}
    assert got == {i: {"i": i} for i in range(21)}
    # visible to searches as soon as each call returned
    assert coll.search([5.0, 1.0, 2.0, 3.0], limit=1)[0].id == 5


def test_a_failing_write_does_not_fail_its_group(coll):
    coll.upsert([point(0), point(1)])
    jobs = [
        lambda: coll.upsert([point(10)]),
        lambda: coll.upsert([point(11)]),
        # fails inside the group: point 99 does not exist
        lambda: coll.update_vectors([{"id": 99, "vector": [0.0, 0.0, 0.0, 1.0]}]),
        lambda: coll.set_payload({"x": 1}, points=[1]),
        lambda: coll.delete(points=[0]),
        lambda: coll.upsert([point(12)]),
    ]
    out = run_queued(coll, jobs)
    assert isinstance(out[2], PointNotFoundError)
    assert not any(isinstance(r, Exception) for i, r in enumerate(out) if i != 2), out
    assert sorted(r.id for r in coll.scroll(limit=100)[0]) == [1, 10, 11, 12]
    assert coll.retrieve([1])[0].payload == {"i": 1, "x": 1}


def test_a_write_undone_inside_the_group_leaves_nothing(coll):
    """A write that has written to the store and then fails is rolled back to its savepoint
    (its seq too); the writes before and after it in the group commit."""
    store = coll.store

    def bad_stage():
        store.set_payloads([(0, '{"half": true}')])  # written, then the write fails
        raise ValueError("boom")

    coll.upsert([point(0)])
    seq0 = store.seq
    jobs = [
        lambda: coll.upsert([point(1)]),
        lambda: coll.upsert([point(2)]),
        lambda: coll._committer.submit(bad_stage),
        lambda: coll.upsert([point(3)]),
    ]
    out = run_queued(coll, jobs)
    assert isinstance(out[2], ValueError)
    assert sorted(r.operation_id for i, r in enumerate(out) if i != 2) == [
        seq0 + 1,
        seq0 + 2,
        seq0 + 3,
    ]
    assert coll.retrieve([0])[0].payload == {"i": 0}
    assert coll.count() == 4
    assert int(store.get_meta("seq")) == seq0 + 3 == store.seq


def fill_until_full(coll, extra_pages: int) -> None:
    """Let the database grow by only ``extra_pages`` pages from now on."""
    w = coll.store._w
    pages = w.execute("PRAGMA page_count").fetchone()[0]
    w.execute(f"PRAGMA max_page_count={pages + extra_pages}")


def test_full_disk_is_reported_and_nothing_is_half_written(coll):
    coll.upsert([point(i) for i in range(10)])
    before = {r.id: r.payload for r in coll.scroll(limit=100)[0]}
    seq = coll.store.seq
    fill_until_full(coll, 2)
    big = [point(100 + i, blob="x" * 2000) for i in range(50)]
    with pytest.raises(StorageFullError) as info:
        coll.upsert(big)
    msg = str(info.value)
    assert "full" in msg and "cannot rollback" not in msg
    assert str(coll.path.parent) not in msg and "/" not in msg  # no server path
    assert {r.id: r.payload for r in coll.scroll(limit=1000)[0]} == before
    assert coll.count() == 10 and coll.store.seq == seq
    assert coll.store.integrity_check() == "ok"
    # a payload rewrite that does not fit either
    with pytest.raises(StorageFullError):
        coll.set_payload({"blob": "y" * 50_000}, points=list(range(10)))
    assert {r.id: r.payload for r in coll.scroll(limit=1000)[0]} == before
    # space again: writes work, labels and seqs continue
    coll.store._w.execute("PRAGMA max_page_count=1073741823")
    assert coll.upsert(big).operation_id == seq + 1
    assert coll.count() == 60


def test_full_disk_in_a_group_fails_only_the_write_that_does_not_fit(coll):
    coll.upsert([point(0)])
    fill_until_full(coll, 3)
    big = [point(100 + i, blob="x" * 3000) for i in range(40)]
    jobs = [
        lambda: coll.upsert([point(1)]),
        lambda: coll.upsert(big),
        lambda: coll.upsert([point(2)]),
    ]
    out = run_queued(coll, jobs)
    assert isinstance(out[1], StorageFullError), out
    assert not isinstance(out[0], Exception) and not isinstance(out[2], Exception), out
    assert sorted(r.id for r in coll.scroll(limit=100)[0]) == [0, 1, 2]
    assert coll.store.integrity_check() == "ok"


def test_full_disk_in_a_batch_update(coll):
    coll.upsert([point(0)])
    fill_until_full(coll, 2)
    big = [point(100 + i, blob="x" * 3000) for i in range(40)]
    with pytest.raises(StorageFullError):
        coll.batch_update([{"delete": {"points": [0]}}, {"upsert": {"points": big}}])
    assert [r.id for r in coll.scroll(limit=100)[0]] == [0]


# -- kill -9 with concurrent writers ---------------------------------------------------------


def run_writers(data_dir: Path, first: int, seed: int, acks: int) -> list[str]:
    """The crash worker with 6 writer threads, killed after ``acks`` acknowledgements."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "tests.vecsearch._crash_worker", str(data_dir), str(first)]
    proc = subprocess.Popen(
        [*cmd, str(seed), "6"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    try:
        first_line = proc.stdout.readline()
        deadline = time.monotonic() + 120
        n = 0
        while first_line.strip() == "ready" and n < acks and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            n += line.startswith("ack ")
    finally:
        proc.send_signal(signal.SIGKILL)
        out, err = proc.stdout.read(), proc.stderr.read()
        proc.wait(timeout=30)
    assert first_line.strip() == "ready", first_line + err
    text = "".join(seen) + out
    return text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]


def test_acknowledged_group_commits_survive_sigkill(tmp_path):
    data_dir = tmp_path / "data"
    rng = np.random.default_rng(3)
    must: set[int] = set()
    first = 0
    total_acked = 0
    for round_ in range(4):
        lines = run_writers(data_dir, first, round_, int(rng.integers(30, 200)))
        pending: set[str] = set()
        for line in lines:
            word, _, op = line.partition(" ")
            if word == "begin":
                pending.add(op)
            elif word == "ack":
                pending.remove(op)
                must.update(int(x) for x in op.split()[1:])
                total_acked += 1
            if word in ("begin", "ack"):
                first = max(first, max(int(x) for x in op.split()[1:]) + 1)
        db = Database(data_dir)
        try:
            c = db.get_collection("crash")
            assert c.store.integrity_check() == "ok"
            stored = {r.id: r for r in c.scroll(limit=100_000, with_vector=True)[0]}
            missing = must - set(stored)
            assert not missing, f"acknowledged writes lost: {sorted(missing)[:10]}"
            for op in pending:  # in flight at the kill: each all or nothing
                ids = {int(x) for x in op.split()[1:]}
                assert ids & set(stored) in (set(), ids), f"partial upsert {op}"
                must |= ids & set(stored)
            assert set(stored) == must
            for i in must:
                assert stored[i].payload == payload(i)
                assert np.array_equal(np.asarray(stored[i].vector, np.float32), vector(i))
            assert c.count() == len(must) == c.space("").index.ntotal
        finally:
            db.close()
    assert total_acked > 50, "the writers made too little progress to test anything"


def test_a_write_from_the_thread_holding_the_write_lock_commits_alone(coll):
    """No deadlock: a writer that already holds the write lock does not queue behind a
    leader that waits for that lock."""
    out: list = []
    t = threading.Thread(target=lambda: out.append(coll.upsert([point(2)])))
    with coll._write_lock:
        t.start()
        deadline = time.monotonic() + 60
        while not coll._committer._leading:  # the other writer leads and waits for us
            assert time.monotonic() < deadline
            time.sleep(0.005)
        coll.upsert([point(1)])
        assert coll.count() == 1
    t.join(60)
    assert not t.is_alive() and len(out) == 1
    assert sorted(r.id for r in coll.scroll(limit=10)[0]) == [1, 2]


def test_upserts_of_one_point_in_a_group_apply_in_order(coll):
    coll.upsert([point(0)])
    jobs = [lambda: coll.upsert([point(9)])]
    jobs += [lambda k=k: coll.upsert([point(1, k=k), point(2 + k)]) for k in range(6)]
    out = run_queued(coll, jobs)
    assert not any(isinstance(r, Exception) for r in out), out
    last = max(range(1, 7), key=lambda j: out[j].operation_id)  # the last one committed
    assert coll.retrieve([1])[0].payload == {"i": 1, "k": last - 1}
    assert coll.count() == 9  # 0, 9, 1, and 2..7
    assert coll.space("").index.ntotal == 9
    assert coll.search([1.0, 1.0, 2.0, 3.0], limit=1)[0].id == 1
