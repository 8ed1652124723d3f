"""IVF-PQ search kernels: coarse probing, ADC list scanning, exact re-ranking.

One call answers a batch of queries end to end (validation of finiteness, cosine
normalisation, optional OPQ rotation, coarse search, lookup tables, scanning, re-ranking), so a
single query costs one dispatch from Python.

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
``kk`` entries; with re-ranking their exact distances (float32) pick the final ``k``.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from indexes._kernels.distances import distance
from indexes._kernels.pq import table_one
from indexes._kernels.topk import EMPTY, _replace_top_payload, heap_replace_top

MODE_L2_TABLE, MODE_L2_DIRECT, MODE_IP = 0, 1, 2
METRIC_L2, METRIC_IP, METRIC_COSINE = 0, 1, 2
#: Status codes per query row.
STATUS_OK, STATUS_NONFINITE, STATUS_ZERO_NORM = 0, 1, 2
#: Queries per parallel work item.
QUERY_CHUNK = 8


@nb.njit(nogil=True, cache=True)
def heap_sort_payload(hd, hi, hc):
    """Sort max-heap arrays ascending by ``(hd, hi)`` in place, moving ``hc`` along."""
    k = hd.shape[0]
    for end in range(k - 1, 0, -1):
        d, i, c = hd[end], hi[end], hc[end]
        hd[end], hi[end], hc[end] = hd[0], hi[0], hc[0]
        pos = 0
        while True:
            left = 2 * pos + 1
            if left >= end:
                break
            child = left
            right = left + 1
            if right < end and (
                hd[right] > hd[left] or (hd[right] == hd[left] and hi[right] > hi[left])
            ):
                child = right
            if hd[child] > d or (hd[child] == d and hi[child] > i):
                hd[pos], hi[pos], hc[pos] = hd[child], hi[child], hc[child]
                pos = child
            else:
                break
        hd[pos], hi[pos], hc[pos] = d, i, c


@nb.njit(nogil=True, cache=True)
def prepare_query(q, rotation, metric, qv, qr):
    """Copy ``q`` into ``qv`` (normalised for cosine) and ``qr`` (``qv @ rotation`` if a
    rotation is given, else ``qv``); returns a status code."""
    d = q.shape[0]
    s = 0.0
    for t in range(d):
        v = q[t]
        if not np.isfinite(v):
            return STATUS_NONFINITE
        s += np.float64(v) * np.float64(v)
    if metric == METRIC_COSINE:
        if s <= 0.0:
            return STATUS_ZERO_NORM
        inv = np.float32(1.0 / np.sqrt(s))
        for t in range(d):
            qv[t] = q[t] * inv
    else:
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
    return STATUS_OK


@nb.njit(nogil=True, cache=True)
def coarse_scores(qr, cent_t, cnorms, ip, out):
    """``out[l]`` = ``|c_l|^2 - 2 <q, c_l>`` (l2 order key) or ``-<q, c_l>`` (ip)."""
    d, nlist = cent_t.shape
    scale = np.float32(-1.0) if ip else np.float32(-2.0)
    for c in range(nlist):
        out[c] = 0.0 if ip else cnorms[c]
    for t in range(d):
        v = qr[t] * scale
        for c in range(nlist):
            out[c] += v * cent_t[t, c]


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
    # heapsort ascending (no payload)
    for end in range(nprobe - 1, 0, -1):
        d, i = pd[end], pi[end]
        pd[end], pi[end] = pd[0], pi[0]
        pos = 0
        while True:
            left = 2 * pos + 1
            if left >= end:
                break
            child = left
            right = left + 1
            if right < end and (
                pd[right] > pd[left] or (pd[right] == pd[left] and pi[right] > pi[left])
            ):
                child = right
            if pd[child] > d or (pd[child] == d and pi[child] > i):
                pd[pos], pi[pos] = pd[child], pi[child]
                pos = child
            else:
                break
        pd[pos], pi[pos] = d, i


@nb.njit(nogil=True, cache=True)
def scan_list(
    codes, entry_slot, start, size, lut, m, nbits, bias, slot_ids, allow, hd, hi, hc, filled
):
    """ADC-scan one list into the heap; returns the updated count of real heap entries.

    ``lut`` is the flattened ``(m, ksub)`` table; an entry's distance is ``bias`` plus the
    sum of its ``m`` table entries.
    """
    use_allow = allow.shape[0] > 0
    thr = hd[0]
    thr_id = hi[0]
    if nbits == 8:
        for e in range(start, start + size):
            s = entry_slot[e]
            if use_allow and not allow[s]:
                continue
            dd = bias
            for j in range(m):
                dd += lut[j * 256 + codes[e, j]]
            if dd <= thr:
                ident = slot_ids[s]
                if dd < thr or ident < thr_id:
                    _replace_top_payload(hd, hi, hc, dd, ident, s)
                    thr = hd[0]
                    thr_id = hi[0]
                    filled += 1
    else:
        half = m >> 1
        for e in range(start, start + size):
            s = entry_slot[e]
            if use_allow and not allow[s]:
                continue
            dd = bias
            for p in range(half):
                b = codes[e, p]
                dd += lut[p * 32 + (b & 15)] + lut[p * 32 + 16 + (b >> 4)]
            if m & 1:
                dd += lut[half * 32 + (codes[e, half] & 15)]
            if dd <= thr:
                ident = slot_ids[s]
                if dd < thr or ident < thr_id:
                    _replace_top_payload(hd, hi, hc, dd, ident, s)
                    thr = hd[0]
                    thr_id = hi[0]
                    filled += 1
    return filled


@nb.njit(nogil=True, cache=True)
def probe_list(
    lst,
    mode,
    qr,
    coarse,
    qnorm,
    qtab,
    lut,
    resid,
    centroids,
    cb_t,
    ptable,
    nbits,
    list_start,
    list_size,
    codes,
    entry_slot,
    slot_ids,
    allow,
    hd,
    hi,
    hc,
    filled,
):
    """Build the list's table (per ``mode``) and scan it; returns the heap fill count."""
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
        codes,
        entry_slot,
        list_start[lst],
        size,
        flat,
        m,
        nbits,
        bias,
        slot_ids,
        allow,
        hd,
        hi,
        hc,
        filled,
    )


