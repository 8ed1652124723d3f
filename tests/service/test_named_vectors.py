"""Named vector spaces through the official qdrant-client against a real uvicorn server.

One collection with two named dense vectors of different sizes and distances (Vaswani
MiniLM document embeddings, Cosine, and a fixed random projection of them to 48-d, Euclid)
and one multi-vector space (Vaswani per-token MiniLM embeddings, MaxSim over Dot). Some points
lack some vectors. Every query result is checked against exact search computed here.
"""

from __future__ import annotations

import threading
import time

import httpx
import numpy as np
import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse

N_TEXT = 3000  # points; the token space covers the first 1,000 (the shared token set)
SMALL = 48
EXACT = models.SearchParams(exact=True)


@pytest.fixture(scope="module")
def data(shared_data):
    v = shared_data / "vaswani"
    docs = np.load(v / "docs.f16.npy")[:N_TEXT].astype(np.float32)
    queries = np.load(v / "queries.f16.npy").astype(np.float32)
    proj = np.random.default_rng(5).standard_normal((384, SMALL)).astype(np.float32)
    tokens = np.load(v / "tokens_docs.f16.npy").astype(np.float32)
    offsets = np.load(v / "tokens_docs_offsets.npy")
    qtok = np.load(v / "tokens_queries.f16.npy").astype(np.float32)
    qoff = np.load(v / "tokens_queries_offsets.npy")
    sets = [tokens[offsets[i] : offsets[i + 1]] for i in range(1000)]
    qsets = [qtok[qoff[i] : qoff[i + 1]] for i in range(len(qoff) - 1)]
    has = {
        "text": np.array([i % 10 != 3 for i in range(N_TEXT)]),
        "small": np.array([i % 7 != 0 for i in range(N_TEXT)]),
        "tokens": np.array([i < 1000 and i % 5 != 1 for i in range(N_TEXT)]),
    }
    return {
        "text": docs / np.linalg.norm(docs, axis=1, keepdims=True),
        "small": docs @ proj,
        "tokens": sets,
        "queries": queries,
        "proj": proj,
        "qsets": qsets,
        "has": has,
    }


def exact(data, space, q, k, allowed=None):
    """Exact top-k ``(ids, scores)`` of ``q`` among the points that have ``space``."""
    ok = data["has"][space].copy()
    if allowed is not None:
        ok &= allowed
    ids = np.flatnonzero(ok)
    if space == "text":
        scores = data["text"][ids] @ (q / np.linalg.norm(q))
        order = np.lexsort((ids, -scores))
    elif space == "small":
        scores = np.linalg.norm(data["small"][ids] - q, axis=1)
        order = np.lexsort((ids, scores))
    else:
        scores = np.array([(q @ data["tokens"][i].T).max(axis=1).sum() for i in ids])
        order = np.lexsort((ids, -scores))
    return ids[order[:k]].tolist(), scores[order[:k]]


def vectors_of(data, i):
    out = {}
    for name in ("text", "small", "tokens"):
        if data["has"][name][i]:
            out[name] = data[name][i].tolist()
    return out


