"""Server-side BM25 and hybrid search through the real ``qdrant-client`` against a real
server: ``models.Document(model="qdrant/bm25")`` in upserts and queries, sparse-only and
hybrid collections, RRF and DBSF; bad sparse input is a 400 naming the field and changes
nothing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from qdrant_client import models

from vecsearch.text.bm25 import DEFAULT_OPTIONS, doc_vector, token_id, tokenize

TEXTS = [
    "Quantum mechanics of electrons in a magnetic field",
    "Electron scattering by a crystal lattice",
    "Magnetic resonance in ferromagnetic crystals",
    "The theory of superconductivity and electron pairs",
    "Radio waves reflected by the ionosphere",
    "Ionospheric absorption of radio waves at night",
]


def _doc(text: str) -> models.Document:
    return models.Document(text=text, model="Qdrant/bm25")


@pytest.fixture
def hybrid(qclient):
    qclient.create_collection(
        "docs",
        vectors_config={"dense": models.VectorParams(size=4, distance=models.Distance.COSINE)},
        sparse_vectors_config={"bm25": models.SparseVectorParams(modifier=models.Modifier.IDF)},
    )
    rng = np.random.default_rng(0)
    qclient.upsert(
        "docs",
        [
            models.PointStruct(
                id=i,
                vector={"dense": rng.normal(size=4).tolist(), "bm25": _doc(t)},
                payload={"text": t, "even": i % 2 == 0},
            )
            for i, t in enumerate(TEXTS)
        ],
    )
    return qclient


def _bm25_by_hand(query: str, texts: list[str]) -> dict[int, float]:
    """BM25 with Qdrant's IDF over the same tokens, computed from the formula."""
    docs = [tokenize(t) for t in texts]
    avg = sum(map(len, docs)) / len(docs)
    n = len(docs)
    out = {}
    for i, d in enumerate(docs):
        score = 0.0
        for term in dict.fromkeys(tokenize(query)):
            tf = d.count(term)
            if tf == 0:
                continue
            df = sum(term in other for other in docs)
            idf = math.log((n - df + 0.5) / (df + 0.5) + 1)
            score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len(d) / avg))
        if score:
            out[i] = score
    return out


def test_bm25_documents_end_to_end(hybrid):
    res = hybrid.query_points("docs", query=_doc("radio waves"), using="bm25", limit=10)
    want = _bm25_by_hand("radio waves", TEXTS)
    assert {p.id for p in res.points} == set(want) == {4, 5}
    for p in res.points:
        assert p.score == pytest.approx(want[p.id], rel=1e-5)
    stored = hybrid.retrieve("docs", [4], with_vectors=["bm25"])[0].vector["bm25"]
    avg = sum(len(tokenize(t)) for t in TEXTS) / len(TEXTS)  # one upsert: its own average
    ids, vals = doc_vector(tokenize(TEXTS[4]), DEFAULT_OPTIONS, avg)
    assert stored.indices == ids.tolist() and stored.indices[0] > 0
    assert stored.values == pytest.approx(vals.tolist(), rel=1e-6)
    assert token_id("radio") in stored.indices


def test_hybrid_rrf_and_dbsf(hybrid):
    prefetch = [
        models.Prefetch(query=_doc("magnetic electron"), using="bm25", limit=5),
        models.Prefetch(query=[1.0, 0.0, 0.0, 0.0], using="dense", limit=5),
    ]
    for fusion in (models.Fusion.RRF, models.Fusion.DBSF):
        res = hybrid.query_points(
            "docs", prefetch=prefetch, query=models.FusionQuery(fusion=fusion), limit=3
        ).points
        assert len(res) == 3
        assert res[0].score >= res[1].score >= res[2].score
        filtered = hybrid.query_points(
            "docs",
            prefetch=prefetch,
            query=models.FusionQuery(fusion=fusion),
            query_filter=models.Filter(
                must=[models.FieldCondition(key="even", match=models.MatchValue(value=True))]
            ),
            limit=10,
        ).points
        assert filtered and all(p.id % 2 == 0 for p in filtered)
    # keyword hits rank first in BM25 alone
    bm = hybrid.query_points("docs", query=_doc("magnetic electron"), using="bm25").points
    assert {p.id for p in bm} == set(_bm25_by_hand("magnetic electron", TEXTS))


def test_sparse_only_bm25_collection(qclient):
    qclient.create_collection(
        "kw",
        vectors_config={},
        sparse_vectors_config={"t": models.SparseVectorParams(modifier=models.Modifier.IDF)},
    )
    qclient.upsert(
        "kw", [models.PointStruct(id=i, vector={"t": _doc(t)}) for i, t in enumerate(TEXTS)]
    )
    assert qclient.count("kw").count == len(TEXTS)
    hits = qclient.query_points("kw", query=_doc("ionosphere"), using="t").points
    assert hits[0].id == 4  # "ionosphere" stems apart from "ionospheric"
    info = qclient.get_collection("kw")
    assert info.config.params.sparse_vectors["t"].modifier == models.Modifier.IDF


