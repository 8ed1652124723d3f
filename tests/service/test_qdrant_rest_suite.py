"""Regressions found by running Qdrant's own REST integration tests (qdrant/qdrant
tests/openapi) against a vecsearch server: each case states Qdrant's answer, checked
against qdrant-client's local mode where it has one."""

from __future__ import annotations

import pytest
from qdrant_client import QdrantClient, models

pytestmark = pytest.mark.filterwarnings("ignore:Local mode performs exact")

DENSE = {1: [0.05, 0.61, 0.76, 0.74], 2: [0.19, 0.81, 0.75, 0.11], 3: [0.36, 0.55, 0.47, 0.94]}
SPARSE = {"indices": [1, 2, 3], "values": [0.1, 0.2, 0.3]}


def _unnamed_with_sparse(client) -> None:
    """Qdrant's basic_collection_setup shape: an unnamed dense vector plus a named sparse one."""
    r = client.put(
        "/collections/c",
        json={"vectors": {"size": 4, "distance": "Dot"}, "sparse_vectors": {"sparse-text": {}}},
    )
    assert r.status_code == 200, r.text
    points = [{"id": i, "vector": v} for i, v in DENSE.items()]
    points.append({"id": 9, "vector": {"sparse-text": SPARSE}})
    points.append({"id": 10, "vector": {"": DENSE[1], "sparse-text": SPARSE}})
    r = client.put("/collections/c/points?wait=true", json={"points": points})
    assert r.status_code == 200, r.text


def test_only_unnamed_vector_comes_back_as_the_vector(client) -> None:
    """A point of an unnamed-form collection with sparse vectors whose only vector is the
    unnamed one gets the vector itself (not ``{"": [...]}``), as in Qdrant and local mode."""
    _unnamed_with_sparse(client)
    r = client.post("/collections/c/points", json={"ids": [1, 9, 10], "with_vector": True})
    assert r.status_code == 200, r.text
    got = {p["id"]: p["vector"] for p in r.json()["result"]}
    assert got[1] == pytest.approx(DENSE[1])
    assert set(got[9]) == {"sparse-text"}
    assert set(got[10]) == {"", "sparse-text"}
    r = client.post("/collections/c/points/scroll", json={"with_vectors": True, "limit": 1})
    assert r.json()["result"]["points"][0]["vector"] == pytest.approx(DENSE[1])

    ref = QdrantClient(":memory:")
    ref.create_collection(
        "c",
        vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT),
        sparse_vectors_config={"sparse-text": models.SparseVectorParams()},
    )
    ref.upsert("c", [models.PointStruct(id=1, vector=DENSE[1])])
    assert ref.retrieve("c", [1], with_vectors=True)[0].vector == pytest.approx(DENSE[1])


def test_recommend_raw_example_by_unnamed_name(client) -> None:
    """A raw recommendation example spelt ``{"": [...]}`` (accepted wherever a query vector
    is) was a 500; it is the same example as the bare list."""
    _unnamed_with_sparse(client)
    bodies = [{"positive": [DENSE[2]], "limit": 3}, {"positive": [{"": DENSE[2]}], "limit": 3}]
    answers = [client.post("/collections/c/points/recommend", json=b) for b in bodies]
    assert [a.status_code for a in answers] == [200, 200], answers[1].text
    assert answers[0].json()["result"] == answers[1].json()["result"]


def test_order_by_lists_a_point_once_per_value_beyond_the_point_count(qclient) -> None:
    """A scroll ``order_by`` over a key holding two values per point can return
    twice as many entries as there are points; the limit was cut at the point count + 1."""
    ref = QdrantClient(":memory:")
    for c in (qclient, ref):
        c.create_collection("o", vectors_config=models.VectorParams(size=2, distance="Dot"))
        c.upsert(
            "o",
            [
                models.PointStruct(id=i, vector=[1.0, i], payload={"m": [i, 21 - i]})
                for i in range(20)
            ],
        )
    got = qclient.scroll("o", limit=40, order_by="m")[0]
    want = ref.scroll("o", limit=40, order_by="m")[0]
    assert len(got) == 40
    assert [(p.id, p.order_value) for p in got] == [(p.id, p.order_value) for p in want]


