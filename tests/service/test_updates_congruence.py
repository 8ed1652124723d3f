"""Batch updates, ``wait=false``, facets and distance matrices: the served API (through
qdrant-client) and qdrant-client's local mode give the same answers to the same calls; and
the refusals, answered 400/404 with nothing changed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

pytestmark = pytest.mark.filterwarnings("ignore:Local mode performs exact")
N = 40
rng = np.random.default_rng(18)
A = rng.normal(size=(N + 20, 8)).astype(np.float32)
B = rng.normal(size=(N + 20, 4)).astype(np.float32)
EXACT = models.SearchParams(exact=True)
TAGS = ["red", "green", "blue", "cyan", "pink"]


def _payload(i: int) -> dict[str, Any]:
    tags = sorted({TAGS[i % 5], TAGS[(i * 7) % 5], TAGS[(i * 3) % 4]})  # 1-3 distinct values
    return {"tag": tags if i % 4 else tags[0], "n": i % 6, "ok": i % 3 == 0, "i": i}


def _fill(c: QdrantClient) -> None:
    c.create_collection(
        "t",
        vectors_config={
            "a": models.VectorParams(size=8, distance=models.Distance.COSINE),
            "b": models.VectorParams(size=4, distance=models.Distance.EUCLID),
        },
    )
    points = [
        models.PointStruct(
            id=i,
            vector={"a": A[i].tolist(), **({"b": B[i].tolist()} if i % 5 else {})},
            payload=_payload(i),
        )
        for i in range(N)
    ]
    c.upsert("t", points)
    for key, schema in (("tag", "keyword"), ("n", "integer"), ("ok", "bool")):
        c.create_payload_index("t", key, schema)  # local mode accepts and ignores these


@pytest.fixture
def pair(server):
    # a generous timeout: a cold Numba cache compiles the write paths' kernels on first use
    ours = QdrantClient(url=server.url, timeout=120)
    ref = QdrantClient(":memory:")
    for c in (ours, ref):
        _fill(c)
    yield ours, ref
    ours.close()


class Vectors:
    """Vectors that compare equal within float32 tolerance (local mode keeps float64)."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.v = {k: np.asarray(x, np.float64) for k, x in vectors.items()}

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Vectors)
            and self.v.keys() == other.v.keys()
            and all(np.allclose(self.v[k], other.v[k], atol=1e-5) for k in self.v)
        )

    def __repr__(self) -> str:
        return repr(self.v)


def _everything(c: QdrantClient) -> Any:
    """Every point (payload, vectors) and two exact queries."""
    records, _ = c.scroll("t", limit=1000, with_payload=True, with_vectors=True)
    pts = [(r.id, r.payload, Vectors(r.vector)) for r in records]
    qa = c.query_points("t", query=A[3].tolist(), using="a", limit=10, search_params=EXACT)
    qb = c.query_points("t", query=B[4].tolist(), using="b", limit=10, search_params=EXACT)
    return pts, [(p.id, round(p.score, 4)) for p in qa.points + qb.points]


def _f(key: str, value: Any) -> models.Filter:
    return models.Filter(
        must=[models.FieldCondition(key=key, match=models.MatchValue(value=value))]
    )


