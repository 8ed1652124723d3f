"""IVF-PQ search kernels: coarse probing, ADC list scanning, exact re-ranking.

One call answers a batch of queries end to end (validation of finiteness, cosine
normalisation, optional OPQ rotation, coarse search, lookup tables, scanning, re-ranking), so a
single query costs one dispatch from Python. Queries go in chunks of ``QUERY_CHUNK``: the
coarse scores and query tables of a chunk are computed together, each centroid and codebook
row loaded once per chunk (a small matrix product without BLAS, whose thread pool fought
Numba's for the cores when tried), then each query is scanned alone.

Inverted lists live in an arena: list ``l`` occupies entries ``list_start[l] ..
list_start[l] + list_size[l]`` of ``codes`` (entries x code_size, uint8) and ``entry_slot``
(the slot of each entry, int32). ``slot_ids[slot]`` is the external id.

Distance modes (``mode``):

* ``MODE_L2_TABLE`` -- residual L2 with the precomputed-table trick. For ``x = c + r`` and
  a PQ reconstruction ``r = (r_1 .. r_m)``::

      |q - c - r|^2 = |q - c|^2 + sum_j (|r_j|^2 + 2 <c_j, r_j>) - 2 sum_j <q_j, r_j>

  The middle term is ``ptable[l, j, code]`` (built at training time), the last one a
  per-query table, so a probed list costs ``m * ksub`` additions instead of
  ``dim * ksub`` multiply-adds.
* ``MODE_L2_DIRECT`` -- residual L2, table ``|(q - c)_j - cb[j, code]|^2`` built per list.
* ``MODE_IP`` -- inner product: ``-<q, c + r> = -<q, c> - sum_j <q_j, r_j>``; one table per
  query and a per-list constant.

Results are ordered by ``(distance, external id)``. Candidates are kept in a max-heap of
``kk`` entries holding *slots*; ids are looked up (a random memory access) only to break
exact distance ties and for the survivors, not on every heap insertion. With re-ranking, the
first cache lines of every candidate's vector are prefetched before any is scored (the
misses overlap; the hardware streams the rest of a long row), then the candidates are scored
exactly (float32) and the final ``k`` picked by ``(distance, id)``. Measurements behind
these choices are in ``docs/design/ivfpq.md``.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from indexes._kernels.intrinsics import atomic_add, prefetch2
from indexes._kernels.pq import table_one
from indexes._kernels.topk import EMPTY, heap_replace_top, heap_sort

MODE_L2_TABLE, MODE_L2_DIRECT, MODE_IP = 0, 1, 2
METRIC_L2, METRIC_IP, METRIC_COSINE = 0, 1, 2
#: Status codes per query row.
STATUS_OK, STATUS_NONFINITE, STATUS_ZERO_NORM = 0, 1, 2
#: Queries per parallel work item.
QUERY_CHUNK = 8


@nb.njit(nogil=True, cache=True, fastmath=True)
def exact_distance(q, x, metric):
    """Re-ranking distance in float32. ``fastmath`` lets the compiler split the sum into
    vector lanes (only the rounding changes); without it the loop is one serial add chain."""
    s = np.float32(0.0)
    if metric == METRIC_L2:
        for t in range(q.shape[0]):
            u = q[t] - x[t]
            s += u * u
        return s
    for t in range(q.shape[0]):
        s += q[t] * x[t]
    if metric == METRIC_IP:
        return -s
    return np.float32(1.0) - s


@nb.njit(nogil=True, cache=True, fastmath=True)
def sqnorm(q):
    """Squared norm in float32 (vectorised sum)."""
    s = np.float32(0.0)
    for t in range(q.shape[0]):
        s += q[t] * q[t]
    return s


# -- a max-heap of (distance, slot) ordered by (distance, id of slot) -------------------------


@nb.njit(nogil=True, cache=True, inline="always")
def slot_key(s, slot_ids):
    """Tie-break key of a heap entry: the slot's id, ``EMPTY`` for an empty entry."""
    return EMPTY if s < 0 else slot_ids[s]


@nb.njit(nogil=True, cache=True, inline="always")
def slot_worse(d1, s1, d2, s2, slot_ids):
    """True if ``(d1, s1)`` ranks after ``(d2, s2)``; ids are read only on exact ties."""
    if d1 != d2:
        return d1 > d2
    return slot_key(s1, slot_ids) > slot_key(s2, slot_ids)


