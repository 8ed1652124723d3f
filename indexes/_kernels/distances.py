"""Distance kernels. Metric codes: 0 = l2 (squared), 1 = ip (``-dot``), 2 = cosine (``1 - dot``).

Cosine inputs are normalised by the caller, so cosine is ``1 - dot`` here.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from indexes._kernels.dispatch import serial_twin

L2, IP, COSINE = 0, 1, 2


@nb.njit(nogil=True, cache=True, inline="always")
def l2sq(a, b):
    """Squared Euclidean distance of two float32 vectors (float32 accumulation)."""
    s = np.float32(0.0)
    for j in range(a.shape[0]):
        t = a[j] - b[j]
        s += t * t
    return s


@nb.njit(nogil=True, cache=True, inline="always")
def dot(a, b):
    """Inner product of two float32 vectors (float32 accumulation)."""
    s = np.float32(0.0)
    for j in range(a.shape[0]):
        s += a[j] * b[j]
    return s


@nb.njit(nogil=True, cache=True, inline="always")
def distance(a, b, metric):
    """Distance under ``metric`` (smaller is better), float32 accumulation."""
    if metric == L2:
        return l2sq(a, b)
    if metric == IP:
        return -dot(a, b)
    return np.float32(1.0) - dot(a, b)


@nb.njit(nogil=True, cache=True)
def distance_f64(a, b, metric):
    """Distance under ``metric`` accumulated in float64: the exact value used for ground truth."""
    s = 0.0
    if metric == L2:
        for j in range(a.shape[0]):
            t = np.float64(a[j]) - np.float64(b[j])
            s += t * t
        return s
    for j in range(a.shape[0]):
        s += np.float64(a[j]) * np.float64(b[j])
    if metric == IP:
        return -s
    return 1.0 - s


@nb.njit(nogil=True, cache=True, parallel=True)
def row_sqnorms(x):
    """Squared L2 norm of every row (float32 out, float64 accumulation)."""
    n = x.shape[0]
    out = np.empty(n, dtype=np.float32)
    for i in nb.prange(n):
        s = 0.0
        for j in range(x.shape[1]):
            s += np.float64(x[i, j]) * np.float64(x[i, j])
        out[i] = s
    return out


@nb.njit(nogil=True, cache=True, parallel=True)
def exact_candidate_distances(queries, base, cand, metric):
    """Exact (float64-accumulated) distances from each query to its candidate rows of ``base``.

    ``cand[i, c]`` is a row of ``base`` or ``-1`` (padding, distance ``+inf``).
    """
    n, c = cand.shape
    out = np.empty((n, c), dtype=np.float64)
    for i in nb.prange(n):
        for t in range(c):
            r = cand[i, t]
            if r < 0:
                out[i, t] = np.inf
            else:
                out[i, t] = distance_f64(queries[i], base[r], metric)
    return out


@nb.njit(nogil=True, cache=True, inline="always")
def unit_into(x, out):
    """Write ``x / |x|`` to the row ``out`` (float64 norm and product, one rounding to
    float32); False if ``|x|`` is zero (or not a number). The one definition of a unit row:
    batches (:func:`normalize_rows`) and single queries inside search kernels (HNSW's
    ``search_one``) call it, so a query gives bit-identical results alone or in a batch."""
    s = 0.0
    for j in range(x.shape[0]):
        s += np.float64(x[j]) * np.float64(x[j])
    if not s > 0.0:
        return False
    inv = 1.0 / np.sqrt(s)
    for j in range(x.shape[0]):
        out[j] = np.float64(x[j]) * inv
    return True


@nb.njit(nogil=True, cache=True, parallel=True)
def normalize_rows_parallel(x):
    """Rows of ``x`` scaled to unit norm (:func:`unit_into`) as float32, and the first
    zero-norm row (``-1`` if none); parallel over rows, for large batches."""
    n = x.shape[0]
    out = np.empty(x.shape, dtype=np.float32)
    ok = np.ones(n, dtype=np.bool_)
    for i in nb.prange(n):
        ok[i] = unit_into(x[i], out[i])
    for i in range(n):
        if not ok[i]:
            return out, i
    return out, -1


#: :func:`normalize_rows_parallel` on the calling thread: the default, since normalising is
#: memory-bound and cheap next to any search, and a parallel region would cost more than the
#: work for a few rows (its serial twin, see :mod:`indexes._kernels.dispatch`).
normalize_rows = serial_twin(normalize_rows_parallel)