def test_point_without_vectors_in_unnamed_collection_with_sparse(client) -> None:
    """``"vector": {}`` in a collection of the unnamed form that also has sparse vectors is a
    point without vectors (Qdrant's test_facets upserts such points; local mode agrees);
    it was refused as 'this collection has one vector'. With only the unnamed vector it is
    still refused."""
    _unnamed_with_sparse(client)
    r = client.put(
        "/collections/c/points?wait=true",
        json={"points": [{"id": 100, "vector": {}, "payload": {"a": 1}}]},
    )
    assert r.status_code == 200, r.text
    r = client.post("/collections/c/points", json={"ids": [100], "with_vector": True})
    assert r.json()["result"] == [{"id": 100, "payload": {"a": 1}, "vector": {}}]
    r = client.post("/collections/c/points/search", json={"vector": DENSE[1], "limit": 20}).json()[
        "result"
    ]
    assert 100 not in [h["id"] for h in r]

    ref = QdrantClient(":memory:")
    ref.create_collection(
        "c",
        vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT),
        sparse_vectors_config={"sparse-text": models.SparseVectorParams()},
    )
    ref.upsert("c", [models.PointStruct(id=100, vector={}, payload={"a": 1})])
    assert ref.retrieve("c", [100], with_vectors=True)[0].vector == {}

    client.put("/collections/one", json={"vectors": {"size": 4, "distance": "Dot"}})
    r = client.put("/collections/one/points", json={"points": [{"id": 1, "vector": {}}]})
    assert r.status_code == 400 and "points[0].vector" in r.text


def test_groups_lookup_in_a_missing_collection_is_404_in_qdrants_words(client) -> None:
    _unnamed_with_sparse(client)
    r = client.post(
        "/collections/c/points/query/groups",
        json={"query": DENSE[1], "group_by": "g", "with_lookup": {"collection": "nope"}},
    )
    assert r.status_code == 404, r.text
    assert "Collection nope not found" in r.json()["status"]["error"]


def test_retrieve_accepts_with_vectors(client) -> None:
    """POST /points takes ``with_vectors`` as well as ``with_vector`` (Qdrant's serde alias,
    as scroll and search already did); it was a 422 'unknown field'."""
    _unnamed_with_sparse(client)
    r = client.post("/collections/c/points", json={"ids": [1], "with_vectors": True})
    assert r.status_code == 200, r.text
    assert r.json()["result"][0]["vector"] == pytest.approx(DENSE[1])
    r = client.post(
        "/collections/c/points", json={"ids": [1], "with_vector": True, "with_vectors": True}
    )
    assert r.status_code == 400 and "with_vectors" in r.text


def test_update_vectors_same_point_twice_applies_both(qclient) -> None:
    """Two entries for one point in one update_vectors call, each setting another vector:
    both apply, in order (the second entry replaced the whole point's update, so the first
    vector kept its old value). Qdrant's test_optional_vectors; local mode agrees."""
    ref = QdrantClient(":memory:")
    old = {"a": [0.1, 0.3, 0.2, 0.9], "b": [0.8, 0.6, 0.3, 0.0]}
    steps = [
        models.PointVectors(id=7, vector={"a": [0.8, 0.8, 0.9, 0.2]}),
        models.PointVectors(id=7, vector={"b": [0.3, 0.6, 0.4, 0.4]}),
        models.PointVectors(id=1, vector={"a": [0.5, 0.5, 0.5, 0.5]}),
        models.PointVectors(id=7, vector={"b": [0.9, 0.9, 0.7, 0.5], "a": [0.2, 0.1, 0.1, 0.3]}),
        models.PointVectors(id=7, vector={"b": [0.4, 0.5, 0.6, 0.2]}),
    ]
    params = models.VectorParams(size=4, distance=models.Distance.DOT)
    for c in (qclient, ref):
        c.create_collection("n", vectors_config={"a": params, "b": params})
        c.upsert("n", [models.PointStruct(id=i, vector=old) for i in (1, 7)])
        c.update_vectors("n", steps[:2])
        c.update_vectors("n", steps[2:])
    got = {p.id: p.vector for p in qclient.retrieve("n", [1, 7], with_vectors=True)}
    want = {p.id: p.vector for p in ref.retrieve("n", [1, 7], with_vectors=True)}
    assert got.keys() == want.keys() == {1, 7}
    for pid in want:
        for name in ("a", "b"):
            assert got[pid][name] == pytest.approx(want[pid][name], abs=1e-6), (pid, name)
    assert got[7]["a"] == pytest.approx([0.2, 0.1, 0.1, 0.3], abs=1e-6)


