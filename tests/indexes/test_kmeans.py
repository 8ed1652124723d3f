"""k-means: quality against faiss on real data, determinism, sampling, empty-cluster repair,
balanced clusters under a size bound, bad input."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from indexes import InvalidParameterError, InvalidVectorError, KMeans
from indexes.kmeans import assign, assign_balanced


def brute_assign(x: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = ((x[:, None, :].astype(np.float64) - c[None, :, :]) ** 2).sum(-1)
    return d.argmin(1), d.min(1)


@pytest.fixture(scope="module")
def docs(vaswani_embeddings) -> np.ndarray:
    """Vaswani MiniLM document embeddings (11,429 x 384), real data."""
    return vaswani_embeddings[0]


def test_assign_matches_bruteforce(rng):
    for d in (3, 50, 200):  # direct kernel and BLAS path
        x = rng.standard_normal((700, d)).astype(np.float32)
        c = rng.standard_normal((37, d)).astype(np.float32)
        labels, dists = assign(x, c)
        ref_l, ref_d = brute_assign(x, c)
        # labels agree except for float32 near-ties, where the distances still agree
        chosen = ((x.astype(np.float64) - c[labels]) ** 2).sum(1)
        np.testing.assert_allclose(chosen, ref_d, rtol=1e-4, atol=1e-4)
        assert (labels == ref_l).mean() > 0.99
        np.testing.assert_allclose(dists, ref_d, rtol=1e-3, atol=1e-3)


def test_inertia_close_to_faiss_on_real_data(docs):
    k, n_iter = 64, 20
    ours = KMeans(k, n_iter=n_iter, seed=1).fit(docs)
    _, our_d = assign(docs, ours.centroids)
    km = faiss.Kmeans(docs.shape[1], k, niter=n_iter, seed=1)
    km.train(docs)
    ref_d, _ = km.index.search(docs, 1)
    ratio = float(our_d.sum(dtype=np.float64) / ref_d.sum(dtype=np.float64))
    assert ratio < 1.02, f"inertia {ratio:.4f} x faiss's"
    # k-means improved on its seeds by a clear margin
    seeds = KMeans(k, n_iter=0, seed=1).fit(docs)
    assert ours.inertia < 0.95 * seeds.inertia


def test_seeded_runs_are_deterministic(docs):
    a = KMeans(32, n_iter=5, seed=3).fit(docs[:3000])
    b = KMeans(32, n_iter=5, seed=3).fit(docs[:3000])
    c = KMeans(32, n_iter=5, seed=4).fit(docs[:3000])
    np.testing.assert_array_equal(a.centroids, b.centroids)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.centroids, c.centroids)


def test_thread_count_does_not_change_result(docs):
    a = KMeans(16, n_iter=4, seed=2, n_threads=1).fit(docs[:2000])
    b = KMeans(16, n_iter=4, seed=2, n_threads=2).fit(docs[:2000])
    np.testing.assert_array_equal(a.centroids, b.centroids)


def test_training_sample_is_capped(docs):
    res = KMeans(10, n_iter=2, max_points_per_centroid=20, seed=0).fit(docs)
    assert res.sample is not None and res.sample.shape == (200,)
    assert np.unique(res.sample).size == 200 and res.labels.shape == (200,)
    full = KMeans(10, n_iter=2, max_points_per_centroid=0, seed=0).fit(docs[:500])
    assert full.sample is None and full.labels.shape == (500,)


def test_empty_clusters_are_repaired(rng):
    x = rng.standard_normal((400, 8)).astype(np.float32)
    init = np.concatenate([x[:4], np.full((4, 8), 1e3, dtype=np.float32)])  # 4 never chosen
    res = KMeans(8, n_iter=5, seed=0).fit(x, initial=init)
    assert res.n_repaired >= 4
    assert (res.sizes > 0).all()
    assert np.abs(res.centroids).max() < 100


def test_duplicates_fewer_than_k_distinct(rng):
    x = np.repeat(rng.standard_normal((3, 4)).astype(np.float32), 50, axis=0)
    res = KMeans(5, n_iter=3, seed=0).fit(x)
    assert np.isfinite(res.centroids).all()
    spread = float(((x - x.mean(0)) ** 2).sum())
    assert res.inertia < 1e-3 * spread  # only the split perturbation of repaired clusters


def test_balanced_respects_size_bound(docs):
    x = docs[:3000]
    k, bound = 30, 110  # average 100 per cluster
    plain = KMeans(k, n_iter=10, seed=0).fit(x)
    assert plain.sizes.max() > bound  # the bound is not met for free on this data
    bal = KMeans(k, n_iter=10, seed=0, balanced=True, max_cluster_size=bound).fit(x)
    assert bal.sizes.max() <= bound and bal.sizes.sum() == 3000
    np.testing.assert_array_equal(np.bincount(bal.labels, minlength=k), bal.sizes)
    assert bal.inertia < 1.15 * plain.inertia
    # placing the data with the balanced assignment respects the bound too
    labels = assign_balanced(x, bal.centroids, bound)
    assert np.bincount(labels, minlength=k).max() <= bound
    # the default bound: ceil(balance_factor * n / k)
    auto = KMeans(k, n_iter=5, seed=0, balanced=True, balance_factor=1.05).fit(x)
    assert auto.sizes.max() <= int(np.ceil(1.05 * 3000 / k))


def test_balanced_tight_bound_is_feasible(rng):
    x = rng.standard_normal((100, 4)).astype(np.float32)
    res = KMeans(10, n_iter=3, seed=0, balanced=True, max_cluster_size=10).fit(x)
    np.testing.assert_array_equal(res.sizes, np.full(10, 10))


def test_bad_input(rng):
    x = rng.standard_normal((50, 4)).astype(np.float32)
    with pytest.raises(InvalidParameterError):
        KMeans(51).fit(x)
    with pytest.raises(InvalidParameterError):
        KMeans(0)
    with pytest.raises(InvalidParameterError):
        KMeans(4, init="best")
    with pytest.raises(InvalidParameterError):
        KMeans(4, balanced=True, max_cluster_size=10).fit(x)  # 4 * 10 < 50
    with pytest.raises(InvalidParameterError):
        KMeans(4, balance_factor=0.5)
    with pytest.raises(InvalidParameterError):
        KMeans(4).fit(x[0])
    with pytest.raises(InvalidParameterError):
        KMeans(4).fit(x, initial=np.zeros((3, 4), dtype=np.float32))
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(InvalidVectorError):
        KMeans(4).fit(bad)
    with pytest.raises(InvalidParameterError):
        assign_balanced(x, x[:4], 5)
