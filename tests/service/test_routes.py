"""Every route through FastAPI's TestClient: results (checked against exact search with
numpy), Qdrant's envelopes, and error paths (400/404/409/422 naming the field, nothing
written by a rejected request)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from qdrant_client.common.version_check import is_compatible

from tests.service.conftest import create, upsert
from vecsearch.registry import default_index_type

DIM = 8


def result(r, status: int = 200):
    """The ``result`` of a success envelope (asserting its shape)."""
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == "ok" and isinstance(body["time"], float), body
    return body["result"]


def error(r, status: int, *needles: str) -> str:
    """The error message of an error envelope, which must contain every needle."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"status", "time"}, body
    msg = body["status"]["error"]
    for n in needles:
        assert n in msg, f"{n!r} not in {msg!r}"
    return msg


def exact_top(x: np.ndarray, q: np.ndarray, k: int, distance: str) -> tuple[list[int], list]:
    """Ids and scores of the exact top-k (Qdrant's score conventions, ties by id)."""
    if distance == "Cosine":
        xn = x / np.linalg.norm(x, axis=1, keepdims=True)
        s = xn @ (q / np.linalg.norm(q))
        order = np.lexsort((np.arange(len(x)), -s))
    elif distance == "Dot":
        s = x @ q
        order = np.lexsort((np.arange(len(x)), -s))
    else:
        s = np.sqrt(((x - q) ** 2).sum(axis=1))
        order = np.lexsort((np.arange(len(x)), s))
    return order[:k].tolist(), s[order[:k]].tolist()


@pytest.fixture
def data(rng) -> np.ndarray:
    return rng.standard_normal((200, DIM)).astype(np.float32)


@pytest.fixture
def filled(client: TestClient, data: np.ndarray) -> TestClient:
    """Collection ``c`` (cosine, flat) with 200 points; payload ``g`` = id % 4, ``tag``."""
    create(client, "c", DIM, index={"type": "flat"})
    upsert(client, "c", data, [{"g": i % 4, "tag": f"t{i % 3}"} for i in range(len(data))])
    return client


def count(client: TestClient, name: str = "c", flt: dict | None = None) -> int:
    body = {"filter": flt} if flt else {}
    return result(client.post(f"/collections/{name}/points/count", json=body))["count"]


# --------------------------------------------------------------------------------------------
# Service routes
# --------------------------------------------------------------------------------------------


def test_root_reports_a_version_qdrant_client_accepts(client):
    import importlib.metadata

    body = client.get("/").json()
    assert body["title"].startswith("vecsearch")
    assert is_compatible(importlib.metadata.version("qdrant-client"), body["version"])
    assert body["vecsearch_version"]


def test_unknown_route_and_method_use_the_error_envelope(client):
    error(client.get("/nope"), 404, "no route")
    error(client.delete("/collections"), 405)


def test_malformed_json_is_400(client):
    create(client, "c", DIM)
    r = client.put(
        "/collections/c/points",
        content=b'{"points": [',
        headers={"content-type": "application/json"},
    )
    error(r, 400, "Format error in JSON body")


# --------------------------------------------------------------------------------------------
# Collections
# --------------------------------------------------------------------------------------------


def test_collection_lifecycle(client):
    assert result(client.get("/collections")) == {"collections": []}
    assert result(client.get("/collections/c/exists")) == {"exists": False}
    assert result(client.put("/collections/c", json={"vectors": {"size": 4, "distance": "Dot"}}))
    error(
        client.put("/collections/c", json={"vectors": {"size": 4, "distance": "Dot"}}),
        400,  # as Qdrant (BadInput)
        "already exists",
    )
    assert result(client.get("/collections")) == {"collections": [{"name": "c"}]}
    assert result(client.get("/collections/c/exists")) == {"exists": True}
    info = result(client.get("/collections/c"))
    assert info["status"] == "green" and info["points_count"] == 0
    assert info["config"]["params"]["vectors"] == {"size": 4, "distance": "Dot"}
    assert info["vecsearch"]["index"]["type"] == default_index_type()  # hnsw when built in
    assert result(client.delete("/collections/c")) is True
    assert result(client.delete("/collections/c")) is False
    error(client.get("/collections/c"), 404, "does not exist")


def test_create_with_the_index_extension(client):
    body = {
        "vectors": {"size": 16, "distance": "Cosine"},
        "index": {"type": "binary", "params": {}},
        "hnsw_config": {"full_scan_threshold": 100},
        "optimizers_config": {"default_segment_number": 2},  # Qdrant's: accepted, ignored
    }
    assert result(client.put("/collections/b", json=body)) is True
    info = result(client.get("/collections/b"))
    assert info["vecsearch"]["index"]["type"] == "binary"
    assert info["config"]["hnsw_config"]["full_scan_threshold"] == 100


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({}, 400, "vectors: expected an object"),
        ({"vectors": {"size": 0, "distance": "Cosine"}}, 400, "vectors.size"),
        ({"vectors": {"size": "4", "distance": "Cosine"}}, 422, "vectors.size"),
        ({"vectors": {"size": 4, "distance": "Manhattan"}}, 400, "vectors.distance"),
        ({"vectors": {"size": 4, "distance": "Cosine"}, "bogus": 1}, 422, "bogus: unknown field"),
        (
            {"vectors": {"size": 4, "distance": "Cosine"}, "index": {"type": "nope"}},
            400,
            "index.type",
        ),
        (
            {
                "vectors": {"size": 4, "distance": "Cosine"},
                "index": {"type": "flat", "params": {"M": 3}},
            },
            400,
            "index.params.M",
        ),
        (
            {"vectors": {"size": 4, "distance": "Cosine", "datatype": "uint8"}},
            400,
            "vectors.datatype",
        ),
    ],
)
def test_create_rejects_bad_bodies_naming_the_field(client, body, status, needle):
    error(client.put("/collections/c", json=body), status, needle)
    assert result(client.get("/collections/c/exists")) == {"exists": False}