@nb.njit(nogil=True, cache=True)
def slot_sift_down(hd, hs, slot_ids, d, s, end):
    """Place ``(d, s)`` at the root of the heap ``hd[:end]``/``hs[:end]`` and sift it down."""
    pos = 0
    while True:
        left = 2 * pos + 1
        if left >= end:
            break
        child = left
        right = left + 1
        if right < end and slot_worse(hd[right], hs[right], hd[left], hs[left], slot_ids):
            child = right
        if slot_worse(hd[child], hs[child], d, s, slot_ids):
            hd[pos] = hd[child]
            hs[pos] = hs[child]
            pos = child
        else:
            break
    hd[pos] = d
    hs[pos] = s


@nb.njit(nogil=True, cache=True, inline="always")
def offer(dd, s, slot_ids, hd, hs, filled):
    """Push ``(dd, s)`` if it ranks before the heap's worst entry; returns the fill count."""
    if dd < hd[0] or (dd == hd[0] and slot_ids[s] < slot_key(hs[0], slot_ids)):
        slot_sift_down(hd, hs, slot_ids, dd, s, hd.shape[0])
        filled += 1
    return filled


@nb.njit(nogil=True, cache=True)
def slot_heap_sort(hd, hs, slot_ids):
    """Sort the heap ascending by ``(distance, id)`` in place."""
    for end in range(hd.shape[0] - 1, 0, -1):
        d, s = hd[end], hs[end]
        hd[end], hs[end] = hd[0], hs[0]
        slot_sift_down(hd, hs, slot_ids, d, s, end)


# -- per-query steps --------------------------------------------------------------------------


@nb.njit(nogil=True, cache=True)
def prepare_query(q, rotation, metric, qv, qr):
    """Copy ``q`` into ``qv`` (normalised for cosine) and ``qr`` (``qv @ rotation`` if a
    rotation is given, else ``qv``); returns ``(status, scale)`` with ``qv = scale * q``."""
    d = q.shape[0]
    s = 0.0
    for t in range(d):
        v = q[t]
        if not np.isfinite(v):
            return STATUS_NONFINITE, np.float32(1.0)
        s += np.float64(v) * np.float64(v)
    if metric == METRIC_COSINE:
        if s <= 0.0:
            return STATUS_ZERO_NORM, np.float32(1.0)
        inv = np.float32(1.0 / np.sqrt(s))
        for t in range(d):
            qv[t] = q[t] * inv
    else:
        inv = np.float32(1.0)
        for t in range(d):
            qv[t] = q[t]
    if rotation.shape[0] == 0:
        for t in range(d):
            qr[t] = qv[t]
    else:
        for u in range(d):
            qr[u] = 0.0
        for t in range(d):
            v = qv[t]
            for u in range(d):
                qr[u] += v * rotation[t, u]
    return STATUS_OK, inv


@nb.njit(nogil=True, cache=True, inline="always")
def madd8(dst, r0, r1, r2, r3, r4, r5, r6, r7, v0, v1, v2, v3, v4, v5, v6, v7):
    """``dst += v0 * r0 + ... + v7 * r7`` (rows of equal length; vectorises over them).

    Eight rows per pass load and store ``dst`` once per eight multiply-adds instead of once
    per one: the coarse and table steps ran ~1.7x faster on 784-d Fashion-MNIST (measured).
    """
    for c in range(dst.shape[0]):
        dst[c] += ((v0 * r0[c] + v1 * r1[c]) + (v2 * r2[c] + v3 * r3[c])) + (
            (v4 * r4[c] + v5 * r5[c]) + (v6 * r6[c] + v7 * r7[c])
        )


