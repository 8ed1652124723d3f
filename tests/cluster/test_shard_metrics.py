"""Per-shard Prometheus metrics in cluster mode (a real uvicorn server on the session's
3-node Ray cluster): points, replica states and sequence numbers per shard agree with
``GET /collections/{c}/cluster`` and the replicas themselves; read and write counters move;
a killed replica or a shard with no replica left never fails a scrape. Single-node output
has no per-shard families."""

from __future__ import annotations

import os
import signal
import time

import httpx
import numpy as np
import pytest
import ray
from prometheus_client.parser import text_string_to_metric_families

from service import Settings, create_app
from tests.service.conftest import ServerThread
from vecsearch.cluster.routing import shard_of
from vecsearch.cluster.shard_snapshots import SCRAPE_TIMEOUT

pytestmark = pytest.mark.cluster

NAME = "shmet"
N = 300
DIM = 8


def scrape(url: str) -> dict[str, dict[tuple, float]]:
    """``{metric sample name: {sorted label items: value}}`` of one scrape (must be 200)."""
    r = httpx.get(url + "/metrics", timeout=60)
    assert r.status_code == 200, r.text
    out: dict[str, dict[tuple, float]] = {}
    for fam in text_string_to_metric_families(r.text):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def kill(actor) -> None:
    """Kill a replica's actor and wait until it is gone (``ray.kill`` does not wait)."""
    ray.kill(actor, no_restart=True)
    with pytest.raises(ray.exceptions.RayActorError):
        for _ in range(100):
            ray.get(actor.applied_seq.remote(), timeout=30)


def of(samples: dict[tuple, float], **labels: str) -> dict[tuple, float]:
    want = set(labels.items())
    return {k: v for k, v in samples.items() if want <= set(k)}


@pytest.fixture(scope="module")
def served(ray_cluster, tmp_path_factory):
    """A cluster-mode server with N points in 3 shards x 2 replicas."""
    base = tmp_path_factory.mktemp("shmet")
    srv = ServerThread(
        create_app(Settings(data_dir=base / "data", warmup=False, cluster=ray_cluster.address))
    )
    srv.start()
    url = srv.url + f"/collections/{NAME}"
    body = {"vectors": {"size": DIM, "distance": "Dot"}, "shard_number": 3, "replication_factor": 2}
    assert httpx.put(url, json=body, timeout=120).status_code == 200
    vecs = np.random.default_rng(3).standard_normal((N, DIM)).astype(np.float32)
    points = [{"id": i, "vector": vecs[i].tolist()} for i in range(N)]
    r = httpx.put(url + "/points?wait=true", json={"points": points}, timeout=120)
    assert r.status_code == 200, r.text
    cc = srv.server.config.app.state.service.db.loaded_collection(NAME).cc
    yield srv, url, cc
    srv.stop()


def test_per_shard_gauges_match_the_cluster_info(served):
    srv, url, cc = served
    cc.drain()  # write_consistency_factor 1: the second replica's replies may still come
    m = scrape(srv.url)
    points = of(m["vecsearch_shard_points"], collection=NAME)
    per_shard = {dict(k)["shard"]: v for k, v in points.items()}
    assert sorted(per_shard) == ["0", "1", "2"]
    assert sum(per_shard.values()) == N
    assert m["vecsearch_collection_points"][(("collection", NAME),)] == N
    cl = httpx.get(url + "/cluster", timeout=60).json()["result"]
    for s in cl["local_shards"]:  # Qdrant's info counts points of the local shards only
        assert per_shard[str(s["shard_id"])] == s["points_count"]
    assert cc.shard_point_counts() == {int(k): int(v) for k, v in per_shard.items()}
    states: dict[tuple[str, str], int] = {}
    for s in cl["local_shards"] + cl["remote_shards"]:
        key = (str(s["shard_id"]), s["state"])
        states[key] = states.get(key, 0) + 1
    for k, v in of(m["vecsearch_shard_replicas"], collection=NAME).items():
        d = dict(k)
        assert v == states.get((d["shard"], d["state"]), 0), d
    assert sum(of(m["vecsearch_shard_replicas"], collection=NAME, state="Active").values()) == 6
    for shard in cc.shards:
        sid = str(shard.id)
        seqs = of(m["vecsearch_shard_seq"], collection=NAME, shard=sid)
        assert seqs[(("collection", NAME), ("kind", "acked"), ("shard", sid))] == shard.acked
        assert seqs[(("collection", NAME), ("kind", "assigned"), ("shard", sid))] == shard.seq
        applied = of(m["vecsearch_replica_applied_seq"], collection=NAME, shard=sid)
        want = {
            str(r.slot): ray.get(r.actor.applied_seq.remote(), timeout=60) for r in shard.live()
        }
        assert {dict(k)["replica"]: v for k, v in applied.items()} == want
        assert shard.acked >= 1  # the upsert reached every shard