OPS = [
    models.UpsertOperation(
        upsert=models.PointsList(
            points=[
                models.PointStruct(id=N + j, vector={"a": A[N + j].tolist()}, payload={"new": j})
                for j in range(5)
            ]
        )
    ),
    models.UpsertOperation(
        upsert=models.PointsBatch(
            batch=models.Batch(
                ids=[N + 5, N + 6, 2],
                vectors={"b": [B[N + 5].tolist(), B[N + 6].tolist(), B[2].tolist()]},
                payloads=[{"new": 5}, {"new": 6}, {"replaced": True}],
            )
        )
    ),
    models.SetPayloadOperation(set_payload=models.SetPayload(payload={"x": 1}, points=[N, N + 1])),
    models.SetPayloadOperation(
        set_payload=models.SetPayload(payload={"deep": 2}, key="inner", points=[N + 2])
    ),
    # sees the payload the previous operation set: deletes N and N + 1
    models.DeleteOperation(delete=models.FilterSelector(filter=_f("x", 1))),
    models.OverwritePayloadOperation(
        overwrite_payload=models.SetPayload(payload={"only": 1}, filter=_f("n", 2))
    ),
    models.DeletePayloadOperation(
        delete_payload=models.DeletePayload(keys=["tag", "ok"], filter=_f("ok", True))
    ),
    models.ClearPayloadOperation(clear_payload=models.PointIdsList(points=[5, 6])),
    models.UpdateVectorsOperation(
        update_vectors=models.UpdateVectors(
            points=[models.PointVectors(id=N + 3, vector={"b": [1.0, 2.0, 3.0, 4.0]})]
        )
    ),
    models.DeleteVectorsOperation(
        delete_vectors=models.DeleteVectors(vector=["a"], points=[N + 4, 7])
    ),
    models.DeleteOperation(delete=models.PointIdsList(points=[8, 12345])),
]


def test_batch_update_agrees(pair):
    ours, ref = pair
    assert [c.batch_update_points("t", []) for c in pair] == [[], []]
    results = [c.batch_update_points("t", OPS) for c in pair]
    assert [len(r) for r in results] == [len(OPS)] * 2
    assert {r.status for r in results[0]} == {models.UpdateStatus.COMPLETED}
    assert _everything(ours) == _everything(ref)
    assert ours.count("t").count == ref.count("t").count == N + 7 - 3


def test_failing_batch_changes_nothing_on_our_side(pair):
    """Deliberate deviation: Qdrant (and local mode) keep the operations before a failing
    one; our batch is atomic, so nothing of it remains."""
    ours, _ = pair
    before = _everything(ours)
    with pytest.raises(UnexpectedResponse) as info:
        ours.batch_update_points(
            "t",
            [
                *OPS[:3],
                models.SetPayloadOperation(set_payload=models.SetPayload(payload={}, points=[999])),
            ],
        )
    assert info.value.status_code == 404
    assert _everything(ours) == before


def test_wait_false_is_acknowledged_and_already_visible(pair):
    ours, ref = pair
    for c in pair:
        r = c.upsert(
            "t",
            [models.PointStruct(id=500, vector={"a": A[0].tolist()}, payload={"w": 1})],
            wait=False,
        )
        c.set_payload("t", {"w": 2}, points=[500], wait=False)
        c.delete("t", models.PointIdsList(points=[1]), wait=False)
        c.batch_update_points("t", OPS[:2], wait=False)
        if c is ours:
            assert r.status == models.UpdateStatus.ACKNOWLEDGED
    assert _everything(ours) == _everything(ref)


FACETS = {
    "tag": dict(key="tag"),
    "tag limit 2": dict(key="tag", limit=2),
    "tag filtered": dict(key="tag", facet_filter=_f("ok", True)),
    "tag by range": dict(
        key="tag",
        facet_filter=models.Filter(must=[models.FieldCondition(key="i", range=models.Range(lt=9))]),
    ),
    "n": dict(key="n", limit=100),
    "n filtered": dict(key="n", facet_filter=_f("tag", "red")),
    "ok": dict(key="ok"),
    "ok exact": dict(key="ok", exact=True),
}


@pytest.mark.parametrize("name", sorted(FACETS))
def test_facets_agree(pair, name):
    got, want = (c.facet("t", **FACETS[name]).hits for c in pair)
    assert [(h.value, h.count) for h in got] == [(h.value, h.count) for h in want]
    assert got  # the cases are not vacuous


def test_facets_follow_writes(pair):
    for c in pair:
        c.batch_update_points("t", OPS)
    ours, ref = pair
    for key in ("tag", "n", "ok"):
        assert ours.facet("t", key, limit=50).hits == ref.facet("t", key, limit=50).hits


def _pairs(res: Any) -> list[tuple[Any, Any, float]]:
    return [(p.a, p.b, round(p.score, 4)) for p in res.pairs]


def _offsets(res: Any) -> tuple:
    return res.ids, res.offsets_row, res.offsets_col, [round(s, 4) for s in res.scores]


