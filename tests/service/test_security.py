"""API keys (401 / 403 on every route), the body size limit (413), repeated query
parameters (400) and CORS."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from service.routers import ALL
from service.security import require_read, require_write
from tests.service.conftest import READ_KEY, WRITE_KEY, create

#: Routes that change state; every other data route only reads.
WRITE_ROUTES = {
    ("PUT", "/collections/{collection_name}"),
    ("PATCH", "/collections/{collection_name}"),
    ("DELETE", "/collections/{collection_name}"),
    ("POST", "/collections/{collection_name}/cluster"),
    ("PUT", "/collections/{collection_name}/points"),
    ("POST", "/collections/{collection_name}/points/batch"),
    ("POST", "/collections/{collection_name}/points/delete"),
    ("POST", "/collections/{collection_name}/points/payload"),
    ("PUT", "/collections/{collection_name}/points/payload"),
    ("POST", "/collections/{collection_name}/points/payload/delete"),
    ("POST", "/collections/{collection_name}/points/payload/clear"),
    ("PUT", "/collections/{collection_name}/points/vectors"),
    ("POST", "/collections/{collection_name}/points/vectors/delete"),
    ("PUT", "/collections/{collection_name}/index"),
    ("DELETE", "/collections/{collection_name}/index/{field_name}"),
    ("POST", "/collections/{collection_name}/snapshots"),
    ("DELETE", "/collections/{collection_name}/snapshots/{snapshot_name}"),
    ("PUT", "/collections/{collection_name}/snapshots/recover"),
    ("POST", "/collections/{collection_name}/snapshots/upload"),
    ("POST", "/collections/{collection_name}/shards/{shard_id}/snapshots"),
    ("DELETE", "/collections/{collection_name}/shards/{shard_id}/snapshots/{snapshot_name}"),
    ("PUT", "/collections/{collection_name}/shards/{shard_id}/snapshots/recover"),
    ("PUT", "/collections/{collection_name}/relevance"),
    ("DELETE", "/collections/{collection_name}/relevance"),
    ("POST", "/collections/aliases"),
}
OPEN_ROUTES = {("GET", "/"), ("GET", "/healthz"), ("GET", "/livez"), ("GET", "/readyz")}


def api_routes(client: TestClient) -> list[tuple[str, str, APIRoute]]:
    """(method, path template, route) of every API route (docs excluded), checked against
    the OpenAPI spec so that no route is missed."""
    out = []
    for router in ALL:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            out.extend((m, route.path, route) for m in sorted(route.methods))
    spec = client.get("/openapi.json").json()["paths"]
    documented = {(m.upper(), p) for p, ops in spec.items() for m in ops}
    assert {(m, p) for m, p, _ in out} == documented
    return out


def access_of(route: APIRoute) -> str:
    calls = {d.call for d in route.dependant.dependencies}
    if require_write in calls:
        return "write"
    if require_read in calls:
        return "read"
    return "open"


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: {"{id}": "1"}.get(m.group(0), "x"), path)


@pytest.fixture
def secured(make_client) -> TestClient:
    client = make_client(api_key=[WRITE_KEY], read_only_api_key=[READ_KEY])
    r = client.put(
        "/collections/x",
        json={"vectors": {"size": 4, "distance": "Cosine"}},
        headers={"api-key": WRITE_KEY},
    )
    assert r.status_code == 200, r.text
    return client


def test_every_route_is_classified_as_expected(client):
    seen = {(m, p): access_of(r) for m, p, r in api_routes(client)}
    assert {k for k, v in seen.items() if v == "write"} == WRITE_ROUTES
    assert {k for k, v in seen.items() if v == "open"} == OPEN_ROUTES
    assert len(seen) > len(WRITE_ROUTES) + len(OPEN_ROUTES) + 10  # the read routes


def test_keys_on_every_route(secured):
    routes = api_routes(secured)
    assert len(routes) > 25
    for method, path, route in routes:
        url = concrete(path)
        kind = access_of(route)
        r = secured.request(method, url, json={})
        if kind == "open":
            assert r.status_code not in (401, 403), (method, path)
            continue
        assert r.status_code == 401, (method, path, r.text)
        assert "API key" in r.json()["status"]["error"]
        r = secured.request(method, url, json={}, headers={"api-key": "wrong"})
        assert r.status_code == 401, (method, path)
        r = secured.request(method, url, json={}, headers={"api-key": READ_KEY})
        if kind == "write":
            assert r.status_code == 403, (method, path, r.text)
            assert "read-only" in r.json()["status"]["error"]
        else:
            assert r.status_code not in (401, 403), (method, path, r.text)
        r = secured.request(method, url, json={}, headers={"api-key": WRITE_KEY})
        assert r.status_code not in (401, 403), (method, path, r.text)


def test_read_only_key_reads_and_writes_change_nothing(secured):
    ro = {"api-key": READ_KEY}
    body = {"points": [{"id": 1, "vector": [1.0, 0, 0, 0]}]}
    assert secured.put("/collections/x/points", json=body, headers=ro).status_code == 403
    r = secured.post("/collections/x/points/count", json={}, headers=ro)
    assert r.status_code == 200 and r.json()["result"]["count"] == 0
    bearer = {"Authorization": f"Bearer {WRITE_KEY}"}
    assert secured.put("/collections/x/points", json=body, headers=bearer).status_code == 200
    r = secured.post("/collections/x/points/count", json={}, headers=ro)
    assert r.json()["result"]["count"] == 1
    assert secured.get("/metrics", headers=ro).status_code == 200
    assert secured.get("/metrics").status_code == 401


def test_body_size_limit(make_client):
    client = make_client(max_body_bytes=2_000)
    create(client, "c", 4)
    small = {"points": [{"id": i, "vector": [1.0, 2.0, 3.0, 4.0]} for i in range(5)]}
    assert client.put("/collections/c/points", json=small).status_code == 200
    big = {"points": [{"id": i, "vector": [1.0, 2.0, 3.0, 4.0]} for i in range(100)]}
    r = client.put("/collections/c/points", json=big)
    assert r.status_code == 413
    assert "2000 bytes" in r.json()["status"]["error"]

    def chunks():  # no Content-Length: counted as it arrives
        import json

        text = json.dumps(big).encode()
        for i in range(0, len(text), 500):
            yield text[i : i + 500]

    r = client.put(
        "/collections/c/points", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413, r.text
    assert r.json()["status"]["error"].startswith("Payload too large")
    r = client.post("/collections/c/points/count", json={})
    assert r.json()["result"]["count"] == 5


def test_repeated_query_parameter_is_refused(client):
    """A scalar query parameter given twice is a 400 naming it (nothing is written)."""
    client.put("/collections/c", json={"vectors": {"size": 2, "distance": "Dot"}})
    body = {"points": [{"id": 1, "vector": [1.0, 2.0]}]}
    r = client.put("/collections/c/points?wait=true&wait=false", json=body)
    assert r.status_code == 400 and "'wait' is given more than once" in r.text
    assert client.post("/collections/c/points/count", json={}).json()["result"]["count"] == 0
    r = client.post("/collections/c/points/count?consistency=1&timeout=3", json={})
    assert r.status_code == 200


def test_cors(make_client):
    client = make_client(cors_origins=["https://app.example"])
    r = client.get("/collections", headers={"Origin": "https://app.example"})
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    r = client.options(
        "/collections/c/points/query",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "api-key, content-type",
        },
    )
    assert r.status_code == 200
    assert "POST" in r.headers["access-control-allow-methods"]
    r = client.get("/collections", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_cors_is_off_by_default(client):
    r = client.get("/collections", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in r.headers
