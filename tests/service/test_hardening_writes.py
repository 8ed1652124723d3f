"""Writes under load over HTTP (issue 19), on a real uvicorn server: concurrent single-point
upserts (group commit) with filtered reads on a field without a payload index (automatic
index) stay correct, and a full disk answers 507 without writing anything.

No timing is asserted. The full disk is simulated with SQLite's ``PRAGMA max_page_count``
on the collection's write connection: SQLite then fails exactly as on a full filesystem
(``SQLITE_FULL``, "database or disk is full"); no real filesystem is filled.
"""

from __future__ import annotations

import threading

import httpx
import numpy as np

from service import create_app
from tests.service.conftest import ServerThread, make_settings

DIM = 4


def vec(i: int) -> list[float]:
    return np.random.default_rng(i).normal(size=DIM).astype(np.float32).tolist()


def test_concurrent_upserts_and_filtered_reads_stay_correct(tmp_path):
    srv = ServerThread(create_app(make_settings(tmp_path)))
    srv.start()
    try:
        base = srv.url + "/collections/c"
        with httpx.Client(timeout=60) as h:
            r = h.put(base, json={"vectors": {"size": DIM, "distance": "Cosine"}})
            assert r.status_code == 200, r.text
            pts = [{"id": i, "vector": vec(i), "payload": {"g": i % 5}} for i in range(500)]
            assert h.put(base + "/points", json={"points": pts}).status_code == 200
        acked: list[list[int]] = [[] for _ in range(8)]
        bad: list[str] = []

        def writer(t: int) -> None:
            with httpx.Client(timeout=60) as h:
                for k in range(40):
                    i = 1000 + t * 100 + k
                    body = {"points": [{"id": i, "vector": vec(i), "payload": {"g": i % 5}}]}
                    r = h.put(base + "/points", json=body)
                    if r.status_code != 200:
                        bad.append(r.text)
                    else:
                        acked[t].append(i)

        def reader(t: int) -> None:
            with httpx.Client(timeout=60) as h:
                for k in range(40):
                    g = (t + k) % 5
                    flt = {"must": [{"key": "g", "match": {"value": g}}]}
                    body = {"query": vec(k), "limit": 50, "filter": flt, "with_payload": True}
                    r = h.post(base + "/points/query", json=body)
                    if r.status_code != 200:
                        bad.append(r.text)
                        continue
                    hits = r.json()["result"]["points"]
                    if len(hits) != 50 or any(p["payload"]["g"] != g for p in hits):
                        bad.append(f"filter g={g}: {hits[:3]}")

        threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
        threads += [threading.Thread(target=reader, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert not bad, bad[:3]
        ids = [i for a in acked for i in a]
        assert len(ids) == 320
        with httpx.Client(timeout=60) as h:
            got = h.post(base + "/points", json={"ids": ids, "with_payload": True}).json()
            assert sorted(p["id"] for p in got["result"]) == sorted(ids)
            assert all(p["payload"] == {"g": p["id"] % 5} for p in got["result"])
            for g in range(5):  # exact counts through the automatic index
                flt = {"must": [{"key": "g", "match": {"value": g}}]}
                r = h.post(base + "/points/count", json={"filter": flt, "exact": True})
                want = sum(1 for i in [*range(500), *ids] if i % 5 == g)
                assert r.json()["result"]["count"] == want
            info = h.get(base).json()["result"]
            assert info["points_count"] == 820 and info["payload_schema"] == {}
    finally:
        srv.stop()


def test_full_disk_is_a_507_and_nothing_is_written(tmp_path):
    app = create_app(make_settings(tmp_path))
    srv = ServerThread(app)
    srv.start()
    try:
        base = srv.url + "/collections/c"
        with httpx.Client(timeout=60) as h:
            r = h.put(base, json={"vectors": {"size": DIM, "distance": "Dot"}})
            assert r.status_code == 200, r.text
            pts = [{"id": i, "vector": vec(i), "payload": {"n": i}} for i in range(20)]
            assert h.put(base + "/points", json={"points": pts}).status_code == 200
            before = h.post(base + "/points/scroll", json={"limit": 100}).json()["result"]
            coll = app.state.service.db.get_collection("c")
            w = coll.store._w
            pages = w.execute("PRAGMA page_count").fetchone()[0]
            w.execute(f"PRAGMA max_page_count={pages + 2}")
            big = [
                {"id": 100 + i, "vector": vec(i), "payload": {"blob": "x" * 4000}}
                for i in range(40)
            ]
            r = h.put(base + "/points", json={"points": big})
            assert r.status_code == 507, r.text
            status = r.json()["status"]
            assert status["code"] == "storage_full"
            msg = status["error"]
            assert "full" in msg and "cannot rollback" not in msg
            assert str(tmp_path) not in msg and "/" not in msg
            r = h.post(
                base + "/points/payload", json={"payload": {"b": "y" * 90_000}, "points": [1]}
            )
            assert r.status_code == 507, r.text
            after = h.post(base + "/points/scroll", json={"limit": 100}).json()["result"]
            assert after == before
            assert h.post(base + "/points/count", json={}).json()["result"]["count"] == 20
            # the connection and the server stay usable; with space again writes succeed
            w.execute("PRAGMA max_page_count=1073741823")
            assert h.put(base + "/points", json={"points": big}).status_code == 200
            assert h.post(base + "/points/count", json={}).json()["result"]["count"] == 60
    finally:
        srv.stop()