MATRICES = {
    "a all": dict(using="a", sample=N, limit=3),
    "a more than all": dict(using="a", sample=1000, limit=5),
    "b all": dict(using="b", sample=100, limit=2),
    "a filtered": dict(using="a", sample=100, limit=4, query_filter=_f("tag", "blue")),
    "b filtered": dict(using="b", sample=N, limit=1, query_filter=_f("n", 1)),
}


@pytest.mark.parametrize("name", sorted(MATRICES))
def test_matrices_agree_when_every_point_is_sampled(pair, name):
    kw = MATRICES[name]
    got, want = (_pairs(c.search_matrix_pairs("t", **kw)) for c in pair)
    assert got == want and got
    got, want = (_offsets(c.search_matrix_offsets("t", **kw)) for c in pair)
    assert got == want


def test_matrix_samples_the_requested_number(pair):
    ours, _ = pair
    res = ours.search_matrix_offsets("t", using="a", sample=7, limit=2)
    assert len(res.ids) == len(set(res.ids)) == 7
    assert res.ids == sorted(res.ids)
    assert len(res.scores) == 14
    assert ours.search_matrix_pairs("t", using="a", sample=1).pairs == []


def test_refusals(client):
    """Raw HTTP: refusals are 400 naming the field (or 404), and change nothing."""
    body = {"vectors": {"size": 2, "distance": "Dot"}}
    assert client.put("/collections/c", json=body).status_code == 200
    pts = {"points": [{"id": 1, "vector": [1.0, 0.0], "payload": {"k": "v"}}]}
    assert client.put("/collections/c/points", json=pts).status_code == 200
    bad = {
        "/points/batch": [
            {"operations": [{"upsert": pts}, {"frobnicate": {}}]},
            {"operations": [{"upsert": {"points": [{"id": 2, "vector": [1.0]}]}}]},
        ],
        "/facet": [{"key": "k"}, {"key": "k", "limit": 0}],
        "/points/search/matrix/pairs": [{"using": "zz"}, {"sample": 0}, {"limit": -1}],
        "/points/search/matrix/offsets": [{"filter": {"must": [{"bad": 1}]}}],
    }
    for path, bodies in bad.items():
        for b in bodies:
            r = client.post(f"/collections/c{path}", json=b)
            assert r.status_code == 400, (path, b, r.text)
            assert r.json()["status"]["error"]
    for path, b in [
        ("/points/batch", {"operations": {"upsert": pts}}),
        ("/points/batch", {}),
        ("/facet", {}),
    ]:  # bodies of the wrong shape: the service's 422
        r = client.post(f"/collections/c{path}", json=b)
        assert r.status_code == 422, (path, b, r.text)
    r = client.post("/collections/c/points/batch", json={"operations": [{"frobnicate": {}}]})
    assert "operations[0]" in r.json()["status"]["error"]
    r = client.post("/collections/c/facet", json={"key": "k"})
    assert "Index required" in r.json()["status"]["error"]
    r = client.post(
        "/collections/c/points/batch",
        json={
            "operations": [
                {"upsert": {"points": [{"id": 3, "vector": [0.0, 1.0]}]}},
                {"clear_payload": {"points": [4]}},
            ]
        },
    )
    assert r.status_code == 404
    r = client.post("/collections/c/points/scroll", json={})
    assert [p["id"] for p in r.json()["result"]["points"]] == [1]
    # an empty batch is fine (as in local mode), and wait=false answers 202 acknowledged
    r = client.post("/collections/c/points/batch", json={"operations": []})
    assert r.status_code == 200 and r.json()["result"] == []
    r = client.put("/collections/c/points?wait=false", json=pts)
    assert r.status_code == 202
    assert r.json()["result"]["status"] == "acknowledged"
    r = client.put("/collections/c/points?wait=true", json=pts)
    assert r.status_code == 200 and r.json()["result"]["status"] == "completed"
    r = client.post(
        "/collections/c/points/batch?wait=false", json={"operations": [{"upsert": pts}]}
    )
    assert r.status_code == 202 and r.json()["result"][0]["status"] == "acknowledged"


