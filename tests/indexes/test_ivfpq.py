"""IVF-PQ on real data (GloVe 6B 50-d): recall against exact search and exhaustive PQ,
re-ranking, ADC == distance to decoded vectors, filters, updates, save/load, bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from indexes import (
    DimensionMismatchError,
    FlatIndex,
    FlatParams,
    IndexFormatError,
    InvalidParameterError,
    InvalidVectorError,
    IVFPQIndex,
    IVFPQParams,
    NotTrainedError,
    UnknownIdError,
    UnsupportedOperationError,
)
from tests.helpers import recall
from tests.indexes.realdata import glove_sample

K = 10
NLIST = 64


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """50,000 GloVe vectors and 200 held-out GloVe queries."""
    return glove_sample(50_000, 200)


@pytest.fixture(scope="module")
def truth(data) -> np.ndarray:
    x, q = data
    flat = FlatIndex(x.shape[1], "cosine")
    flat.add(x, np.arange(x.shape[0]))
    return flat.search(q, K)[0]


@pytest.fixture(scope="module")
def index(data) -> IVFPQIndex:
    """Cosine IVF64,PQ10 (8-bit) keeping vectors for re-ranking."""
    x, _ = data
    idx = IVFPQIndex(50, "cosine", nlist=NLIST, m=10, keep_vectors=True, pq_iter=10, seed=0)
    idx.train(x)
    idx.add(x, np.arange(x.shape[0]))
    return idx


@pytest.fixture(scope="module")
def small(data) -> tuple[np.ndarray, np.ndarray]:
    x, q = data
    return np.ascontiguousarray(x[:4000]), np.ascontiguousarray(q[:30])


def build_small(x, metric="l2", **kw) -> IVFPQIndex:
    kw.setdefault("nlist", 16)
    kw.setdefault("m", 10)
    kw.setdefault("pq_iter", 8)
    idx = IVFPQIndex(x.shape[1], metric, **kw)
    idx.train(x)
    idx.add(x, np.arange(x.shape[0]) * 3 + 1)  # ids unlike slots
    return idx


# -- recall ---------------------------------------------------------------------------------


def test_recall_grows_with_nprobe_and_reaches_exhaustive_pq(index, data, truth):
    x, q = data
    recalls = []
    for nprobe in (1, 2, 4, 8, 16, 32, NLIST):
        ids, _ = index.search(q, K, IVFPQParams(nprobe=nprobe, rerank=False))
        recalls.append(recall(ids, truth))
    assert all(b >= a - 0.005 for a, b in itertools.pairwise(recalls)), recalls
    assert recalls[-1] > recalls[0] + 0.2, recalls
    # exhaustive PQ: every code scored in float64 numpy against the decoded vectors
    rec = index.reconstruct(np.arange(x.shape[0])).astype(np.float64)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    d = 0.5 * (
        (qn * qn).sum(1)[:, None] - 2 * qn @ rec.T + (rec * rec).sum(1)[None, :]
    )  # cosine indexes report |q - x_hat|^2 / 2
    exhaustive = np.argsort(d, axis=1, kind="stable")[:, :K]
    full, _ = index.search(q, K, IVFPQParams(nprobe=NLIST, rerank=False))
    assert abs(recalls[-1] - recall(exhaustive, truth)) <= 0.005
    assert (full == exhaustive).mean() > 0.98


def test_reranking_raises_recall_and_gives_exact_distances(index, data, truth):
    x, q = data
    plain, _ = index.search(q, K, IVFPQParams(nprobe=16, rerank=False))
    ids, dists = index.search(q, K, IVFPQParams(nprobe=16, k_factor=4))
    r_plain, r_rerank = recall(plain, truth), recall(ids, truth)
    assert r_rerank >= r_plain + 0.05, (r_plain, r_rerank)
    assert r_rerank >= 0.85
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    exact = 1.0 - np.einsum("ij,ikj->ik", qn, xn[ids])
    np.testing.assert_allclose(dists, exact, atol=2e-6)
    assert (np.diff(dists, axis=1) >= 0).all()


def test_batch_single_and_thread_counts_agree(index, data):
    _, q = data
    for p in (IVFPQParams(nprobe=8), IVFPQParams(nprobe=8, rerank=False)):
        batch = index.search(q[:43], K, p)  # chunks of queries prepared together
        one = [index.search(q[i], K, p) for i in range(43)]
        np.testing.assert_array_equal(batch[0], np.vstack([o[0] for o in one]))
        np.testing.assert_array_equal(batch[1], np.vstack([o[1] for o in one]))
        serial = index.search(q[:43], K, IVFPQParams(nprobe=8, rerank=p.rerank, n_threads=1))
        np.testing.assert_array_equal(batch[0], serial[0])
        np.testing.assert_array_equal(batch[1], serial[1])


def test_serial_kernel_is_its_own_function():
    """``njit(parallel=True)`` and ``njit()`` of one Python function share a Numba cache entry,
    so a serial twin made from the parallel kernel's function silently ran the parallel build
    (an OpenMP fork/join on every single-query search)."""
    from indexes._kernels.ivf_scan import search_batch, search_serial

    assert search_serial.py_func is not search_batch.py_func
    assert search_batch.targetoptions.get("parallel")
    assert not search_serial.targetoptions.get("parallel")


# -- distances --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "kw"),
    [
        ("l2", {}),
        ("l2", {"precompute_table": False}),
        ("l2", {"nbits": 4}),
        ("l2", {"opq": True, "opq_rounds": 4}),
        ("ip", {}),
        ("ip", {"nbits": 4}),
        ("cosine", {}),
    ],
)
def test_adc_equals_distance_to_decoded_vectors(small, metric, kw):
    x, q = small
    idx = build_small(x, metric, **kw)
    ids, dists = idx.search(q, K, IVFPQParams(nprobe=4, rerank=False))
    assert (ids >= 0).all()
    rec = idx.reconstruct(ids.reshape(-1)).reshape((*ids.shape, x.shape[1])).astype(np.float64)
    qq = q.astype(np.float64)
    if metric == "cosine":
        qq = qq / np.linalg.norm(qq, axis=1, keepdims=True)
    if metric == "ip":
        ref = -np.einsum("ij,ikj->ik", qq, rec)
    else:
        ref = ((qq[:, None, :] - rec) ** 2).sum(-1) * (0.5 if metric == "cosine" else 1.0)
    np.testing.assert_allclose(dists, ref, rtol=1e-4, atol=1e-4)
    assert (np.diff(dists, axis=1) >= 0).all()


def test_precomputed_table_gives_the_same_results(small):
    x, q = small
    a = build_small(x, "l2", seed=3)
    b = build_small(x, "l2", seed=3, precompute_table=False)
    pa = a.search(q, K, IVFPQParams(nprobe=6))
    pb = b.search(q, K, IVFPQParams(nprobe=6))
    assert (pa[0] == pb[0]).mean() > 0.98  # float rounding differs between the two forms
    np.testing.assert_allclose(pa[1], pb[1], rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_other_metrics_recall(small, metric):
    x, q = small
    idx = build_small(x, metric, keep_vectors=True)
    flat = FlatIndex(x.shape[1], metric)
    flat.add(x, np.arange(x.shape[0]) * 3 + 1)
    truth = flat.search(q, K, FlatParams())[0]
    ids, _ = idx.search(q, K, IVFPQParams(nprobe=16, k_factor=8))
    assert recall(ids, truth) >= 0.9


# -- filters ----------------------------------------------------------------------------------


def test_allow_list_and_mask(index, data):
    x, q = data
    rng = np.random.default_rng(7)
    allowed = np.sort(rng.choice(x.shape[0], 15_000, replace=False))
    ids, _ = index.search(q[:50], K, IVFPQParams(nprobe=8), allow=allowed)
    assert np.isin(ids, allowed).all()
    mask = index.allow_mask(allowed)
    ids2, d2 = index.search(q[:50], K, IVFPQParams(nprobe=8), allow=mask)
    np.testing.assert_array_equal(ids, ids2)
    assert np.isfinite(d2).all()
    # a very selective filter: the probed lists hold few allowed points, yet k come back
    few = np.sort(rng.choice(x.shape[0], 40, replace=False))
    ids3, d3 = index.search(q[:50], K, IVFPQParams(nprobe=2), allow=few)
    assert np.isin(ids3, few).all() and (ids3 >= 0).all()
    assert np.isfinite(d3).all()
    # fewer allowed points than k: padded
    ids4, d4 = index.search(q[:3], K, allow=np.array([5, 9]))
    assert set(ids4[0, :2]) == {5, 9} and (ids4[:, 2:] == -1).all() and np.isinf(d4[:, 2:]).all()
    assert index.count_allowed(few) == 40


# -- updates ----------------------------------------------------------------------------------


def test_remove_readd_and_upsert(small):
    x, q = small
    idx = build_small(x, "l2", keep_vectors=True)
    ids_all = np.arange(x.shape[0]) * 3 + 1
    before, _ = idx.search(q, K, IVFPQParams(nprobe=16))
    gone = np.unique(before[:, :3])
    idx.remove(gone)
    assert idx.ntotal == x.shape[0] - gone.size
    after, _ = idx.search(q, K, IVFPQParams(nprobe=16))
    assert not np.isin(after, gone).any()
    with pytest.raises(UnknownIdError):
        idx.remove(np.array([gone[0], int(ids_all[5])]))  # first already gone
    assert idx.ntotal == x.shape[0] - gone.size  # nothing removed by the failed call
    rows = (gone - 1) // 3
    idx.add(x[rows], gone)  # slots are reused
    assert idx.ntotal == x.shape[0] and idx.n_slots == x.shape[0]
    again, _ = idx.search(q, K, IVFPQParams(nprobe=16))
    np.testing.assert_array_equal(again, before)
    # upsert: id 1 now holds the vector of row 100
    idx.add(x[100], np.array([1]))
    assert idx.ntotal == x.shape[0]
    got, dist = idx.search(x[100], 2, IVFPQParams(nprobe=16))
    assert set(got[0]) == {1, 301} and dist[0, 0] == pytest.approx(0.0, abs=1e-4)


def test_incremental_adds_match_bulk_build(small):
    x, q = small
    bulk = build_small(x, "l2", seed=1)
    inc = IVFPQIndex(x.shape[1], "l2", nlist=16, m=10, pq_iter=8, seed=1)
    inc.train(x)
    ids = np.arange(x.shape[0]) * 3 + 1
    for s in range(0, x.shape[0], 333):  # many small adds: lists move and grow
        inc.add(x[s : s + 333], ids[s : s + 333])
    a = bulk.search(q, K, IVFPQParams(nprobe=5))
    b = inc.search(q, K, IVFPQParams(nprobe=5))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(bulk.list_sizes(), inc.list_sizes())


# -- persistence ------------------------------------------------------------------------------


@pytest.mark.parametrize("mmap", [True, False])
def test_save_load_identity(small, tmp_path, mmap):
    x, q = small
    idx = build_small(x, "cosine", keep_vectors=True, nbits=4)
    idx.remove(np.array([1, 4, 7]))
    idx.save(tmp_path / "ix")
    back = IVFPQIndex.load(tmp_path / "ix", mmap=mmap)
    assert back.ntotal == idx.ntotal and back.n_slots == idx.n_slots
    for p in (IVFPQParams(nprobe=3, rerank=False), IVFPQParams(nprobe=7, k_factor=3)):
        a, b = idx.search(q, K, p), back.search(q, K, p)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    # writes after a memory-mapped load go to memory, never to the saved files
    back.add(x[:5], np.array([1, 4, 7, 10**9, 10**9 + 1]))
    back.remove(np.array([10]))
    again = IVFPQIndex.load(tmp_path / "ix", mmap=True)
    np.testing.assert_array_equal(again.search(q, K)[0], idx.search(q, K)[0])
    assert back.ntotal == idx.ntotal + 4


def test_load_rejects_other_kinds(tmp_path, rng):
    flat = FlatIndex(4)
    flat.add(rng.standard_normal((3, 4)), np.arange(3))
    flat.save(tmp_path / "flat")
    with pytest.raises(IndexFormatError):
        IVFPQIndex.load(tmp_path / "flat")


# -- edge cases and bad input -----------------------------------------------------------------


def test_empty_trained_index_pads(small):
    x, q = small
    idx = IVFPQIndex(50, "l2", nlist=16, m=10, pq_iter=2)
    idx.train(x)
    ids, d = idx.search(q[:2], 3)
    assert (ids == -1).all() and np.isinf(d).all()
    idx.add(x[:2], np.array([5, 6]))
    ids, _ = idx.search(q[:2], 3, IVFPQParams(nprobe=1))
    assert set(ids[0, :2]) == {5, 6} and ids[0, 2] == -1


def test_memory_accounting(index):
    assert index.bytes_per_vector() == 10 + 4 + 8 + 4 * 50
    assert index.memory_bytes() >= index.ntotal * index.bytes_per_vector()


def test_bad_input(small):
    x, q = small
    fresh = IVFPQIndex(50, "l2", nlist=16, m=10)
    with pytest.raises(NotTrainedError):
        fresh.search(q, K)
    with pytest.raises(NotTrainedError):
        fresh.add(x[:3], np.arange(3))
    with pytest.raises(InvalidParameterError):
        fresh.train(x[:10])  # fewer rows than nlist / codewords
    for kwargs in (
        {"m": 7},
        {"nbits": 5},
        {"nlist": 0},
        {"precompute_table": "yes"},
        {"coarse_init": "best"},
    ):
        with pytest.raises(InvalidParameterError):
            IVFPQIndex(50, "l2", **{"nlist": 16, "m": 10, **kwargs})
    idx = build_small(x, "cosine")
    with pytest.raises(DimensionMismatchError):
        idx.search(q[:, :20], K)
    with pytest.raises(DimensionMismatchError):
        idx.add(x[:2, :20], np.arange(2))
    bad = q[:4].copy()
    bad[2, 3] = np.nan
    with pytest.raises(InvalidVectorError, match="row 2"):
        idx.search(bad, K)
    with pytest.raises(InvalidVectorError):
        idx.search(bad.astype(np.float64), K)
    with pytest.raises(InvalidVectorError):
        idx.search(np.zeros(50, dtype=np.float32), K)  # zero norm under cosine
    with pytest.raises(InvalidVectorError):
        idx.add(bad, np.arange(4) + 10**6)
    for k in (0, -1, 2.5):
        with pytest.raises(InvalidParameterError):
            idx.search(q, k)
    with pytest.raises(UnknownIdError):
        idx.remove(np.array([2]))  # ids are 1, 4, 7, ...
    for p in ({"nprobe": 0}, {"k_factor": 0}, {"nprobe": 2.5}, {"rerank": "yes"}):
        with pytest.raises(InvalidParameterError):
            IVFPQParams(**p)
    with pytest.raises(InvalidParameterError):
        idx.search(q, K, FlatParams())
    with pytest.raises(UnsupportedOperationError):
        idx.search(q, K, IVFPQParams(rerank=True))  # no vectors kept
    with pytest.raises(UnsupportedOperationError):
        idx.train(x)  # holds vectors
    with pytest.raises(InvalidParameterError):
        idx.search(q, K, allow=np.ones(3, dtype=bool))
