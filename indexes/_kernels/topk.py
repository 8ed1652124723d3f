"""Bounded top-k selection with a max-heap keyed by ``(distance, id)``.

Ordering by the pair makes results a total order: ties in distance are broken by the smaller
id, so results do not depend on blocking, threading or insertion order. Empty heap entries
hold ``(+inf, EMPTY)`` where ``EMPTY`` is the largest int64, so any real entry beats them.
"""

from __future__ import annotations

import numba as nb
import numpy as np

EMPTY = np.iinfo(np.int64).max


@nb.njit(nogil=True, cache=True, inline="always")
def _worse(d1, i1, d2, i2):
    """True if entry 1 ranks after entry 2."""
    return d1 > d2 or (d1 == d2 and i1 > i2)


@nb.njit(nogil=True, cache=True, inline="always")
def heap_replace_top(hd, hi, d, i):
    """Replace the worst entry (the root) of a max-heap by ``(d, i)`` and sift down."""
    _replace_top_payload(hd, hi, hd[:0], d, i, 0.0)


@nb.njit(nogil=True, cache=True, parallel=True)
def merge_scores_into_heaps(scores, bias, keys, payload, allow, metric, hd, hi, hc):
    """Fold one block of inner products into per-query heaps.

    ``scores[q, j]`` is ``<query q, row j>`` for the block's rows. The ranking key is
    ``bias[j] - 2 * scores`` for l2 (``bias`` = squared row norms; the query's own norm is a
    per-row constant and does not change the order) and ``-scores`` otherwise. ``keys[j]`` is
    the tie-break key kept in the heap (the row's external id) and ``payload[j]`` travels with
    it (the row's slot). ``allow`` is a boolean mask over the block's rows, or empty for none.
    """
    nq, nb_ = scores.shape
    use_allow = allow.shape[0] > 0
    for q in nb.prange(nq):
        d_row = hd[q]
        i_row = hi[q]
        c_row = hc[q]
        for j in range(nb_):
            if use_allow and not allow[j]:
                continue
            d = bias[j] - np.float32(2.0) * scores[q, j] if metric == 0 else -scores[q, j]
            if d < d_row[0] or (d == d_row[0] and keys[j] < i_row[0]):
                _replace_top_payload(d_row, i_row, c_row, d, keys[j], payload[j])


@nb.njit(nogil=True, cache=True, parallel=True)
def select_exact(dist, cand, tiekey, k):
    """Per row, the ``k`` candidates with the smallest ``(dist, tiekey)``; ascending.

    ``dist`` (n, c) float64, ``cand`` (n, c) int64 (``-1`` = padding), ``tiekey`` (n, c) int64.
    Returns ``(cand_out (n, k), dist_out (n, k))`` with ``-1``/``+inf`` padding.
    """
    n, c = dist.shape
    out_c = np.full((n, k), -1, dtype=np.int64)
    out_d = np.full((n, k), np.inf, dtype=np.float64)
    for r in nb.prange(n):
        hd = np.full(k, np.inf, dtype=np.float64)
        hi = np.full(k, EMPTY, dtype=np.int64)
        hc = np.full(k, -1, dtype=np.int64)
        for t in range(c):
            if cand[r, t] < 0:
                continue
            d = dist[r, t]
            key = tiekey[r, t]
            if d < hd[0] or (d == hd[0] and key < hi[0]):
                # keep cand alongside: heap over (d, key) with a parallel payload array
                _replace_top_payload(hd, hi, hc, d, key, cand[r, t])
        # sort ascending
        order = np.argsort(hi, kind="mergesort")  # stable pre-order by key
        hd2 = hd[order]
        hc2 = hc[order]
        order2 = np.argsort(hd2, kind="mergesort")  # stable: equal d keeps key order
        m = 0
        for t in order2:
            if hc2[t] >= 0:
                out_c[r, m] = hc2[t]
                out_d[r, m] = hd2[t]
                m += 1
    return out_c, out_d


@nb.njit(nogil=True, cache=True, inline="always")
def _sift_down(hd, hi, hc, n, d, i, c):
    """Place ``(d, i)`` (payload ``c``) at the root of the max-heap ``[0, n)`` and sift it
    down, moving the payload array ``hc`` along (an empty ``hc`` carries no payload)."""
    pay = hc.shape[0] > 0
    pos = 0
    while True:
        left = 2 * pos + 1
        if left >= n:
            break
        right = left + 1
        child = left
        if right < n and _worse(hd[right], hi[right], hd[left], hi[left]):
            child = right
        if _worse(hd[child], hi[child], d, i):
            hd[pos] = hd[child]
            hi[pos] = hi[child]
            if pay:
                hc[pos] = hc[child]
            pos = child
        else:
            break
    hd[pos] = d
    hi[pos] = i
    if pay:
        hc[pos] = c


@nb.njit(nogil=True, cache=True)
def _replace_top_payload(hd, hi, hc, d, i, c):
    """Replace the root of a max-heap by ``(d, i)`` and sift down, moving the payload array
    ``hc`` along with the entries (an empty ``hc`` carries no payload)."""
    _sift_down(hd, hi, hc, hd.shape[0], d, i, c)


@nb.njit(nogil=True, cache=True)
def heap_sort(hd, hi):
    """Sort a full max-heap's arrays in place, ascending by ``(distance, id)`` (heapsort)."""
    for end in range(hd.shape[0] - 1, 0, -1):
        d, i = hd[end], hi[end]
        hd[end], hi[end] = hd[0], hi[0]
        _sift_down(hd, hi, hd[:0], end, d, i, 0.0)


@nb.njit(nogil=True, cache=True)
def heap_sort_payload(hd, hi, hc):
    """:func:`heap_sort` moving a payload array ``hc`` along with the entries."""
    for end in range(hd.shape[0] - 1, 0, -1):
        d, i, c = hd[end], hi[end], hc[end]
        hd[end], hi[end], hc[end] = hd[0], hi[0], hc[0]
        _sift_down(hd, hi, hc, end, d, i, c)