def test_bad_collection_name_is_400(client):
    body = {"vectors": {"size": 4, "distance": "Cosine"}}
    error(client.put("/collections/.hidden", json=body), 400, "collection_name")


COLLECTION_ROUTES = [
    ("get", "/collections/nope", None),
    ("put", "/collections/nope/points", {"points": [{"id": 1, "vector": [1.0] * DIM}]}),
    ("post", "/collections/nope/points", {"ids": [1]}),
    ("get", "/collections/nope/points/1", None),
    ("post", "/collections/nope/points/delete", {"points": [1]}),
    ("post", "/collections/nope/points/payload", {"payload": {"a": 1}, "points": [1]}),
    ("put", "/collections/nope/points/payload", {"payload": {"a": 1}, "points": [1]}),
    ("post", "/collections/nope/points/payload/delete", {"keys": ["a"], "points": [1]}),
    ("post", "/collections/nope/points/payload/clear", {"points": [1]}),
    ("post", "/collections/nope/points/count", {}),
    ("post", "/collections/nope/points/scroll", {}),
    ("post", "/collections/nope/points/search", {"vector": [1.0] * DIM}),
    ("post", "/collections/nope/points/search/batch", {"searches": [{"vector": [1.0] * DIM}]}),
    ("post", "/collections/nope/points/query", {"query": [1.0] * DIM}),
    ("post", "/collections/nope/points/query/batch", {"searches": [{"query": [1.0] * DIM}]}),
    ("put", "/collections/nope/index", {"field_name": "a", "field_schema": "keyword"}),
    ("delete", "/collections/nope/index/a", None),
    ("post", "/collections/nope/snapshots", None),
    ("get", "/collections/nope/snapshots", None),
    ("get", "/collections/nope/snapshots/x.snapshot", None),
    ("delete", "/collections/nope/snapshots/x.snapshot", None),
]


@pytest.mark.parametrize(("method", "path", "body"), COLLECTION_ROUTES)
def test_unknown_collection_is_404_everywhere(client, method, path, body):
    r = client.request(method, path, json=body)
    error(r, 404, "nope")


# --------------------------------------------------------------------------------------------
# Points: writes
# --------------------------------------------------------------------------------------------


def test_upsert_list_and_batch_forms_then_retrieve(client, data):
    create(client, "c", DIM)
    r = client.put(
        "/collections/c/points?wait=true",
        json={"points": [{"id": 1, "vector": data[0].tolist(), "payload": {"a": 1}}]},
    )
    assert result(r) == {"operation_id": 1, "status": "completed"}
    batch = {
        "ids": [2, "8c3b2d9e-4f0a-4b6e-9d4c-2a1b3c4d5e6f"],
        "vectors": [data[1].tolist(), data[2].tolist()],
        "payloads": [{"b": 2}, None],
    }
    assert result(client.put("/collections/c/points", json={"batch": batch}))["status"] == (
        "completed"
    )
    got = result(
        client.post(
            "/collections/c/points",
            json={"ids": ["8c3b2d9e-4f0a-4b6e-9d4c-2a1b3c4d5e6f", 1, 99], "with_vector": True},
        )
    )
    assert [p["id"] for p in got] == ["8c3b2d9e-4f0a-4b6e-9d4c-2a1b3c4d5e6f", 1]
    assert got[1]["payload"] == {"a": 1}
    unit = data[0] / np.linalg.norm(data[0])  # Cosine collections store unit vectors
    np.testing.assert_allclose(got[1]["vector"], unit, rtol=1e-6)
    one = result(client.get("/collections/c/points/2"))
    assert one["id"] == 2 and one["payload"] == {"b": 2} and len(one["vector"]) == DIM
    without = result(client.post("/collections/c/points", json={"ids": [1], "with_payload": False}))
    assert without == [{"id": 1, "payload": None, "vector": None}]
    error(client.get("/collections/c/points/99"), 404, "99")
    error(client.get("/collections/c/points/not-an-id"), 400, "id")
    assert count(client) == 3


