"""Relevance calibration over HTTP: fit / read / delete under the collection, the
``relevance_threshold`` request field, ``relevance`` in scored points, errors naming the field,
and the official qdrant-client still parsing responses that carry ``relevance``."""

from __future__ import annotations

import httpx
import numpy as np
from qdrant_client import QdrantClient

from tests.service.conftest import create, upsert
from tests.service.test_routes import error, result
from tests.vecsearch.test_relevance import DEPTH, DIM, _clustered

FIT = {"depth": DEPTH, "folds": 3, "ridge": 0.1, "n_components": 2}


def _body(queries: np.ndarray, relevant: list[list[int]]) -> dict:
    return {"queries": queries.tolist(), "relevant": relevant, **FIT}


def test_fit_read_search_and_delete(client):
    docs, queries, relevant = _clustered()
    create(client, "c", dim=DIM)
    upsert(client, "c", docs)
    error(client.get("/collections/c/relevance"), 404, "no relevance model")
    body = {"vector": queries[0].tolist(), "limit": 5, "relevance_threshold": 0.5}
    error(client.post("/collections/c/points/search", json=body), 400, "relevance_threshold")
    plain = {"vector": queries[0].tolist(), "limit": 5}
    hits = result(client.post("/collections/c/points/search", json=plain))
    assert all("relevance" not in h for h in hits)

    info = result(client.put("/collections/c/relevance", json=_body(queries, relevant)))
    assert info["revision"] == 1 and info["report"]["held_out"]
    assert result(client.get("/collections/c/relevance")) == info
    assert result(client.get("/collections/c"))["vecsearch"]["relevance"]["fitted"]

    hits = result(
        client.post(
            "/collections/c/points/search", json={"vector": queries[0].tolist(), "limit": DEPTH}
        )
    )
    rel = [h["relevance"] for h in hits]
    assert rel == sorted(rel, reverse=True) and all(0 <= r <= 1 for r in rel)
    t = rel[len(rel) // 3]
    kept = result(
        client.post(
            "/collections/c/points/search",
            json={"vector": queries[0].tolist(), "limit": DEPTH, "relevance_threshold": t},
        )
    )
    assert [h["id"] for h in kept] == [h["id"] for h in hits if h["relevance"] >= t]
    assert 0 < len(kept) < DEPTH
    q = result(
        client.post(
            "/collections/c/points/query",
            json={"query": queries[0].tolist(), "limit": DEPTH, "relevance_threshold": t},
        )
    )
    assert [h["id"] for h in q["points"]] == [h["id"] for h in kept]
    batch = result(
        client.post(
            "/collections/c/points/query/batch",
            json={"searches": [{"query": (-queries[0]).tolist(), "relevance_threshold": 1}]},
        )
    )
    assert batch == [{"points": []}]

    assert result(client.delete("/collections/c/relevance")) is True
    error(client.delete("/collections/c/relevance"), 404)
    hits = result(client.post("/collections/c/points/search", json={"vector": queries[0].tolist()}))
    assert all("relevance" not in h for h in hits)


def test_bad_labels_are_400_and_keep_nothing(client):
    docs, queries, relevant = _clustered()
    create(client, "c", dim=DIM)
    upsert(client, "c", docs)
    bad = [*relevant[:1], [99999], *relevant[2:]]
    error(
        client.put("/collections/c/relevance", json=_body(queries, bad)),
        400,
        "relevant[1]",
        "99999",
    )
    empty = [[], *relevant[1:]]
    error(client.put("/collections/c/relevance", json=_body(queries, empty)), 400, "relevant[0]")
    error(
        client.put("/collections/c/relevance", json=_body(queries[:, :-1], relevant)),
        400,
        "queries[0]",
        "dimension",
    )
    r = client.put("/collections/c/relevance", json={"queries": queries.tolist()})
    error(r, 422, "relevant")
    error(client.get("/collections/c/relevance"), 404)
    create(client, "e", dim=DIM, distance="Euclid")
    upsert(client, "e", docs)
    error(client.put("/collections/e/relevance", json=_body(queries, relevant)), 400, "Cosine")
    error(client.put("/collections/nope/relevance", json=_body(queries, relevant)), 404)


def test_qdrant_client_parses_hits_that_carry_relevance(server):
    docs, queries, relevant = _clustered()
    http = httpx.Client(base_url=server.url, timeout=120)
    assert (
        http.put(
            "/collections/c", json={"vectors": {"size": DIM, "distance": "Cosine"}}
        ).status_code
        == 200
    )
    points = [{"id": i, "vector": v.tolist()} for i, v in enumerate(docs)]
    assert http.put("/collections/c/points", json={"points": points}).status_code == 200
    assert http.put("/collections/c/relevance", json=_body(queries, relevant)).status_code == 200
    raw = http.post("/collections/c/points/query", json={"query": queries[3].tolist(), "limit": 10})
    raw_points = raw.json()["result"]["points"]
    assert all("relevance" in p for p in raw_points)
    client = QdrantClient(
        url=server.url, check_compatibility=False
    )  # versions: see test_qdrant_client
    try:
        got = client.query_points("c", query=queries[3].tolist(), limit=10).points
        assert [p.id for p in got] == [p["id"] for p in raw_points]
        assert [p.score for p in got] == [p["score"] for p in raw_points]
    finally:
        client.close()
        http.close()