@nb.njit(nogil=True, cache=True)
def block_products(qr, w, lo, rows, scale, out):
    """``out[i] += scale * sum_t qr[i, lo + t] * rows[t]`` for the first ``w`` rows of ``qr``,
    ``t`` over the rows of ``rows`` (t, n). Each row of ``rows`` is loaded once per block of
    queries; every output element is summed in the same order whatever ``w`` is, so one
    query alone and in a batch get the same floats."""
    n_rows = rows.shape[0]
    t = 0
    while t + 8 <= n_rows:
        r0, r1, r2, r3 = rows[t], rows[t + 1], rows[t + 2], rows[t + 3]
        r4, r5, r6, r7 = rows[t + 4], rows[t + 5], rows[t + 6], rows[t + 7]
        for i in range(w):
            q = qr[i]
            b = lo + t
            madd8(
                out[i], r0, r1, r2, r3, r4, r5, r6, r7, q[b] * scale, q[b + 1] * scale,
                q[b + 2] * scale, q[b + 3] * scale, q[b + 4] * scale, q[b + 5] * scale,
                q[b + 6] * scale, q[b + 7] * scale,
            )  # fmt: skip
        t += 8
    for u in range(t, n_rows):
        row = rows[u]
        for i in range(w):
            v = qr[i, lo + u] * scale
            dst = out[i]
            for c in range(dst.shape[0]):
                dst[c] += v * row[c]


@nb.njit(nogil=True, cache=True)
def coarse_block(qr, w, cent_t, cnorms, ip, out):
    """``out[i, l]`` = ``|c_l|^2 - 2 <q_i, c_l>`` (l2 order key) or ``-<q_i, c_l>`` (ip) for
    the first ``w`` rows of ``qr`` (see :func:`block_products`)."""
    nlist = cent_t.shape[1]
    for i in range(w):
        for c in range(nlist):
            out[i, c] = 0.0 if ip else cnorms[c]
    block_products(qr, w, 0, cent_t, np.float32(-1.0) if ip else np.float32(-2.0), out)


@nb.njit(nogil=True, cache=True)
def table_block(qr, w, cb_t, scale, out):
    """``out[i, j, c]`` = ``scale * <q_i (sub-space j), cb[j, c]>`` for the first ``w`` rows of
    ``qr`` (see :func:`block_products`). Sub-space by sub-space into a contiguous buffer,
    then copied out (a strided view as the destination stopped the loop vectorising)."""
    m, dsub, ksub = cb_t.shape
    buf = np.zeros((w, ksub), dtype=np.float32)
    for j in range(m):
        buf[:, :] = 0.0
        block_products(qr, w, j * dsub, cb_t[j], scale, buf)
        for i in range(w):
            for c in range(ksub):
                out[i, j, c] = buf[i, c]


@nb.njit(nogil=True, cache=True)
def select_lists(scores, nprobe, pd, pi):
    """The ``nprobe`` smallest ``(score, list)`` pairs, ascending, into ``pd``/``pi``."""
    for t in range(nprobe):
        pd[t] = np.inf
        pi[t] = EMPTY
    for c in range(scores.shape[0]):
        v = scores[c]
        if v < pd[0] or (v == pd[0] and c < pi[0]):
            heap_replace_top(pd, pi, v, c)
    heap_sort(pd, pi)


@nb.njit(nogil=True, cache=True, inline="always")
def code_distance(codes, e, lut, m, nbits, bias):
    """ADC distance of entry ``e``: ``bias`` plus its ``m`` table entries (in order)."""
    dd = bias
    if nbits == 8:
        for j in range(m):
            dd += lut[j * 256 + codes[e, j]]
    else:
        half = m >> 1
        for p in range(half):
            b = codes[e, p]
            dd += lut[p * 32 + (b & 15)]
            dd += lut[p * 32 + 16 + (b >> 4)]
        if m & 1:
            dd += lut[half * 32 + (codes[e, half] & 15)]
    return dd