@pytest.mark.parametrize(
    ("points", "status", "needle"),
    [
        ([{"id": 5, "vector": [1.0] * (DIM - 1)}], 400, "points[1].vector: expected dimension"),
        ([{"id": 5, "vector": [1.0] * DIM, "payload": [1]}], 422, "points[1].payload"),
        ([{"id": -5, "vector": [1.0] * DIM}], 400, "points[1].id"),
        ([{"id": "not-a-uuid", "vector": [1.0] * DIM}], 400, "points[1].id"),
        ([{"id": 1.5, "vector": [1.0] * DIM}], 400, "points[1].id"),
        ([{"id": True, "vector": [1.0] * DIM}], 400, "points[1].id"),
        ([{"id": 5, "vector": [0.0] * DIM}], 400, "points[1].vector: zero vector"),
        ([{"id": 5, "vector": ["x"] * DIM}], 400, "points[1].vector"),
        ([{"id": 5, "vector": {"named": [1.0] * DIM}}], 400, "points[1].vector"),
        ([{"id": 5}], 422, "points[1].vector: missing"),
        ([{"id": 5, "vector": [1.0] * DIM, "extra": 1}], 422, "points[1].extra"),
    ],
)
def test_bad_points_are_rejected_naming_the_field_and_nothing_is_written(
    client, points, status, needle
):
    create(client, "c", DIM)
    good = {"id": 100, "vector": [0.5] * DIM}
    error(client.put("/collections/c/points", json={"points": [good, *points]}), status, needle)
    assert count(client) == 0


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_vectors_are_400(client, literal):
    create(client, "c", 2)
    raw = '{"points": [{"id": 1, "vector": [1.0, LIT]}]}'.replace("LIT", literal)
    r = client.put(
        "/collections/c/points", content=raw, headers={"content-type": "application/json"}
    )
    error(r, 400, "points[0].vector", "NaN or infinity")
    assert count(client) == 0


def test_upsert_needs_exactly_one_form(client):
    create(client, "c", DIM)
    error(client.put("/collections/c/points", json={}), 422, "either points")
    both = {"points": [], "batch": {"ids": [], "vectors": []}}
    error(client.put("/collections/c/points", json=both), 422, "either points")
    bad_batch = {"batch": {"ids": [1, 2], "vectors": [[1.0] * DIM]}}
    error(client.put("/collections/c/points", json=bad_batch), 400, "batch.vectors")
    mode = {"points": [{"id": 1, "vector": [1.0] * DIM}], "update_mode": "insert_only"}
    error(client.put("/collections/c/points", json=mode), 400, "update_mode")
    assert count(client) == 0


def test_delete_by_ids_and_by_filter(filled):
    assert result(filled.post("/collections/c/points/delete", json={"points": [0, 1, 999]}))
    assert count(filled) == 198
    flt = {"must": [{"key": "g", "match": {"value": 3}}]}
    result(filled.post("/collections/c/points/delete", json={"filter": flt}))
    assert count(filled) == 198 - 50 + 0  # ids 3, 7, ... (none of 0, 1)
    assert count(filled, flt=flt) == 0
    error(filled.post("/collections/c/points/delete", json={}), 400, "points")
    bad = {"filter": {"must": [{"key": "g", "match": {"valu": 3}}]}}
    error(filled.post("/collections/c/points/delete", json=bad), 400, "filter.must[0].match")
    assert count(filled) == 148


def test_payload_operations(filled):
    r = filled.post("/collections/c/points/payload", json={"payload": {"x": 1}, "points": [0, 1]})
    assert result(r)["status"] == "completed"
    r = filled.post(
        "/collections/c/points/payload",
        json={"payload": {"y": 2}, "points": [0], "key": "nested"},
    )
    result(r)
    get = lambda i: result(filled.get(f"/collections/c/points/{i}"))["payload"]  # noqa: E731
    assert get(0) == {"g": 0, "tag": "t0", "x": 1, "nested": {"y": 2}}
    result(filled.put("/collections/c/points/payload", json={"payload": {"z": 3}, "points": [1]}))
    assert get(1) == {"z": 3}
    r = filled.post(
        "/collections/c/points/payload/delete", json={"keys": ["x", "g"], "points": [0]}
    )
    result(r)
    assert get(0) == {"tag": "t0", "nested": {"y": 2}}
    flt = {"must": [{"key": "g", "match": {"value": 2}}]}
    result(filled.post("/collections/c/points/payload/clear", json={"filter": flt}))
    assert get(2) == {} and get(6) == {}
    # a missing id: 404 and no partial write on the ids that exist
    r = filled.post(
        "/collections/c/points/payload", json={"payload": {"w": 1}, "points": [5, 12345]}
    )
    error(r, 404, "12345")
    assert "w" not in get(5)
    r = filled.post("/collections/c/points/payload", json={"payload": [1], "points": [5]})
    error(r, 422, "payload")


# --------------------------------------------------------------------------------------------
# Points: reads
# --------------------------------------------------------------------------------------------