# --------------------------------------------------------------------------------------------
# Random batches (Hypothesis): operations that cannot fail, so that both sides apply them all
# --------------------------------------------------------------------------------------------
POOL_A = np.random.default_rng(7).normal(size=(24, 4)).round(3)
POOL_B = np.random.default_rng(8).normal(size=(24, 3)).round(3)

_ids = st.integers(0, 15)
_g = st.integers(0, 3)
_filter = st.builds(lambda g: _f("g", g), _g)
_payload_st = st.fixed_dictionaries({"g": _g}, optional={"t": st.sampled_from(["x", "y"])})


def _struct(i: int, j: int, with_b: bool, payload: dict) -> models.PointStruct:
    vec = {"a": POOL_A[j].tolist(), **({"b": POOL_B[j].tolist()} if with_b else {})}
    return models.PointStruct(id=i, vector=vec, payload=payload)


_points = st.lists(
    st.builds(_struct, _ids, st.integers(0, 23), st.booleans(), _payload_st),
    min_size=1,
    max_size=4,
    unique_by=lambda p: p.id,
)
_op = st.one_of(
    st.builds(lambda ps: models.UpsertOperation(upsert=models.PointsList(points=ps)), _points),
    st.builds(
        lambda ps: models.UpsertOperation(
            upsert=models.PointsBatch(
                batch=models.Batch(
                    ids=[p.id for p in ps],
                    vectors={"a": [p.vector["a"] for p in ps]},
                    payloads=[p.payload for p in ps],
                )
            )
        ),
        _points,
    ),
    st.builds(
        lambda ids: models.DeleteOperation(delete=models.PointIdsList(points=ids)),
        st.lists(_ids, min_size=1, max_size=3),
    ),
    st.builds(lambda f: models.DeleteOperation(delete=models.FilterSelector(filter=f)), _filter),
    st.builds(
        lambda p, f, key: models.SetPayloadOperation(
            set_payload=models.SetPayload(payload=p, filter=f, key=key)
        ),
        _payload_st,
        _filter,
        st.sampled_from([None, "inner"]),
    ),
    st.builds(
        lambda p, f: models.OverwritePayloadOperation(
            overwrite_payload=models.SetPayload(payload=p, filter=f)
        ),
        _payload_st,
        _filter,
    ),
    st.builds(
        lambda f: models.DeletePayloadOperation(
            delete_payload=models.DeletePayload(keys=["t"], filter=f)
        ),
        _filter,
    ),
    st.builds(
        lambda f: models.ClearPayloadOperation(clear_payload=models.FilterSelector(filter=f)),
        _filter,
    ),
    st.builds(
        lambda f, v: models.DeleteVectorsOperation(
            delete_vectors=models.DeleteVectors(vector=[v], filter=f)
        ),
        _filter,
        st.sampled_from(["a", "b"]),
    ),
)


def _state(c: QdrantClient) -> Any:
    records, _ = c.scroll("h", limit=100, with_payload=True, with_vectors=True)
    pts = [(r.id, r.payload, Vectors(r.vector)) for r in records]
    hits = c.query_points("h", query=POOL_A[0].tolist(), using="a", limit=99, search_params=EXACT)
    # points may share a vector: equal scores come in either order
    return pts, sorted(
        ((round(p.score, 4), p.id) for p in hits.points), key=lambda s: (-s[0], s[1])
    )


@settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batches=st.lists(st.lists(_op, min_size=1, max_size=5), min_size=1, max_size=2))
def test_random_batches_agree(pair, batches):
    for c in pair:
        c.delete_collection("h")
        c.create_collection(
            "h",
            vectors_config={
                "a": models.VectorParams(size=4, distance=models.Distance.COSINE),
                "b": models.VectorParams(size=3, distance=models.Distance.EUCLID),
            },
        )
        c.upsert("h", [_struct(i, i, i % 2 == 0, {"g": i % 4}) for i in range(10)])
        for ops in batches:
            c.batch_update_points("h", ops)
    ours, ref = pair
    assert _state(ours) == _state(ref)
