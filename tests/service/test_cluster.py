"""The single-node answers of ``/telemetry``, ``/cluster``, ``/collections/{c}/cluster``,
``/collections/{c}/optimizations`` and ``/collections/{c}/memory``: parsed by qdrant-client's
own response models (where it has them), with the numbers they should hold."""

from __future__ import annotations

import numpy as np
from qdrant_client.http import models as m

from tests.service.conftest import create, upsert

rng = np.random.default_rng(7)


def test_telemetry_and_cluster_parse_as_qdrant_models(qclient, server):
    qclient.create_collection("a", m.VectorParams(size=4, distance=m.Distance.DOT))
    qclient.create_collection("b", m.VectorParams(size=4, distance=m.Distance.DOT))
    tele = qclient.http.service_api.telemetry(details_level=1).result
    assert isinstance(tele, m.TelemetryData)
    assert tele.app.version == qclient.http.service_api.root().version
    assert tele.collections.number_of_collections == 2
    assert qclient.http.distributed_api.cluster_status().result == m.ClusterStatusOneOf(
        status="disabled"
    )
    qclient.upsert("a", [m.PointStruct(id=i, vector=[1.0, 0, 0, i]) for i in range(5)])
    info = qclient.http.distributed_api.collection_cluster_info("a").result
    assert isinstance(info, m.CollectionClusterInfo)
    assert info.shard_count == 1 and info.remote_shards == [] == info.shard_transfers
    assert [(s.shard_id, s.points_count, s.state) for s in info.local_shards] == [
        (0, 5, m.ReplicaState.ACTIVE)
    ]
    again = qclient.http.distributed_api.collection_cluster_info("b").result
    assert again.peer_id == info.peer_id  # one node


def test_optimizations_parse_as_qdrant_models(qclient):
    qclient.create_collection("a", m.VectorParams(size=4, distance=m.Distance.DOT))
    qclient.upsert("a", [m.PointStruct(id=i, vector=[1.0, 0, 0, i]) for i in range(3)])
    res = qclient.http.collections_api.get_optimizations(
        "a", _with="queued,completed,idle_segments"
    ).result
    assert isinstance(res, m.OptimizationsResponse)
    assert res.running == [] and res.queued == [] and res.completed == []
    assert res.summary.idle_segments == 1
    assert [s.points_count for s in res.idle_segments] == [3]
    plain = qclient.http.collections_api.get_optimizations("a").result
    assert plain.queued is None and plain.completed is None


def test_refusals(client):
    create(client, "a")
    r = client.get("/collections/a/optimizations", params={"with": "queued,bogus"})
    assert r.status_code == 400 and "with" in r.json()["status"]["error"], r.text
    r = client.get("/collections/a/optimizations", params={"completed_limit": -1})
    assert r.status_code == 422, r.text
    for path in ("cluster", "optimizations", "memory"):
        r = client.get(f"/collections/nope/{path}")
        assert r.status_code == 404, (path, r.text)


def test_memory_reports_the_indexes_and_the_store(client):
    body = {
        "vectors": {"d": {"size": 16, "distance": "Cosine"}},
        "sparse_vectors": {"s": {}},
        "index": {"type": "flat"},
    }
    assert client.put("/collections/a", json=body).status_code == 200
    before = client.get("/collections/a/memory").json()["result"]
    points = [
        {
            "id": i,
            "vector": {
                "d": rng.normal(size=16).tolist(),
                "s": {"indices": [i, i + 1], "values": [1.0, 0.5]},
            },
        }
        for i in range(200)
    ]
    assert client.put("/collections/a/points", json={"points": points}).status_code == 200
    after = client.get("/collections/a/memory").json()["result"]
    assert set(after) == {
        "total",
        "vectors",
        "sparse_vectors",
        "payload",
        "payload_index",
        "other",
    }
    keys = {"disk_bytes", "ram_bytes", "cached_bytes", "expected_cache_bytes"}
    assert [v["name"] for v in after["vectors"]] == ["d"]
    assert [v["name"] for v in after["sparse_vectors"]] == ["s"]
    dense = after["vectors"][0]
    assert set(dense) == {"name", "storage", "index"} and set(dense["index"]) == keys
    assert dense["index"]["ram_bytes"] >= 200 * 16 * 4  # a flat index keeps the floats
    assert after["total"]["ram_bytes"] > before["total"]["ram_bytes"]
    assert after["other"]["disk_bytes"] > 0  # the SQLite store
    total = after["other"]["disk_bytes"] + sum(
        v["index"]["disk_bytes"] for v in after["vectors"] + after["sparse_vectors"]
    )
    assert after["total"]["disk_bytes"] == total


def test_routes_resolve_aliases(client):
    create(client, "a")
    upsert(client, "a", rng.normal(size=(4, 4)).astype(np.float32))
    action = {"create_alias": {"collection_name": "a", "alias_name": "x"}}
    assert client.post("/collections/aliases", json={"actions": [action]}).status_code == 200
    r = client.get("/collections/x/cluster")
    assert r.status_code == 200 and r.json()["result"]["local_shards"][0]["points_count"] == 4
    assert client.get("/collections/x/memory").status_code == 200
    assert client.get("/collections/x/optimizations").status_code == 200


def test_a_rebuild_is_a_running_optimization(client, monkeypatch):
    """While a vector's index is rebuilt (after a PATCH), it is listed as running and the
    collection is yellow; the answer parses as qdrant-client's OptimizationsResponse."""
    create(client, "a")
    upsert(client, "a", rng.normal(size=(6, 4)).astype(np.float32))
    coll = client.app.state.service.db.get_collection("a")
    monkeypatch.setattr(coll.rebuilder, "running", lambda name=None: True)
    r = client.get("/collections/a/optimizations", params={"with": "idle_segments"})
    res = m.OptimizationsResponse.model_validate(r.json()["result"])
    assert [(o.status, [s.points_count for s in o.segments]) for o in res.running] == [
        (m.TrackerStatusOneOf.OPTIMIZING, [6])
    ]
    assert res.summary.idle_segments == 0 and res.idle_segments == []
    assert client.get("/collections/a").json()["result"]["status"] == "yellow"