def test_count_and_scroll(filled):
    assert count(filled) == 200
    assert count(filled, flt={"must": [{"key": "g", "match": {"any": [0, 1]}}]}) == 100
    error(
        filled.post("/collections/c/points/count", json={"filter": {"nope": []}}),
        400,
        "filter.nope",
    )
    seen, offset = [], None
    while True:
        body = {"limit": 33, "with_payload": ["g"]}
        if offset is not None:
            body["offset"] = offset
        page = result(filled.post("/collections/c/points/scroll", json=body))
        seen += [p["id"] for p in page["points"]]
        assert all(set(p["payload"]) == {"g"} for p in page["points"])
        offset = page["next_page_offset"]
        if offset is None:
            break
    assert seen == list(range(200))
    flt = {"must": [{"key": "tag", "match": {"value": "t1"}}]}
    page = result(filled.post("/collections/c/points/scroll", json={"filter": flt, "limit": 500}))
    assert [p["id"] for p in page["points"]] == list(range(1, 200, 3))
    assert page["next_page_offset"] is None
    r = filled.post("/collections/c/points/scroll", json={"order_by": "g", "offset": 3})
    error(r, 400, "offset: cannot be used with order_by")
    r = filled.post("/collections/c/points/scroll", json={"order_by": {"key": "g", "x": 1}})
    error(r, 400, "order_by.x")
    body = {"with_vector": True, "with_vectors": True}
    error(filled.post("/collections/c/points/scroll", json=body), 400, "with_vectors")
    error(filled.post("/collections/c/points/scroll", json={"limit": 0}), 400, "limit")


@pytest.mark.parametrize("distance", ["Cosine", "Dot", "Euclid"])
def test_search_matches_exact_search(client, rng, distance):
    x = rng.standard_normal((300, DIM)).astype(np.float32)
    create(client, "s", DIM, distance, index={"type": "flat"})
    upsert(client, "s", x, [{"g": i % 5} for i in range(len(x))])
    q = rng.standard_normal(DIM).astype(np.float32)
    hits = result(
        client.post("/collections/s/points/search", json={"vector": q.tolist(), "limit": 10})
    )
    ids, scores = exact_top(x, q, 10, distance)
    assert [h["id"] for h in hits] == ids
    np.testing.assert_allclose([h["score"] for h in hits], scores, rtol=1e-4, atol=1e-5)
    assert all(h["payload"] is None and h["vector"] is None and h["version"] >= 1 for h in hits)

    # filter + offset + payload, against exact search over the allowed points
    allowed = np.flatnonzero(np.arange(len(x)) % 5 == 2)
    body = {
        "vector": q.tolist(),
        "limit": 5,
        "offset": 2,
        "filter": {"must": [{"key": "g", "match": {"value": 2}}]},
        "with_payload": True,
    }
    hits = result(client.post("/collections/s/points/search", json=body))
    sub_ids, _ = exact_top(x[allowed], q, 7, distance)
    assert [h["id"] for h in hits] == allowed[sub_ids].tolist()[2:]
    assert all(h["payload"] == {"g": 2} for h in hits)

    # score_threshold keeps exactly the points on the right side of it
    _, all_scores = exact_top(x, q, len(x), distance)
    thr = float((all_scores[20] + all_scores[21]) / 2)  # away from any score: no rounding tie
    body = {"vector": q.tolist(), "limit": 300, "score_threshold": thr}
    hits = result(client.post("/collections/s/points/search", json=body))
    better = [s for s in all_scores if (s >= thr if distance != "Euclid" else s <= thr)]
    assert len(hits) == len(better)

    # batch: one result list per search, in order
    body = {"searches": [{"vector": q.tolist(), "limit": 3}, {"vector": x[7].tolist(), "limit": 1}]}
    res = result(client.post("/collections/s/points/search/batch", json=body))
    assert [h["id"] for h in res[0]] == ids[:3]
    assert len(res[1]) == 1


def test_search_errors_name_the_field(filled):
    v = [1.0] * DIM
    cases = [
        ({"vector": v[:-1]}, 400, "vector: expected dimension 8, got 7"),
        ({"vector": v, "limit": 0}, 400, "limit"),
        ({"vector": v, "limit": "5"}, 422, "limit"),
        (
            {"vector": v, "filter": {"must": [{"key": "g", "range": {"gt": "x"}}]}},
            400,
            "filter.must[0].range",
        ),
        ({"vector": v, "filter": []}, 422, "filter"),
        ({"vector": v, "params": {"nprobe": 4}}, 400, "params.nprobe"),
        ({"vector": v, "params": {"hnsw_ef": -1}}, 400, "params.hnsw_ef"),
        ({"vector": v, "with_payload": 3}, 400, "with_payload"),
        ({"vector": v, "score_threshold": "high"}, 422, "score_threshold"),
        ({"vectr": v}, 422, "vector: missing"),
    ]
    for body, status, needle in cases:
        error(filled.post("/collections/c/points/search", json=body), status, needle)
    batch = {"searches": [{"vector": v}, {"vector": v[:3]}]}
    error(filled.post("/collections/c/points/search/batch", json=batch), 400, "searches[1].vector")
    # a huge limit or offset is bounded by the collection, not allocated
    hits = result(filled.post("/collections/c/points/search", json={"vector": v, "limit": 10**12}))
    assert len(hits) == 200
    body = {"query": v, "limit": 5, "offset": 2**62}
    assert result(filled.post("/collections/c/points/query", json=body)) == {"points": []}