@nb.njit(nogil=True, cache=True)
def scan_list(codes, entry_slot, start, size, lut, m, nbits, bias, slot_ids, allow, hd, hs, filled):
    """ADC-scan one list into the heap; returns the updated count of heap insertions.

    ``lut`` is the flattened ``(m, ksub)`` table; an entry's distance is ``bias`` plus its
    ``m`` table entries, summed in sub-quantizer order on every path. Without a filter,
    8-bit codes are scored four at a time (four independent add chains, as faiss does).
    """
    end = start + size
    e = start
    if allow.shape[0] == 0 and nbits == 8:
        while e + 4 <= end:
            d0 = bias
            d1 = bias
            d2 = bias
            d3 = bias
            for j in range(m):
                o = j * 256
                d0 += lut[o + codes[e, j]]
                d1 += lut[o + codes[e + 1, j]]
                d2 += lut[o + codes[e + 2, j]]
                d3 += lut[o + codes[e + 3, j]]
            if d0 <= hd[0]:
                filled = offer(d0, entry_slot[e], slot_ids, hd, hs, filled)
            if d1 <= hd[0]:
                filled = offer(d1, entry_slot[e + 1], slot_ids, hd, hs, filled)
            if d2 <= hd[0]:
                filled = offer(d2, entry_slot[e + 2], slot_ids, hd, hs, filled)
            if d3 <= hd[0]:
                filled = offer(d3, entry_slot[e + 3], slot_ids, hd, hs, filled)
            e += 4
    use_allow = allow.shape[0] > 0
    for r in range(e, end):
        s = entry_slot[r]
        if use_allow and not allow[s]:
            continue
        dd = code_distance(codes, r, lut, m, nbits, bias)
        if dd <= hd[0]:
            filled = offer(dd, s, slot_ids, hd, hs, filled)
    return filled


@nb.njit(nogil=True, cache=True)
def probe_list(
    lst, mode, qr, coarse, qnorm, qtab, lut, resid, centroids, cb_t, ptable, nbits,
    list_start, list_size, codes, entry_slot, slot_ids, allow, hd, hs, filled,
):  # fmt: skip
    """Build list ``lst``'s table (per ``mode``) and scan it; returns the insertion count."""
    size = list_size[lst]
    if size == 0:
        return filled
    m, _dsub, ksub = cb_t.shape
    flat = lut.reshape(m * ksub)
    if mode == MODE_L2_TABLE:
        pt = ptable[lst]
        for j in range(m):
            for c in range(ksub):
                lut[j, c] = pt[j, c] + qtab[j, c]
        bias = coarse[lst] + qnorm
    elif mode == MODE_IP:
        flat = qtab.reshape(m * ksub)
        bias = coarse[lst]
    else:
        for t in range(qr.shape[0]):
            resid[t] = qr[t] - centroids[lst, t]
        table_one(resid, cb_t, False, np.float32(1.0), lut)
        bias = np.float32(0.0)
    return scan_list(
        codes, entry_slot, list_start[lst], size, flat, m, nbits, bias, slot_ids, allow, hd, hs,
        filled,
    )  # fmt: skip


@nb.njit(nogil=True, cache=True)
def rerank_candidates(qv, hs, n_real, vectors, slot_ids, metric, k, out_ids, out_d, ed, fd, fi):
    """Exact distances of the ``n_real`` candidate slots ``hs``; the best ``k`` by
    ``(distance, id)`` go to ``out_ids``/``out_d``."""
    d = qv.shape[0]
    for t in range(n_real):  # prefetch the head of every row: the cache misses overlap
        for u in range(0, min(d, 64), 16):
            prefetch2(vectors, hs[t], u)
    for t in range(n_real):
        ed[t] = exact_distance(qv, vectors[hs[t]], metric)
    for t in range(k):
        fd[t] = np.inf
        fi[t] = EMPTY
    for t in range(n_real):
        ident = slot_ids[hs[t]]
        dist = ed[t]
        if dist < fd[0] or (dist == fd[0] and ident < fi[0]):
            heap_replace_top(fd, fi, dist, ident)
    heap_sort(fd, fi)  # ascending by (distance, id)
    for t in range(min(k, n_real)):
        out_ids[t] = fi[t]
        out_d[t] = fd[t]


