"""HNSW searched on 1-bit codes and rescored: composition of HNSWIndex and BinaryIndex."""

from __future__ import annotations

import numpy as np
import pytest

from indexes import FlatIndex, InvalidParameterError, NotTrainedError
from indexes.binary_hnsw import HNSWBinaryIndex, HNSWBinaryParams
from tests.helpers import recall


@pytest.fixture(scope="module")
def built(vaswani_embeddings):
    docs, queries = vaswani_embeddings
    index = HNSWBinaryIndex(docs.shape[1], "cosine", M=16, ef_construction=100)
    index.train(docs)
    index.add(docs, np.arange(docs.shape[0]))
    flat = FlatIndex(docs.shape[1], "cosine")
    flat.add(docs, np.arange(docs.shape[0]))
    truth, _ = flat.search(queries, 10)
    return index, queries, truth


def test_codes_walk_then_rescore_recall(built):
    index, queries, truth = built
    codes_only = recall(index.search(queries, 10, HNSWBinaryParams(rescore=False))[0], truth)
    rescored = recall(index.search(queries, 10, HNSWBinaryParams(ef=128, oversampling=4))[0], truth)
    assert rescored >= 0.93
    assert rescored > codes_only + 0.15  # the rescoring step does the work codes cannot
    more = recall(index.search(queries, 10, HNSWBinaryParams(ef=256, oversampling=8))[0], truth)
    assert more >= rescored


def test_save_load_remove_and_errors(built, tmp_path, vaswani_embeddings):
    index, queries, _ = built
    params = HNSWBinaryParams(ef=96)
    expected = index.search(queries, 10, params)
    index.save(tmp_path / "hb")
    loaded = HNSWBinaryIndex.load(tmp_path / "hb")
    got = loaded.search(queries, 10, params)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    top = int(expected[0][0, 0])
    loaded.remove([top])
    assert top not in loaded.search(queries[:1], 10, params)[0]
    docs, _ = vaswani_embeddings
    loaded.add(docs[top : top + 1], [top])  # back, possibly in another slot
    assert loaded.search(queries[:1], 1, params)[0][0, 0] == top

    fresh = HNSWBinaryIndex(docs.shape[1])
    with pytest.raises(NotTrainedError):
        fresh.add(docs[:5], np.arange(5))
    with pytest.raises(InvalidParameterError, match="allow"):
        index.search(queries, 5, allow=np.arange(10))
    with pytest.raises(InvalidParameterError, match="oversampling"):
        index.search(queries, 5, HNSWBinaryParams(oversampling=0))
