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


def test_filtered_search(built, vaswani_embeddings):
    """``allow``: a broad filter walks the codes admitting allowed nodes only; a selective
    one is answered exactly from the float vectors; both return k allowed hits."""
    index, queries, _ = built
    docs, _ = vaswani_embeddings
    flat = FlatIndex(docs.shape[1], "cosine")
    flat.add(docs, np.arange(docs.shape[0]))
    params = HNSWBinaryParams(ef=128, oversampling=4)
    broad = np.arange(0, docs.shape[0], 2)  # half the points
    got, _ = index.search(queries, 10, params, allow=broad)
    truth, _ = flat.search(queries, 10, allow=broad)
    assert np.isin(got, broad).all()
    assert recall(got, truth) >= 0.93
    few = np.arange(0, docs.shape[0], 500)  # 23 points: the exact plan
    got, dist = index.search(queries, 10, params, allow=few)
    truth, tdist = flat.search(queries, 10, allow=few)
    np.testing.assert_array_equal(got, truth)
    np.testing.assert_allclose(dist, tdist, rtol=1e-5, atol=1e-6)
    mask = np.zeros(index.n_slots, dtype=bool)
    mask[:3] = True  # a boolean slot mask admitting 3 points: 3 hits, then padding
    got, dist = index.search(queries[:2], 5, params, allow=mask)
    assert (got[:, :3] >= 0).all() and (got[:, 3:] == -1).all() and np.isinf(dist[:, 3:]).all()


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
    with pytest.raises(InvalidParameterError, match="oversampling"):
        index.search(queries, 5, HNSWBinaryParams(oversampling=0))


def test_filtered_walk_that_misses_allowed_points_is_answered_exactly(rng):
    """Allowed points the walk cannot reach (their in-links cut here by hand) still come
    back: a query left with fewer than min(k, allowed) hits is answered exactly."""
    x = rng.standard_normal((400, 24)).astype(np.float32)
    index = HNSWBinaryIndex(24, "l2", M=8, ef_construction=64)
    index.train(x)
    index.add(x, np.arange(400))
    graph = index.graph
    allowed = np.array([11, 222, 333], dtype=np.int64)
    slots = np.array([graph._ids_to_slots()[int(i)] for i in allowed])
    assert graph._entry not in slots
    for links in (graph._links0, graph._links_up):  # nobody links to the allowed points
        links[np.isin(links, slots)] = -1
    walk = HNSWBinaryParams(ef=64, exact_filter_ratio=0)  # always the walk, never the plan
    ids, dists = index.search(x[:5], 5, walk, allow=allowed)
    for row in ids:
        assert sorted(row[:3].tolist()) == allowed.tolist() and (row[3:] == -1).all()
    flat = FlatIndex(24, "l2")
    flat.add(x, np.arange(400))
    np.testing.assert_allclose(dists, flat.search(x[:5], 5, allow=allowed)[1], rtol=1e-5)
    with pytest.raises(InvalidParameterError, match="exact_filter_ratio"):
        index.search(x[:1], 5, HNSWBinaryParams(exact_filter_ratio=-1), allow=allowed)
