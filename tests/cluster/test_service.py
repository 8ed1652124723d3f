"""The service in cluster mode (setting ``cluster``): a real uvicorn server over the
session's 3-node Ray cluster, driven by the real qdrant-client. A sharded, replicated
collection answers exact searches as a single-node collection does; ``/cluster`` and
``/collections/{c}/cluster`` come in Qdrant's shapes (parsed by qdrant-client's models);
refused features are 400s naming them; a restarted server reopens the collection."""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from service import Settings, create_app
from tests.service.conftest import ServerThread
from vecsearch.collection import Collection
from vecsearch.config_qdrant import parse_create

pytestmark = pytest.mark.cluster

NAME = "glove"
FILTER = {"must": [{"key": "g", "match": {"any": [1, 3, 4]}}]}
QFILTER = models.Filter(must=[models.FieldCondition(key="g", match=models.MatchAny(any=[1, 3, 4]))])


def _server(data_dir, address) -> ServerThread:
    srv = ServerThread(create_app(Settings(data_dir=data_dir, warmup=False, cluster=address)))
    srv.start()
    return srv


@pytest.fixture(scope="module")
def served(ray_cluster, glove, tmp_path_factory):
    """A cluster-mode server holding 3,000 GloVe points in 2 shards x 2 replicas (created and
    filled through qdrant-client), and the same points in a single-node collection."""
    points, _ = glove
    base = tmp_path_factory.mktemp("served")
    single = Collection.create(
        "ref", base / "single", parse_create({"vectors": {"size": 50, "distance": "Cosine"}})
    )
    ids = list(range(len(points)))
    pays = [{"g": i % 7} for i in ids]
    single.upsert_batch(ids, points, pays)
    srv = _server(base / "data", ray_cluster.address)
    client = QdrantClient(url=srv.url, timeout=60)
    assert client.create_collection(
        NAME,
        vectors_config=models.VectorParams(size=50, distance=models.Distance.COSINE),
        shard_number=2,
        replication_factor=2,
        write_consistency_factor=2,
    )
    for lo in range(0, len(points), 1000):
        batch = models.Batch(
            ids=ids[lo : lo + 1000],
            vectors=points[lo : lo + 1000].tolist(),
            payloads=pays[lo : lo + 1000],
        )
        client.upsert(NAME, points=batch)
    state = {"srv": srv, "client": client, "base": base}
    yield state, single
    state["srv"].stop()
    single.close()
    # the replicas' directories go with tmp_path; their actors ended with the server


def _same(got, want):
    assert [p.id for p in got] == [h.id for h in want]
    np.testing.assert_allclose([p.score for p in got], [h.score for h in want], rtol=1e-5)


def test_create_honours_sharding_and_reports_it(served):
    state, _ = served
    client = state["client"]
    info = client.get_collection(NAME)
    assert info.points_count == 3000
    assert info.config.params.shard_number == 2
    assert info.config.params.replication_factor == 2
    assert info.config.params.write_consistency_factor == 2
    cl = client.collection_cluster_info(NAME)  # parsed by qdrant-client's models
    assert cl.shard_count == 2
    replicas = [(s.shard_id, cl.peer_id) for s in cl.local_shards]
    replicas += [(s.shard_id, s.peer_id) for s in cl.remote_shards]
    assert sorted(sid for sid, _ in replicas) == [0, 0, 1, 1]
    for sid in (0, 1):  # the two replicas of a shard on different nodes
        assert len({peer for s, peer in replicas if s == sid}) == 2
    states = {str(s.state) for s in (*cl.local_shards, *cl.remote_shards)}
    assert states == {"Active"}
    assert sum(s.points_count for s in cl.local_shards) <= 3000
    assert cl.shard_transfers == []


def test_cluster_status_lists_ray_nodes(served):
    state, _ = served
    status = state["client"].cluster_status()  # parsed: ClusterStatusOneOf1
    assert status.status == "enabled"
    import ray

    alive = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
    assert len(alive) == 3 and len(status.peers) == len(alive)  # every alive Ray node
    assert str(status.peer_id) in status.peers
    assert status.raft_info.leader == status.peer_id


