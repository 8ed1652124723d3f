"""Multi-vector (MaxSim) collections: Qdrant's ``multivector_config``, MUVERA index, exact
fallback, filters, thresholds, live writes, reopening, snapshots and bad input.

Data: per-token MiniLM embeddings of the first 300 Vaswani documents and of 20 queries
(``../shared/data/vaswani/tokens_*``), ground truth by a float64 numpy MaxSim.
"""

from __future__ import annotations

import numpy as np
import pytest

from indexes.errors import InvalidParameterError
from vecsearch.database import Database
from vecsearch.errors import (
    RelevanceUnsupportedError,
    ValidationError,
    VectorDimensionError,
    VectorValueError,
)

N_DOCS, N_QUERIES, DIM = 300, 20, 384
#: A small FDE (10 x 2^4 x 8 = 1,280 dims) keeps the HNSW build quick.
INDEX = {"type": "muvera", "params": {"r_reps": 10, "k_sim": 4, "d_proj": 8, "m": 12}}


@pytest.fixture(scope="module")
def token_sets(shared_data):
    folder = shared_data / "vaswani"
    tok = np.load(folder / "tokens_docs.f16.npy").astype(np.float32)
    off = np.load(folder / "tokens_docs_offsets.npy")
    qtok = np.load(folder / "tokens_queries.f16.npy").astype(np.float32)
    qoff = np.load(folder / "tokens_queries_offsets.npy")
    docs = [tok[off[i] : off[i + 1]] for i in range(N_DOCS)]
    queries = [qtok[qoff[i] : qoff[i + 1]] for i in range(N_QUERIES)]
    return docs, queries


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def maxsim(q: np.ndarray, docs: list[np.ndarray]) -> np.ndarray:
    q64 = q.astype(np.float64)
    return np.array([(q64 @ d.astype(np.float64).T).max(axis=1).sum() for d in docs])


def exact_top(q, docs, ids, k, keep=None):
    s = maxsim(q, docs)
    ids = np.asarray(ids)
    if keep is not None:
        s, ids = s[keep], ids[keep]
    order = np.lexsort((ids, -s))[:k]
    return ids[order].tolist(), s[order]


def body(distance="Dot", index=INDEX):
    return {
        "vectors": {
            "size": DIM,
            "distance": distance,
            "multivector_config": {"comparator": "max_sim"},
        },
        "index": index,
    }


def fill(coll, docs):
    payloads = [{"parity": i % 2, "bucket": i % 30} for i in range(len(docs))]
    coll.upsert_batch(list(range(len(docs))), docs, payloads)


@pytest.fixture
def dot_coll(db, token_sets):
    coll = db.create_collection("mv", body())
    fill(coll, token_sets[0])
    return coll


def test_search_recall_exact_and_scores(dot_coll, token_sets):
    docs, queries = token_sets
    ids = list(range(N_DOCS))
    hits_total, exact_total = 0, 0
    for q in queries:
        truth, scores = exact_top(q, docs, ids, 10)
        got = dot_coll.search(q.tolist(), limit=10, params={"candidates": 100})
        assert dot_coll.last_plan == "index"
        hits_total += len({h.id for h in got} & set(truth))
        # the reported score is the exact MaxSim of the hit
        for h in got:
            assert h.score == pytest.approx(maxsim(q, [docs[h.id]])[0], rel=1e-5)
        ex = dot_coll.search(q, limit=10, params={"exact": True})
        assert dot_coll.last_plan == "exact"
        exact_total += [h.id for h in ex] == truth
        np.testing.assert_allclose([h.score for h in ex], scores, rtol=1e-5)
    assert hits_total / (10 * N_QUERIES) >= 0.9
    assert exact_total == N_QUERIES


