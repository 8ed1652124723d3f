"""Sparse vectors and hybrid queries: the served API (a real uvicorn server, the real
``qdrant-client``) and qdrant-client's local mode (Qdrant's semantics in pure Python) give
the same answers to the same calls, refuse the same bad calls, and a refused call changes
nothing. Sparse-only and hybrid (dense + sparse) collections, IDF, RRF and DBSF."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

pytestmark = pytest.mark.filterwarnings("ignore:Local mode performs exact")
N = 200
VOCAB = 60
rng = np.random.default_rng(7)
DENSE = rng.normal(size=(N, 8)).astype(np.float32)


def _sparse(i: int) -> models.SparseVector:
    r = np.random.default_rng(1000 + i)
    n = int(r.integers(1, 8))
    idx = r.choice(VOCAB, size=n, replace=False)
    return models.SparseVector(
        indices=idx.tolist(), values=np.round(r.uniform(0.1, 3.0, n), 3).tolist()
    )


SPARSE = [_sparse(i) for i in range(N)]
Q = models.SparseVector(indices=[3, 17, 42, 5], values=[1.0, 0.5, 2.0, 1.5])


def _fill(c: QdrantClient) -> None:
    c.create_collection(
        "h",
        vectors_config={"d": models.VectorParams(size=8, distance=models.Distance.COSINE)},
        sparse_vectors_config={
            "s": models.SparseVectorParams(),
            "w": models.SparseVectorParams(modifier=models.Modifier.IDF),
        },
    )
    points = []
    for i in range(N):
        vec: dict[str, Any] = {"d": DENSE[i].tolist(), "w": SPARSE[i]}
        if i % 4:  # every fourth point lacks "s"
            vec["s"] = SPARSE[i]
        points.append(models.PointStruct(id=i, vector=vec, payload={"g": i % 3}))
    c.upsert("h", points)
    c.create_collection(
        "only", vectors_config={}, sparse_vectors_config={"s": models.SparseVectorParams()}
    )
    c.upsert("only", [models.PointStruct(id=i, vector={"s": SPARSE[i]}) for i in range(50)])


@pytest.fixture
def pair(qclient):
    ref = QdrantClient(":memory:")
    for c in (qclient, ref):
        _fill(c)
    return qclient, ref


def _hits(res: Any) -> list[tuple[Any, float]]:
    return [(p.id, round(p.score, 4)) for p in res.points]


def _g(value: int) -> models.Filter:
    return models.Filter(
        must=[models.FieldCondition(key="g", match=models.MatchValue(value=value))]
    )


def _fused(c: QdrantClient, fusion: models.Fusion, **kw: Any) -> list[tuple[Any, float]]:
    return _hits(
        c.query_points(
            "h",
            prefetch=[
                models.Prefetch(query=Q, using="w", limit=20),
                models.Prefetch(query=DENSE[3].tolist(), using="d", limit=20),
            ],
            query=models.FusionQuery(fusion=fusion),
            limit=8,
            **kw,
        )
    )


CALLS: dict[str, Callable[[QdrantClient], Any]] = {
    "sparse dot": lambda c: _hits(c.query_points("h", query=Q, using="s", limit=10)),
    "sparse idf": lambda c: _hits(c.query_points("h", query=Q, using="w", limit=10)),
    "sparse with filter": lambda c: _hits(
        c.query_points("h", query=Q, using="w", limit=10, query_filter=_g(1))
    ),
    "sparse by id": lambda c: _hits(c.query_points("h", query=5, using="s", limit=5)),
    "sparse threshold": lambda c: _hits(
        c.query_points("h", query=Q, using="w", limit=50, score_threshold=3.0)
    ),
    "sparse offset": lambda c: _hits(c.query_points("h", query=Q, using="s", limit=4, offset=3)),
    "sparse-only collection": lambda c: _hits(c.query_points("only", query=Q, using="s")),
    "rrf": lambda c: [p for p, _ in _fused(c, models.Fusion.RRF)],
    "dbsf": lambda c: _fused(c, models.Fusion.DBSF),
    "dbsf with filter": lambda c: _fused(c, models.Fusion.DBSF, query_filter=_g(2)),
    "rescore dense by sparse": lambda c: _hits(
        c.query_points(
            "h",
            prefetch=models.Prefetch(query=DENSE[9].tolist(), using="d", limit=30),
            query=Q,
            using="s",
            limit=6,
        )
    ),
    "retrieve sparse": lambda c: [
        (r.id, r.vector["s"].indices, [round(v, 3) for v in r.vector["s"].values])
        for r in c.retrieve("h", [1, 2, 3], with_vectors=["s"])
    ],
    "retrieve all keys": lambda c: [
        (r.id, sorted(r.vector)) for r in c.retrieve("h", [0, 1], with_vectors=True)
    ],
    "scroll sparse-only": lambda c: [
        (r.id, r.vector["s"].indices) for r in c.scroll("only", limit=3, with_vectors=True)[0]
    ],
    "has_vector s": lambda c: (
        c.count(
            "h", count_filter=models.Filter(must=[models.HasVectorCondition(has_vector="s")])
        ).count
    ),
    "info": lambda c: (
        sorted(c.get_collection("h").config.params.sparse_vectors),
        c.get_collection("h").config.params.sparse_vectors["w"].modifier,
    ),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_same_answers(pair, name):
    ours, ref = pair
    got, want = CALLS[name](ours), CALLS[name](ref)
    assert got == want
    assert got not in ([], 0)  # every call above has hits: an empty answer proves nothing


def test_idf_follows_updates_and_deletes(pair):
    """IDF weights come from the live statistics: after replacing, adding and deleting
    vectors both sides still agree (and the scores did change)."""
    before = CALLS["sparse idf"](pair[0])
    for c in pair:
        c.upsert(
            "h",
            [
                models.PointStruct(
                    id=N + i,
                    vector={"w": models.SparseVector(indices=Q.indices, values=[1.0 + i / 8] * 4)},
                )
                for i in range(30)  # distinct scores: ties may come back in either order
            ],
        )
        c.update_vectors(
            "h", [models.PointVectors(id=i, vector={"w": SPARSE[i + 1]}) for i in range(20)]
        )
        c.delete("h", points_selector=models.PointIdsList(points=list(range(20, 40))))
        c.delete_vectors("h", vectors=["w"], points=[41, 42, 43])
    after = CALLS["sparse idf"](pair[0])
    assert after == CALLS["sparse idf"](pair[1])
    assert after != before
    assert CALLS["dbsf"](pair[0]) == CALLS["dbsf"](pair[1])


def _bad_upsert(vec: Any) -> Callable[[QdrantClient], Any]:
    return lambda c: c.upsert("h", [models.PointStruct(id=1, vector={"s": vec})])


BAD: dict[str, Callable[[QdrantClient], Any]] = {
    "duplicate indices": _bad_upsert(models.SparseVector(indices=[1, 1], values=[1.0, 2.0])),
    "length mismatch": _bad_upsert(models.SparseVector(indices=[1, 2], values=[1.0])),
    "dense vector for a sparse name": lambda c: c.upsert(
        "h", [models.PointStruct(id=1, vector={"s": [1.0, 2.0]})]
    ),
    "sparse query on a dense name": lambda c: c.query_points("h", query=Q, using="d"),
    "unknown sparse name": lambda c: c.query_points("h", query=Q, using="zzz"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_same_refusals(pair, name):
    ours, ref = pair
    before = ours.retrieve("h", [1], with_vectors=True)
    with pytest.raises(ValueError):
        BAD[name](ref)
    with pytest.raises(Exception) as err:
        BAD[name](ours)
    assert "400" in str(err.value) or "Bad Request" in str(err.value), err.value
    assert ours.retrieve("h", [1], with_vectors=True) == before


def test_unsorted_indices_are_sorted_as_qdrant_does(pair):
    vec = models.SparseVector(indices=[9, 2, 5], values=[0.9, 0.2, 0.5])
    for c in pair:
        c.upsert("h", [models.PointStruct(id=1, vector={"s": vec, "w": vec})])
    got = [c.retrieve("h", [1], with_vectors=["s"])[0].vector["s"] for c in pair]
    assert got[0].indices == got[1].indices == [2, 5, 9]
    assert [round(v, 3) for v in got[0].values] == [0.2, 0.5, 0.9]