def test_named_vectors_end_to_end(qclient, server, data):
    assert qclient.create_collection(
        "nv",
        vectors_config={
            "text": models.VectorParams(size=384, distance=models.Distance.COSINE),
            "small": models.VectorParams(size=SMALL, distance=models.Distance.EUCLID),
            "tokens": models.VectorParams(
                size=384,
                distance=models.Distance.DOT,
                multivector_config=models.MultiVectorConfig(
                    comparator=models.MultiVectorComparator.MAX_SIM
                ),
            ),
        },
    )
    for s in range(0, N_TEXT, 50):
        qclient.upsert(
            "nv",
            points=[
                models.PointStruct(id=i, vector=vectors_of(data, i), payload={"n": i})
                for i in range(s, min(s + 50, N_TEXT))
            ],
        )
    info = qclient.get_collection("nv")
    assert info.points_count == N_TEXT
    params = info.config.params.vectors
    assert params["small"].size == SMALL and params["small"].distance == models.Distance.EUCLID
    assert params["tokens"].multivector_config.comparator == models.MultiVectorComparator.MAX_SIM

    # query each space `using` its name: exact search equals the reference, index search
    # (HNSW, MUVERA) finds it
    queries = {
        "text": [q.tolist() for q in data["queries"][:5]],
        "small": [(q @ data["proj"]).tolist() for q in data["queries"][:5]],
        "tokens": [s.tolist() for s in data["qsets"][:5]],
    }
    for space, qs in queries.items():
        found = 0
        for q in qs:
            want_ids, want_scores = exact(data, space, np.asarray(q, np.float32), 10)
            got = qclient.query_points("nv", query=q, using=space, limit=10, search_params=EXACT)
            assert [p.id for p in got.points] == want_ids, space
            np.testing.assert_allclose(
                [p.score for p in got.points], want_scores, rtol=1e-4, atol=1e-4
            )
            got = qclient.query_points("nv", query=q, using=space, limit=10)
            found += len({p.id for p in got.points} & set(want_ids))
        assert found / (10 * len(qs)) >= 0.9, space
    with pytest.raises(UnexpectedResponse) as exc:
        qclient.query_points("nv", query=queries["text"][0], limit=3)  # no unnamed vector
    assert exc.value.status_code == 400 and b"using" in exc.value.content
    with pytest.raises(UnexpectedResponse) as exc:
        qclient.query_points("nv", query=queries["small"][0], using="text", limit=3)
    assert exc.value.status_code == 400 and b"expected dimension 384" in exc.value.content

    # retrieve with one named vector: exactly the stored float32 values, others left out
    recs = qclient.retrieve("nv", ids=[1, 7, 21], with_vectors=["small"])
    assert [sorted(r.vector) for r in recs] == [["small"], [], []]  # 7 and 21 lack it
    np.testing.assert_array_equal(np.float32(recs[0].vector["small"]), data["small"][1])
    rec = qclient.retrieve("nv", ids=[1], with_vectors=True)[0]
    assert sorted(rec.vector) == ["small", "text"]  # 1 % 5 == 1: no tokens

    # update one named vector of a point, leaving the others alone
    new_small = (-data["small"][4]).tolist()
    qclient.update_vectors("nv", points=[models.PointVectors(id=4, vector={"small": new_small})])
    rec = qclient.retrieve("nv", ids=[4], with_vectors=True)[0]
    np.testing.assert_array_equal(np.float32(rec.vector["small"]), np.float32(new_small))
    np.testing.assert_allclose(rec.vector["text"], data["text"][4], rtol=1e-6)  # normalised
    got = qclient.query_points("nv", query=new_small, using="small", limit=1).points
    assert got[0].id == 4 and got[0].score == pytest.approx(0.0, abs=1e-3)

    # delete one named vector: the point stays, the space forgets it
    has_text = models.Filter(must=[models.HasVectorCondition(has_vector="text")])
    before = qclient.count("nv", count_filter=has_text).count
    assert before == int(data["has"]["text"].sum())
    qclient.delete_vectors("nv", vectors=["text"], points=models.PointIdsList(points=[4]))
    assert qclient.count("nv", count_filter=has_text).count == before - 1
    assert qclient.count("nv").count == N_TEXT
    assert sorted(qclient.retrieve("nv", ids=[4], with_vectors=True)[0].vector) == [
        "small",
        "tokens",
    ]
    q4 = data["text"][4].tolist()
    got = qclient.query_points("nv", query=q4, using="text", limit=5, search_params=EXACT)
    assert 4 not in [p.id for p in got.points]

    # has_vector as a search filter: results come only from points with token vectors
    has_tok = models.Filter(must=[models.HasVectorCondition(has_vector="tokens")])
    allowed = data["has"]["tokens"].copy()
    got = qclient.query_points(
        "nv", query=queries["text"][0], using="text", query_filter=has_tok, limit=10
    ).points
    text_ok = data["has"]["text"].copy()
    text_ok[4] = False
    want, _ = exact(
        {**data, "has": {**data["has"], "text": text_ok}},
        "text",
        np.asarray(queries["text"][0]),
        10,
        allowed,
    )
    assert [p.id for p in got] == want
    assert qclient.count("nv", count_filter=has_tok).count == int(allowed.sum())

    # PATCH a vector's HNSW parameters: the index is rebuilt in the background while
    # queries keep answering, with the same results
    q = queries["text"][1]
    want_ids = [p.id for p in qclient.query_points("nv", query=q, using="text", limit=10).points]
    answered, errors, stop = [], [], threading.Event()

    def ask() -> None:
        while not stop.is_set():
            try:
                got = qclient.query_points("nv", query=q, using="text", limit=10).points
                answered.append((time.monotonic(), [p.id for p in got]))
            except Exception as exc:  # collected and asserted below
                errors.append(exc)

    asker = threading.Thread(target=ask)
    asker.start()
    try:
        time.sleep(0.2)
        assert qclient.update_collection(
            "nv",
            vectors_config={
                "text": models.VectorParamsDiff(
                    hnsw_config=models.HnswConfigDiff(m=32, ef_construct=100)
                )
            },
        )
        seen_yellow = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            info = qclient.get_collection("nv")
            if info.status == models.CollectionStatus.YELLOW:
                seen_yellow = seen_yellow or time.monotonic()
            elif info.status == models.CollectionStatus.GREEN and seen_yellow:
                break
            time.sleep(0.05)
        done = time.monotonic()
    finally:
        stop.set()
        asker.join(30)
    assert not errors, errors[:3]
    assert seen_yellow is not None, "the rebuild was never observed in progress"
    during = [ids for t, ids in answered if seen_yellow <= t <= done]
    assert during, "no query was answered while the index was rebuilt"
    assert all(len(set(ids) & set(want_ids)) >= 9 for _, ids in answered)
    info = qclient.get_collection("nv")
    assert info.status == models.CollectionStatus.GREEN
    assert info.config.params.vectors["text"].hnsw_config.m == 32
    raw = httpx.get(server.url + "/collections/nv").json()["result"]["vecsearch"]["vectors"]
    assert raw["text"]["index"]["params"]["M"] == 32
    assert raw["text"]["index"]["params"]["ef_construction"] == 100
    assert raw["small"]["index"]["params"]["M"] == 16  # other spaces untouched
    got = qclient.query_points("nv", query=q, using="text", limit=10).points
    assert len({p.id for p in got} & set(want_ids)) >= 9


def test_vectors_read_back_at_their_precision(client):
    """A float32 0.15 comes back as 0.15, not 0.15000000596046448 (raw JSON text)."""
    r = client.put("/collections/p", json={"vectors": {"a": {"size": 3, "distance": "Dot"}}})
    assert r.status_code == 200, r.text
    r = client.put(
        "/collections/p/points", json={"points": [{"id": 1, "vector": {"a": [0.15, 0.1, 1e-7]}}]}
    )
    assert r.status_code == 200, r.text
    r = client.post("/collections/p/points", json={"ids": [1], "with_vector": True})
    assert '"a":[0.15,0.1,1e-7]' in r.text.replace(" ", "")
    r = client.post(
        "/collections/p/points/query",
        json={"query": [0.15, 0.1, 1e-7], "using": "a", "with_vector": ["a"]},
    )
    assert '"vector":{"a":[0.15,0.1,1e-7]}' in r.text.replace(" ", "")