def test_filters_threshold_offset_and_vectors(dot_coll, token_sets):
    docs, queries = token_sets
    ids = np.arange(N_DOCS)
    q = queries[3]
    small = {"must": [{"key": "bucket", "match": {"value": 7}}]}  # 10 points: exact plan
    got = dot_coll.search(q, limit=5, filter=small)
    assert dot_coll.last_plan == "exact"
    assert [h.id for h in got] == exact_top(q, docs, ids, 5, ids % 30 == 7)[0]
    odd = {"must": [{"key": "parity", "match": {"value": 1}}]}
    got = dot_coll.search(q, limit=10, filter=odd, params={"candidates": 150})
    assert all(h.id % 2 == 1 for h in got) and len(got) == 10
    truth = exact_top(q, docs, ids, 10, ids % 2 == 1)[0]
    assert len({h.id for h in got} & set(truth)) >= 9

    full = dot_coll.search(q, limit=20, params={"exact": True})
    thr = full[6].score
    above = dot_coll.search(q, limit=20, params={"exact": True}, score_threshold=thr)
    assert [h.id for h in above] == [h.id for h in full if h.score >= thr]
    page = dot_coll.search(q, limit=5, offset=5, params={"exact": True})
    assert [h.id for h in page] == [h.id for h in full[5:10]]

    hit = dot_coll.search(q, limit=1, with_vector=True)[0]
    np.testing.assert_allclose(np.array(hit.vector), docs[hit.id])
    rec = dot_coll.retrieve([4], with_vector=True)[0]
    assert np.array(rec.vector).shape == docs[4].shape
    assert dot_coll.config.vector.vector_params()["multivector_config"] == {"comparator": "max_sim"}


def test_live_updates_reopen_and_snapshot(tmp_path, token_sets):
    docs, queries = token_sets
    q = queries[0]
    db = Database(tmp_path / "data")
    coll = db.create_collection("mv", body())
    fill(coll, docs)
    coll.save_index()
    # writes after the saved index: a replaced point, a new one, a deleted one
    coll.upsert([{"id": 5, "vector": q.tolist(), "payload": {"parity": 1}}])
    coll.upsert([{"id": 1000, "vector": {"": docs[0][:4].tolist()}}])
    best = coll.search(q, limit=2)
    assert best[0].id == 5 and best[0].score == pytest.approx(maxsim(q, [q])[0], rel=1e-5)
    coll.delete(points=[5])
    after = coll.search(q, limit=10, params={"candidates": 300})
    assert 5 not in {h.id for h in after}
    assert coll.count() == N_DOCS
    snap = db.create_snapshot("mv")
    db.close()

    db = Database(tmp_path / "data")
    again = db.get_collection("mv")
    assert again.index_source == "loaded"  # saved index brought up to date from the store
    assert [h.id for h in again.search(q, limit=10, params={"candidates": 300})] == [
        h.id for h in after
    ]
    np.testing.assert_allclose(
        np.array(again.retrieve([1000], with_vector=True)[0].vector), docs[0][:4]
    )
    copy = db.restore_snapshot(db.snapshot_path("mv", snap.name), "copy")
    assert copy.config.is_multivector
    assert [h.id for h in copy.search(q, limit=10, params={"exact": True})] == [
        h.id for h in again.search(q, limit=10, params={"exact": True})
    ]
    db.close()


def test_cosine_normalises_every_token(db, token_sets):
    docs, queries = token_sets
    coll = db.create_collection("cos", body("Cosine"))
    fill(coll, docs[:50])
    q = queries[1]
    truth, scores = exact_top(unit(q), [unit(d) for d in docs[:50]], range(50), 5)
    got = coll.search(q * 3.0, limit=5, params={"exact": True})
    assert [h.id for h in got] == truth
    np.testing.assert_allclose([h.score for h in got], scores, rtol=1e-5)
    assert [h.id for h in coll.search(q, limit=5, params={"candidates": 50})] == truth