def test_exact_search_equals_single_node(served, glove):
    state, single = served
    client = state["client"]
    _, queries = glove
    for q in queries[:10]:
        want = single.search(q, limit=10, params={"exact": True})
        got = client.query_points(
            NAME, query=q.tolist(), limit=10, search_params=models.SearchParams(exact=True)
        ).points
        _same(got, want)
        want = single.search(q, limit=5, offset=3, filter=FILTER, params={"exact": True})
        got = client.query_points(
            NAME,
            query=q.tolist(),
            limit=5,
            offset=3,
            query_filter=QFILTER,
            search_params=models.SearchParams(exact=True),
        ).points
        _same(got, want)
    assert client.count(NAME, count_filter=QFILTER).count == single.count(FILTER)
    got = client.retrieve(NAME, [5, 2999, 4000], with_vectors=True)
    assert [p.id for p in got] == [5, 2999]
    v = glove[0][5]  # Cosine: stored normalised, as on one node
    np.testing.assert_allclose(got[0].vector, v / np.linalg.norm(v), rtol=1e-5, atol=1e-6)


def test_refused_features_are_400s(served, glove):
    state, _ = served
    client = state["client"]
    q = glove[1][0].tolist()
    with pytest.raises(UnexpectedResponse) as err:
        client.query_points(
            NAME,
            prefetch=[models.Prefetch(query=q, limit=20), models.Prefetch(query=q, limit=30)],
            query=models.FusionQuery(fusion=models.Fusion.RRF),
            limit=10,
        )
    assert err.value.status_code == 400
    assert "prefetch" in str(err.value) and "not supported across shards" in str(err.value)
    url = state["srv"].url + f"/collections/{NAME}"
    for method, path, body in [
        ("POST", "/snapshots", None),
        ("GET", "/memory", None),
        ("POST", "/points/recommend", {"positive": [1], "limit": 3}),
        ("POST", "/points/batch", {"operations": [{"delete": {"points": [1]}}]}),
        ("PATCH", "", {"optimizers_config": {"indexing_threshold": 1000}}),
    ]:
        r = httpx.request(method, url + path, json=body, timeout=30)
        assert r.status_code == 400, (path, r.text)
        assert "not supported" in r.json()["status"]["error"], (path, r.text)


def test_groups_and_order_by_over_http(served, glove):
    """qdrant-client's groups (query and search), order_by query and ordered scroll against
    the cluster equal the single node's answers."""
    state, single = served
    client = state["client"]
    q = glove[1][3].tolist()
    exact = models.SearchParams(exact=True)
    got = client.query_points_groups(
        NAME,
        query=q,
        group_by="g",
        limit=4,
        group_size=6,
        search_params=exact,
        query_filter=QFILTER,
    ).groups
    body = {"query": q, "group_by": "g", "limit": 4, "group_size": 6, "params": {"exact": True}}
    want = single.query_groups({**body, "filter": FILTER})
    assert len(want) == 3  # the filter leaves 3 values of g
    assert [(g.id, [p.id for p in g.hits]) for g in got] == [
        (g["id"], [h["id"] for h in g["hits"]]) for g in want
    ]
    r = httpx.post(  # this qdrant-client has no search_groups
        state["srv"].url + f"/collections/{NAME}/points/search/groups",
        json={"vector": q, "group_by": "g", "limit": 2, "group_size": 3, "params": {"exact": True}},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    got = [models.PointGroup(**g) for g in r.json()["result"]["groups"]]
    want = single.query_groups({**body, "limit": 2, "group_size": 3})
    assert [[p.id for p in g.hits] for g in got] == [[h["id"] for h in g["hits"]] for g in want]
    order = models.OrderBy(key="g", direction=models.Direction.DESC, start_from=4)
    recs, nxt = client.scroll(NAME, limit=25, order_by=order, with_payload=True)
    want_recs, _ = single.scroll(
        None, limit=25, order_by={"key": "g", "direction": "desc", "start_from": 4}
    )
    assert nxt is None
    assert [(r.id, r.order_value) for r in recs] == [(r.id, r.order_value) for r in want_recs]
    assert {r.payload["g"] for r in recs} == {4}
    client.create_payload_index(NAME, "g", models.PayloadSchemaType.INTEGER, wait=True)
    single.create_payload_index("g", "integer")  # facets need one, as on Qdrant's server
    got = client.facet(NAME, key="g", facet_filter=QFILTER, limit=2).hits
    want = single.facet("g", FILTER, 2)
    assert [(h.value, h.count) for h in got] == [(h.value, h.count) for h in want]
    assert len(got) == 2 and got[0].count >= got[1].count > 0
    pts = client.query_points(
        NAME, query=models.OrderByQuery(order_by=models.OrderBy(key="g")), limit=12, offset=440
    ).points
    want_pts = single.query({"query": {"order_by": "g"}, "limit": 12, "offset": 440})
    assert [(p.id, p.order_value) for p in pts] == [(h.id, h.order_value) for h in want_pts]
    assert {p.order_value for p in pts} == {1}  # past the 429 points with g == 0 (ids by 7s)
    r = httpx.post(
        state["srv"].url + f"/collections/{NAME}/points/query/groups",
        json={"query": q, "group_by": "g", "offset": 3},
        timeout=30,
    )
    assert r.status_code == 422 and "offset" in r.text  # the schema refuses it, as on one node


def test_aliases_scroll_payload_writes_and_metrics(served):
    state, _ = served
    client = state["client"]
    client.update_collection_aliases(
        change_aliases_operations=[
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=NAME, alias_name="g50")
            )
        ]
    )
    assert client.count("g50").count == 3000
    page, nxt = client.scroll("g50", limit=7, offset=100)
    assert [p.id for p in page] == list(range(100, 107)) and nxt == 107
    client.set_payload(NAME, payload={"tag": "x"}, points=[1, 2000, 2999])
    tagged = models.Filter(
        must=[models.FieldCondition(key="tag", match=models.MatchValue(value="x"))]
    )
    assert client.count(NAME, count_filter=tagged).count == 3
    client.delete_payload(NAME, keys=["tag"], points=[1, 2000, 2999])
    assert client.count(NAME, count_filter=tagged).count == 0
    client.update_collection_aliases(
        change_aliases_operations=[
            models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name="g50"))
        ]
    )
    assert client.get_aliases().aliases == []
    metrics = httpx.get(state["srv"].url + "/metrics", timeout=30).text
    assert f'collection="{NAME}"' in metrics and "3000" in metrics
    opt = httpx.get(state["srv"].url + f"/collections/{NAME}/optimizations", timeout=30)
    assert opt.status_code == 200 and opt.json()["result"]["running"] == []