def test_search_params_reach_the_index(client, rng):
    x = rng.standard_normal((1500, 32)).astype(np.float32)
    create(client, "b", 32, index={"type": "binary"})
    upsert(client, "b", x)
    q = x[3] + 0.01
    for params in (
        {"quantization": {"rescore": True, "oversampling": 3.0}},
        {"oversampling": 8.0},
        {"exact": True},
        {"hnsw_ef": 64},  # Qdrant's knob: accepted, has no effect on a binary index
    ):
        hits = result(
            client.post(
                "/collections/b/points/search",
                json={"vector": q.tolist(), "limit": 5, "params": params},
            )
        )
        assert hits[0]["id"] == 3, params
    ids, _ = exact_top(x, q, 5, "Cosine")
    exact = result(
        client.post(
            "/collections/b/points/search",
            json={"vector": q.tolist(), "limit": 5, "params": {"exact": True}},
        )
    )
    assert [h["id"] for h in exact] == ids


@pytest.mark.skipif(default_index_type() != "hnsw", reason="this build has no hnsw index")
def test_hnsw_and_ivf_pq_collections(client, rng):
    x = rng.standard_normal((2000, 16)).astype(np.float32)
    qs = rng.standard_normal((20, 16)).astype(np.float32)
    create(client, "h", 16, hnsw_config={"m": 12, "ef_construct": 80})  # Qdrant's knobs
    ivf = {"type": "ivf_pq", "params": {"nlist": 16, "m": 4, "keep_vectors": True}}
    create(client, "p", 16, index=ivf)  # keep_vectors: PQ candidates are re-ranked exactly
    for name in ("h", "p"):
        for s in range(0, len(x), 500):
            upsert(client, name, x[s : s + 500], start=s)
    info = result(client.get("/collections/h"))
    assert info["config"]["hnsw_config"]["m"] == 12
    assert info["vecsearch"]["index"]["params"]["M"] == 12
    assert result(client.get("/collections/p"))["vecsearch"]["index"]["type"] == "ivf_pq"
    for name, params in (("h", {"hnsw_ef": 64}), ("p", {"nprobe": 16, "k_factor": 8})):
        found = 0
        for q in qs:
            body = {"query": q.tolist(), "limit": 10, "params": params}
            pts = result(client.post(f"/collections/{name}/points/query", json=body))["points"]
            found += len({p["id"] for p in pts} & set(exact_top(x, q, 10, "Cosine")[0]))
            exact = {"query": q.tolist(), "limit": 10, "params": {"exact": True}}
            pts = result(client.post(f"/collections/{name}/points/query", json=exact))["points"]
            assert [p["id"] for p in pts] == exact_top(x, q, 10, "Cosine")[0]
        assert found / (10 * len(qs)) >= 0.9, (name, found)
    bad = {"query": qs[0].tolist(), "params": {"nprobe": 4}}
    error(client.post("/collections/h/points/query", json=bad), 400, "params.nprobe")
    bad = {"query": qs[0].tolist(), "params": {"ef": 4}}
    error(client.post("/collections/p/points/query", json=bad), 400, "params.ef")


def test_query_api(filled, data):
    q = data[10] + 0.05
    ids, scores = exact_top(data, q, 5, "Cosine")
    for query in (q.tolist(), {"nearest": q.tolist()}):
        r = filled.post("/collections/c/points/query", json={"query": query, "limit": 5})
        pts = result(r)["points"]
        assert [p["id"] for p in pts] == ids
        np.testing.assert_allclose([p["score"] for p in pts], scores, rtol=1e-4, atol=1e-5)
    # a point id as the query: its own vector, the point itself left out
    ids_self, _ = exact_top(data, data[10], 6, "Cosine")
    for query in (10, {"nearest": 10}):
        r = filled.post("/collections/c/points/query", json={"query": query, "limit": 5})
        pts = result(r)["points"]
        assert [p["id"] for p in pts] == [i for i in ids_self if i != 10][:5]
    # filter, threshold, payload, vector, default limit 10
    body = {
        "query": 10,
        "filter": {"must": [{"key": "g", "match": {"value": 2}}]},
        "with_payload": ["g"],
        "with_vector": True,
        "score_threshold": -1.0,
    }
    pts = result(filled.post("/collections/c/points/query", json=body))["points"]
    assert len(pts) == 10 and all(p["payload"] == {"g": 2} for p in pts)
    assert all(len(p["vector"]) == DIM for p in pts)
    # batch
    body = {"searches": [{"query": q.tolist(), "limit": 2}, {"query": 10, "limit": 1}]}
    res = result(filled.post("/collections/c/points/query/batch", json=body))
    assert [p["id"] for p in res[0]["points"]] == ids[:2]
    assert [p["id"] for p in res[1]["points"]] == [i for i in ids_self if i != 10][:1]


def _nested(leaf: dict, depth: int) -> dict:
    for _ in range(depth):
        leaf = {"query": leaf["query"], "prefetch": leaf}
    return leaf