def test_bad_input_is_rejected_and_changes_nothing(db, token_sets):
    docs, queries = token_sets
    coll = db.create_collection("bad", body())
    fill(coll, docs[:20])
    seq = coll.store.seq
    good = docs[0].tolist()
    ragged = [good[0], good[1][:100]]
    nan = [list(good[0]), list(good[1])]
    nan[1][3] = float("nan")
    cases = [
        ([], ValidationError, r"points\[1\]\.vector: empty"),
        (ragged, VectorDimensionError, r"points\[1\]\.vector\[1\]: expected dimension 384"),
        ([[0.0] * 10], VectorDimensionError, r"points\[1\]\.vector\[0\]"),
        (nan, VectorValueError, r"points\[1\]\.vector\[1\]: contains NaN"),
        (good[0], ValidationError, "single vector"),
        ("abc", ValidationError, "list of vectors"),
    ]
    for vec, err, msg in cases:
        with pytest.raises(err, match=msg):
            coll.upsert([{"id": 100, "vector": good}, {"id": 101, "vector": vec}])
        with pytest.raises(err):
            coll.search(vec, limit=3)
    assert coll.count() == 20 and coll.store.seq == seq
    assert coll.retrieve([100]) == []

    with pytest.raises(ValidationError, match="Cosine or Dot"):
        db.create_collection("e", body("Euclid"))
    with pytest.raises(ValidationError, match="comparator"):
        db.create_collection(
            "e",
            {"vectors": {"size": 4, "distance": "Dot", "multivector_config": {"comparator": "x"}}},
        )
    with pytest.raises(ValidationError, match="use 'muvera'"):
        db.create_collection("e", body(index={"type": "hnsw"}))
    with pytest.raises(ValidationError, match="multivector_config not set"):
        db.create_collection("e", {"vectors": {"size": 4, "distance": "Dot"}, "index": INDEX})
    with pytest.raises(ValidationError, match="candidates"):
        coll.search(queries[0], limit=3, params={"candidates": 0})
    assert not db.collection_exists("e")


def test_relevance_refuses_multi_vector_collections(db, token_sets):
    """Relevance calibration is defined on single-vector cosine scores."""
    docs, queries = token_sets
    coll = db.create_collection("cosm", body("Cosine"))
    fill(coll, docs[:10])
    with pytest.raises(RelevanceUnsupportedError, match="multi-vector"):
        coll.fit_relevance([queries[0]], [[0]])
    assert coll.relevance_model is None


def test_prefetch_rescored_by_exact_maxsim(db, token_sets):
    """A nearest query over prefetched points re-scores them by exact MaxSim."""
    docs, queries = token_sets
    coll = db.create_collection("cosm", body("Cosine"))
    fill(coll, docs[:30])
    q = queries[0]
    exact = coll.search(q, limit=30, params={"exact": True})
    pre = [h.id for h in exact[10:20]]  # the prefetch returns these ten, in its own order
    hits = coll.query(
        {"prefetch": {"query": q.tolist(), "filter": {"must": [{"has_id": pre}]}}, "query": q}
    )
    assert [(h.id, round(h.score, 4)) for h in hits] == [
        (h.id, round(h.score, 4)) for h in exact[10:20]
    ]


def test_float16_token_store_through_index_params(db, token_sets):
    """``token_dtype`` passes through the collection's index params to MuveraIndex."""
    docs, queries = token_sets
    half = {"type": "muvera", "params": {**INDEX["params"], "token_dtype": "float16"}}
    coll = db.create_collection("half", body(index=half))
    fill(coll, docs[:60])
    q = queries[2]
    truth, _ = exact_top(q, docs[:60], range(60), 5)
    assert [h.id for h in coll.search(q, limit=5, params={"candidates": 60})] == truth
    with pytest.raises(InvalidParameterError, match="token_dtype must be one of"):
        bad = {"type": "muvera", "params": {"token_dtype": "int4"}}
        db.create_collection("bad16", body(index=bad))
    assert not db.collection_exists("bad16")