@nb.njit(nogil=True, cache=True)
def search_one(
    q,
    rotation,
    metric,
    mode,
    nprobe,
    k,
    kk,
    rerank,
    centroids,
    cent_t,
    cnorms,
    cb_t,
    ptable,
    nbits,
    list_start,
    list_size,
    codes,
    entry_slot,
    slot_ids,
    allow,
    vectors,
    out_ids,
    out_d,
):
    """Answer one query into ``out_ids``/``out_d`` (pre-filled with -1 / +inf); returns a
    status code. See the module docstring for the steps."""
    d = q.shape[0]
    nlist = centroids.shape[0]
    m, _dsub, ksub = cb_t.shape
    qv = np.empty(d, dtype=np.float32)
    qr = np.empty(d, dtype=np.float32)
    status = prepare_query(q, rotation, metric, qv, qr)
    if status != STATUS_OK:
        return status
    ip = mode == MODE_IP
    coarse = np.empty(nlist, dtype=np.float32)
    coarse_scores(qr, cent_t, cnorms, ip, coarse)
    qnorm = np.float32(0.0)
    for t in range(d):
        qnorm += qr[t] * qr[t]
    pd = np.empty(nprobe, dtype=np.float32)
    pi = np.empty(nprobe, dtype=np.int64)
    select_lists(coarse, nprobe, pd, pi)

    qtab = np.empty((m, ksub), dtype=np.float32)
    if mode == MODE_L2_TABLE:
        table_one(qr, cb_t, True, np.float32(-2.0), qtab)
    elif mode == MODE_IP:
        table_one(qr, cb_t, True, np.float32(-1.0), qtab)
    lut = np.empty((m, ksub), dtype=np.float32)
    resid = np.empty(d, dtype=np.float32)

    hd = np.full(kk, np.inf, dtype=np.float32)
    hi = np.full(kk, EMPTY, dtype=np.int64)
    hc = np.full(kk, -1, dtype=np.int64)
    filled = 0
    for p in range(nprobe):
        filled = probe_list(
            pi[p], mode, qr, coarse, qnorm, qtab, lut, resid, centroids, cb_t, ptable, nbits,
            list_start, list_size, codes, entry_slot, slot_ids, allow, hd, hi, hc, filled,
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
                nbits, list_start, list_size, codes, entry_slot, slot_ids, allow, hd, hi, hc,
                filled,
            )  # fmt: skip
    heap_sort_payload(hd, hi, hc)
    n_real = min(filled, kk)

    if rerank:
        fd = np.full(k, np.inf, dtype=np.float32)
        fi = np.full(k, EMPTY, dtype=np.int64)
        for t in range(n_real):
            dist = distance(qv, vectors[hc[t]], metric)
            if dist < fd[0] or (dist == fd[0] and hi[t] < fi[0]):
                heap_replace_top(fd, fi, dist, hi[t])
        dummy = np.empty(k, dtype=np.int64)
        heap_sort_payload(fd, fi, dummy)
        for t in range(min(k, n_real)):
            out_ids[t] = fi[t]
            out_d[t] = fd[t]
    else:
        scale = np.float32(0.5) if metric == METRIC_COSINE else np.float32(1.0)
        for t in range(min(k, n_real)):
            out_ids[t] = hi[t]
            out_d[t] = max(hd[t], np.float32(0.0)) * scale if not ip else hd[t]
    return STATUS_OK


def _search_batch(
    queries,
    rotation,
    metric,
    mode,
    nprobe,
    k,
    kk,
    rerank,
    centroids,
    cent_t,
    cnorms,
    cb_t,
    ptable,
    nbits,
    list_start,
    list_size,
    codes,
    entry_slot,
    slot_ids,
    allow,
    vectors,
):
    """All queries: ``(ids (nq, k) int64, dists (nq, k) float32, status (nq,) int8)``."""
    nq = queries.shape[0]
    out_ids = np.full((nq, k), -1, dtype=np.int64)
    out_d = np.full((nq, k), np.inf, dtype=np.float32)
    status = np.zeros(nq, dtype=np.int8)
    nchunks = (nq + QUERY_CHUNK - 1) // QUERY_CHUNK
    for ch in nb.prange(nchunks):
        for i in range(ch * QUERY_CHUNK, min(nq, (ch + 1) * QUERY_CHUNK)):
            status[i] = search_one(
                queries[i], rotation, metric, mode, nprobe, k, kk, rerank, centroids, cent_t,
                cnorms, cb_t, ptable, nbits, list_start, list_size, codes, entry_slot, slot_ids,
                allow, vectors, out_ids[i], out_d[i],
            )  # fmt: skip
    return out_ids, out_d, status


#: Parallel over chunks of queries (batch mode).
search_batch = nb.njit(nogil=True, cache=True, parallel=True)(_search_batch)
#: Serial twin: a single query, or a caller that asked for one thread.
search_serial = nb.njit(nogil=True, cache=True)(_search_batch)
