"""Replication on a real 3-node Ray cluster: a node killed under write and read load loses
no acknowledged write and fails no read; its replicas are then replaced on a re-added node,
caught up (by snapshot when the write log no longer reaches back, by the log otherwise) and
serve the same results as the surviving replicas and as a single-node collection."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import ray

from tests.cluster.conftest import BODY, NODE, payloads
from vecsearch.cluster.collection import ClusterCollection
from vecsearch.cluster.wire import unwrap
from vecsearch.collection import Collection
from vecsearch.config_qdrant import parse_create

pytestmark = pytest.mark.cluster

FIRST = 1000  # points loaded before the load starts
BATCH = 20


def _bodies(queries, n=3):
    return [
        {"vector": {"name": "l2", "vector": q.tolist()}, "limit": 10, "params": {"exact": True}}
        for q in queries[:n]
    ]


def _until(condition, timeout=30.0):
    """Wait until ``condition()`` holds (bounded: the assertions then say what was missed)."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture(scope="module")
def node_loss(ray_cluster, glove, tmp_path_factory):
    """Kill a node holding replicas while one thread writes and another reads."""
    points, queries = glove
    base = tmp_path_factory.mktemp("failover")
    cc = ClusterCollection.create(
        "ha",
        {**BODY, "shard_number": 2, "replication_factor": 2, "write_consistency_factor": 1},
        str(base / "cluster"),
        # small: the outage lasts at least 6 writes per shard, more than the log holds, so the
        # replaced replicas need a snapshot; the later 1-3 writes to a shard fit (log replay)
        log_size=4,
    )
    ids = list(range(FIRST))
    cc.upsert_batch(ids, {"cos": points[:FIRST], "l2": points[:FIRST]}, payloads(FIRST))
    acked: list[int] = []
    write_errors: list[str] = []
    read_errors: list[str] = []
    reads = [0, 0]  # before, after the kill
    killed = threading.Event()
    stop = threading.Event()

    def writer():
        i = FIRST
        while not stop.is_set() and i + BATCH <= len(points):
            sl = slice(i, i + BATCH)
            try:
                cc.upsert_batch(
                    list(range(i, i + BATCH)),
                    {"cos": points[sl], "l2": points[sl]},
                    payloads(BATCH, i),
                )
                acked.extend(range(i, i + BATCH))
            except Exception as exc:  # recorded: the test asserts there is none
                write_errors.append(repr(exc))
            i += BATCH

    def reader():
        bodies = _bodies(queries)
        while not stop.is_set():
            try:
                assert len(cc.search_batch(bodies)[0]) == 10
                done = list(acked[-40:])
                assert len(cc.retrieve(done)) == len(done)
                assert cc.count() >= FIRST + len(done)
                reads[killed.is_set()] += 1
            except Exception as exc:
                read_errors.append(repr(exc))

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    _until(lambda: reads[0] >= 3 and len(acked) >= 3 * BATCH)  # the load runs
    head = ray_cluster.head_node.node_id
    holders = [r.node_id for s in cc.shards for r in s.replicas]
    victim = max(
        (n for n in ray_cluster.worker_nodes if n.node_id != head),
        key=lambda n: holders.count(n.node_id),
    )
    acked_at_kill = len(acked)
    ray_cluster.remove_node(victim, allow_graceful=False)
    killed.set()
    # past the failure detection (~1.5 s), until reads and writes ran well after the kill
    time.sleep(2.0)
    _until(lambda: reads[1] >= 5 and len(acked) >= acked_at_kill + 6 * BATCH)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    cc.drain()
    state = {
        "cc": cc,
        "victim": victim.node_id,
        "acked": list(acked),
        "acked_at_kill": acked_at_kill,
        "write_errors": write_errors,
        "read_errors": read_errors,
        "reads": reads,
        "base": base,
    }
    yield state
    cc.close(drop=True)


def test_node_loss_fails_no_read_and_loses_no_acknowledged_write(node_loss):
    cc = node_loss["cc"]
    acked = node_loss["acked"]
    assert node_loss["read_errors"] == []
    assert node_loss["write_errors"] == []
    # the load really ran on both sides of the kill
    assert node_loss["reads"][0] >= 3 and node_loss["reads"][1] >= 5
    assert len(acked) > node_loss["acked_at_kill"] + 5 * BATCH
    got = cc.retrieve(acked, with_payload=True)
    assert [r.id for r in got] == acked
    assert all(r.payload["i"] == r.id for r in got)
    assert cc.count() == FIRST + len(acked)
    dead = [r for s in cc.shards for r in s.replicas if r.state == "dead"]
    assert dead and {r.node_id for r in dead} == {node_loss["victim"]}
    assert all(s.live() for s in cc.shards)


