"""Multi-vector (MaxSim) collections over HTTP: the official qdrant-client against a real
uvicorn server (create with ``multivector_config``, upsert and query lists of vectors,
results checked against a numpy MaxSim), and the 4xx answers to bad multi-vector input."""

from __future__ import annotations

import numpy as np
import pytest
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

DIM = 16
N = 300
INDEX = {"type": "muvera", "params": {"r_reps": 10, "k_sim": 3, "d_proj": 8}}


def sets(rng: np.random.Generator, n: int, lo: int = 1, hi: int = 12) -> list[np.ndarray]:
    return [rng.standard_normal((int(m), DIM)).astype(np.float32) for m in rng.integers(lo, hi, n)]


def maxsim_top(q: np.ndarray, docs: list[np.ndarray], k: int, keep=None):
    s = np.array([(q.astype(np.float64) @ d.astype(np.float64).T).max(axis=1).sum() for d in docs])
    ids = np.arange(len(docs))
    if keep is not None:
        s, ids = s[keep], ids[keep]
    order = np.lexsort((ids, -s))[:k]
    return ids[order].tolist(), s[order]


@pytest.fixture
def qclient(server):
    """The official client; a generous timeout because the collection's default FDEs are the
    paper's (20 x 2^5 x 16 = 10,240 dims), slow to insert into HNSW on a loaded machine."""
    client = QdrantClient(url=server.url, timeout=300)
    yield client
    client.close()


def test_qdrant_client_multivector_end_to_end(qclient, rng):
    docs, queries = sets(rng, N), sets(rng, 12, 2, 8)
    assert qclient.create_collection(
        "mv",
        vectors_config=models.VectorParams(
            size=DIM,
            distance=models.Distance.DOT,
            multivector_config=models.MultiVectorConfig(
                comparator=models.MultiVectorComparator.MAX_SIM
            ),
        ),
    )
    info = qclient.get_collection("mv")
    assert info.config.params.vectors.multivector_config.comparator == "max_sim"
    res = qclient.upsert(
        "mv",
        points=[
            models.PointStruct(id=i, vector=d.tolist(), payload={"g": i % 3})
            for i, d in enumerate(docs)
        ],
    )
    assert res.status == models.UpdateStatus.COMPLETED
    assert qclient.count("mv").count == N

    found = 0
    for q in queries:
        truth, scores = maxsim_top(q, docs, 10)
        exact = qclient.query_points(
            "mv", query=q.tolist(), limit=10, search_params=models.SearchParams(exact=True)
        ).points
        assert [p.id for p in exact] == truth
        np.testing.assert_allclose([p.score for p in exact], scores, rtol=1e-5)
        # default parameters: HNSW over the FDEs, then MaxSim re-ranking of 500 candidates
        # (all 300 points here; approximate recall is tested in tests/vecsearch)
        approx = qclient.query_points("mv", query=q.tolist(), limit=10).points
        found += len({p.id for p in approx} & set(truth))
    assert found / (10 * len(queries)) >= 0.9

    q = queries[0]
    flt = models.Filter(must=[models.FieldCondition(key="g", match=models.MatchValue(value=1))])
    hits = qclient.query_points(
        "mv", query=q.tolist(), query_filter=flt, limit=5, with_vectors=True
    ).points
    assert [p.id for p in hits] == maxsim_top(q, docs, 5, np.arange(N) % 3 == 1)[0]
    np.testing.assert_allclose(np.array(hits[0].vector), docs[hits[0].id], rtol=1e-6)
    top = hits[0].score
    above = qclient.query_points(
        "mv", query=q.tolist(), query_filter=flt, limit=5, score_threshold=top - 1e-3
    ).points
    assert [p.id for p in above] == [hits[0].id]

    with pytest.raises(UnexpectedResponse) as exc:
        qclient.upsert("mv", points=[models.PointStruct(id=N, vector=[[1.0] * (DIM - 1)])])
    assert exc.value.status_code == 400 and b"points[0].vector[0]" in exc.value.content
    assert qclient.count("mv").count == N


def test_bad_multivector_requests_are_4xx(client):
    body = {
        "vectors": {
            "size": 4,
            "distance": "Cosine",
            "multivector_config": {"comparator": "max_sim"},
        },
        "index": INDEX,
    }
    assert client.put("/collections/mv", json=body).status_code == 200
    ok = [[1.0, 0, 0, 0], [0, 1.0, 0, 0]]
    r = client.put("/collections/mv/points", json={"points": [{"id": 1, "vector": ok}]})
    assert r.status_code == 200, r.text
    bad = {
        "empty": [],
        "ragged": [[1.0, 0, 0, 0], [1.0, 0]],
        "wrong dim": [[1.0, 0, 0]],
        "single vector": [1.0, 0, 0, 0],
        "zero vector": [[0.0, 0, 0, 0]],
    }
    for name, vec in bad.items():
        r = client.put("/collections/mv/points", json={"points": [{"id": 2, "vector": vec}]})
        assert r.status_code == 400, (name, r.text)
        assert "points[0].vector" in r.json()["status"]["error"], name
        r = client.post("/collections/mv/points/query", json={"query": vec})
        assert r.status_code == 400, (name, r.text)
    assert client.post("/collections/mv/points/count", json={}).json()["result"]["count"] == 1
    r = client.post("/collections/mv/points/query", json={"query": ok, "with_vector": True})
    assert r.status_code == 200 and r.json()["result"]["points"][0]["vector"] == ok
    euclid = {**body, "vectors": {**body["vectors"], "distance": "Euclid"}}
    r = client.put("/collections/e", json=euclid)
    assert r.status_code == 400 and "Cosine or Dot" in r.text