def test_counters_move(served):
    srv, url, _ = served
    before = scrape(srv.url)
    for _ in range(5):
        httpx.post(url + "/points/count", json={}, timeout=60)
    httpx.put(url + "/points?wait=true", json={"points": [{"id": 7, "vector": [1.0] * DIM}]})
    after = scrape(srv.url)
    for sid in ("0", "1", "2"):
        key = (("collection", NAME), ("shard", sid))
        reads = after["vecsearch_shard_reads_total"][key]
        assert reads >= before["vecsearch_shard_reads_total"][key] + 5
    key = (("collection", NAME), ("shard", str(shard_of(7, 3))))
    assert after["vecsearch_shard_writes_total"][key] == (
        before["vecsearch_shard_writes_total"][key] + 1
    )
    assert after["vecsearch_shard_write_seconds_total"][key] > 0


def test_a_killed_replica_never_fails_a_scrape(served):
    """A replica's process killed: the scrape answers, the shard's points still come from
    its other replica; once reads met it, it shows Dead and the failovers are counted."""
    srv, url, cc = served
    victim = cc.shards[1].replicas[0]
    kill(victim.actor)
    m = scrape(srv.url)
    assert sum(of(m["vecsearch_shard_points"], collection=NAME).values()) == N
    applied = of(m["vecsearch_replica_applied_seq"], collection=NAME, shard="1")
    assert list(applied) == [(("collection", NAME), ("replica", "1"), ("shard", "1"))]
    for _ in range(4):  # round robin: some reads meet the dead replica
        assert httpx.post(url + "/points/count", json={}, timeout=60).status_code == 200
    if not any(r is victim for r in cc.shards[1].replicas):  # recovered meanwhile
        pytest.skip("replaced before the scrape could see it")
    m = scrape(srv.url)
    dead = (("collection", NAME), ("shard", "1"), ("state", "Dead"))
    assert m["vecsearch_shard_replicas"][dead] == 1
    assert m["vecsearch_shard_read_failovers_total"][(("collection", NAME), ("shard", "1"))] >= 1


def test_a_shard_with_no_replica_left_never_fails_a_scrape(served):
    srv, _, _ = served
    url = srv.url + "/collections/lone"
    body = {"vectors": {"size": DIM, "distance": "Dot"}, "shard_number": 2}
    assert httpx.put(url, json=body, timeout=120).status_code == 200
    r = httpx.put(url + "/points?wait=true", json={"points": [{"id": 1, "vector": [1.0] * DIM}]})
    assert r.status_code == 200
    lone = srv.server.config.app.state.service.db.loaded_collection("lone").cc
    kill(lone.shards[0].replicas[0].actor)
    m = scrape(srv.url)
    assert (("collection", "lone"),) not in m["vecsearch_collection_points"]  # not known
    assert list(of(m["vecsearch_shard_points"], collection="lone")) == [
        (("collection", "lone"), ("shard", "1"))
    ]
    assert m["vecsearch_collection_points"][(("collection", NAME),)] == N
    # a hung replica (its process stopped) costs a scrape the scrape timeout, no more
    hung = lone.shards[1].replicas[0]
    pid = ray.get(hung.actor.info.remote(), timeout=30)["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        m = scrape(srv.url)
        waited = time.monotonic() - t0
    finally:
        os.kill(pid, signal.SIGCONT)
    assert SCRAPE_TIMEOUT <= waited < SCRAPE_TIMEOUT + 5
    assert of(m["vecsearch_shard_points"], collection="lone") == {}
    assert m["vecsearch_collection_points"][(("collection", NAME),)] == N
    assert httpx.delete(url, timeout=120).status_code == 200


def test_single_node_has_no_shard_metrics(tmp_path):
    srv = ServerThread(create_app(Settings(data_dir=tmp_path, warmup=False)))
    srv.start()
    try:
        url = srv.url + "/collections/one"
        httpx.put(url, json={"vectors": {"size": 2, "distance": "Dot"}}, timeout=60)
        httpx.put(url + "/points?wait=true", json={"points": [{"id": 1, "vector": [1.0, 0.0]}]})
        m = scrape(srv.url)
        assert m["vecsearch_collection_points"] == {(("collection", "one"),): 1.0}
        assert not [k for k in m if k.startswith(("vecsearch_shard_", "vecsearch_replica_"))]
    finally:
        srv.stop()
