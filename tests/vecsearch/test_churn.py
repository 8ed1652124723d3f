"""Churn recall on real data: after 20 % churn (deletes + inserts + vector updates) through
the live write path, HNSW recall@10 stays within 2 points of a fresh build of the same
points. Runs once ``indexes.hnsw`` exists (skipped before)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import recall

BASE, CHURN_EACH = 6000, 400  # 3 x 400 = 20 % of 6000
K = 10
PARAMS = {"M": 16, "ef_construction": 100}


def collection_recall(coll, queries, ids, vectors, k=K) -> float:
    """Mean recall@k of ``coll`` against exact cosine search over ``(ids, vectors)``."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    qn = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    truth = np.asarray(ids)[np.argsort(-(qn @ unit.T), axis=1, kind="stable")[:, :k]]
    found = [[h.id for h in coll.search(q, limit=k, params={"hnsw_ef": 64})] for q in queries]
    return recall(found, truth)


def test_recall_after_churn_matches_fresh_build(db, vaswani_embeddings):
    pytest.importorskip("indexes.hnsw")
    docs, queries = vaswani_embeddings
    rng = np.random.default_rng(11)
    body = {
        "vectors": {"size": docs.shape[1], "distance": "Cosine"},
        "index": {"type": "hnsw", "params": PARAMS},
    }
    live = db.create_collection("live", body)
    current = {i: docs[i] for i in range(BASE)}
    for s in range(0, BASE, 1000):
        live.upsert_batch(list(range(s, s + 1000)), docs[s : s + 1000])

    extra = iter(range(BASE, BASE + 2 * CHURN_EACH))
    doomed = rng.choice(BASE, size=CHURN_EACH, replace=False)
    survivors = np.setdiff1d(np.arange(BASE), doomed)
    updated = rng.choice(survivors, size=CHURN_EACH, replace=False)
    ops = [("delete", int(i)) for i in doomed] + [("update", int(i)) for i in updated]
    ops += [("insert", 100_000 + j) for j in range(CHURN_EACH)]
    order = rng.permutation(len(ops))
    for s in range(0, len(order), 10):  # interleaved, in small batches as an app would send
        window = [ops[n] for n in order[s : s + 10]]  # ids in a window are distinct
        dels = [pid for kind, pid in window if kind == "delete"]
        ups = [pid for kind, pid in window if kind != "delete"]
        if dels:
            live.delete(points=dels)
            for pid in dels:
                del current[pid]
        if ups:
            vecs = np.stack([docs[next(extra)] for _ in ups])
            live.upsert_batch(ups, vecs)
            current.update(zip(ups, vecs, strict=True))

    ids = sorted(current)
    vectors = np.stack([current[i] for i in ids])
    fresh = db.create_collection("fresh", body)
    fresh.upsert_batch(ids, vectors)
    assert live.count() == fresh.count() == len(ids) == BASE
    r_live = collection_recall(live, queries, ids, vectors)
    r_fresh = collection_recall(fresh, queries, ids, vectors)
    assert r_fresh >= 0.8, f"fresh build recall {r_fresh:.3f} is implausibly low"
    assert r_live >= r_fresh - 0.02, f"churned {r_live:.3f} vs fresh {r_fresh:.3f}"
    # and the same after a restart (index saved with the churn applied)
    db.close()
    again = db.get_collection("live")
    assert again.index_source == "loaded"
    assert collection_recall(again, queries, ids, vectors) == pytest.approx(r_live, abs=1e-9)