@nb.njit(nogil=True, cache=True)
def search_prepared(
    qv, qr, coarse, qtab, mode, metric, nprobe, k, kk, rerank, centroids, cb_t, ptable, nbits,
    list_start, list_size, codes, entry_slot, slot_ids, allow, vectors, out_ids, out_d, pd, pi,
    lut, resid, hd, hs, ed, fd, fi,
):  # fmt: skip
    """Answer one prepared query (``qv``, rotated ``qr``, its ``coarse`` scores and, except in
    ``MODE_L2_DIRECT``, its table ``qtab``) into ``out_ids``/``out_d`` (pre-filled with -1 /
    +inf), using the scratch arrays that follow them."""
    nlist = centroids.shape[0]
    ip = mode == MODE_IP
    qnorm = sqnorm(qr)
    select_lists(coarse, nprobe, pd, pi)
    for t in range(kk):
        hd[t] = np.inf
        hs[t] = -1
    filled = 0
    for p in range(nprobe):
        filled = probe_list(
            pi[p], mode, qr, coarse, qnorm, qtab, lut, resid, centroids, cb_t, ptable, nbits,
            list_start, list_size, codes, entry_slot, slot_ids, allow, hd, hs, filled,
        )  # fmt: skip
    if filled < k and nprobe < nlist:
        # Too few hits in the probed lists (a selective filter, tiny lists): keep probing in
        # coarse order until k are found or every list has been scanned.
        order = np.argsort(coarse, kind="mergesort")
        for p in range(nprobe, nlist):
            if filled >= k:
                break
            filled = probe_list(
                order[p], mode, qr, coarse, qnorm, qtab, lut, resid, centroids, cb_t, ptable,
                nbits, list_start, list_size, codes, entry_slot, slot_ids, allow, hd, hs, filled,
            )  # fmt: skip
    slot_heap_sort(hd, hs, slot_ids)
    n_real = min(filled, kk)
    if rerank:
        rerank_candidates(qv, hs, n_real, vectors, slot_ids, metric, k, out_ids, out_d, ed, fd, fi)
    else:
        scale = np.float32(0.5) if metric == METRIC_COSINE else np.float32(1.0)
        for t in range(min(k, n_real)):
            out_ids[t] = slot_ids[hs[t]]
            out_d[t] = hd[t] if ip else max(hd[t], np.float32(0.0)) * scale


@nb.njit(nogil=True, cache=True)
def _search_chunk(
    ch, queries, rotation, metric, mode, nprobe, k, kk, rerank, centroids, cent_t, cnorms, cb_t,
    ptable, nbits, list_start, list_size, codes, entry_slot, slot_ids, allow, vectors, out_ids,
    out_d, status, qv, qr, coarse, qtab, pd, pi, lut, resid, hd, hs, ed, fd, fi,
):  # fmt: skip
    """Queries ``ch * QUERY_CHUNK ..`` of a batch: checked and prepared together (coarse
    scores and tables computed for the block, sharing centroid and codebook loads), then
    searched one by one. Every array after ``status`` is the calling worker's scratch."""
    nq = queries.shape[0]
    lo = ch * QUERY_CHUNK
    w = min(nq, lo + QUERY_CHUNK) - lo
    for i in range(w):
        status[lo + i], _scale = prepare_query(queries[lo + i], rotation, metric, qv[i], qr[i])
    ip = mode == MODE_IP
    coarse_block(qr, w, cent_t, cnorms, ip, coarse)
    if mode != MODE_L2_DIRECT:
        table_block(qr, w, cb_t, np.float32(-1.0) if ip else np.float32(-2.0), qtab)
    for i in range(w):
        if status[lo + i] != STATUS_OK:
            continue
        search_prepared(
            qv[i], qr[i], coarse[i], qtab[i], mode, metric, nprobe, k, kk, rerank, centroids,
            cb_t, ptable, nbits, list_start, list_size, codes, entry_slot, slot_ids, allow,
            vectors, out_ids[lo + i], out_d[lo + i], pd, pi, lut, resid, hd, hs, ed, fd, fi,
        )  # fmt: skip


