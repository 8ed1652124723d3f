"""Named vectors: the served API and qdrant-client's local mode (``QdrantClient(":memory:")``,
Qdrant's semantics in pure Python) give the same answers to the same calls, and refuse the
same bad calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

# local mode is exact anyway and says so when given search params
pytestmark = pytest.mark.filterwarnings("ignore:Local mode performs exact")
N = 300
rng = np.random.default_rng(0)
A = rng.normal(size=(N, 16)).astype(np.float32)
B = rng.normal(size=(N, 8)).astype(np.float32)
EXACT = models.SearchParams(exact=True)


def _fill(c: QdrantClient) -> None:
    c.create_collection(
        "t",
        vectors_config={
            "a": models.VectorParams(size=16, distance=models.Distance.COSINE),
            "b": models.VectorParams(size=8, distance=models.Distance.EUCLID),
        },
    )
    points = []
    for i in range(N):
        vec = {"a": A[i].tolist()}
        if i % 3:  # every third point lacks "b"
            vec["b"] = B[i].tolist()
        points.append(models.PointStruct(id=i, vector=vec, payload={"g": i % 5}))
    c.upsert("t", points)


@pytest.fixture
def pair(qclient):
    ref = QdrantClient(":memory:")
    for c in (qclient, ref):
        _fill(c)
    return qclient, ref


def _hits(res: Any) -> list[tuple[Any, float]]:
    return [(p.id, round(p.score, 4)) for p in res.points]


def _keys(records: Any) -> list[tuple[Any, list[str]]]:
    return [(r.id, sorted((r.vector or {}).keys())) for r in records]


def _has_b(negate: bool = False) -> models.Filter:
    cond = [models.HasVectorCondition(has_vector="b")]
    return models.Filter(must_not=cond) if negate else models.Filter(must=cond)


CALLS: dict[str, Callable[[QdrantClient], Any]] = {
    "query a": lambda c: _hits(
        c.query_points("t", query=A[7].tolist(), using="a", limit=5, search_params=EXACT)
    ),
    "query b": lambda c: _hits(
        c.query_points("t", query=B[8].tolist(), using="b", limit=5, search_params=EXACT)
    ),
    "query by id in b": lambda c: _hits(
        c.query_points("t", query=8, using="b", limit=5, search_params=EXACT)
    ),
    "query b with a filter": lambda c: _hits(
        c.query_points(
            "t",
            query=B[8].tolist(),
            using="b",
            limit=5,
            query_filter=models.Filter(
                must=[models.FieldCondition(key="g", match=models.MatchValue(value=2))]
            ),
            search_params=EXACT,
        )
    ),
    "rrf of both": lambda c: [
        p.id
        for p in c.query_points(
            "t",
            prefetch=[
                models.Prefetch(query=A[7].tolist(), using="a", limit=20, params=EXACT),
                models.Prefetch(query=B[7].tolist(), using="b", limit=20, params=EXACT),
            ],
            query=models.FusionQuery(fusion=models.Fusion.RRF),
            limit=5,
        ).points
    ],
    "has_vector count": lambda c: c.count("t", count_filter=_has_b()).count,
    "not has_vector count": lambda c: c.count("t", count_filter=_has_b(negate=True)).count,
    "retrieve b only": lambda c: _keys(c.retrieve("t", [0, 1, 2], with_vectors=["b"])),
    "retrieve all": lambda c: _keys(c.retrieve("t", [0, 1, 2], with_vectors=True)),
    "info": lambda c: sorted(c.get_collection("t").config.params.vectors),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_same_answers(pair, name):
    ours, ref = pair
    assert CALLS[name](ours) == CALLS[name](ref)


def test_vector_updates_and_deletes_agree(pair):
    for c in pair:
        c.update_vectors("t", [models.PointVectors(id=0, vector={"b": [1.0] * 8})])
        c.delete_vectors("t", vectors=["b"], points=[1])
        c.upsert("t", [models.PointStruct(id=999, vector={}, payload={})])  # no vector at all
    ours, ref = pair
    for c in (ours, ref):
        assert c.count("t").count == N + 1
    assert _keys(ours.retrieve("t", [0, 1, 999], with_vectors=True)) == _keys(
        ref.retrieve("t", [0, 1, 999], with_vectors=True)
    )
    got = ours.retrieve("t", [0], with_vectors=["b"])[0].vector["b"]
    assert got == ref.retrieve("t", [0], with_vectors=["b"])[0].vector["b"] == [1.0] * 8
    for c in pair:
        assert c.count("t", count_filter=_has_b()).count == N * 2 // 3
    assert CALLS["query b"](ours) == CALLS["query b"](ref)


BAD: dict[str, Callable[[QdrantClient], Any]] = {
    "query by id of a point lacking b": lambda c: c.query_points("t", query=9, using="b"),
    "unknown vector name": lambda c: c.query_points("t", query=A[0].tolist(), using="zzz"),
    "no name on a named collection": lambda c: c.query_points("t", query=A[0].tolist()),
    "wrong dimension in b": lambda c: c.upsert(
        "t", [models.PointStruct(id=5, vector={"b": [1.0] * 3})]
    ),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_same_refusals(pair, name):
    """Both refuse (local mode raises ValueError, the server answers 400), and nothing changed."""
    ours, ref = pair
    for c in (ours, ref):
        with pytest.raises(Exception) as info:
            BAD[name](c)
        if c is ours:
            assert "400" in str(info.value), str(info.value)
    assert _keys(ours.retrieve("t", [5], with_vectors=True)) == [(5, ["a", "b"])]
    got = np.asarray(ours.retrieve("t", [5], with_vectors=["b"])[0].vector["b"], np.float32)
    np.testing.assert_array_equal(got, B[5])
