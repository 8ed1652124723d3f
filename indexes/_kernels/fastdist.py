"""Distance kernels for graph search, compiled so that LLVM vectorises the reduction.

The shared kernels in :mod:`indexes._kernels.distances` keep strict IEEE order (exact ground
truth); these allow re-association (``reassoc``/``contract``), which lets LLVM split the sum
over SIMD lanes and use FMA. Measured on this machine (AVX-512): 5 ns instead of 16.5 ns per
50-d distance and 53 ns instead of 606 ns per 784-d distance. The result differs from the
strict sum by float32 rounding only, which cannot matter to an approximate search. ``nnan`` and
``ninf`` are deliberately *not* enabled: callers compare against ``+inf`` sentinels.

Metric codes as everywhere: 0 = squared l2, 1 = ip (``-dot``), 2 = cosine (``1 - dot`` on
normalised vectors).
"""

from __future__ import annotations

import numba as nb
import numpy as np

#: Fast-math flags that permit vectorised reductions without assuming finite values.
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


@nb.njit(nogil=True, cache=True, fastmath=FASTMATH)
def l2sq_fast(a, b):
    """Squared Euclidean distance of two float32 vectors (vectorised, float32)."""
    s = np.float32(0.0)
    for j in range(a.shape[0]):
        t = a[j] - b[j]
        s += t * t
    return s


@nb.njit(nogil=True, cache=True, fastmath=FASTMATH)
def dot_fast(a, b):
    """Inner product of two float32 vectors (vectorised, float32)."""
    s = np.float32(0.0)
    for j in range(a.shape[0]):
        s += a[j] * b[j]
    return s


@nb.njit(nogil=True, cache=True, fastmath=FASTMATH)
def dist_fast(a, b, metric):
    """Distance under ``metric`` (smaller is better)."""
    if metric == 0:
        return l2sq_fast(a, b)
    if metric == 1:
        return -dot_fast(a, b)
    return np.float32(1.0) - dot_fast(a, b)
