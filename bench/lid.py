"""Local intrinsic dimensionality (LID) by maximum likelihood over k-NN distances.

For a point with ascending neighbour distances ``r_1 <= ... <= r_k`` (itself excluded), the
Levina–Bickel estimate is ``(k-1) / sum_{j<k} log(r_k / r_j)``. Amsaleg et al.'s form
divides ``k`` instead of ``k - 1`` by the same sum (its extra term is ``log 1 = 0``), so it is
``k / (k-1)`` times larger; pick it with ``estimator="amsaleg"``. Distances are Euclidean
(for cosine: chord length between unit vectors; for ip: Euclidean on the raw vectors). Zero
distances (duplicates) are dropped; a point with fewer than two positive distances has an
undefined LID (NaN).

Dataset-level figures: the mean and median of the per-point estimates, and MacKay and
Ghahramani's pooled estimate (the inverse of the mean inverse), which is less biased.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from indexes import FlatIndex


def mle_lid(dists: np.ndarray, *, estimator: str = "levina-bickel") -> np.ndarray:
    """Per-row MLE of LID from ascending Euclidean k-NN distances ``(n, k)`` (self excluded)."""
    d = np.asarray(dists, dtype=np.float64)
    if d.ndim != 2 or d.shape[1] < 2:
        raise ValueError(f"need (n, k>=2) neighbour distances, got shape {d.shape}")
    pos = np.isfinite(d) & (d > 0)
    rk = np.where(pos, d, -np.inf).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(pos, np.log(rk[:, None] / np.where(pos, d, 1.0)), 0.0)
        m = pos.sum(axis=1)  # terms including r_k itself (log 1 = 0)
        total = logs.sum(axis=1)
        if estimator == "levina-bickel":
            lid = (m - 1) / total
        elif estimator == "amsaleg":
            lid = m / total
        else:
            raise ValueError(f"unknown estimator {estimator!r}")
    return np.where((m >= 2) & (total > 0), lid, np.nan)


def dataset_lid(point_lids: np.ndarray) -> dict[str, float]:
    """Mean, median and MacKay–Ghahramani pooled LID of per-point estimates (NaNs skipped)."""
    v = point_lids[np.isfinite(point_lids)]
    if v.size == 0:
        return {"mean": float("nan"), "median": float("nan"), "pooled": float("nan"), "n": 0}
    return {
        "mean": float(v.mean()),
        "median": float(np.median(v)),
        "pooled": float(1.0 / np.mean(1.0 / v)),
        "n": int(v.size),
        "undefined": int(point_lids.size - v.size),
    }


def euclidean(dists: np.ndarray, metric: str) -> np.ndarray:
    """Index distances (squared L2, ``1 - cos``) as Euclidean distances."""
    d = np.maximum(np.asarray(dists, dtype=np.float64), 0.0)
    if metric == "l2":
        return np.sqrt(d)
    if metric == "cosine":
        return np.sqrt(2.0 * d)
    raise ValueError(f"no Euclidean form for metric {metric!r}")


def knn_self_distances(
    x: np.ndarray,
    metric: str,
    k: int,
    *,
    rows: np.ndarray | None = None,
    chunk: int = 16_384,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Exact Euclidean distances from ``x[rows]`` to their ``k`` nearest other rows of ``x``.

    Uses :class:`FlatIndex` with ``k + 1`` neighbours and removes each point's own id (not
    simply the first column: with duplicates another row may come first).
    """
    space = "cosine" if metric == "cosine" else "l2"
    index = FlatIndex(x.shape[1], space)
    index.add(x, np.arange(x.shape[0], dtype=np.int64))
    rows = np.arange(x.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)
    out = np.empty((rows.size, k), dtype=np.float64)
    for s in range(0, rows.size, chunk):
        r = rows[s : s + chunk]
        ids, d = index.search(x[r], k + 1)
        self_hit = ids == r[:, None]
        # drop the own id where found, else the last column
        drop = np.where(self_hit.any(axis=1), self_hit.argmax(axis=1), k)
        keep = np.ones_like(self_hit)
        keep[np.arange(r.size), drop] = False
        out[s : s + r.size] = euclidean(d[keep].reshape(r.size, k), space)
        if progress is not None:
            progress(min(s + chunk, rows.size), rows.size)
    return out


def point_lids(
    x: np.ndarray,
    metric: str,
    k: int = 20,
    *,
    cache_key: str | None = None,
    cache_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Levina–Bickel LID of every row of ``x`` among the others; cached when a key is given."""
    path = None
    if cache_key is not None and cache_dir is not None:
        path = Path(cache_dir) / "lid" / f"{cache_key}-k{k}.npy"
        if path.exists():
            cached = np.load(path)
            if cached.shape == (x.shape[0],):
                return cached
    lids = mle_lid(knn_self_distances(x, metric, k, progress=progress))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".npy", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, lids)
        os.replace(tmp, path)
    return lids


def query_lids(gt_dists: np.ndarray, metric: str, k: int) -> np.ndarray:
    """LID of queries from their exact k-NN distances to the data (queries are not in it)."""
    return mle_lid(euclidean(gt_dists[:, :k], "cosine" if metric == "cosine" else "l2"))


def lid_order(lids: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    """Insertion order: ``random`` (seeded), ``lid-asc``, ``lid-desc`` or ``data`` (as stored).

    Undefined LIDs (NaN) take the median so they sit mid-order in both directions; ties keep
    data order (stable sort).
    """
    n = lids.shape[0]
    if kind == "data":
        return np.arange(n, dtype=np.int64)
    if kind == "random":
        return np.random.default_rng(seed).permutation(n).astype(np.int64)
    filled = np.where(np.isfinite(lids), lids, np.nanmedian(lids))
    if kind == "lid-asc":
        return np.argsort(filled, kind="stable").astype(np.int64)
    if kind == "lid-desc":
        return np.argsort(-filled, kind="stable").astype(np.int64)
    raise ValueError(f"unknown insertion order {kind!r}; use data, random, lid-asc, lid-desc")