@nb.njit(nogil=True, cache=True)
def _worker(
    ctr, queries, rotation, metric, mode, nprobe, k, kk, rerank, centroids, cent_t, cnorms,
    cb_t, ptable, nbits, list_start, list_size, codes, entry_slot, slot_ids, allow, vectors,
    out_ids, out_d, status,
):  # fmt: skip
    """One worker: allocate scratch once, then take chunks of ``QUERY_CHUNK`` queries from the
    shared counter ``ctr`` until none is left."""
    nq, d = queries.shape
    nlist = centroids.shape[0]
    m, _dsub, ksub = cb_t.shape
    nchunks = (nq + QUERY_CHUNK - 1) // QUERY_CHUNK
    qv = np.zeros((QUERY_CHUNK, d), dtype=np.float32)
    qr = np.zeros((QUERY_CHUNK, d), dtype=np.float32)
    coarse = np.empty((QUERY_CHUNK, nlist), dtype=np.float32)
    qtab = np.empty((QUERY_CHUNK, m, ksub), dtype=np.float32)
    pd = np.empty(nprobe, dtype=np.float32)
    pi = np.empty(nprobe, dtype=np.int64)
    lut = np.empty((m, ksub), dtype=np.float32)
    resid = np.empty(d, dtype=np.float32)
    hd = np.empty(kk, dtype=np.float32)
    hs = np.empty(kk, dtype=np.int64)
    ed = np.empty(kk, dtype=np.float32)
    fd = np.empty(k, dtype=np.float32)
    fi = np.empty(k, dtype=np.int64)
    while True:
        ch = atomic_add(ctr, 0, 1)
        if ch >= nchunks:
            break
        _search_chunk(
            ch, queries, rotation, metric, mode, nprobe, k, kk, rerank, centroids, cent_t,
            cnorms, cb_t, ptable, nbits, list_start, list_size, codes, entry_slot, slot_ids,
            allow, vectors, out_ids, out_d, status, qv, qr, coarse, qtab, pd, pi, lut, resid,
            hd, hs, ed, fd, fi,
        )  # fmt: skip


@nb.njit(nogil=True, cache=True, parallel=True)
def search_batch(
    queries, rotation, metric, mode, nprobe, k, kk, rerank, centroids, cent_t, cnorms, cb_t,
    ptable, nbits, list_start, list_size, codes, entry_slot, slot_ids, allow, vectors, n_workers,
):  # fmt: skip
    """All queries, in parallel: ``(ids (nq, k) int64, dists (nq, k) float32, status (nq,)
    int8)``.

    ``n_workers`` workers, one per thread, each with one set of scratch arrays, take chunks of
    ``QUERY_CHUNK`` queries from a shared atomic counter. This dynamic scheduling matters on a
    busy machine: Numba's OpenMP and workqueue layers hand each thread a fixed half of a
    ``prange`` (``set_parallel_chunksize`` does not change that; checked with
    ``numba.get_thread_id``), so one descheduled thread held up half the batch.
    """
    nq = queries.shape[0]
    out_ids = np.full((nq, k), -1, dtype=np.int64)
    out_d = np.full((nq, k), np.inf, dtype=np.float32)
    status = np.zeros(nq, dtype=np.int8)
    nchunks = (nq + QUERY_CHUNK - 1) // QUERY_CHUNK
    ctr = np.zeros(1, dtype=np.int64)
    for _ in nb.prange(max(1, min(n_workers, nchunks))):
        _worker(
            ctr, queries, rotation, metric, mode, nprobe, k, kk, rerank, centroids, cent_t,
            cnorms, cb_t, ptable, nbits, list_start, list_size, codes, entry_slot, slot_ids,
            allow, vectors, out_ids, out_d, status,
        )  # fmt: skip
    return out_ids, out_d, status


@nb.njit(nogil=True, cache=True)
def search_serial(
    queries, rotation, metric, mode, nprobe, k, kk, rerank, centroids, cent_t, cnorms, cb_t,
    ptable, nbits, list_start, list_size, codes, entry_slot, slot_ids, allow, vectors,
):  # fmt: skip
    """Serial twin of :func:`search_batch` (a single query, or one thread asked for): same
    results, no parallel region.

    A separate Python function on purpose: ``njit(parallel=True)`` and ``njit()`` of one
    function with ``cache=True`` share one cache entry (Numba's cache key does not include
    the flags), so the "serial" twin used to load the parallel build and pay an OpenMP
    fork/join, waking every Numba thread, on each single-query call (seen with ``perf``).
    """
    nq = queries.shape[0]
    out_ids = np.full((nq, k), -1, dtype=np.int64)
    out_d = np.full((nq, k), np.inf, dtype=np.float32)
    status = np.zeros(nq, dtype=np.int8)
    ctr = np.zeros(1, dtype=np.int64)
    _worker(
        ctr, queries, rotation, metric, mode, nprobe, k, kk, rerank, centroids, cent_t, cnorms,
        cb_t, ptable, nbits, list_start, list_size, codes, entry_slot, slot_ids, allow, vectors,
        out_ids, out_d, status,
    )  # fmt: skip
    return out_ids, out_d, status
