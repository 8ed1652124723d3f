"""Per-shard snapshots in cluster mode, over HTTP (a real uvicorn server on the session's
3-node Ray cluster): create / list / download / delete a shard's snapshot (its SHA-256
verifies), recover one shard from it after points were deleted -- that shard's data comes
back on every replica, the other shard keeps its own changes -- and the 404 / 400 cases.
Single-node mode serves the same routes with the collection as shard 0."""

from __future__ import annotations

import hashlib
import threading
import time

import httpx
import numpy as np
import pytest
import ray

from service import Settings, create_app
from tests.service.conftest import ServerThread
from vecsearch.cluster.routing import shard_of

pytestmark = pytest.mark.cluster

NAME = "shsnap"
N = 400
DIM = 8


def _replica_view(rep) -> tuple[int, list]:
    """``(applied seq, [(id, payload), ...])`` of one replica, asked directly."""
    tag, (records, _) = ray.get(
        rep.actor.read.remote("scroll", (None, 10_000, None, True, False), {}, 0), timeout=60
    )
    assert tag == "ok"
    seq = ray.get(rep.actor.applied_seq.remote(), timeout=60)
    return seq, [(r.id, r.payload) for r in records]


@pytest.fixture(scope="module")
def served(ray_cluster, tmp_path_factory):
    """A cluster-mode server holding N points in 2 shards x 2 replicas."""
    base = tmp_path_factory.mktemp("shsnap")
    srv = ServerThread(
        create_app(Settings(data_dir=base / "data", warmup=False, cluster=ray_cluster.address))
    )
    srv.start()
    http = httpx.Client(base_url=srv.url + f"/collections/{NAME}", timeout=120)
    r = http.put(
        srv.url + f"/collections/{NAME}",
        json={
            "vectors": {"size": DIM, "distance": "Cosine"},
            "shard_number": 2,
            "replication_factor": 2,
        },
    )
    assert r.status_code == 200, r.text
    rng = np.random.default_rng(7)
    vecs = rng.standard_normal((N, DIM)).astype(np.float32)
    points = [{"id": i, "vector": vecs[i].tolist(), "payload": {"i": i}} for i in range(N)]
    assert http.put("/points?wait=true", json={"points": points}).status_code == 200
    cc = srv.server.config.app.state.service.db.loaded_collection(NAME).cc
    yield srv, http, cc, base / "data"
    http.close()
    srv.stop()


def test_create_list_download_delete(served):
    _, http, _, data = served
    r = http.post("/shards/0/snapshots")
    assert r.status_code == 200, r.text
    desc = r.json()["result"]
    assert set(desc) == {"name", "creation_time", "size", "checksum"}
    assert desc["name"].startswith(f"{NAME}-shard-0-") and desc["name"].endswith(".snapshot")
    folder = data / "snapshots" / NAME / "shards" / "0"
    assert (folder / desc["name"]).stat().st_size == desc["size"]
    sidecar = (folder / f"{desc['name']}.sha256").read_text().split()[0]
    assert sidecar == desc["checksum"]
    listed = http.get("/shards/0/snapshots").json()["result"]
    assert listed == [desc]
    assert http.get("/shards/1/snapshots").json()["result"] == []
    body = http.get(f"/shards/0/snapshots/{desc['name']}")
    assert body.status_code == 200
    assert hashlib.sha256(body.content).hexdigest() == desc["checksum"]
    # ?wait=false answers Qdrant's 202; the snapshot exists already
    r = http.post("/shards/1/snapshots?wait=false")
    assert r.status_code == 202 and r.json()["status"] == "accepted"
    (second,) = http.get("/shards/1/snapshots").json()["result"]
    assert http.delete(f"/shards/1/snapshots/{second['name']}").json()["result"] is True
    assert http.get("/shards/1/snapshots").json()["result"] == []
    r = http.delete(f"/shards/1/snapshots/{second['name']}")
    assert r.status_code == 404, r.text