def test_a_killed_replica_shows_dead_and_reads_fail_over(served, glove):
    """One replica's process killed: searches still answer as one node does, the collection's
    cluster info says which replica is dead, and the server rebuilds it (with
    write_consistency_factor 2 its shard acknowledges no write until then)."""
    import ray

    state, single = served
    facade = state["srv"].server.config.app.state.service.db.loaded_collection(NAME)
    victim = facade.cc.shards[0].replicas[0]
    ray.kill(victim.actor, no_restart=True)
    client = state["client"]
    for q in glove[1][10:14]:  # round robin over replicas: some reads meet the dead one
        got = client.query_points(
            NAME, query=q.tolist(), limit=10, search_params=models.SearchParams(exact=True)
        ).points
        _same(got, single.search(q, limit=10, params={"exact": True}))
        assert client.count(NAME).count == 3000
    cl = client.collection_cluster_info(NAME)
    shards = [(s.shard_id, str(s.state)) for s in (*cl.local_shards, *cl.remote_shards)]
    assert sorted(shards) == [(0, "Active"), (0, "Dead"), (1, "Active"), (1, "Active")]
    # the server rebuilds it in the background (ClusterDatabase.RECOVER_EVERY), then writes
    # are acknowledged by both replicas of every shard again
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        cl = client.collection_cluster_info(NAME)
        if {str(s.state) for s in (*cl.local_shards, *cl.remote_shards)} == {"Active"}:
            break
        time.sleep(0.5)
    assert len(cl.local_shards) + len(cl.remote_shards) == 4
    assert {str(s.state) for s in (*cl.local_shards, *cl.remote_shards)} == {"Active"}
    q = glove[1][15]
    client.upsert(NAME, points=[models.PointStruct(id=4500, vector=q.tolist())])
    assert client.query_points(NAME, query=q.tolist(), limit=1).points[0].id == 4500
    client.delete(NAME, points_selector=models.PointIdsList(points=[4500]))
    assert client.count(NAME).count == 3000


def test_restart_reopens_the_collection(served, glove, ray_cluster):
    state, single = served
    state["srv"].stop()  # closes the replicas (their actors end)
    # every replica reopens live: the one killed above was rebuilt and caught up
    state["srv"] = srv = _server(state["base"] / "data", ray_cluster.address)
    client = state["client"] = QdrantClient(url=srv.url, timeout=60)
    assert [c.name for c in client.get_collections().collections] == [NAME]
    assert client.count(NAME).count == 3000
    cl = client.collection_cluster_info(NAME)
    assert {str(s.state) for s in (*cl.local_shards, *cl.remote_shards)} == {"Active"}
    q = glove[1][3]
    got = client.query_points(
        NAME, query=q.tolist(), limit=10, search_params=models.SearchParams(exact=True)
    ).points
    _same(got, single.search(q, limit=10, params={"exact": True}))
    # writes go on after the restart, on both shards
    client.upsert(NAME, points=[models.PointStruct(id=5000, vector=q.tolist(), payload={"g": 1})])
    assert client.count(NAME).count == 3001
    assert client.query_points(NAME, query=q.tolist(), limit=1).points[0].id == 5000