def test_absurd_limits_of_every_query_kind_answer_normally(filled):
    """A limit, offset or group size of 2**63 - 1 gives every point at most (or none), for
    every query kind and the groups and scroll routes: never a 500 from numpy or SQLite."""
    big, v = 2**63 - 1, [1.0] * DIM
    q = "/collections/c/points/query"
    cases = [
        (q, {"limit": big}, 200),
        (q, {"query": {"order_by": "g"}, "limit": big}, 200),
        (q, {"query": {"sample": "random"}, "limit": big}, 200),
        (
            q,
            {"query": {"recommend": {"positive": [1], "strategy": "best_score"}}, "limit": big},
            199,
        ),
        (q, {"query": {"nearest": v, "mmr": {"diversity": 0.5}}, "limit": big}, 200),
        (q, {"query": v, "prefetch": {"query": v, "limit": big}, "limit": big}, 200),
        ("/collections/c/points/recommend", {"positive": [1], "limit": big}, 199),
        ("/collections/c/points/scroll", {"order_by": "g", "limit": big}, 200),
    ]
    for path, body, n in cases:
        got = result(filled.post(path, json=body))
        points = got["points"] if isinstance(got, dict) else got
        assert len(points) == n, (path, body)
    assert result(filled.post(q, json={"limit": 3, "offset": big}))["points"] == []
    body = {"query": v, "group_by": "g", "limit": big, "group_size": big}
    groups = result(filled.post(f"{q}/groups", json=body))["groups"]
    assert sorted(g["id"] for g in groups) == [0, 1, 2, 3]
    assert sum(len(g["hits"]) for g in groups) == 200


def test_query_errors_name_the_field(filled):
    v = [1.0] * DIM
    cases = [
        ({"query": v[:2]}, 400, "query: expected dimension 8"),
        ({"query": {"nearest": v[:2]}}, 400, "query.nearest"),
        ({"query": 12345}, 404, "query: no point with id 12345"),
        ({"query": -1}, 400, "query"),
        ({"query": {"recommend": {"positive": [1], "strategy": "x"}}}, 400, "recommend.strategy"),
        ({"query": {"recommend": {"negative": [1]}}}, 400, "query.recommend.positive"),
        ({"query": {"recommend": {"positive": [v[:3]]}}}, 400, "recommend.positive[0]"),
        ({"query": {"nearest": v, "mmr": {"diversity": 2}}}, 400, "query.mmr.diversity"),
        ({"query": {"nearest": v, "mmr": {"candidates_limit": 10**6}}}, 400, "candidates_limit"),
        ({"query": {"fusion": "rrf"}}, 400, "query: fusion needs prefetch"),
        ({"query": {"fusion": "max"}, "prefetch": {"query": v}}, 400, "query.fusion"),
        ({"query": {"rrf": {"k": 0}}, "prefetch": {"query": v}}, 400, "query.rrf.k"),
        (
            {"query": {"rrf": {"weights": [1.0]}}, "prefetch": [{"query": v}, {"query": v}]},
            400,
            "query.rrf.weights: expected 2 weights",
        ),
        ({"query": {"rrf": {"weights": [0.0]}}, "prefetch": {"query": v}}, 400, "weights[0]"),
        ({"query": {"order_by": {"key": "g", "direction": "up"}}}, 400, "order_by.direction"),
        ({"query": {"order_by": {"key": "g", "start_from": "x"}}}, 400, "order_by.start_from"),
        ({"query": {"formula": {"sum": []}}}, 400, "query.formula"),
        ({"query": {"context": []}}, 400, "query.context: needs at least one pair"),
        ({"query": {"context": [{"positive": 1}]}}, 400, "query.context[0].negative"),
        ({"query": {"discover": {"context": []}}}, 400, "query.discover.target"),
        ({"query": {"sample": "first"}}, 400, "query.sample"),
        ({"query": {"relevance_feedback": {}}}, 400, "query.relevance_feedback"),
        ({"query": {}}, 400, "query: empty"),
        (
            {"query": {"fusion": "rrf"}, "prefetch": [{"query": v}, {"query": v[:2]}]},
            400,
            "prefetch[1].query: expected dimension 8",
        ),
        (
            {"query": v, "prefetch": {"query": {"recommend": {"positive": []}}}},
            400,
            "prefetch[0].query.recommend.positive",
        ),
        ({"query": v, "prefetch": {"query": v, "using": "image"}}, 400, "prefetch[0].using"),
        ({"query": v, "prefetch": {"query": v, "limit": 0}}, 400, "prefetch[0].limit"),
        (
            {"query": v, "prefetch": {"query": v, "params": {"nprobe": 3}}},
            400,
            "prefetch[0].params.nprobe",
        ),
        ({"query": v, "prefetch": {"query": v, "bogus": 1}}, 422, "bogus"),
        (
            {"query": v, "prefetch": _nested({"query": v}, 20)},
            400,
            "prefetch nested deeper than 16",
        ),
        ({"query": v, "using": "image"}, 400, "using"),
        ({"query": 1, "lookup_from": {"collection": "x"}}, 404, "x"),
        ({"query": 1, "lookup_from": {"collection": "c", "vector": 3}}, 422, "lookup_from.vector"),
        ({"query": v, "limit": -3}, 400, "limit"),
        ({"query": v, "bogus": 1}, 422, "bogus"),
        (
            {"query": v, "prefetch": {"query": v}, "relevance_threshold": 0.5},
            400,
            "relevance_threshold: applies to plain nearest queries",
        ),
        (
            {"query": {"order_by": "g"}, "relevance_threshold": 0.5},
            400,
            "relevance_threshold: applies to plain nearest queries",
        ),
    ]
    for body, status, needle in cases:
        error(filled.post("/collections/c/points/query", json=body), status, needle)
    batch = {"searches": [{"query": v}, {"query": [1.0]}]}
    error(filled.post("/collections/c/points/query/batch", json=batch), 400, "searches[1].query")
    staged = {"query": {"fusion": "rrf"}, "prefetch": {"query": {"nearest": {"x": 1}}}}
    batch = {"searches": [{"query": v}, staged]}
    error(
        filled.post("/collections/c/points/query/batch", json=batch),
        400,
        "searches[1].prefetch[0].query.nearest",
    )


