"""k-means for coarse quantizers and PQ codebooks (squared L2), optionally size-balanced.

* Training data is subsampled to ``max_points_per_centroid * k`` rows (faiss's default cap is
  256 per centroid): more rows change centroids little and cost linear time.
* Initialisation: k-means++ (D^2 sampling) on a subsample of ``init_points_per_centroid * k``
  rows, or ``"random"`` distinct rows.
* Empty clusters are repaired after every update by splitting a large cluster (chosen with
  probability proportional to its size): its centroid is copied and both copies are pushed
  apart by a relative ``1/1024`` perturbation, as faiss does.
* ``balanced=True`` finishes with rounds of capacity-constrained assignment
  (:func:`assign_balanced`) so that no training cluster exceeds ``max_cluster_size``; a
  posting-list index calls :func:`assign_balanced` itself to place its vectors.

Seeded runs are deterministic and independent of the thread count (see the kernels' notes).
Assignment uses a direct Numba loop for small dimensions and a BLAS product (numpy) followed by
a Numba argmin otherwise; BLAS's own threading is left to numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from indexes._kernels.kmeans import (
    argmin_scores,
    assign_direct,
    balanced_greedy,
    kmeanspp_seeds,
    repair_empty,
    topc_scores,
    update_centroids,
)
from indexes._threads import numba_threads
from indexes.base import as_vectors
from indexes.errors import InvalidParameterError

#: Dimension up to which the direct assignment loop is used instead of BLAS + argmin.
DIRECT_MAX_DIM = 128
#: Entries (rows x centroids) of one BLAS score block.
BLOCK_ENTRIES = 1 << 21
#: Relative perturbation used to split a cluster when repairing an empty one.
SPLIT_EPS = 1.0 / 1024.0


@dataclass(frozen=True, slots=True)
class KMeansResult:
    """Outcome of :meth:`KMeans.fit`.

    ``labels`` assign the rows that were used for training (``sample`` holds their row
    numbers in the input, or is ``None`` when every row was used) to ``centroids`` as they
    stand after the last update; ``inertia`` is the sum of those rows' squared distances.
    """

    centroids: np.ndarray
    labels: np.ndarray
    sizes: np.ndarray
    inertia: float
    sample: np.ndarray | None
    n_iter: int
    n_repaired: int


def _check_positive(name: str, value: Any, *, allow_zero: bool = False) -> int:
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if not ok or int(value) < (0 if allow_zero else 1):
        kind = "non-negative" if allow_zero else "positive"
        raise InvalidParameterError(f"{name} must be a {kind} integer, got {value!r}")
    return int(value)


def _as_data(x: Any, what: str = "training vectors") -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise InvalidParameterError(f"{what} must be a non-empty 2-d array, got {arr.shape}")
    return as_vectors(arr, arr.shape[1], what=what)


def _centroid_arrays(centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = np.ascontiguousarray(centroids, dtype=np.float32)
    cnorms = np.einsum("ij,ij->i", c, c).astype(np.float32)
    return c, cnorms


def assign(
    x: np.ndarray, centroids: np.ndarray, *, n_threads: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid of every row: ``(labels int64 (n,), squared distances float32 (n,))``.

    ``x`` must already be float32 C-contiguous and finite (callers validate once).
    """
    c, cnorms = _centroid_arrays(centroids)
    n, d = x.shape
    labels = np.empty(n, dtype=np.int64)
    dists = np.empty(n, dtype=np.float32)
    with numba_threads(n_threads):
        if d <= DIRECT_MAX_DIM:
            assign_direct(x, c, labels, dists)
        else:
            rows = max(1, BLOCK_ENTRIES // c.shape[0])
            for s in range(0, n, rows):
                blk = x[s : s + rows]
                xn = np.einsum("ij,ij->i", blk, blk).astype(np.float32)
                argmin_scores(blk @ c.T, cnorms, xn, labels, dists, s)
    return labels, dists


def assign_topc(
    x: np.ndarray, centroids: np.ndarray, c: int, *, n_threads: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``c`` nearest centroids of every row, ascending: ``(ids (n, c), sq. dists (n, c))``."""
    cen, cnorms = _centroid_arrays(centroids)
    c = min(c, cen.shape[0])
    n = x.shape[0]
    cand = np.empty((n, c), dtype=np.int64)
    cand_d = np.empty((n, c), dtype=np.float32)
    rows = max(1, BLOCK_ENTRIES // cen.shape[0])
    with numba_threads(n_threads):
        for s in range(0, n, rows):
            blk = x[s : s + rows]
            xn = np.einsum("ij,ij->i", blk, blk).astype(np.float32)
            topc_scores(blk @ cen.T, cnorms, xn, cand, cand_d, s)
    return cand, cand_d


def assign_balanced(
    x: Any,
    centroids: np.ndarray,
    max_size: int,
    *,
    n_candidates: int = 8,
    n_threads: int | None = None,
) -> np.ndarray:
    """Labels such that no centroid receives more than ``max_size`` rows of ``x``.

    Greedy by ascending distance over each row's ``n_candidates`` nearest centroids, then the
    nearest centroid with room for the rest. Raises :class:`InvalidParameterError` if
    ``max_size * k < n`` (no assignment can respect the bound).
    """
    xs = _as_data(x, "vectors")
    cen, cnorms = _centroid_arrays(centroids)
    max_size = _check_positive("max_size", max_size)
    n_candidates = _check_positive("n_candidates", n_candidates)
    if cen.ndim != 2 or cen.shape[1] != xs.shape[1]:
        raise InvalidParameterError("centroids must be (k, d) with the data's dimension")
    if max_size * cen.shape[0] < xs.shape[0]:
        raise InvalidParameterError(
            f"max_size={max_size} x k={cen.shape[0]} < {xs.shape[0]} rows: bound cannot hold"
        )
    cand, cand_d = assign_topc(xs, cen, n_candidates, n_threads=n_threads)
    labels, _sizes = balanced_greedy(xs, cen, cnorms, cand, cand_d, max_size)
    return labels


class KMeans:
    """Seeded k-means (squared L2) with optional size balancing; see the module docstring.

    ``max_cluster_size`` (with ``balanced=True``) bounds the training clusters; by default it
    is ``ceil(balance_factor * n_train / k)``.
    """

    def __init__(
        self,
        k: int,
        *,
        n_iter: int = 25,
        seed: int = 0,
        init: Literal["kmeans++", "random"] = "kmeans++",
        max_points_per_centroid: int = 256,
        init_points_per_centroid: int = 16,
        balanced: bool = False,
        max_cluster_size: int | None = None,
        balance_factor: float = 1.2,
        balance_iter: int = 4,
        n_threads: int | None = None,
    ) -> None:
        self.k = _check_positive("k", k)
        self.n_iter = _check_positive("n_iter", n_iter, allow_zero=True)
        self.seed = int(seed)
        if init not in ("kmeans++", "random"):
            raise InvalidParameterError(f"init must be 'kmeans++' or 'random', got {init!r}")
        self.init = init
        self.max_points_per_centroid = _check_positive(
            "max_points_per_centroid", max_points_per_centroid, allow_zero=True
        )
        self.init_points_per_centroid = _check_positive(
            "init_points_per_centroid", init_points_per_centroid
        )
        self.balanced = bool(balanced)
        self.max_cluster_size = (
            None
            if max_cluster_size is None
            else _check_positive("max_cluster_size", max_cluster_size)
        )
        if not (isinstance(balance_factor, int | float) and balance_factor >= 1.0):
            raise InvalidParameterError(f"balance_factor must be >= 1, got {balance_factor!r}")
        self.balance_factor = float(balance_factor)
        self.balance_iter = _check_positive("balance_iter", balance_iter)
        self.n_threads = n_threads

    def fit(self, x: Any, initial: np.ndarray | None = None) -> KMeansResult:
        """Cluster the rows of ``x`` (validated: 2-d, finite) into ``k`` centroids.

        ``initial`` (k, d) replaces the seeding (a warm start, e.g. between OPQ rounds).
        """
        data = _as_data(x)
        n = data.shape[0]
        k = self.k
        if k > n:
            raise InvalidParameterError(f"k={k} clusters need at least {k} rows, got {n}")
        rng = np.random.default_rng(self.seed)
        sample = None
        cap = self.max_points_per_centroid * k
        if cap and n > cap:
            sample = np.sort(rng.choice(n, size=cap, replace=False))
            data = np.ascontiguousarray(data[sample])
            n = cap
        bound = self._size_bound(n)
        with numba_threads(self.n_threads):
            if initial is None:
                centroids = self._init_centroids(data, rng)
            else:
                centroids = np.array(initial, dtype=np.float32, order="C")
                if centroids.shape != (k, data.shape[1]):
                    raise InvalidParameterError(
                        f"initial centroids must have shape {(k, data.shape[1])}, "
                        f"got {centroids.shape}"
                    )
            n_repaired = 0
            labels = np.zeros(n, dtype=np.int64)
            dists = np.zeros(n, dtype=np.float32)
            for _ in range(self.n_iter):
                labels, dists = assign(data, centroids)
                sizes = update_centroids(data, labels, centroids)
                n_repaired += repair_empty(centroids, sizes, rng.random(k), SPLIT_EPS)
            if bound is not None:
                for _ in range(self.balance_iter):
                    labels = assign_balanced(data, centroids, bound)
                    sizes = update_centroids(data, labels, centroids)
                    n_repaired += repair_empty(centroids, sizes, rng.random(k), SPLIT_EPS)
                labels = assign_balanced(data, centroids, bound)
                diff = data - centroids[labels]
                dists = np.einsum("ij,ij->i", diff, diff)
            else:
                labels, dists = assign(data, centroids)
        sizes = np.bincount(labels, minlength=k).astype(np.int64)
        return KMeansResult(
            centroids=centroids,
            labels=labels,
            sizes=sizes,
            inertia=float(np.sum(dists, dtype=np.float64)),
            sample=sample,
            n_iter=self.n_iter,
            n_repaired=n_repaired,
        )

    def _size_bound(self, n: int) -> int | None:
        if not self.balanced:
            return None
        bound = self.max_cluster_size
        if bound is None:
            bound = int(np.ceil(self.balance_factor * n / self.k))
        if bound * self.k < n:
            raise InvalidParameterError(
                f"max_cluster_size={bound} x k={self.k} < {n} training rows: bound cannot hold"
            )
        return bound

    def _init_centroids(self, data: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, k = data.shape[0], self.k
        if self.init == "random":
            return np.ascontiguousarray(data[np.sort(rng.choice(n, size=k, replace=False))])
        return kmeanspp_init(data, k, rng, self.init_points_per_centroid * k)


def kmeanspp_init(x: np.ndarray, k: int, rng: np.random.Generator, pool: int) -> np.ndarray:
    """k-means++ seeds (k, d) drawn from a random subset of at most ``pool`` rows of ``x``."""
    n = x.shape[0]
    m = min(n, pool)
    sub = x if m == n else np.ascontiguousarray(x[np.sort(rng.choice(n, size=m, replace=False))])
    seeds = kmeanspp_seeds(sub, k, int(rng.integers(m)), rng.random(k))
    return np.ascontiguousarray(sub[seeds])
