"""Collections on disk over HTTP (issue 19): 255-character names, names with a trailing
newline, collections that cannot be opened (503 with the reason for authenticated callers,
the others served, ``/readyz`` 200 and silent about reasons to anonymous probes), the pool of
open collections, descriptor exhaustion as 503, and 10,000 collections served by a real
``vecsearch serve`` under ``ulimit -n 1024``."""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.concurrency import run_in_threadpool

from service import create_app
from tests.service.conftest import READ_KEY, WRITE_KEY, ServerThread, free_port, make_settings
from vecsearch.collection import Collection
from vecsearch.database import Database
from vecsearch.fdlimit import open_fds

REPO = Path(__file__).resolve().parents[2]
BODY = {"vectors": {"size": 2, "distance": "Dot"}, "index": {"type": "flat"}}
W, R = {"api-key": WRITE_KEY}, {"api-key": READ_KEY}


def make(db: Database, name: str, n: int = 1) -> None:
    db.create_collection(name, BODY).upsert(
        [{"id": i, "vector": [1.0, float(i)], "payload": {"c": name}} for i in range(n)]
    )


# -- names ----------------------------------------------------------------------------------------
def test_a_255_character_collection_over_http(tmp_path):
    srv = ServerThread(create_app(make_settings(tmp_path)))
    srv.start()
    try:
        name = "N" * 255
        url = f"{srv.url}/collections/{name}"
        with httpx.Client(timeout=30) as http:
            assert http.put(url, json=BODY).status_code == 200
            pts = {"points": [{"id": 7, "vector": [1, 2]}]}
            assert http.put(url + "/points", json=pts).status_code == 200
            snap = http.post(url + "/snapshots")
            assert snap.status_code == 200, snap.text
            snap_name = snap.json()["result"]["name"]
            listed = http.get(url + "/snapshots").json()["result"]
            assert [s["name"] for s in listed] == [snap_name]
            assert http.get(url + f"/snapshots/{snap_name}").status_code == 200
            names = [
                c["name"]
                for c in http.get(f"{srv.url}/collections").json()["result"]["collections"]
            ]
            assert names == [name]
            assert http.get(url).json()["result"]["points_count"] == 1
            r = http.delete(url)
            assert r.status_code == 200 and r.json()["result"] is True
            assert http.get(url).status_code == 404
            assert http.get(f"{srv.url}/collections").json()["result"]["collections"] == []
            r = http.put(f"{srv.url}/collections/{'N' * 256}", json=BODY)
            assert r.status_code == 400
            assert "collection name too long: 256 characters, at most 255" in r.text
    finally:
        srv.stop()
    data = tmp_path / "data"
    assert os.listdir(data / "collections") == [] and os.listdir(data / ".tmp") == []


def test_a_trailing_newline_is_refused_and_creates_nothing(client):
    r = client.put("/collections/zz%0A", json=BODY)
    assert r.status_code == 400
    assert "invalid collection name 'zz\\\\n'" in r.text
    assert client.get("/collections").json()["result"]["collections"] == []
    assert client.get("/collections/zz").status_code == 404
    assert client.get("/collections/zz%0A/exists").status_code == 400


# -- collections that cannot be opened -------------------------------------------------------------
def broken_data_dir(tmp_path: Path) -> Path:
    """A data directory with collections "bad" (its LOCK is a directory) and "good"."""
    data = tmp_path / "data"
    db = Database(data)
    make(db, "bad")
    make(db, "good", 2)
    db.close()
    lock = data / "collections" / "bad" / "LOCK"
    lock.unlink()
    lock.mkdir()
    return data