def rrf_scores(
    lists: list[list[int]], k: int = 2, weights: list[float] | None = None
) -> dict[int, float]:
    """Reciprocal rank fusion, Qdrant's formula: 1 / ((pos + 1) / w + k - 1), pos 0-based."""
    out: dict[int, float] = {}
    for i, ids in enumerate(lists):
        w = 1.0 if weights is None else weights[i]
        for pos, pid in enumerate(ids):
            out[pid] = out.get(pid, 0.0) + 1.0 / ((pos + 1) / w + k - 1)
    return out


def check_fused(pts: list[dict], expected: dict[int, float], limit: int) -> None:
    """``pts`` are the ``limit`` best of ``expected`` (ties in any order), with its scores."""
    assert len(pts) == min(limit, len(expected))
    got = [p["score"] for p in pts]
    assert got == sorted(got, reverse=True)
    np.testing.assert_allclose(got, [expected[p["id"]] for p in pts], rtol=1e-6)
    cut = sorted(expected.values(), reverse=True)[len(pts) - 1]
    assert {i for i, sc in expected.items() if sc > cut + 1e-12} <= {p["id"] for p in pts}


def test_query_prefetch_fusion_and_rescoring(filled, data, rng):
    url = "/collections/c/points/query"
    q1, q2 = data[3] + 0.3 * rng.standard_normal(DIM), data[7] + 0.3 * rng.standard_normal(DIM)
    a, b = exact_top(data, q1, 20, "Cosine")[0], exact_top(data, q2, 30, "Cosine")[0]
    prefetch = [{"query": q1.tolist(), "limit": 20}, {"query": q2.tolist(), "limit": 30}]
    # reciprocal rank fusion, Qdrant's default k (2), and with k and weights
    for query, k, w in (
        ({"fusion": "rrf"}, 2, None),
        ({"rrf": {}}, 2, None),
        ({"rrf": {"k": 60, "weights": [3.0, 0.5]}}, 60, [3.0, 0.5]),
    ):
        body = {"prefetch": prefetch, "query": query, "limit": 12}
        check_fused(result(filled.post(url, json=body))["points"], rrf_scores([a, b], k, w), 12)
    # offset skips fused results; a threshold keeps fused scores >= it
    full = result(filled.post(url, json={"prefetch": prefetch, "query": {"fusion": "rrf"}}))
    body = {"prefetch": prefetch, "query": {"fusion": "rrf"}, "limit": 5, "offset": 3}
    part = result(filled.post(url, json=body))["points"]
    assert [p["score"] for p in part] == [p["score"] for p in full["points"][3:8]]
    thr = full["points"][4]["score"]
    body = {"prefetch": prefetch, "query": {"fusion": "rrf"}, "score_threshold": thr}
    assert all(p["score"] >= thr for p in result(filled.post(url, json=body))["points"])
    # re-scoring: a filtered prefetch's candidates ranked exactly by another vector
    g2 = np.flatnonzero(np.arange(len(data)) % 4 == 2)
    cand = g2[exact_top(data[g2], q1, 30, "Cosine")[0]]
    order, scores = exact_top(data[cand], q2, 6, "Cosine")
    flt = {"must": [{"key": "g", "match": {"value": 2}}]}
    body = {
        "prefetch": {"query": q1.tolist(), "filter": flt, "limit": 30},
        "query": q2.tolist(),
        "limit": 6,
        "with_payload": True,
        "with_vector": True,
    }
    pts = result(filled.post(url, json=body))["points"]
    assert [p["id"] for p in pts] == cand[order].tolist()
    np.testing.assert_allclose([p["score"] for p in pts], scores, rtol=1e-4, atol=1e-5)
    assert all(p["payload"]["g"] == 2 and len(p["vector"]) == DIM for p in pts)
    # the request's filter applies to the prefetches; nesting; a point id re-scores too
    inner = {"prefetch": {"query": q1.tolist(), "limit": 40}, "query": q2.tolist(), "limit": 25}
    body = {"prefetch": [inner], "query": {"nearest": 7}, "filter": flt, "limit": 8}
    pts = result(filled.post(url, json=body))["points"]
    assert pts and all(p["id"] % 4 == 2 and p["id"] != 7 for p in pts)
    first = g2[exact_top(data[g2], q1, 40, "Cosine")[0]]
    second = first[exact_top(data[first], q2, 25, "Cosine")[0]]
    second = second[second != 7]
    order, _ = exact_top(data[second], data[7], 8, "Cosine")
    assert [p["id"] for p in pts] == second[order].tolist()
    # a batch mixing a staged and a plain query
    body = {
        "searches": [
            {"prefetch": prefetch, "query": {"fusion": "rrf"}, "limit": 4},
            {"query": q1.tolist(), "limit": 3},
        ]
    }
    res = result(filled.post(url + "/batch", json=body))
    check_fused(res[0]["points"], rrf_scores([a, b]), 4)
    assert [p["id"] for p in res[1]["points"]] == a[:3]


