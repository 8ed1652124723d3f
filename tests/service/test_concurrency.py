"""A real server under concurrent readers and a writer, and a client that disconnects in the
middle of a write: every acknowledged write is there, nothing half-written appears."""

from __future__ import annotations

import socket
import threading

import httpx
import numpy as np

DIM = 8


def test_readers_and_a_writer_at_once(server, rng):
    url = server.url + "/collections/c"
    with httpx.Client(timeout=30) as c:
        r = c.put(
            url, json={"vectors": {"size": DIM, "distance": "Dot"}, "index": {"type": "flat"}}
        )
        assert r.status_code == 200, r.text
    x = rng.standard_normal((600, DIM)).astype(np.float32)
    errors: list[str] = []
    done = threading.Event()
    reads = [0] * 4

    def reader(k: int) -> None:
        with httpx.Client(timeout=30) as c:
            while not done.is_set():
                r = c.post(url + "/points/query", json={"query": x[k].tolist(), "limit": 5})
                if r.status_code != 200:
                    errors.append(r.text)
                reads[k] += 1

    threads = [threading.Thread(target=reader, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    try:
        with httpx.Client(timeout=30) as c:
            for s in range(0, len(x), 50):
                pts = [{"id": i, "vector": x[i].tolist()} for i in range(s, s + 50)]
                r = c.put(url + "/points", json={"points": pts})
                assert r.status_code == 200, r.text
                # visible to the next read once acknowledged
                got = c.post(url + "/points", json={"ids": [s + 49]}).json()["result"]
                assert [p["id"] for p in got] == [s + 49]
    finally:
        done.set()
        for t in threads:
            t.join(30)
    assert not errors, errors[:3]
    assert min(reads) > 0
    with httpx.Client(timeout=30) as c:
        assert c.post(url + "/points/count", json={}).json()["result"]["count"] == len(x)
        q = rng.standard_normal(DIM).astype(np.float32)
        hits = c.post(url + "/points/query", json={"query": q.tolist(), "limit": 3}).json()
        expected = np.argsort(-(x @ q), kind="stable")[:3].tolist()
        assert [h["id"] for h in hits["result"]["points"]] == expected


def test_a_client_disconnecting_mid_write_changes_nothing(server):
    url = server.url + "/collections/c"
    assert httpx.put(url, json={"vectors": {"size": 2, "distance": "Cosine"}}).status_code == 200
    body = b'{"points": [{"id": 1, "vector": [1.0, 2.0]}, {"id": 2, "vec'
    head = (
        f"PUT /collections/c/points HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body) + 100}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(head + body)  # then hang up before the rest of the body
    assert httpx.get(server.url + "/healthz").status_code == 200
    assert httpx.post(url + "/points/count", json={}).json()["result"]["count"] == 0
    r = httpx.put(url + "/points", json={"points": [{"id": 1, "vector": [1.0, 2.0]}]})
    assert r.status_code == 200
    assert httpx.post(url + "/points/count", json={}).json()["result"]["count"] == 1
