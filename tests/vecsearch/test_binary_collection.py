"""A collection on binary codes: trained once enough points arrive, Qdrant's quantization
knobs reach the index, and rescored results agree with exact search on real data."""

from __future__ import annotations

import numpy as np
import pytest

from indexes.errors import InvalidParameterError


def test_binary_collection_on_vaswani(db, vaswani_embeddings):
    docs, queries = vaswani_embeddings
    body = {
        "vectors": {"size": docs.shape[1], "distance": "Cosine"},
        "index": {"type": "binary", "params": {"bits": 2}},
    }
    coll = db.create_collection("codes", body)
    coll.upsert_batch(list(range(500)), docs[:500])  # below the training threshold: exact
    exact_hits = [h.id for h in coll.search(queries[0], limit=5)]
    unit = docs[:500] / np.linalg.norm(docs[:500], axis=1, keepdims=True)
    assert exact_hits == list(np.argsort(-(unit @ queries[0]), kind="stable")[:5])

    coll.upsert_batch(list(range(500, 4000)), docs[500:4000])
    unit = docs[:4000] / np.linalg.norm(docs[:4000], axis=1, keepdims=True)
    truth = np.argsort(-(queries @ unit.T), axis=1, kind="stable")[:, :10]
    rescored, codes_only = 0, 0
    for q, t in zip(queries, truth, strict=True):
        hits = coll.search(q, limit=10, params={"quantization": {"oversampling": 4.0}})
        rescored += len({h.id for h in hits} & set(t.tolist()))
        raw = coll.search(q, limit=10, params={"quantization": {"rescore": False}})
        codes_only += len({h.id for h in raw} & set(t.tolist()))
    n = 10 * len(queries)
    assert rescored / n >= 0.97
    assert codes_only / n < rescored / n  # the codes alone rank worse: rescoring was used


def test_binary_collection_rejects_a_non_boolean_flag_up_front(db):
    # the index rejects it when the collection is created (a 400 through the service), not
    # later when enough points arrive to train it
    body = {
        "vectors": {"size": 8, "distance": "Cosine"},
        "index": {"type": "binary", "params": {"rotate": "no"}},
    }
    with pytest.raises(InvalidParameterError, match="rotate must be true or false"):
        db.create_collection("bad", body)
    assert "bad" not in db.list_collections()
