"""Shard operations (replicate, move, drop a replica) on the session's real 3-node Ray
cluster: through the engine (:class:`ClusterCollection`), each replica asked directly, and
over HTTP with the real qdrant-client (``POST /collections/{c}/cluster``), refusals as 400s,
a single-node server refusing the route."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import ray
from qdrant_client import QdrantClient, models

from service import Settings, create_app
from service.routers.cluster import ray_peer_id
from tests.cluster.conftest import BODY, payloads
from tests.cluster.test_failover import _bodies, _replica_answers
from tests.service.conftest import ServerThread
from vecsearch.cluster.collection import ClusterCollection
from vecsearch.cluster.operations import ShardOperationError
from vecsearch.cluster.placement import alive_nodes

pytestmark = pytest.mark.cluster

N = 400


def _load(cc, points, lo, hi):
    sl = slice(lo, hi)
    cc.upsert_batch(list(range(lo, hi)), {"cos": points[sl], "l2": points[sl]}, payloads(hi - lo))


def _nodes(cc):
    return [r.node_id for r in cc.shards[0].replicas]


def _agree(cc, bodies):
    """Every replica live and answering as the first one; returns that answer."""
    reps = cc.shards[0].replicas
    assert [r.state for r in reps] == ["live"] * len(reps)
    answers = [_replica_answers(r, bodies) for r in reps]
    assert all(a == answers[0] for a in answers[1:]), "replicas differ"
    return answers[0]


def test_replicate_move_drop_through_the_engine(ray_cluster, glove, tmp_path):
    points, queries = glove
    bodies = _bodies(queries, 3)
    cc = ClusterCollection.create("ops", BODY, str(tmp_path / "replicas"))
    try:
        _load(cc, points, 0, N)
        a = _nodes(cc)[0]
        b, c = [n for n in alive_nodes() if n != a][:2]

        report = cc.replicate_shard(0, b, from_node=a)
        assert report["method"] == "snapshot" and report["source_node_id"] == a
        assert sorted(_nodes(cc)) == sorted([a, b])
        _, count, _ = _agree(cc, bodies)
        assert count == N
        _load(cc, points, N, N + 50)  # a write after it reaches both replicas
        cc.drain()
        before = _agree(cc, bodies)
        assert before[1] == N + 50 and sorted(before[2]) == list(range(N + 50))

        on_b = next(r.path for r in cc.shards[0].replicas if r.node_id == b)
        cc.move_shard(0, b, c)
        assert sorted(_nodes(cc)) == sorted([a, c])
        assert not Path(on_b).exists()
        after = _agree(cc, bodies)
        assert after == before  # results unchanged by the move

        on_a = next(r.path for r in cc.shards[0].replicas if r.node_id == a)
        cc.drop_replica(0, a)
        assert _nodes(cc) == [c] and not Path(on_a).exists()
        assert _agree(cc, bodies) == after
        assert [[h.id for h in q] for q in cc.search_batch(bodies)] == [
            [h for h, _ in q] for q in after[0]
        ]

        with pytest.raises(ShardOperationError, match="last live replica"):
            cc.drop_replica(0, c)
        with pytest.raises(ShardOperationError, match="already holds"):
            cc.replicate_shard(0, c)
        with pytest.raises(ShardOperationError, match="no shard 3"):
            cc.replicate_shard(3, a)
        with pytest.raises(ShardOperationError, match="not an alive Ray node"):
            cc.replicate_shard(0, "ff" * 28)
        with pytest.raises(ShardOperationError, match="holds no replica"):
            cc.drop_replica(0, a)
    finally:
        cc.close()
    again = ClusterCollection.open("ops", str(tmp_path / "replicas"))  # the record moved too
    try:
        assert _nodes(again) == [c] and again.count() == N + 50
        assert again.shards[0].replicas[0].slot == cc.shards[0].replicas[0].slot
    finally:
        again.close()


def test_write_consistency_factor_limits_drops(ray_cluster, glove, tmp_path):
    points, _ = glove
    body = {**BODY, "replication_factor": 2, "write_consistency_factor": 2}
    cc = ClusterCollection.create("wcf", body, str(tmp_path / "replicas"))
    try:
        _load(cc, points, 0, 50)
        a, b = _nodes(cc)
        with pytest.raises(ShardOperationError, match="fewer than write_consistency_factor"):
            cc.drop_replica(0, a)
        assert len(cc.shards[0].live()) == 2
        # b's replica dies: moving a (the only live one) would leave 1 < 2, refused up front
        dead = cc.shards[0].replicas[1]
        ray.kill(dead.actor, no_restart=True)
        cc.shards[0].mark_dead(dead, "killed by the test")
        (c,) = [n for n in alive_nodes() if n not in (a, b)][:1]
        with pytest.raises(ShardOperationError, match="moving it would leave shard 0 1 live"):
            cc.move_shard(0, a, c)
        assert _nodes(cc) == [a, b]  # nothing was built
        cc.move_shard(0, b, c)  # the dead replica is moved: rebuilt on c from a's snapshot
        assert sorted(_nodes(cc)) == sorted([a, c])
        _, count, _ = _agree(cc, _bodies([points[0]], 1))
        assert count == 50
    finally:
        cc.close(drop=True)


def test_operations_over_http(ray_cluster, glove, tmp_path):
    points, queries = glove
    srv = ServerThread(
        create_app(Settings(data_dir=tmp_path / "data", warmup=False, cluster=ray_cluster.address))
    )
    srv.start()
    try:
        client = QdrantClient(url=srv.url, timeout=60)
        client.create_collection("h", models.VectorParams(size=50, distance=models.Distance.COSINE))
        client.upsert("h", models.Batch(ids=list(range(200)), vectors=points[:200].tolist()))
        peers = [int(p) for p in client.cluster_status().peers]
        url = f"{srv.url}/collections/h/cluster"

        def holders():
            info = client.collection_cluster_info("h")
            return sorted(
                [info.peer_id] * len(info.local_shards) + [s.peer_id for s in info.remote_shards]
            )

        (a,) = holders()
        b, c = [p for p in peers if p != a][:2]
        q = queries[0].tolist()
        want = [p.id for p in client.query_points("h", q, limit=10).points]

        op = models.ReplicateShardOperation(
            replicate_shard=models.ReplicateShard(shard_id=0, from_peer_id=a, to_peer_id=b)
        )
        assert client.cluster_collection_update("h", op) is True
        assert holders() == sorted([a, b])
        r = httpx.post(url, json={"replicate_shard": {"shard_id": 0, "to_peer_id": b}}, timeout=60)
        assert r.status_code == 400 and "replicate_shard.to_peer_id" in r.text, r.text
        assert "already holds" in r.text

        op = models.MoveShardOperation(
            move_shard=models.MoveShard(shard_id=0, from_peer_id=b, to_peer_id=c)
        )
        assert client.cluster_collection_update("h", op) is True
        assert holders() == sorted([a, c])
        assert [p.id for p in client.query_points("h", q, limit=10).points] == want

        r = httpx.post(url, json={"drop_replica": {"shard_id": 0, "peer_id": a}}, timeout=60)
        assert r.status_code == 200 and r.json()["result"] is True, r.text
        assert r.json()["status"] == "ok" and "time" in r.json()
        assert holders() == [c]
        for body, words in [
            ({"drop_replica": {"shard_id": 0, "peer_id": c}}, "last live replica"),
            ({"drop_replica": {"shard_id": 0, "peer_id": 12345}}, "unknown peer 12345"),
            ({"move_shard": {"shard_id": 7, "from_peer_id": c, "to_peer_id": a}}, "no shard 7"),
            ({"move_shard": {"shard_id": 0, "to_peer_id": a}}, "move_shard.from_peer_id"),
            ({"create_sharding_key": {"shard_key": "x"}}, "not supported in cluster mode"),
            ({"move_shard": {}, "drop_replica": {}}, "exactly one of"),
        ]:
            r = httpx.post(url, json=body, timeout=60)
            assert r.status_code == 400 and words in r.text, (body, r.text)
        assert [p.id for p in client.query_points("h", q, limit=10).points] == want
    finally:
        srv.stop()


def test_single_node_refuses_shard_operations(tmp_path):
    srv = ServerThread(create_app(Settings(data_dir=tmp_path / "single", warmup=False)))
    srv.start()
    try:
        httpx.put(f"{srv.url}/collections/s", json={"vectors": {"size": 4, "distance": "Dot"}})
        r = httpx.post(
            f"{srv.url}/collections/s/cluster",
            json={"drop_replica": {"shard_id": 0, "peer_id": 1}},
            timeout=30,
        )
        assert r.status_code == 400 and "cluster mode" in r.text, r.text
    finally:
        srv.stop()


def test_peer_ids_are_those_of_get_cluster(ray_cluster):
    assert len({ray_peer_id(n) for n in alive_nodes()}) == len(alive_nodes())