def test_a_collection_that_cannot_be_opened_is_failed_not_fatal(tmp_path):
    broken_data_dir(tmp_path)
    settings = make_settings(tmp_path, api_key=[WRITE_KEY], read_only_api_key=[READ_KEY])
    app = create_app(settings)
    with TestClient(app) as client:
        assert app.state.service.wait_ready(60)
        # anonymous probe: ready, Qdrant's text, no reason and no path
        r = client.get("/readyz")
        assert r.status_code == 200 and r.text == "all shards are ready"
        r = client.get("/readyz", headers=R)
        assert r.status_code == 200
        assert r.text.startswith("all shards are ready; failed to open: bad (IsADirectoryError")
        assert str(tmp_path) not in r.text
        r = client.get("/readyz", headers={"Authorization": f"Bearer {WRITE_KEY}"})
        assert "failed to open: bad" in r.text
        assert "failed to open" not in client.get("/readyz", headers={"api-key": "x"}).text
        # the others are served; the failed one answers 503 with its reason, no path
        names = [
            c["name"] for c in client.get("/collections", headers=R).json()["result"]["collections"]
        ]
        assert names == ["bad", "good"]
        assert client.get("/collections/good", headers=R).json()["result"]["points_count"] == 2
        r = client.get("/collections/bad", headers=R)
        assert r.status_code == 503
        assert r.json()["status"]["code"] == "collection_unavailable"
        assert "collection 'bad' cannot be opened: IsADirectoryError" in r.text
        assert str(tmp_path) not in r.text
        r = client.post("/collections/bad/points/query", json={"query": [1, 0]}, headers=R)
        assert r.status_code == 503 and str(tmp_path) not in r.text
        assert client.get("/collections/bad").status_code == 401  # no key: no reason
        # deleting it works, and with it the failure is gone
        assert client.delete("/collections/bad", headers=W).json()["result"] is True
        assert "failed" not in client.get("/readyz", headers=R).text


