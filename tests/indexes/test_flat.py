"""FlatIndex is the ground truth of every other test: check it against float64 numpy."""

from __future__ import annotations

import numpy as np
import pytest

from indexes import (
    DimensionMismatchError,
    FlatIndex,
    FlatParams,
    IndexFormatError,
    InvalidParameterError,
    InvalidVectorError,
    UnknownIdError,
    UnknownMetricError,
)
from indexes.base import Index

METRICS = ["l2", "ip", "cosine"]


def brute_force(base: np.ndarray, queries: np.ndarray, metric: str) -> np.ndarray:
    """Full float64 distance matrix (queries x base) under the index's conventions."""
    x = base.astype(np.float64)
    q = queries.astype(np.float64)
    if metric == "cosine":
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        return 1.0 - q @ x.T
    if metric == "ip":
        return -(q @ x.T)
    return (q * q).sum(1)[:, None] - 2 * q @ x.T + (x * x).sum(1)[None, :]


def reference_topk(dist: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k by (distance, id) from a full distance matrix; -1 / inf padded."""
    nq = dist.shape[0]
    out_i = np.full((nq, k), -1, dtype=np.int64)
    out_d = np.full((nq, k), np.inf)
    for r in range(nq):
        order = np.lexsort((ids, dist[r]))[:k]
        out_i[r, : len(order)] = ids[order]
        out_d[r, : len(order)] = dist[r, order]
    return out_i, out_d


def assert_exact(index_ids, index_d, dist, ids, k, *, tol=1e-4):
    """Results are an exact top-k: distances equal the optimal ones, and each id's true
    distance is the one reported (so only true near-ties can differ in identity)."""
    ref_i, ref_d = reference_topk(dist, ids, k)
    np.testing.assert_allclose(index_d, ref_d, rtol=tol, atol=tol)
    pos = {int(v): j for j, v in enumerate(ids)}
    true_d = np.array([[dist[r, pos[int(v)]] for v in row] for r, row in enumerate(index_ids)])
    np.testing.assert_allclose(index_d, true_d, rtol=tol, atol=tol)
    assert (index_ids == ref_i).mean() > 0.99


@pytest.mark.parametrize("metric", METRICS)
def test_matches_float64_bruteforce_random(rng, metric, monkeypatch):
    base = rng.standard_normal((3000, 24)).astype(np.float32)
    queries = rng.standard_normal((70, 24)).astype(np.float32)
    ids = rng.permutation(10_000)[:3000].astype(np.int64)
    # Small blocks so that queries and rows both span several blocks.
    monkeypatch.setattr(FlatIndex, "BLOCK_ENTRIES", 20 * 1024)
    index = FlatIndex(24, metric)
    assert isinstance(index, Index)
    index.add(base, ids)
    got_i, got_d = index.search(queries, 15)
    assert got_i.dtype == np.int64 and got_d.dtype == np.float32
    assert got_i.shape == got_d.shape == (70, 15)
    assert (np.diff(got_d, axis=1) >= 0).all()
    assert_exact(got_i, got_d, brute_force(base, queries, metric), ids, 15)


@pytest.mark.parametrize("metric", METRICS)
def test_matches_float64_bruteforce_vaswani(vaswani_embeddings, metric):
    docs, queries = vaswani_embeddings
    ids = np.arange(docs.shape[0], dtype=np.int64)
    index = FlatIndex(docs.shape[1], metric)
    index.add(docs, ids)
    got_i, got_d = index.search(queries, 100)
    assert_exact(got_i, got_d, brute_force(docs, queries, metric), ids, 100)


def test_single_vector_query_and_thread_param(rng):
    base = rng.standard_normal((500, 8)).astype(np.float32)
    index = FlatIndex(8, "l2")
    index.add(base, np.arange(500))
    i1, d1 = index.search(base[3], 1, params=FlatParams(n_threads=1))
    assert i1.shape == (1, 1) and i1[0, 0] == 3 and d1[0, 0] == 0.0


@pytest.mark.parametrize("metric", METRICS)
def test_allow_mask_and_id_list(rng, metric):
    base = rng.standard_normal((2000, 16)).astype(np.float32)
    queries = rng.standard_normal((20, 16)).astype(np.float32)
    ids = np.arange(2000, dtype=np.int64) * 7 + 1
    index = FlatIndex(16, metric)
    index.add(base, ids)
    dist = brute_force(base, queries, metric)
    for frac in (0.5, 0.05, 0.004):
        mask = rng.random(2000) < frac
        allowed = ids[mask]
        by_mask = index.search(queries, 10, allow=mask)
        by_ids = index.search(queries, 10, allow=allowed)
        np.testing.assert_array_equal(by_mask[0], by_ids[0])
        # one thread scores with the serial kernel instead of BLAS: same answer
        one = index.search(queries, 10, FlatParams(n_threads=1), allow=mask)
        np.testing.assert_array_equal(one[0], by_mask[0])
        np.testing.assert_array_equal(one[1], by_mask[1])
        _, ref_d = reference_topk(dist[:, mask], allowed, 10)
        np.testing.assert_allclose(by_mask[1], ref_d, rtol=1e-4, atol=1e-4)
        hits = by_mask[0][by_mask[0] >= 0]
        assert np.isin(hits, allowed).all()
        # k hits whenever k allowed points exist, padding otherwise
        assert ((by_mask[0] >= 0).sum(axis=1) == min(10, mask.sum())).all()
        assert index.count_allowed(mask) == int(mask.sum())
    # ids in an allow list that are not in the index are ignored
    got, _ = index.search(queries[:2], 3, allow=np.array([ids[5], 999_999_999]))
    assert (got[:, 0] == ids[5]).all() and (got[:, 1:] == -1).all()
    with pytest.raises(InvalidParameterError, match="n_slots"):
        index.search(queries, 3, allow=np.ones(5, dtype=bool))


def test_id_mask_allow(rng):
    """A mask indexed by id becomes the slot mask of the same points (ids past its end and
    free slots are not admitted), in one pass; ids are dense but not in slot order here."""
    index = FlatIndex(4, "l2")
    ids = rng.permutation(300).astype(np.int64)
    index.add(rng.standard_normal((300, 4)).astype(np.float32), ids)
    index.remove(ids[:40])  # compaction moves rows: slots no longer follow insertion order
    for n in (300, 120, 0):
        id_mask = rng.random(n) < 0.3
        allow, count = index.id_mask_allow(id_mask)
        sid = index.slot_ids()
        want = np.array([0 <= i < n and bool(id_mask[i]) for i in sid.tolist()], dtype=bool)
        np.testing.assert_array_equal(allow, want)
        assert count == int(want.sum())
        by_ids = index.search(np.zeros((1, 4), np.float32), 5, allow=np.flatnonzero(id_mask))
        np.testing.assert_array_equal(
            index.search(np.zeros((1, 4), np.float32), 5, allow=allow)[0], by_ids[0]
        )
    with pytest.raises(InvalidParameterError, match="boolean"):
        index.id_mask_allow(np.arange(3))


def test_mask_kernels_match_numpy(rng):
    from indexes._kernels import hnsw_search as ks
    from indexes._kernels.masks import id_mask_to_slots, sparse_mask_slots

    for n in (0, 7, 8, 1001):
        for frac in (0.0, 0.001, 0.05, 0.6, 1.0):
            mask = rng.random(n) < frac
            want = np.flatnonzero(mask)
            np.testing.assert_array_equal(sparse_mask_slots(mask, want.size), want)
            np.testing.assert_array_equal(ks.mask_slots(mask, want.size), want)
            sid = rng.integers(-1, n + 5, size=n).astype(np.int64)
            got, count = id_mask_to_slots(sid, mask)
            ok = (sid >= 0) & (sid < n)
            expect = np.zeros(n, dtype=bool)
            expect[ok] = mask[sid[ok]]
            np.testing.assert_array_equal(got, expect)
            assert count == int(expect.sum())


def test_k_larger_than_collection_pads(rng):
    index = FlatIndex(4, "l2")
    index.add(rng.standard_normal((3, 4)), [10, 11, 12])
    got_i, got_d = index.search(rng.standard_normal((2, 4)), 5)
    assert (got_i[:, :3] >= 10).all() and (got_i[:, 3:] == -1).all()
    assert np.isfinite(got_d[:, :3]).all() and np.isinf(got_d[:, 3:]).all()
    empty = FlatIndex(4, "ip")
    got_i, got_d = empty.search(np.ones((2, 4)), 3)
    assert (got_i == -1).all() and np.isinf(got_d).all()


@pytest.mark.parametrize("metric", METRICS)
def test_ties_broken_by_ascending_id(metric):
    # 40 copies of the same vector under shuffled ids, plus a few distinct points.
    vec = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
    base = np.vstack([np.tile(vec, (40, 1)), np.eye(4, dtype=np.float32) * 50])
    ids = np.concatenate([np.random.default_rng(1).permutation(np.arange(100, 140)), [1, 2, 3, 4]])
    index = FlatIndex(4, metric)
    index.add(base, ids)
    got_i, got_d = index.search(vec, 30)
    if metric == "ip":  # the far axis points have a larger inner product: they come first
        assert set(got_i[0, :4]) == {1, 2, 3, 4}
        np.testing.assert_array_equal(got_i[0, 4:], np.arange(100, 126))
    else:
        np.testing.assert_array_equal(got_i[0], np.arange(100, 130))
        assert np.unique(got_d[0]).size == 1


def test_bad_input_is_rejected_and_changes_nothing(rng):
    base = rng.standard_normal((50, 6)).astype(np.float32)
    index = FlatIndex(6, "cosine")
    index.add(base, np.arange(50))
    q = rng.standard_normal((3, 6)).astype(np.float32)
    before = index.search(q, 5)

    bad_rows = base[:4].copy()
    bad_rows[2, 1] = np.nan
    with pytest.raises(InvalidVectorError, match=r"NaN or infinity.*row 2"):
        index.add(bad_rows, [100, 101, 102, 103])
    bad_rows[2, 1] = np.inf
    with pytest.raises(InvalidVectorError):
        index.add(bad_rows, [100, 101, 102, 103])
    with pytest.raises(InvalidVectorError, match="beyond float32"):
        index.add(np.full((1, 6), 1e300), [100])
    with pytest.raises(InvalidVectorError, match="zero norm"):
        index.add(np.zeros((1, 6)), [100])
    with pytest.raises(DimensionMismatchError, match="dimension 5, index expects 6"):
        index.add(np.ones((2, 5)), [100, 101])
    with pytest.raises(DimensionMismatchError):
        index.add(np.ones((2, 6, 1)), [100, 101])
    with pytest.raises(InvalidParameterError, match="duplicates"):
        index.add(np.ones((2, 6)), [7, 7])
    with pytest.raises(InvalidParameterError, match="non-negative"):
        index.add(np.ones((1, 6)), [-3])
    with pytest.raises(InvalidParameterError, match="got 1 ids for 2 vectors"):
        index.add(np.ones((2, 6)), [1])
    with pytest.raises(InvalidParameterError, match="numeric"):
        index.add([["a"] * 6], [1])
    with pytest.raises(UnknownIdError, match="12345"):
        index.remove([1, 2, 12345])
    for k in (0, -1, 2.5, True):
        with pytest.raises(InvalidParameterError, match="k must be"):
            index.search(q, k)
    with pytest.raises(InvalidVectorError):
        index.search(np.full((1, 6), np.nan), 3)
    with pytest.raises(DimensionMismatchError):
        index.search(np.ones((1, 7)), 3)
    with pytest.raises(InvalidParameterError, match="expected FlatParams"):
        index.search(q, 3, params=object())
    with pytest.raises(UnknownMetricError, match="'manhattan'"):
        FlatIndex(6, "manhattan")
    with pytest.raises(InvalidParameterError, match="dim"):
        FlatIndex(0, "l2")

    assert index.ntotal == 50
    after = index.search(q, 5)
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])


def test_upsert_replaces_and_remove_forgets(rng):
    base = rng.standard_normal((100, 8)).astype(np.float32)
    index = FlatIndex(8, "l2")
    index.add(base, np.arange(100))
    target = rng.standard_normal(8).astype(np.float32)
    index.add(np.vstack([target, base[0]]), [42, 1000])  # 42 replaced, 1000 new
    assert index.ntotal == 101
    got, dist = index.search(target, 1)
    assert got[0, 0] == 42 and dist[0, 0] == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_array_equal(index.get_vectors([42, 1000]), np.vstack([target, base[0]]))
    index.remove([42, 0])
    assert index.ntotal == 99
    got, _ = index.search(np.vstack([target, base[0]]), 99)
    assert not np.isin(got, [42, 0]).any()
    assert got[1, 0] == 1000
    with pytest.raises(UnknownIdError):
        index.get_vectors([42])


@pytest.mark.parametrize("metric", METRICS)
def test_save_load_roundtrip_memory_mapped(tmp_path, rng, metric):
    base = rng.standard_normal((1500, 12)).astype(np.float32)
    queries = rng.standard_normal((30, 12)).astype(np.float32)
    index = FlatIndex(12, metric)
    index.add(base, np.arange(1500) + 5)
    index.remove([5, 6, 7])
    expected = index.search(queries, 20)
    index.save(tmp_path / "flat")

    loaded = FlatIndex.load(tmp_path / "flat")
    assert isinstance(loaded._rows["vectors"], np.memmap)
    assert (loaded.dim, loaded.metric, loaded.ntotal) == (12, metric, 1497)
    got = loaded.search(queries, 20)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])

    # Mutating a mapped index copies it into memory; the saved files stay as they were.
    loaded.add(queries[:2], [1, 2])
    loaded.remove([8])
    again = FlatIndex.load(tmp_path / "flat", mmap=False)
    assert again.ntotal == 1497
    np.testing.assert_array_equal(again.search(queries, 20)[0], expected[0])

    # Saving over an existing index replaces it atomically.
    loaded.save(tmp_path / "flat")
    assert FlatIndex.load(tmp_path / "flat").ntotal == 1498


def test_load_rejects_foreign_or_broken_dirs(tmp_path):
    with pytest.raises(IndexFormatError, match=r"manifest\.json missing"):
        FlatIndex.load(tmp_path)
    index = FlatIndex(3, "l2")
    index.add(np.eye(3), [1, 2, 3])
    index.save(tmp_path / "ix")
    manifest = (tmp_path / "ix" / "manifest.json").read_text()
    (tmp_path / "ix" / "manifest.json").write_text(
        manifest.replace('"version": 1', '"version": 99')
    )
    with pytest.raises(IndexFormatError, match="version 99"):
        FlatIndex.load(tmp_path / "ix")
    (tmp_path / "ix" / "manifest.json").write_text(manifest.replace('"flat"', '"hnsw"'))
    with pytest.raises(IndexFormatError, match="'hnsw' index"):
        FlatIndex.load(tmp_path / "ix")
    (tmp_path / "ix" / "manifest.json").write_text(manifest)
    (tmp_path / "ix" / "ids.npy").unlink()
    with pytest.raises(IndexFormatError, match=r"ids\.npy is missing"):
        FlatIndex.load(tmp_path / "ix")