def test_legacy_discover_without_target_is_a_context_search(client) -> None:
    """``/points/discover`` with context pairs and no target is Qdrant's context search
    (the same points and scores as the Query API's ``context`` query); it was a 422."""
    _unnamed_with_sparse(client)
    pairs = [{"positive": 1, "negative": [0.0, 0.0, 1.0, 0.0]}]
    r = client.post("/collections/c/points/discover", json={"context": pairs, "limit": 5})
    assert r.status_code == 200, r.text
    q = client.post("/collections/c/points/query", json={"query": {"context": pairs}, "limit": 5})
    want = [(p["id"], p["score"]) for p in q.json()["result"]["points"]]
    assert [(p["id"], p["score"]) for p in r.json()["result"]] == want
    assert want and all(score <= 0.0 for _, score in want)
    r = client.post("/collections/c/points/discover", json={"limit": 5})
    assert r.status_code == 400, r.text


def test_collection_info_has_created_at_that_survives_patch(client, qclient) -> None:
    """Qdrant's ``CollectionInfo.created_at`` (RFC 3339, UTC): set at creation, kept by a
    PATCH (Qdrant's test_collection_created_at); qdrant-client parses it."""
    from datetime import UTC, datetime, timedelta

    _unnamed_with_sparse(client)
    at = client.get("/collections/c").json()["result"]["created_at"]
    age = datetime.now(UTC) - datetime.fromisoformat(at)
    assert timedelta(0) <= age < timedelta(minutes=1)
    r = client.patch("/collections/c", json={"metadata": {"k": "v"}})
    assert r.status_code == 200, r.text
    assert client.get("/collections/c").json()["result"]["created_at"] == at
    qclient.create_collection("q", vectors_config=models.VectorParams(size=2, distance="Dot"))
    info = qclient.get_collection("q")
    assert info.created_at is not None and info.created_at.tzinfo is not None


def test_snapshot_create_and_delete_without_wait_answer_202_accepted(client, qclient) -> None:
    """``?wait=false`` on snapshot create / delete: Qdrant's 202 ``{"status": "accepted"}``
    (its test_snapshot_operations_non_wait); the snapshot is made (and deleted) all the same.
    qdrant-client's ``create_snapshot(wait=False)`` reads it as no result."""
    _unnamed_with_sparse(client)
    r = client.post("/collections/c/snapshots?wait=false")
    assert r.status_code == 202 and r.json()["status"] == "accepted", r.text
    names = [s["name"] for s in client.get("/collections/c/snapshots").json()["result"]]
    assert len(names) == 1
    r = client.delete(f"/collections/c/snapshots/{names[0]}?wait=false")
    assert r.status_code == 202 and r.json()["status"] == "accepted", r.text
    assert client.get("/collections/c/snapshots").json()["result"] == []
    assert client.post("/collections/c/snapshots").status_code == 200
    qclient.create_collection("s", vectors_config=models.VectorParams(size=2, distance="Dot"))
    assert qclient.create_snapshot("s", wait=False) is None
    assert len(qclient.list_snapshots("s")) == 1


def test_recommend_by_missing_id_with_unknown_vector_is_404(client) -> None:
    """A by-id example naming a missing point in a lookup collection whose vector name is
    also unknown: 404 for the point, as Qdrant answers (its test_multicollection_reco); an
    existing point with the unknown vector name stays a 400."""
    _unnamed_with_sparse(client)
    client.put("/collections/o", json={"vectors": {"other": {"size": 4, "distance": "Dot"}}})
    client.put(
        "/collections/o/points?wait=true",
        json={"points": [{"id": 1, "vector": {"other": DENSE[1]}}]},
    )
    lf = {"collection": "o", "vector": "unknown_vector"}
    r = client.post("/collections/c/points/recommend", json={"positive": [2], "lookup_from": lf})
    assert r.status_code == 404, r.text
    r = client.post("/collections/c/points/recommend", json={"positive": [1], "lookup_from": lf})
    assert r.status_code == 400, r.text
