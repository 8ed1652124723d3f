"""The sparse benchmark compares like with like: bm25s's score matrix, turned into our rows,
scores every document as bm25s does."""

from __future__ import annotations

import numpy as np
import pytest

from bench.sparse_vs_bm25s import _rows_from_csc
from indexes.sparse import SparseIndex

bm25s = pytest.importorskip("bm25s")


def test_rows_from_bm25s_scores_give_bm25s_scores():
    docs = [
        ["the", "cat", "sat", "on", "the", "mat"],
        ["a", "dog", "chased", "the", "cat"],
        ["stars", "and", "galaxies"],
        ["the", "cat", "and", "the", "dog", "and", "the", "cat"],
    ]
    r = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    r.index(docs, show_progress=False)
    index = SparseIndex()
    index.add(_rows_from_csc(r.scores), np.arange(len(docs)))
    for query in (["cat"], ["cat", "dog"], ["galaxies", "the"]):
        want = r.get_scores(query)
        ids = np.array([r.vocab_dict[w] for w in query])
        got_ids, got_d = index.search([(ids, np.ones(len(ids), np.float32))], len(docs))
        got = np.zeros(len(docs), np.float32)
        hit = got_ids[0] >= 0
        got[got_ids[0][hit]] = -got_d[0][hit]
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
        assert set(got_ids[0][hit].tolist()) == set(np.flatnonzero(want > 0).tolist())
