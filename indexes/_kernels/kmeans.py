"""k-means kernels: nearest-centroid assignment, centroid update, k-means++ seeding, balanced
assignment under a cluster-size bound.

Distances are squared L2 in the expanded form ``|x|^2 - 2<x, c> + |c|^2`` (float32, as faiss
does). Every kernel is deterministic for a given input whatever the thread count: parallel
loops only write disjoint outputs, and sums that feed a decision are taken serially or per
centroid in a fixed order.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from indexes._kernels.dispatch import serial_twin

#: Rows per parallel work item in the assignment kernels.
ROW_BLOCK = 256


@nb.njit(nogil=True, cache=True, fastmath=True)
def nearest_in_block(xt, w, cents, best, bi, acc):
    """Nearest row of ``cents`` (k, d) for the first ``w`` columns of ``xt`` (d, ROW_BLOCK).

    Loops run centroid-outer, rows-inner so the row loop vectorises (with ``fastmath``: only
    the rounding of the squared differences changes); distances are direct squared
    differences. Writes ``best`` (float32) and ``bi`` (int32); ties keep the lower centroid.
    """
    k, d = cents.shape
    for i in range(w):
        best[i] = np.inf
        bi[i] = 0
    for j in range(k):
        for i in range(w):
            acc[i] = 0.0
        for t in range(d):
            cv = cents[j, t]
            for i in range(w):
                u = xt[t, i] - cv
                acc[i] += u * u
        for i in range(w):
            if acc[i] < best[i]:
                best[i] = acc[i]
                bi[i] = j


def _assign_direct(x, cents, labels, dists):
    """Nearest centroid of every row of ``x`` (n, d): ``labels`` int64, ``dists`` float32.

    Blocks of ``ROW_BLOCK`` rows are transposed and compared with every centroid (see
    :func:`nearest_in_block`); for small ``d`` this beats a BLAS product plus argmin.
    """
    n, d = x.shape
    nblocks = (n + ROW_BLOCK - 1) // ROW_BLOCK
    for b in nb.prange(nblocks):
        lo = b * ROW_BLOCK
        w = min(n, lo + ROW_BLOCK) - lo
        xt = np.empty((d, ROW_BLOCK), dtype=np.float32)
        for i in range(w):
            for t in range(d):
                xt[t, i] = x[lo + i, t]
        best = np.empty(ROW_BLOCK, dtype=np.float32)
        bi = np.empty(ROW_BLOCK, dtype=np.int32)
        acc = np.empty(ROW_BLOCK, dtype=np.float32)
        nearest_in_block(xt, w, cents, best, bi, acc)
        for i in range(w):
            labels[lo + i] = bi[i]
            dists[lo + i] = best[i]


#: Parallel over row blocks (large data).
assign_direct = nb.njit(nogil=True, cache=True, parallel=True)(_assign_direct)
#: Serial twin, for callers that are themselves parallel or whose data is small. Made by
#: :func:`serial_twin` (a renamed copy): ``njit()`` of ``_assign_direct`` itself would share
#: the parallel build's cache entry and load it, nesting a parallel region in the caller's.
assign_direct_serial = serial_twin(assign_direct)


@nb.njit(nogil=True, cache=True, parallel=True)
def argmin_scores(scores, cnorms, xnorms, labels, dists, offset):
    """Fold a block of inner products ``scores`` (rows, k) into nearest-centroid labels.

    Row ``r`` of the block is row ``offset + r`` of the full data; ``xnorms`` are the block's
    squared row norms.
    """
    rows, k = scores.shape
    for r in nb.prange(rows):
        best = 0
        bd = cnorms[0] - np.float32(2.0) * scores[r, 0]
        for c in range(1, k):
            v = cnorms[c] - np.float32(2.0) * scores[r, c]
            if v < bd:
                bd = v
                best = c
        labels[offset + r] = best
        dists[offset + r] = max(bd + xnorms[r], np.float32(0.0))


@nb.njit(nogil=True, cache=True, parallel=True)
def topc_scores(scores, cnorms, xnorms, cand, cand_d, offset):
    """Like :func:`argmin_scores` but keeps the ``c`` nearest centroids per row, ascending."""
    rows, k = scores.shape
    c = cand.shape[1]
    for r in nb.prange(rows):
        bd = np.full(c, np.inf, dtype=np.float32)
        bi = np.full(c, -1, dtype=np.int64)
        for j in range(k):
            v = cnorms[j] - np.float32(2.0) * scores[r, j]
            if v < bd[c - 1]:
                p = c - 1
                while p > 0 and bd[p - 1] > v:
                    bd[p] = bd[p - 1]
                    bi[p] = bi[p - 1]
                    p -= 1
                bd[p] = v
                bi[p] = j
        for t in range(c):
            cand[offset + r, t] = bi[t]
            cand_d[offset + r, t] = max(bd[t] + xnorms[r], np.float32(0.0))


@nb.njit(nogil=True, cache=True)
def counting_order(labels, k):
    """Row indices grouped by label (stable) and the group boundaries ``starts`` (k + 1)."""
    n = labels.shape[0]
    starts = np.zeros(k + 1, dtype=np.int64)
    for i in range(n):
        starts[labels[i] + 1] += 1
    for c in range(k):
        starts[c + 1] += starts[c]
    fill = starts[:-1].copy()
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        c = labels[i]
        order[fill[c]] = i
        fill[c] += 1
    return order, starts


def _update_centroids(x, labels, centroids):
    """Set each centroid to the mean of its rows (float64 sums); returns cluster sizes.

    Centroids of empty clusters are left unchanged (the caller repairs them). Each centroid's
    sum runs over its rows in index order, so the result does not depend on threads.
    """
    k, d = centroids.shape
    order, starts = counting_order(labels, k)
    for c in nb.prange(k):
        lo, hi = starts[c], starts[c + 1]
        if hi == lo:
            continue
        acc = np.zeros(d, dtype=np.float64)
        for p in range(lo, hi):
            row = x[order[p]]
            for t in range(d):
                acc[t] += row[t]
        inv = 1.0 / (hi - lo)
        for t in range(d):
            centroids[c, t] = acc[t] * inv
    return starts[1:] - starts[:-1]


update_centroids = nb.njit(nogil=True, cache=True, parallel=True)(_update_centroids)
update_centroids_serial = serial_twin(update_centroids)


@nb.njit(nogil=True, cache=True, fastmath=True)
def _min_update(x, cvec, mind):
    n, d = x.shape
    for i in range(n):
        s = np.float32(0.0)
        for t in range(d):
            u = x[i, t] - cvec[t]
            s += u * u
        if s < mind[i]:
            mind[i] = s


@nb.njit(nogil=True, cache=True)
def kmeanspp_seeds(x, k, first, uniforms):
    """k-means++ seeding: row indices of ``k`` seeds drawn with D^2 weighting.

    ``first`` is the first seed; ``uniforms[s]`` in [0, 1) draws seed ``s``. The cumulative
    weights are summed serially, so the draw is independent of the thread count. Rows that
    duplicate chosen seeds have weight 0; if all weights vanish (fewer distinct rows than
    ``k``) the remaining seeds are taken in row order.
    """
    n = x.shape[0]
    seeds = np.empty(k, dtype=np.int64)
    mind = np.full(n, np.inf, dtype=np.float32)
    seeds[0] = first
    cum = np.empty(n, dtype=np.float64)
    for s in range(1, k):
        _min_update(x, x[seeds[s - 1]], mind)
        total = 0.0
        for i in range(n):
            total += mind[i]
            cum[i] = total
        if total <= 0.0:
            seeds[s] = s % n
            continue
        target = uniforms[s] * total
        lo, hi = 0, n - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if cum[mid] > target:
                hi = mid
            else:
                lo = mid + 1
        seeds[s] = lo
    return seeds


@nb.njit(nogil=True, cache=True)
def balanced_greedy(x, centroids, cnorms, cand, cand_d, cap):
    """Assign rows to centroids so that no cluster exceeds ``cap`` rows.

    Greedy over (row, candidate centroid) pairs in ascending distance: a pair is taken when
    the row is still free and the centroid has room. Rows whose candidates all filled up go,
    in order of their nearest-candidate distance, to the nearest centroid with room (an exact
    scan). Needs ``cap * k >= n``. Deterministic (stable sorts).
    """
    n, c = cand.shape
    k, d = centroids.shape
    labels = np.full(n, -1, dtype=np.int64)
    sizes = np.zeros(k, dtype=np.int64)
    flat = cand_d.reshape(n * c)
    order = np.argsort(flat, kind="mergesort")
    for p in order:
        i = p // c
        if labels[i] >= 0:
            continue
        j = cand[i, p % c]
        if j >= 0 and sizes[j] < cap:
            labels[i] = j
            sizes[j] += 1
    left = np.flatnonzero(labels < 0)
    if left.shape[0] > 0:
        first_d = np.empty(left.shape[0], dtype=np.float32)
        for t in range(left.shape[0]):
            first_d[t] = cand_d[left[t], 0]
        for t in np.argsort(first_d, kind="mergesort"):
            i = left[t]
            best = -1
            bd = np.inf
            for j in range(k):
                if sizes[j] >= cap:
                    continue
                s = cnorms[j]
                for u in range(d):
                    s -= 2.0 * x[i, u] * centroids[j, u]
                if s < bd:
                    bd = s
                    best = j
            labels[i] = best
            sizes[best] += 1
    return labels, sizes


@nb.njit(nogil=True, cache=True)
def repair_empty(centroids, sizes, uniforms, eps):
    """Split a large cluster into each empty one (in place); returns how many were repaired.

    The cluster to split is drawn with probability proportional to ``size - 1`` using
    ``uniforms[e]`` for the ``e``-th empty cluster; its centroid is copied and the two copies
    pushed apart by ``eps`` relative, with alternating signs over dimensions.
    """
    k, d = centroids.shape
    repaired = 0
    for ci in range(k):
        if sizes[ci] != 0:
            continue
        total = 0.0
        for c in range(k):
            total += max(sizes[c] - 1, 0)
        if total <= 0.0:
            break
        target = uniforms[repaired % uniforms.shape[0]] * total
        cj = 0
        acc = 0.0
        for c in range(k):
            acc += max(sizes[c] - 1, 0)
            if acc > target:
                cj = c
                break
        for t in range(d):
            v = centroids[cj, t]
            sgn = eps if t % 2 == 0 else -eps
            centroids[ci, t] = v * (1.0 + sgn)
            centroids[cj, t] = v * (1.0 - sgn)
        sizes[ci] = sizes[cj] // 2
        sizes[cj] -= sizes[ci]
        repaired += 1
    return repaired


@nb.njit(nogil=True, cache=True)
def kmeans_serial(x, centroids, n_iter, uniforms, eps):
    """Lloyd iterations on ``centroids`` (in place), serial; ``uniforms`` (n_iter, k) feed
    :func:`repair_empty`. Returns the number of clusters repaired."""
    n = x.shape[0]
    labels = np.empty(n, dtype=np.int64)
    dists = np.empty(n, dtype=np.float32)
    repaired = 0
    for it in range(n_iter):
        assign_direct_serial(x, centroids, labels, dists)
        sizes = update_centroids_serial(x, labels, centroids)
        repaired += repair_empty(centroids, sizes, uniforms[it], eps)
    return repaired


@nb.njit(nogil=True, cache=True, parallel=True)
def kmeans_subspaces(x, centroids, n_iter, uniforms, eps):
    """Independent k-means in each of the ``m`` sub-spaces of ``x`` (PQ training).

    ``centroids`` (m, k, dsub) holds the seeds and receives the result; sub-space ``j`` covers
    columns ``j * dsub:(j + 1) * dsub``; ``uniforms`` is (m, n_iter, k). One parallel loop
    over sub-spaces, each running :func:`kmeans_serial`, so results do not depend on threads.
    """
    m, _k, dsub = centroids.shape
    repaired = np.zeros(m, dtype=np.int64)
    for j in nb.prange(m):
        sub = np.ascontiguousarray(x[:, j * dsub : (j + 1) * dsub])
        cen = centroids[j].copy()
        repaired[j] = kmeans_serial(sub, cen, n_iter, uniforms[j], eps)
        centroids[j] = cen
    return repaired
