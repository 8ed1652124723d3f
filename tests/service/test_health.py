"""Health probes, readiness during start-up (503 until loaded and compiled), metrics,
settings from the environment, and what the lifespan leaves on disk."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service import Settings, create_app
from service.warmup import all_units, available_index_types, warm_kernels
from tests.service.conftest import create, make_settings, upsert


def test_probes(client):
    for path in ("/healthz", "/livez", "/readyz"):
        r = client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    # Qdrant's texts (its tests/openapi/test_k8s_health.py compares them)
    assert client.get("/healthz").text == client.get("/livez").text == "healthz check passed"
    assert client.get("/readyz").text == "all shards are ready"


def test_readyz_is_503_until_warm_up_finishes(tmp_path, monkeypatch):
    release = threading.Event()
    entered = threading.Event()

    def slow_warm(units=None, should_stop=lambda: False):
        entered.set()
        assert release.wait(30)
        return {}

    monkeypatch.setattr("service.warmup.warm_kernels", slow_warm)
    app = create_app(make_settings(tmp_path, warmup=True))
    with TestClient(app) as client:
        assert entered.wait(30)
        r = client.get("/readyz")
        assert r.status_code == 503 and "compiling kernels" in r.text
        assert client.get("/healthz").status_code == 200
        assert client.get("/collections").status_code == 200  # served meanwhile
        release.set()
        assert app.state.service.wait_ready(30)
        assert client.get("/readyz").status_code == 200


def test_collections_are_opened_at_start_up(tmp_path, rng):
    x = rng.standard_normal((50, 4)).astype(np.float32)
    with TestClient(create_app(make_settings(tmp_path))) as client:
        client.app.state.service.wait_ready(30)
        create(client, "a", 4)
        upsert(client, "a", x)
    # the lifespan saved the index on shutdown; a new app opens the collection while loading
    assert (tmp_path / "data" / "collections" / "a" / "spaces" / "0" / "index").is_dir()
    app = create_app(make_settings(tmp_path))
    with TestClient(app) as client:
        assert app.state.service.wait_ready(30)
        coll = app.state.service.db.get_collection("a")
        assert coll.index_source == "loaded" and coll.count() == 50


def test_a_collection_that_cannot_open_is_reported(tmp_path, rng):
    with TestClient(create_app(make_settings(tmp_path))) as client:
        client.app.state.service.wait_ready(30)
        create(client, "a", 4)
        # a second app on the same data directory cannot lock the open collection
        app2 = create_app(make_settings(tmp_path))
        with TestClient(app2) as c2:
            assert app2.state.service.wait_ready(30)
            r = c2.get("/readyz")
            assert r.status_code == 200 and "failed to open: a" in r.text
            r = c2.get("/collections/a")
            assert r.status_code == 409 and "open in another process" in r.text


def test_real_warm_up_compiles_every_available_type(tmp_path):
    types = available_index_types()
    assert {"flat", "binary"} <= set(types)
    spent = warm_kernels()
    assert set(spent) == {str(u) for u in all_units()}  # every type, distance, and sparse
    assert {u.split("/")[0] for u in spent} == {*types, "sparse"}
    app = create_app(make_settings(tmp_path, warmup=True))
    with TestClient(app) as client:
        assert app.state.service.wait_ready(120)
        assert app.state.service.phase == "ready"
        assert client.get("/readyz").status_code == 200


def test_metrics(client, rng):
    x = rng.standard_normal((30, 4)).astype(np.float32)
    create(client, "m", 4, index={"type": "flat"})
    upsert(client, "m", x)
    for _ in range(3):
        r = client.post("/collections/m/points/query", json={"query": x[0].tolist()})
        assert r.status_code == 200
    client.post("/collections/m/points/query", json={"query": [1.0]})
    client.get("/no/such/path")
    text = client.get("/metrics").text
    route = "/collections/{collection_name}/points/query"
    assert (
        f'vecsearch_http_requests_total{{method="POST",route="{route}",status="200"}} 3.0' in text
    )
    assert f'route="{route}",status="400"}} 1.0' in text
    assert 'route="<unmatched>",status="404"' in text
    assert (
        f'vecsearch_http_request_duration_seconds_count{{method="POST",route="{route}"}} 4.0'
        in text
    )
    assert 'vecsearch_search_duration_seconds_count{index_type="flat"} 3.0' in text
    assert 'vecsearch_collection_points{collection="m"} 30.0' in text
    assert "vecsearch_ready 1.0" in text


def test_settings_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("VECSEARCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VECSEARCH_PORT", "7000")
    monkeypatch.setenv("VECSEARCH_API_KEY", "k1, k2")
    monkeypatch.setenv("VECSEARCH_READ_ONLY_API_KEY", '["r1"]')
    monkeypatch.setenv("VECSEARCH_CORS_ORIGINS", "*")
    monkeypatch.setenv("VECSEARCH_MAX_BODY_BYTES", "1000")
    s = Settings()
    assert s.data_dir == tmp_path and s.port == 7000
    assert s.api_key == ["k1", "k2"] and s.read_only_api_key == ["r1"]
    assert s.cors_origins == ["*"] and s.max_body_bytes == 1000 and s.auth_enabled
    assert Settings(port=1).port == 1  # arguments win over the environment
    monkeypatch.setenv("VECSEARCH_PORT", "not-a-port")
    with pytest.raises(ValueError, match="port"):
        Settings()


def test_loader_failure_keeps_the_service_unready(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("service.warmup.warm_kernels", broken)
    app = create_app(make_settings(tmp_path, warmup=True))
    with TestClient(app) as client:
        app.state.service._loader.join(30)
        r = client.get("/readyz")
        assert r.status_code == 503 and "failed: boom" in r.text