def test_recover_restores_one_shard_on_every_replica(served):
    srv, http, cc, data = served
    owner = {i: shard_of(i, 2) for i in range(N)}
    s0 = sorted(i for i in range(N) if owner[i] == 0)
    s1 = sorted(i for i in range(N) if owner[i] == 1)
    before0 = _replica_view(cc.shards[0].replicas[0])[1]
    assert [pid for pid, _ in before0] == s0
    desc = http.post("/shards/0/snapshots").json()["result"]
    # changes after the snapshot: deletes on both shards, a payload change on shard 1,
    # a new point on shard 0
    gone0, gone1 = s0[:30], s1[:20]
    r = http.post("/points/delete?wait=true", json={"points": gone0 + gone1})
    assert r.status_code == 200, r.text
    http.post("/points/payload?wait=true", json={"payload": {"x": 1}, "points": s1[20:25]})
    new0 = next(i for i in range(N, N + 100) if shard_of(i, 2) == 0)
    vec = [1.0] * DIM
    http.put("/points?wait=true", json={"points": [{"id": new0, "vector": vec}]})
    assert http.post("/points/count", json={}).json()["result"]["count"] == N - 50 + 1
    shard1_before = [_replica_view(r) for r in cc.shards[1].replicas]
    seq0 = cc.shards[0].seq

    r = http.put(
        "/shards/0/snapshots/recover",
        json={"location": f"file://{data / 'snapshots' / NAME / 'shards' / '0' / desc['name']}"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["result"] is True
    # shard 0 is as at the snapshot, on both replicas, at the new sequence number
    views = [_replica_view(rep) for rep in cc.shards[0].replicas]
    assert [v[1] for v in views] == [before0, before0]
    assert {v[0] for v in views} == {cc.shards[0].seq} and cc.shards[0].seq > seq0
    assert cc.shards[0].acked == cc.shards[0].seq
    # shard 1 untouched: its deletes and payload change stay
    assert [_replica_view(rep) for rep in cc.shards[1].replicas] == shard1_before
    count = http.post("/points/count", json={}).json()["result"]["count"]
    assert count == N - len(gone1)
    got = http.post("/points", json={"ids": [gone0[0], gone1[0], new0]}).json()["result"]
    assert [p["id"] for p in got] == [gone0[0]]
    cl = httpx.get(srv.url + f"/collections/{NAME}/cluster").json()["result"]
    states = [s["state"] for s in cl["local_shards"] + cl["remote_shards"]]
    assert states == ["Active"] * 4
    # writes go on, to both replicas of the restored shard
    http.put("/points?wait=true", json={"points": [{"id": new0, "vector": vec}]})
    views = [_replica_view(rep) for rep in cc.shards[0].replicas]
    assert views[0] == views[1] and new0 in [pid for pid, _ in views[0][1]]
    hits = http.post("/points/query", json={"query": vec, "limit": 1}).json()["result"]
    assert hits["points"][0]["id"] == new0


def test_recover_while_writes_go_on(served):
    """Writes to the shard during its recovery: afterwards both replicas hold the same
    points -- the snapshot's plus writes sequenced after the restore, among them every write
    started after the recovery answered."""
    _, http, cc, _ = served
    desc = http.post("/shards/0/snapshots").json()["result"]
    snap_ids = [pid for pid, _ in _replica_view(cc.shards[0].replicas[0])[1]]
    fresh = [i for i in range(N + 100, N + 4000) if shard_of(i, 2) == 0]
    started: dict[int, float] = {}
    failed: list[str] = []
    stop = threading.Event()

    def write() -> None:
        with httpx.Client(base_url=http.base_url, timeout=120) as w:
            for pid in fresh:
                if stop.is_set():
                    return
                started[pid] = time.monotonic()
                point = {"id": pid, "vector": [0.5] * DIM}
                r = w.put("/points?wait=true", json={"points": [point]})
                if r.status_code != 200:
                    failed.append(r.text)

    t = threading.Thread(target=write)
    t.start()
    time.sleep(0.05)
    r = http.put("/shards/0/snapshots/recover", json={"location": desc["name"]})
    answered = time.monotonic()
    time.sleep(0.3)  # writes after the answer
    stop.set()
    t.join(120)
    assert r.status_code == 200, r.text
    assert not failed
    cc.drain()
    (sa, a), (sb, b) = (_replica_view(rep) for rep in cc.shards[0].replicas)
    assert sa == sb == cc.shards[0].seq
    assert a == b
    ids = {pid for pid, _ in a}
    after = {pid for pid, at in started.items() if at > answered}
    assert set(snap_ids) <= ids and ids - set(snap_ids) <= set(started)
    assert after and after <= ids


def test_refusals(served):
    srv, http, cc, _ = served
    assert http.post("/shards/2/snapshots").status_code == 404
    r = http.get("/shards/7/snapshots")
    assert r.status_code == 404 and "shard 7" in r.json()["status"]["error"]
    assert http.get("/shards/x/snapshots").status_code == 422
    assert http.get("/shards/0/snapshots/nope.snapshot").status_code == 404
    assert http.get("/shards/0/snapshots/.hidden.snapshot").status_code == 404
    assert http.delete("/shards/0/snapshots/a.txt").status_code == 404
    r = httpx.post(srv.url + "/collections/none/shards/0/snapshots", timeout=30)
    assert r.status_code == 404
    # whole-collection snapshots stay a 400 that names the per-shard routes
    r = http.post("/snapshots")
    assert r.status_code == 400 and "/shards/{shard_id}/snapshots" in r.json()["status"]["error"]
    for location, status in [
        ("/etc/passwd", 400),
        ("../../../x.snapshot", 400),
        ("http://127.0.0.1:1/x.snapshot", 400),
        ("missing.snapshot", 404),
    ]:
        r = http.put("/shards/0/snapshots/recover", json={"location": location})
        assert r.status_code == status, (location, r.text)
    r = http.put("/shards/9/snapshots/recover", json={"location": "x.snapshot"})
    assert r.status_code == 404
    # a snapshot of shard 1 does not fit shard 0 (its points route to shard 1), and a bad
    # checksum is refused: shard 0 is unchanged either way
    other = http.post("/shards/1/snapshots").json()["result"]
    before = [_replica_view(rep) for rep in cc.shards[0].replicas]
    r = http.put("/shards/0/snapshots/recover", json={"location": f"../1/{other['name']}"})
    assert r.status_code == 400 and "belongs to shard 1" in r.json()["status"]["error"], r.text
    r = http.put(
        "/shards/1/snapshots/recover", json={"location": other["name"], "checksum": "ab" * 32}
    )
    assert r.status_code == 400 and "checksum" in r.json()["status"]["error"]
    assert [_replica_view(rep) for rep in cc.shards[0].replicas] == before
    assert all(r.state == "live" for s in cc.shards for r in s.replicas)


def test_a_restarted_server_reopens_the_restored_shard(served, ray_cluster):
    """The restore's sequence number is durable on every replica: after a restart none is
    found behind (all Active), and the shard answers as before."""
    srv, http, cc, data = served
    views = [[_replica_view(rep)[1] for rep in s.replicas] for s in cc.shards]
    count = http.post("/points/count", json={}).json()["result"]["count"]
    srv.stop()
    again = ServerThread(
        create_app(Settings(data_dir=data, warmup=False, cluster=ray_cluster.address))
    )
    again.start()
    try:
        url = again.url + f"/collections/{NAME}"
        assert (
            httpx.post(url + "/points/count", json={}, timeout=60).json()["result"]["count"]
            == count
        )
        cl = httpx.get(url + "/cluster", timeout=60).json()["result"]
        assert [s["state"] for s in cl["local_shards"] + cl["remote_shards"]] == ["Active"] * 4
        cc2 = again.server.config.app.state.service.db.loaded_collection(NAME).cc
        assert [[_replica_view(rep)[1] for rep in s.replicas] for s in cc2.shards] == views
        listed = httpx.get(url + "/shards/0/snapshots", timeout=60).json()["result"]
        assert len(listed) >= 2  # the snapshots outlive the server
    finally:
        again.stop()


def test_single_node_serves_shard_zero(tmp_path):
    """One node: the collection is shard 0; other ids are 404s."""
    settings = Settings(data_dir=tmp_path, warmup=False, max_snapshots_per_collection=2)
    srv = ServerThread(create_app(settings))
    srv.start()
    try:
        http = httpx.Client(base_url=srv.url + "/collections/one", timeout=60)
        r = http.put(srv.url + "/collections/one", json={"vectors": {"size": 2, "distance": "Dot"}})
        assert r.status_code == 200, r.text
        pts = [{"id": i, "vector": [1.0, float(i)]} for i in range(5)]
        http.put("/points?wait=true", json={"points": pts})
        desc = http.post("/shards/0/snapshots").json()["result"]
        got = http.get(f"/shards/0/snapshots/{desc['name']}").content
        assert hashlib.sha256(got).hexdigest() == desc["checksum"]
        assert http.get("/snapshots").json()["result"] == []  # kept apart from these
        http.post("/points/delete?wait=true", json={"points": [0, 1]})
        r = http.put("/shards/0/snapshots/recover", json={"location": desc["name"]})
        assert r.status_code == 200, r.text
        assert http.post("/points/count", json={}).json()["result"]["count"] == 5
        assert http.post("/shards/1/snapshots").status_code == 404
        names = [http.post("/shards/0/snapshots").json()["result"]["name"] for _ in range(2)]
        listed = [d["name"] for d in http.get("/shards/0/snapshots").json()["result"]]
        assert listed == names  # retention: the newest max_snapshots_per_collection
        http.close()
    finally:
        srv.stop()