def _replica_answers(rep, bodies):
    """Search, count and all ids of one replica, asked directly (no failover)."""
    hits = unwrap(ray.get(rep.actor.read.remote("search_batch", (bodies,), {}), timeout=60))
    count = unwrap(ray.get(rep.actor.read.remote("count", (None,), {}), timeout=60))
    recs, _ = unwrap(
        ray.get(rep.actor.read.remote("scroll", (None, 10_000, None, False), {}), timeout=60)
    )
    return [[(h.id, round(h.score, 5)) for h in q] for q in hits], count, [r.id for r in recs]


def _check_replicas_agree(cc, bodies):
    for shard in cc.shards:
        assert [r.state for r in shard.replicas] == ["live"] * len(shard.replicas)
        answers = [_replica_answers(r, bodies) for r in shard.replicas]
        assert all(a == answers[0] for a in answers[1:]), f"shard {shard.id} replicas differ"


def test_readded_node_catches_up_and_serves_same_results(node_loss, ray_cluster, glove):
    cc = node_loss["cc"]
    points, queries = glove
    bodies = _bodies(queries, 5)
    ray_cluster.add_node(**NODE)
    ray_cluster.wait_for_nodes()
    reports = cc.recover()
    assert reports and {r["node_id"] for r in reports} != {node_loss["victim"]}
    # the outage outran the 4-entry log: the replicas came back by snapshot
    assert all(r["method"] == "snapshot" for r in reports), reports
    assert all(r["to_seq"] == cc.shards[r["shard"]].seq for r in reports)
    _check_replicas_agree(cc, bodies)
    # and the cluster answers as one collection holding the acknowledged points
    ids = list(range(FIRST)) + node_loss["acked"]
    single = Collection.create("ref", node_loss["base"] / "single", parse_create(BODY))
    try:
        single.upsert_batch(
            ids, {"cos": points[ids], "l2": points[ids]}, [{"g": i % 7, "i": i} for i in ids]
        )
        for got, want in zip(cc.search_batch(bodies), single.search_batch(bodies), strict=True):
            assert [h.id for h in got] == [h.id for h in want]
            np.testing.assert_allclose([h.score for h in got], [h.score for h in want], rtol=1e-6)
    finally:
        single.close()

    # a replica whose process dies (its node alive) misses a few writes: caught up by the log
    victim = cc.shards[0].replicas[0]
    ray.kill(victim.actor, no_restart=True)
    more = list(range(2900, 2960))
    cc.upsert_batch(more, {"cos": points[more], "l2": points[more]}, payloads(60, 2900))
    cc.delete(points=[0, 1, 2])
    cc.set_payload({"tag": "x"}, points=[3, 4])
    cc.drain()
    assert victim.state == "dead"
    (report,) = cc.recover()
    assert report["method"] == "log" and report["replayed"] > 0
    _check_replicas_agree(cc, bodies)
    assert [r.payload.get("tag") for r in cc.retrieve([3, 4])] == ["x", "x"]
    assert cc.retrieve([0, 1, 2]) == []


def test_hung_replica_times_out_and_reads_fail_over(ray_cluster, glove, tmp_path):
    """A replica that stops answering (its process stopped, its node alive) costs a read one
    timeout, then the read is served by the other replica; writes are acknowledged by the
    live one (write_consistency_factor 1) and the hung one applies them when it resumes."""
    import os
    import signal

    points, queries = glove
    cc = ClusterCollection.create(
        "hung", {**BODY, "replication_factor": 2}, str(tmp_path), timeout=4.0
    )
    try:
        cc.upsert_batch(list(range(200)), {"cos": points[:200], "l2": points[:200]})
        slow = cc.shards[0].replicas[1]
        pid = ray.get(slow.actor.info.remote())["pid"]
        os.kill(pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            answers = [cc.search_batch(_bodies(queries, 1))[0] for _ in range(4)]
            more = list(range(200, 240))
            cc.upsert_batch(more, {"cos": points[more], "l2": points[more]})
            assert cc.count() == 240
            waited = time.monotonic() - t0
        finally:
            os.kill(pid, signal.SIGCONT)
        assert all([h.id for h in a] == [h.id for h in answers[0]] for a in answers)
        assert waited >= 4.0  # the round robin did reach the hung replica, and waited once
        assert slow.state == "live"  # slow is not dead: a timeout alone does not evict
        cc.drain()
        assert unwrap(ray.get(slow.actor.read.remote("count", (None,), {}, 2), timeout=30)) == 240
    finally:
        cc.close(drop=True)