# --------------------------------------------------------------------------------------------
# Payload indexes
# --------------------------------------------------------------------------------------------


def test_payload_index_create_use_delete(filled, data):
    flt = {"must": [{"key": "tag", "match": {"value": "t2"}}]}
    before = result(
        filled.post(
            "/collections/c/points/search", json={"vector": data[0].tolist(), "filter": flt}
        )
    )
    r = filled.put(
        "/collections/c/index?wait=true", json={"field_name": "tag", "field_schema": "keyword"}
    )
    assert result(r)["status"] == "completed"
    info = result(filled.get("/collections/c"))
    assert info["payload_schema"] == {"tag": {"data_type": "keyword", "points": 200}}
    after = result(
        filled.post(
            "/collections/c/points/search", json={"vector": data[0].tolist(), "filter": flt}
        )
    )
    assert [h["id"] for h in after] == [h["id"] for h in before]
    r = filled.put(
        "/collections/c/index", json={"field_name": "g", "field_schema": {"type": "integer"}}
    )
    result(r)
    error(
        filled.put(
            "/collections/c/index",
            json={
                "field_name": "g",
                "field_schema": {"type": "integer", "range": False, "lookup": False},
            },
        ),
        400,
        "field_schema",
    )
    result(filled.delete("/collections/c/index/tag"))
    assert set(result(filled.get("/collections/c"))["payload_schema"]) == {"g"}


# --------------------------------------------------------------------------------------------
# Snapshots
# --------------------------------------------------------------------------------------------


def test_snapshot_create_list_download_recover_delete(filled, tmp_path):
    snap = result(filled.post("/collections/c/snapshots?wait=true"))
    assert snap["name"].endswith(".snapshot") and snap["size"] > 0
    assert [s["name"] for s in result(filled.get("/collections/c/snapshots"))] == [snap["name"]]
    r = filled.get(f"/collections/c/snapshots/{snap['name']}")
    assert r.status_code == 200 and len(r.content) == snap["size"]
    assert hashlib.sha256(r.content).hexdigest() == snap["checksum"]

    data_dir = tmp_path / "data"
    path = data_dir / "snapshots" / "c" / snap["name"]
    body = {"location": path.resolve().as_uri(), "checksum": snap["checksum"]}
    assert result(filled.put("/collections/restored/snapshots/recover", json=body)) is True
    assert count(filled, "restored") == 200
    assert result(filled.get("/collections/restored/points/7"))["payload"] == {"g": 3, "tag": "t1"}

    # relative paths resolve inside the snapshots folder; outside it is refused
    rel = {"location": f"c/{snap['name']}"}
    assert result(filled.put("/collections/again/snapshots/recover", json=rel)) is True
    outside = tmp_path / "elsewhere.snapshot"
    outside.write_bytes(r.content)
    for loc in (outside.as_uri(), str(outside), "../../elsewhere.snapshot"):
        error(
            filled.put("/collections/x/snapshots/recover", json={"location": loc}), 400, "location"
        )
    nul = {"location": "c/a\x00b.snapshot"}
    error(filled.put("/collections/x/snapshots/recover", json=nul), 400, "location")
    error(
        filled.put("/collections/x/snapshots/recover", json={"location": "http://a/b.snapshot"}),
        400,
        "location",
    )
    bad_sum = {"location": rel["location"], "checksum": "0" * 64}
    error(filled.put("/collections/x/snapshots/recover", json=bad_sum), 400, "checksum")
    assert result(filled.get("/collections/x/exists")) == {"exists": False}

    error(filled.get("/collections/c/snapshots/none.snapshot"), 404, "none.snapshot")
    assert result(filled.delete(f"/collections/c/snapshots/{snap['name']}")) is True
    assert result(filled.get("/collections/c/snapshots")) == []
    error(filled.delete(f"/collections/c/snapshots/{snap['name']}"), 404)


def test_openapi_documents_the_extensions(client):
    spec = client.get("/openapi.json").json()
    assert "/collections/{collection_name}/points/query" in spec["paths"]
    schemas = spec["components"]["schemas"]
    assert "index" in schemas["CreateCollection"]["properties"]
    params = schemas["SearchParams"]["properties"]
    assert {"hnsw_ef", "exact", "nprobe", "quantization", "n_threads"} <= set(params)
    assert "vecsearch" in json.dumps(params["nprobe"])
    assert client.get("/docs").status_code == 200
