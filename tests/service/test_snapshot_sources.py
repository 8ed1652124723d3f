"""Snapshot recovery from an http(s) URL and from a multipart upload (loopback only): round
trips through qdrant-client, checksum and archive checks, size limits, unreachable and
failing URLs; a refused recovery creates or changes nothing."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from tests.service.conftest import free_port

rng = np.random.default_rng(3)
X = rng.normal(size=(30, 4)).astype(np.float32)


class Files:
    """A loopback HTTP server serving files from a directory (another host, as far as the
    service knows)."""

    def __init__(self, root: Path) -> None:
        handler = lambda *a: http.server.SimpleHTTPRequestHandler(  # noqa: E731
            *a, directory=str(root)
        )
        http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def files(tmp_path: Path) -> Iterator[tuple[Files, Path]]:
    root = tmp_path / "served"
    root.mkdir()
    srv = Files(root)
    yield srv, root
    srv.close()


def _contents(c, name: str) -> list:
    recs, _ = c.scroll(name, limit=100, with_vectors=True)
    return [(r.id, r.payload, r.vector) for r in recs]


def _fill_http(client) -> tuple[str, bytes, str]:
    """Collection "c" with 30 points and a snapshot of it: (name, bytes, checksum)."""
    r = client.put("/collections/c", json={"vectors": {"size": 4, "distance": "Dot"}})
    assert r.status_code == 200
    pts = [{"id": i, "vector": X[i].tolist(), "payload": {"i": i}} for i in range(30)]
    assert client.put("/collections/c/points", json={"points": pts}).status_code == 200
    snap = client.post("/collections/c/snapshots").json()["result"]
    data = client.get(f"/collections/c/snapshots/{snap['name']}").content
    assert hashlib.sha256(data).hexdigest() == snap["checksum"]
    return snap["name"], data, snap["checksum"]


def test_qdrant_client_recovers_from_our_own_download_url(server):
    qclient = QdrantClient(url=server.url, timeout=120)  # recovery opens (builds) an index
    qclient.create_collection("c", models.VectorParams(size=4, distance=models.Distance.EUCLID))
    qclient.upsert(
        "c", [models.PointStruct(id=i, vector=X[i].tolist(), payload={"i": i}) for i in range(30)]
    )
    snap = qclient.create_snapshot("c")
    url = f"{server.url}/collections/c/snapshots/{snap.name}"
    assert qclient.recover_snapshot("copy", location=url, checksum=snap.checksum)
    assert _contents(qclient, "copy") == _contents(qclient, "c")
    # into an existing collection: replaced
    qclient.delete("copy", models.PointIdsList(points=[0, 1]))
    assert qclient.recover_snapshot("copy", location=url, priority=models.SnapshotPriority.SNAPSHOT)
    assert qclient.count("copy").count == 30
    with pytest.raises(UnexpectedResponse) as info:
        qclient.recover_snapshot("other", location=url, checksum="0" * 64)
    assert info.value.status_code == 400
    assert "other" not in {c.name for c in qclient.get_collections().collections}


def test_recover_from_another_server_and_its_failures(make_client, files):
    srv, root = files
    client = make_client(max_snapshot_bytes=1_000_000)
    _, data, checksum = _fill_http(client)
    (root / "good.snapshot").write_bytes(data)
    (root / "junk.snapshot").write_bytes(b"not a tar file" * 100)
    (root / "big.snapshot").write_bytes(b"x" * 1_000_001)

    def recover(coll: str, **body):
        return client.put(f"/collections/{coll}/snapshots/recover", json=body)

    r = recover("fetched", location=f"{srv.url}/good.snapshot", checksum=checksum)
    assert r.status_code == 200, r.text
    got = client.post(
        "/collections/fetched/points/scroll", json={"limit": 100, "with_vector": True}
    )
    want = client.post("/collections/c/points/scroll", json={"limit": 100, "with_vector": True})
    assert got.json()["result"] == want.json()["result"]

    dead = f"http://127.0.0.1:{free_port()}/x.snapshot"
    refusals = [
        (dict(location=f"{srv.url}/missing.snapshot"), 400, "HTTP 404"),
        (dict(location=dead), 400, "cannot fetch"),
        (dict(location=f"{srv.url}/junk.snapshot"), 400, "not readable"),
        (dict(location=f"{srv.url}/good.snapshot", checksum="ab" * 32), 400, "checksum"),
        (dict(location=f"{srv.url}/big.snapshot"), 413, "exceeds 1000000 bytes"),
        (dict(location=f"{srv.url}/good.snapshot", priority="first"), 400, "priority"),
        (dict(location="ftp://127.0.0.1/x.snapshot"), 400, "location"),
    ]
    for body, status, words in refusals:
        r = recover("nope", **body)
        assert r.status_code == status, (body, r.text)
        assert words in r.json()["status"]["error"], (body, r.text)
    assert client.get("/collections/nope/exists").json()["result"] == {"exists": False}
    # nothing left behind in the data directory's temporary folder
    tmp = Path(client.app.state.service.settings.data_dir) / ".tmp"
    assert not [p for p in tmp.iterdir() if p.name.startswith("fetch.")]


def test_upload(make_client):
    client = make_client(max_snapshot_bytes=1_000_000, max_body_bytes=2_000_000)
    name, data, checksum = _fill_http(client)

    def upload(coll: str, content: bytes, field: str = "snapshot", **params):
        return client.post(
            f"/collections/{coll}/snapshots/upload",
            params=params,
            files={field: (name, content, "application/octet-stream")},
        )

    r = upload("up", data, checksum=checksum, priority="no_sync", wait="true")
    assert r.status_code == 200 and r.json()["result"] is True, r.text
    assert client.post("/collections/up/points/count", json={}).json()["result"]["count"] == 30
    assert upload("up", data).status_code == 200  # replaces, no checksum needed

    refusals = [
        (upload("nope", data, checksum="0" * 64), 400, "checksum"),
        (upload("nope", b"junk" * 10), 400, "not readable"),
        (upload("nope", data, field="file"), 400, "snapshot"),
        (upload("nope", data, priority="urgent"), 400, "priority"),
        (upload("nope", b"x" * 1_200_000), 413, "exceeds 1000000 bytes"),
        (upload("nope", b"x" * 2_100_000), 413, "2000000 bytes"),  # the body limit
        (client.post("/collections/nope/snapshots/upload", content=data), 400, "multipart"),
    ]
    for r, status, words in refusals:
        assert r.status_code == status, r.text
        assert words in r.json()["status"]["error"], r.text
    assert client.get("/collections/nope/exists").json()["result"] == {"exists": False}
    tmp = Path(client.app.state.service.settings.data_dir) / ".tmp"
    assert not [p for p in tmp.iterdir() if p.name.startswith("upload.")]
