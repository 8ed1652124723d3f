"""``vecsearch serve``: the flags, a real server process (start, keys, graceful stop), and
the demo collection built on first start from the Vaswani embeddings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from service import create_app
from service.demo import DEMO_COLLECTION, demo_data_problem
from tests.service.conftest import READ_KEY, WRITE_KEY, free_port, make_settings
from vecsearch.cli import build_parser
from vecsearch.commands.serve import overrides

REPO = Path(__file__).resolve().parents[2]


def test_flags_become_setting_overrides(tmp_path):
    args = build_parser().parse_args(
        [
            "serve",
            "--data-dir",
            str(tmp_path),
            "--port",
            "7001",
            "--api-key",
            "a",
            "--api-key",
            "b",
            "--read-only-api-key",
            "r",
            "--max-body-mb",
            "2",
            "--demo",
        ]
    )
    assert overrides(args) == {
        "data_dir": str(tmp_path),
        "port": 7001,
        "api_key": ["a", "b"],
        "read_only_api_key": ["r"],
        "max_body_bytes": 2 * 1024 * 1024,
        "demo": True,
    }
    assert overrides(build_parser().parse_args(["serve"])) == {}  # env / defaults decide


def test_vecsearch_serve_runs_and_stops_cleanly(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(REPO), "VECSEARCH_READ_ONLY_API_KEY": READ_KEY}
    cmd = [
        sys.executable,
        "-m",
        "vecsearch.cli",
        "serve",
        "--data-dir",
        str(tmp_path / "data"),
        "--port",
        str(port),
        "--api-key",
        WRITE_KEY,
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server not ready in time"
            time.sleep(0.2)
        w, r = {"api-key": WRITE_KEY}, {"api-key": READ_KEY}
        body = {"vectors": {"size": 3, "distance": "Euclid"}, "index": {"type": "flat"}}
        assert httpx.put(url + "/collections/c", json=body).status_code == 401
        assert httpx.put(url + "/collections/c", json=body, headers=r).status_code == 403
        assert httpx.put(url + "/collections/c", json=body, headers=w).status_code == 200
        pts = {"points": [{"id": i, "vector": [i, 0, 0]} for i in range(10)]}
        assert httpx.put(url + "/collections/c/points", json=pts, headers=w).status_code == 200
        q = {"query": [2.2, 0, 0], "limit": 2}
        res = httpx.post(url + "/collections/c/points/query", json=q, headers=r).json()
        assert [p["id"] for p in res["result"]["points"]] == [2, 3]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    # uvicorn shuts down gracefully, then re-raises the signal it caught (exit by SIGTERM)
    assert rc in (0, -signal.SIGTERM), proc.stdout.read().decode() if proc.stdout else rc
    # the shutdown saved the index, so the next start loads it instead of rebuilding
    assert (tmp_path / "data" / "collections" / "c" / "spaces" / "0" / "index").is_dir()


def test_demo_collection_is_built_on_first_start_and_searchable(tmp_path, shared_data):
    assert demo_data_problem(tmp_path / "data") is None
    app = create_app(make_settings(tmp_path, demo=True))
    with TestClient(app) as client:
        assert app.state.service.wait_ready(300), app.state.service.phase
        info = client.get(f"/collections/{DEMO_COLLECTION}").json()["result"]
        assert info["points_count"] == 11_429
        assert info["config"]["params"]["vectors"] == {"size": 384, "distance": "Cosine"}
        doc_ids = [int(s) for s in (shared_data / "vaswani" / "doc_ids.txt").read_text().split()]
        docs = np.load(shared_data / "vaswani" / "docs.f16.npy").astype(np.float32)
        docs /= np.linalg.norm(docs, axis=1, keepdims=True)
        url = f"/collections/{DEMO_COLLECTION}/points/query"
        found = 0
        for doc in doc_ids[::1143]:  # 10 documents as queries
            row = doc_ids.index(doc)
            sims = docs @ docs[row]
            sims[row] = -np.inf  # the query point itself is left out
            expected = [doc_ids[i] for i in np.argsort(-sims, kind="stable")[:5]]
            body = {"query": doc, "limit": 5, "with_payload": True, "params": {"exact": True}}
            pts = client.post(url, json=body).json()["result"]["points"]
            assert [p["id"] for p in pts] == expected
            assert all(p["payload"]["doc_id"] == p["id"] and p["payload"]["text"] for p in pts)
            body = {"query": doc, "limit": 5}  # the collection's index (hnsw when built in)
            pts = client.post(url, json=body).json()["result"]["points"]
            found += len({p["id"] for p in pts} & set(expected))
        assert found / 50 >= 0.9
        flt = {"must": [{"key": "text", "match": {"text": "radio"}}]}
        body = {"query": 42, "limit": 3, "filter": flt, "with_payload": ["text"]}
        pts = client.post(f"/collections/{DEMO_COLLECTION}/points/query", json=body).json()
        assert all("radio" in p["payload"]["text"] for p in pts["result"]["points"])
        # the BM25 space: keyword hits, and a hybrid query fusing it with the dense vector
        assert info["config"]["params"]["sparse_vectors"] == {"bm25": {"modifier": "idf"}}
        kw = {"text": "ionosphere radio", "model": "qdrant/bm25"}
        body = {"query": kw, "using": "bm25", "limit": 5, "with_payload": ["text"]}
        pts = client.post(url, json=body).json()["result"]["points"]
        assert len(pts) == 5 and all("ionosph" in p["payload"]["text"].lower() for p in pts)
        hybrid = {
            "prefetch": [
                {"query": kw, "using": "bm25", "limit": 20},
                {"query": docs[doc_ids.index(42)].tolist(), "limit": 20},
            ],
            "query": {"fusion": "dbsf"},
            "limit": 5,
        }
        r = client.post(url, json=hybrid)
        assert r.status_code == 200 and len(r.json()["result"]["points"]) == 5, r.text
    # a second start finds the collection and does not rebuild it
    app = create_app(make_settings(tmp_path, demo=True))
    with TestClient(app):
        assert app.state.service.wait_ready(60)
        assert app.state.service.db.get_collection(DEMO_COLLECTION).index_source == "loaded"


def test_demo_reports_missing_data(tmp_path, monkeypatch):
    monkeypatch.setenv("VECSEARCH_SHARED_DATA", str(tmp_path / "nowhere"))
    problem = demo_data_problem(tmp_path / "data")
    assert problem is not None and "VECSEARCH_SHARED_DATA" in problem


@pytest.mark.parametrize("flag", ["--port=70000", "--max-body-mb=0"])
def test_bad_settings_exit_with_status_2(tmp_path, flag, capsys):
    from vecsearch.cli import main

    # a free port as well: if validation failed to stop it, the server must not take 6333
    port = "--port=70000" if flag.startswith("--port") else f"--port={free_port()}"
    assert main(["serve", "--data-dir", str(tmp_path), port, flag]) == 2
    assert "invalid settings" in capsys.readouterr().err


def test_blas_limit_applies_and_restores():
    from threadpoolctl import threadpool_info

    from service.server import limit_blas_threads

    def numpy_blas_threads() -> list[int]:
        """Threads of numpy's BLAS (the one flat search uses)."""
        infos = threadpool_info()
        return [
            i["num_threads"] for i in infos if i["user_api"] == "blas" and "numpy" in i["filepath"]
        ]

    before = numpy_blas_threads()
    assert before
    assert limit_blas_threads(0) is None
    limits = limit_blas_threads(1)
    try:
        assert numpy_blas_threads() == [1] * len(before)
    finally:
        limits.restore_original_limits()
    assert numpy_blas_threads() == before