def test_a_failed_start_tells_anonymous_probes_no_reason(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError(f"boom in {tmp_path}/data/secret")

    monkeypatch.setattr("service.warmup.warm_kernels", broken)
    settings = make_settings(tmp_path, warmup=True, api_key=[WRITE_KEY])
    app = create_app(settings)
    with TestClient(app) as client:
        app.state.service._loader.join(30)
        r = client.get("/readyz")
        assert r.status_code == 503 and r.text == "not ready: start-up failed"
        r = client.get("/readyz", headers=W)
        assert r.status_code == 503 and "boom in" in r.text and "secret" in r.text
        assert str(tmp_path / "data") not in r.text  # the data directory's path is cut off


# -- the pool -----------------------------------------------------------------------------------
def test_more_collections_than_the_pool_holds(make_client):
    client = make_client(max_open_collections=2)
    for i in range(6):
        assert client.put(f"/collections/c{i}", json=BODY).status_code == 200
        pts = {"points": [{"id": i, "vector": [1, i], "payload": {"i": i}}]}
        assert client.put(f"/collections/c{i}/points", json=pts).status_code == 200
    for _ in range(2):
        for i in range(6):
            r = client.post(
                f"/collections/c{i}/points/query",
                json={"query": [1, 0], "limit": 3, "with_payload": True},
            )
            assert r.status_code == 200
            assert [(p["id"], p["payload"]) for p in r.json()["result"]["points"]] == [
                (i, {"i": i})
            ]
    db = client.app.state.service.db
    db.trim()
    assert len(db.open_collections()) <= 2
    assert client.get("/collections/c0").json()["result"]["points_count"] == 1


def test_a_collection_in_use_by_a_request_is_not_closed_under_it(tmp_path, monkeypatch):
    """With room for one open collection, a request on "b" arrives while one on "a" is in
    flight: "a" stays open until its request is answered (the pool goes over its bound)."""
    entered, release = threading.Event(), threading.Event()
    real = Collection.describe

    def describe(self):  # the real method, held at its start for collection "a" only
        if self.name == "a":
            entered.set()
            assert release.wait(30)
        return real(self)

    monkeypatch.setattr(Collection, "describe", describe)
    srv = ServerThread(create_app(make_settings(tmp_path, max_open_collections=1)))
    srv.start()
    try:
        for name in ("a", "b"):
            assert httpx.put(f"{srv.url}/collections/{name}", json=BODY).status_code == 200
        db = srv.server.config.app.state.service.db
        answers: list[httpx.Response] = []
        first = threading.Thread(
            target=lambda: answers.append(httpx.get(f"{srv.url}/collections/a", timeout=60))
        )
        first.start()
        assert entered.wait(30)
        a = db.loaded_collection("a")
        assert a is not None
        assert httpx.get(f"{srv.url}/collections/b", timeout=60).status_code == 200
        # b's request is over, so b may already be closed again (the surplus): a may not
        assert not a.closed and "a" in db.open_collections()
        release.set()
        first.join(60)
        assert [r.status_code for r in answers] == [200]
        assert answers[0].json()["result"]["points_count"] == 0
        db.trim()
        assert len(db.open_collections()) == 1
    finally:
        release.set()
        srv.stop()


def test_a_request_scope_follows_the_request_into_the_thread_pool(tmp_path):
    db = Database(tmp_path, max_open=1)
    make(db, "a")
    make(db, "b")

    async def request() -> tuple[int, int]:
        with db.lease_scope():
            coll = await run_in_threadpool(db.get_collection, "a")  # opened in a worker
            held = db._pool.leases(coll)
            await run_in_threadpool(db.get_collection, "b")  # would evict a, unleased
            return held, int(coll.closed)

    held, closed = asyncio.run(request())
    assert (held, closed) == (1, 0)
    db.close()


def test_running_out_of_descriptors_is_a_503(make_client):
    client = make_client()
    for name in ("ok", "later"):
        assert client.put(f"/collections/{name}", json=BODY).status_code == 200
    db = client.app.state.service.db
    db.close()  # nothing open: the next request must open "later"
    assert client.get("/collections/ok").status_code == 200  # open again
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    n = open_fds()
    assert n is not None
    resource.setrlimit(resource.RLIMIT_NOFILE, (n + 64, hard))
    held: list[int] = []

    def exhausted(call):  # take every descriptor left (again: a failure may free some)
        while True:
            try:
                held.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                return call()

    try:
        answers = [
            exhausted(lambda: client.get("/collections/later")),  # opening a collection
            exhausted(lambda: client.post("/collections/ok/snapshots")),  # SQLite's copy
            exhausted(lambda: client.get("/collections")),  # listing the directory
        ]
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    for r in answers:
        assert r.status_code == 503, r.text
        assert r.json()["status"]["code"] == "too_many_open_files"
        assert "too many open files" in r.text and "limit" in r.text
    assert client.get("/collections/later").status_code == 200  # descriptors again: served
    assert len(client.get("/collections").json()["result"]["collections"]) == 2
    assert client.post("/collections/ok/snapshots").status_code == 200


def test_shutdown_saves_the_others_when_one_save_fails(tmp_path, caplog):
    app = create_app(make_settings(tmp_path))
    with TestClient(app) as client:
        assert app.state.service.wait_ready(60)
        for name in ("a", "b", "c"):
            assert client.put(f"/collections/{name}", json=BODY).status_code == 200
            pts = {"points": [{"id": 1, "vector": [1, 1]}]}
            assert client.put(f"/collections/{name}/points", json=pts).status_code == 200
        space = tmp_path / "data" / "collections" / "b" / "spaces" / "0"
        shutil.rmtree(space)
        space.write_text("in the way")  # b's index cannot be saved (root ignores chmod)
        caplog.set_level(logging.ERROR)
    assert len([r for r in caplog.records if "collection b:" in r.getMessage()]) == 1
    space.unlink()
    db = Database(tmp_path / "data")  # every collection was closed: no lock is held
    assert db.get_collection("a").index_source == "loaded"
    assert db.get_collection("c").index_source == "loaded"
    assert db.get_collection("b").count() == 1  # the store is intact, the index rebuilt
    db.close()


# -- 10,000 collections under ulimit -n 1024 ----------------------------------------------------
N_COPIES = 10_000
N_HTTP = 50


def _limit_fds() -> None:  # preexec_fn of the server process
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


def _fill(data: Path) -> list[str]:
    """One collection created through the Python API (one point, payload {"n": -1}, index
    saved), copied N_COPIES times, each copy given its own payload {"n": i} in its store.
    Creating each through the API costs about 50 ms of fsyncs (8 minutes for 10,000): the
    copies are the same files the API writes."""
    db = Database(data)
    db.create_collection("template", BODY).upsert(
        [{"id": 1, "vector": [1.0, 0.5], "payload": {"n": -1}}]
    )
    db.close()
    root = data / "collections"
    template = root / "template"
    names = [f"c{i:05d}" for i in range(N_COPIES)]
    for i, name in enumerate(names):
        shutil.copytree(template, root / name)
        conn = sqlite3.connect(root / name / "store.sqlite", isolation_level=None)
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("UPDATE points SET payload = ?", (f'{{"n": {i}}}',))
        conn.close()
    shutil.rmtree(template)
    return names


@pytest.mark.slow
def test_ten_thousand_collections_with_1024_descriptors(tmp_path):
    """Measured on 2 cores with a load average of 5-7: 153-193 s, of which the copies ~40 s
    and the rest is the server: start, 50 creates over HTTP, the listing, and 10,050
    searches that each open a collection and close another (4 clients)."""
    data = tmp_path / "data"
    names = _fill(data)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "VECSEARCH_WARMUP": "false",
        "VECSEARCH_LOG_LEVEL": "warning",
    }
    cmd = [sys.executable, "-m", "vecsearch.cli", "serve", "--data-dir", str(data)]
    cmd += ["--port", str(port)]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=_limit_fds
    )
    peak = [0]
    stop_watch = threading.Event()

    def watch() -> None:  # the server's descriptors, sampled
        while not stop_watch.wait(0.05):
            try:
                peak[0] = max(peak[0], len(os.listdir(f"/proc/{proc.pid}/fd")))
            except OSError:
                return

    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server not ready in time"
            time.sleep(0.2)
        soft = Path(f"/proc/{proc.pid}/limits").read_text()
        assert any(
            line.startswith("Max open files") and line.split()[3:5] == ["1024", "1024"]
            for line in soft.splitlines()
        ), soft
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        with httpx.Client(base_url=url, timeout=60) as http:
            for i in range(N_HTTP):  # creation keeps working past the old ~250
                name = f"h{i:03d}"
                assert http.put(f"/collections/{name}", json=BODY).status_code == 200
                pts = {"points": [{"id": 1, "vector": [1.0, 0.5], "payload": {"n": N_COPIES + i}}]}
                assert http.put(f"/collections/{name}/points", json=pts).status_code == 200
                names.append(name)
            listed = http.get("/collections").json()["result"]["collections"]
            assert sorted(c["name"] for c in listed) == sorted(names)

        errors: list[str] = []

        def search(part: list[tuple[int, str]]) -> None:
            body = {"query": [1.0, 0.0], "limit": 1, "with_payload": True}
            with httpx.Client(base_url=url, timeout=60) as http:
                for n, name in part:
                    r = http.post(f"/collections/{name}/points/query", json=body)
                    if r.status_code != 200:
                        errors.append(f"{name}: {r.status_code} {r.text[:200]}")
                        continue
                    pts = r.json()["result"]["points"]
                    if [(p["id"], p["payload"]) for p in pts] != [(1, {"n": n})]:
                        errors.append(f"{name}: {pts}")

        work = list(enumerate(names))
        threads = [threading.Thread(target=search, args=(work[k::4],)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [], errors[:5]
        assert httpx.get(url + "/readyz").status_code == 200
    finally:
        stop_watch.set()
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    out = proc.stdout.read().decode() if proc.stdout else ""
    assert rc in (0, -signal.SIGTERM), out
    assert "Too many open files" not in out and "Traceback" not in out, out[-2000:]
    assert 0 < peak[0] <= 1024
    # every collection was closed (no lock is held) and nothing was left in .tmp
    db = Database(data, max_open=8)
    for name in (names[0], names[N_COPIES // 2], names[-1]):
        assert db.get_collection(name).count() == 1
    assert os.listdir(data / ".tmp") == []
    db.close()