def test_unknown_model_lists_the_supported_ones(client):
    body = {"vectors": {}, "sparse_vectors": {"t": {"modifier": "idf"}}}
    assert client.put("/collections/kw", json=body).status_code == 200
    pt = {"id": 1, "vector": {"t": {"text": "hello", "model": "bert-base"}}}
    r = client.put("/collections/kw/points", json={"points": [pt]})
    assert r.status_code == 400
    assert "points[0].vector.t.model" in r.text and "qdrant/bm25" in r.text
    r = client.post(
        "/collections/kw/points/query",
        json={"query": {"text": "x", "model": "nope"}, "using": "t"},
    )
    assert r.status_code == 400 and "query.model" in r.text and "qdrant/bm25" in r.text
    r = client.post(
        "/collections/kw/points/query",
        json={"query": {"text": "x", "model": "qdrant/bm25", "options": {"k1": 2}}, "using": "t"},
    )
    assert r.status_code == 400 and "query.options.k1" in r.text


BAD_SPARSE = {
    "unsorted duplicate": ({"indices": [3, 1, 3], "values": [1, 2, 3]}, "vector.s.indices"),
    "length mismatch": ({"indices": [1, 2], "values": [1.0]}, "vector.s"),
    "negative index": ({"indices": [-1, 2], "values": [1, 2]}, "vector.s.indices[0]"),
    "index past u32": ({"indices": [2**32], "values": [1]}, "vector.s.indices[0]"),
    "fractional index": ({"indices": [1.5], "values": [1]}, "vector.s.indices[0]"),
    "NaN value": ({"indices": [1, 2], "values": [1.0, "NaN"]}, "vector.s.values[1]"),
    "huge value": ({"indices": [1], "values": [1e39]}, "vector.s.values[0]"),
    "unknown key": ({"indices": [1], "values": [1], "x": 1}, "vector.s.x"),
    "missing values": ({"indices": [1]}, "vector.s.values"),
}


@pytest.mark.parametrize("case", sorted(BAD_SPARSE))
def test_bad_sparse_input_is_a_400_naming_the_field(client, case):
    body = {"vectors": {"d": {"size": 2, "distance": "Dot"}}, "sparse_vectors": {"s": {}}}
    assert client.put("/collections/c", json=body).status_code == 200
    good = {"id": 1, "vector": {"d": [1, 0], "s": {"indices": [4], "values": [0.5]}}}
    assert client.put("/collections/c/points?wait=true", json={"points": [good]}).status_code == 200
    value, field = BAD_SPARSE[case]
    payload = f'{{"points": [{{"id": 1, "vector": {{"s": {_json(value)}}}}}]}}'
    r = client.put(
        "/collections/c/points", content=payload, headers={"content-type": "application/json"}
    )
    assert r.status_code == 400, r.text
    assert f"points[0].{field}" in r.json()["status"]["error"], r.text
    q = client.post("/collections/c/points/query", json={"query": value, "using": "s"})
    assert q.status_code == 400, q.text
    got = client.post("/collections/c/points", json={"ids": [1], "with_vector": True}).json()
    assert got["result"][0]["vector"]["s"] == {"indices": [4], "values": [0.5]}


def _json(value: object) -> str:
    import json

    return json.dumps(value).replace('"NaN"', "NaN")


def test_sparse_collection_config_errors(client):
    cases = {
        "sparse_vectors.s.modifier": {"sparse_vectors": {"s": {"modifier": "bm42"}}},
        "sparse_vectors.s.index.datatype": {
            "sparse_vectors": {"s": {"index": {"datatype": "uint8"}}}
        },
        "sparse_vectors.d": {
            "vectors": {"d": {"size": 2, "distance": "Dot"}},
            "sparse_vectors": {"d": {}},
        },
        "sparse_vectors.s.foo": {"sparse_vectors": {"s": {"foo": 1}}},
    }
    for field, body in cases.items():
        r = client.put(
            "/collections/bad", json={"vectors": {}, **body} if "vectors" not in body else body
        )
        assert r.status_code == 400 and field in r.text, (field, r.text)
    assert client.get("/collections/bad").status_code == 404


def test_legacy_search_with_a_named_sparse_vector(client):
    body = {"vectors": {"d": {"size": 2, "distance": "Dot"}}, "sparse_vectors": {"s": {}}}
    assert client.put("/collections/c", json=body).status_code == 200
    pts = [
        {"id": i, "vector": {"d": [1, i], "s": {"indices": [i, 100], "values": [1.0, 0.5]}}}
        for i in range(5)
    ]
    assert client.put("/collections/c/points", json={"points": pts}).status_code == 200
    q = {"vector": {"name": "s", "vector": {"indices": [3, 100], "values": [2.0, 1.0]}}, "limit": 2}
    r = client.post("/collections/c/points/search", json=q)
    assert r.status_code == 200, r.text
    assert [(p["id"], p["score"]) for p in r.json()["result"]] == [(3, 2.5), (0, 0.5)]
    batch = client.post("/collections/c/points/search/batch", json={"searches": [q, q]})
    assert batch.status_code == 200 and len(batch.json()["result"]) == 2
    bad = {"vector": {"name": "s", "vector": [1.0, 2.0]}}
    r = client.post("/collections/c/points/search", json=bad)
    assert r.status_code == 400 and "vector.vector" in r.text
