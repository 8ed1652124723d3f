"""Binary-code searches over word-major codes ``codes[stage, word, slot]``.

* :func:`search_codes` / :func:`search_codes_single`: the fused pipeline. A Hamming shortlist
  of ``m`` rows on the first-stage codes (:mod:`indexes._kernels.bits_scan`), optionally
  re-ranked by the asymmetric estimate (float query against every stage's codes) down to
  ``kk``, optionally rescored with the float vectors, top ``k``. One query is one compiled
  call; a batch runs chunks of queries that share each pass over the codes, chunks handed to
  threads dynamically from an atomic counter (a descheduled thread delays one chunk, not
  half the batch).
* :func:`scan_full`: the full code-space scan (symmetric or asymmetric estimate) that scores
  every row with all stages (multi-bit ranking without a shortlist).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from indexes._kernels.bits import fill_lut, popcount64
from indexes._kernels.bits_scan import (
    candidate_capacity,
    scan_chunk,
    select_top,
    shortlist_exhaustive,
    use_exhaustive,
)
from indexes._kernels.intrinsics import atomic_add, prefetch2
from indexes._kernels.rotation import rotate_into
from indexes._kernels.topk import _replace_top_payload, heap_sort_payload


@nb.njit(nogil=True, cache=True, inline="always")
def hamming_col(codes, s, r, qcode):
    """Hamming distance of row ``r``'s stage-``s`` code to a packed code ``qcode``."""
    h = np.uint64(0)
    for w in range(codes.shape[1]):
        h += popcount64(codes[s, w, r] ^ qcode[w])
    return h


@nb.njit(nogil=True, cache=True, inline="always")
def _stage_hamming(codes, s, t, r):
    """Hamming distance between stages ``s`` and ``t`` of row ``r``."""
    h = np.uint64(0)
    for w in range(codes.shape[1]):
        h += popcount64(codes[s, w, r] ^ codes[t, w, r])
    return h


@nb.njit(nogil=True, cache=True, inline="always")
def lut_dot_col(lut, codes, s, r):
    """``<q, b>`` for row ``r``'s stage-``s`` ±1 code ``b`` through the query's byte LUT
    ``(n_bytes, 256)``; four partial sums break the add-latency chain."""
    n_bytes = lut.shape[0]
    s0 = s1 = s2 = s3 = np.float32(0.0)
    m8 = np.uint64(255)
    for w in range(codes.shape[1]):
        x = codes[s, w, r]
        p = 8 * w
        if p + 8 <= n_bytes:
            s0 += lut[p, x & m8] + lut[p + 1, (x >> np.uint64(8)) & m8]
            s1 += lut[p + 2, (x >> np.uint64(16)) & m8] + lut[p + 3, (x >> np.uint64(24)) & m8]
            s2 += lut[p + 4, (x >> np.uint64(32)) & m8] + lut[p + 5, (x >> np.uint64(40)) & m8]
            s3 += lut[p + 6, (x >> np.uint64(48)) & m8] + lut[p + 7, (x >> np.uint64(56)) & m8]
        else:
            for i in range(n_bytes - p):
                s0 += lut[p + i, (x >> np.uint64(8 * i)) & m8]
    return (s0 + s1) + (s2 + s3)


@nb.njit(nogil=True, cache=True)
def _top_sorted(keys, slots, count, ids, k, out_slots, out_keys):
    """The ``k`` best of ``count`` candidates by ``(key, id)``, ascending; returns how many."""
    hd = np.full(k, np.inf, dtype=np.float64)
    hi = np.full(k, np.iinfo(np.int64).max, dtype=np.int64)
    hc = np.full(k, -1, dtype=np.int64)
    for t in range(count):
        d = keys[t]
        i = ids[slots[t]]
        if d < hd[0] or (d == hd[0] and i < hi[0]):
            _replace_top_payload(hd, hi, hc, d, i, slots[t])
    heap_sort_payload(hd, hi, hc)  # ascending; unfilled (inf, max id) entries sort last
    m = 0
    while m < k and hc[m] >= 0:
        out_slots[m] = hc[m]
        out_keys[m] = hd[m]
        m += 1
    return m


@nb.njit(nogil=True, cache=True)
def _select_unordered(keys, slots, count, ids, kk, out_slots, out_keys):
    """The ``kk`` of ``count`` candidates with the smallest ``(key, id)``, in no particular
    order, in O(count): a partition finds the ``kk``-th key, ties at it go by smallest id.
    (The intermediate cut of the pipeline; only the final ``k`` need sorting.)"""
    if count <= kk:
        for t in range(count):
            out_slots[t] = slots[t]
            out_keys[t] = keys[t]
        return count
    kth = np.partition(keys[:count], kk - 1)[kk - 1]
    c = 0
    nt = 0
    tied = np.empty(count, dtype=np.int64)
    for t in range(count):
        if keys[t] < kth:
            out_slots[c] = slots[t]
            out_keys[c] = keys[t]
            c += 1
        elif keys[t] == kth:
            tied[nt] = t
            nt += 1
    need = kk - c
    if nt > need:
        tie_ids = np.empty(nt, dtype=np.int64)
        for r in range(nt):
            tie_ids[r] = ids[slots[tied[r]]]
        order = np.argsort(tie_ids, kind="mergesort")
        for r in range(need):
            out_slots[c] = slots[tied[order[r]]]
            out_keys[c] = kth
            c += 1
        return c
    for r in range(nt):
        out_slots[c] = slots[tied[r]]
        out_keys[c] = kth
        c += 1
    return c


@nb.njit(nogil=True, cache=True, fastmath=True)
def _rescore(q, vectors, cand, count, metric, out):
    """Exact distances of ``q`` to the rows ``cand[:count]`` of ``vectors``, accumulated in
    float64, into ``out``: the rescoring step, one call for all candidates.

    ``fastmath`` lets LLVM reorder the float64 sums into vector lanes (inputs are validated
    finite, and reordering a float64 sum of float32 products moves the result by ~1e-16
    relative). Every candidate row is requested first, so the loads overlap.
    """
    d = q.shape[0]
    for t in range(count):
        for j in range(0, d, 16):
            prefetch2(vectors, cand[t], j)
    for t in range(count):
        x = vectors[cand[t]]
        s = 0.0
        if metric == 0:
            for j in range(d):
                u = np.float64(q[j]) - np.float64(x[j])
                s += u * u
            out[t] = s
        else:
            for j in range(d):
                s += np.float64(q[j]) * np.float64(x[j])
            out[t] = -s if metric == 1 else 1.0 - s


@nb.njit(nogil=True, cache=True)
def _prepare_query(q, center, qcode):
    """Sign code of ``q - center`` into ``qcode``; returns ``(<q, c>, |q|^2)``."""
    qc_dot = 0.0
    q_sq = 0.0
    qcode[:] = 0
    for j in range(q.shape[0]):  # branchless: the sign is a coin flip per dimension
        qcode[j >> 6] |= np.uint64(q[j] >= center[j]) << np.uint64(j & 63)
        qc_dot += np.float64(q[j]) * np.float64(center[j])
        q_sq += np.float64(q[j]) * np.float64(q[j])
    return qc_dot, q_sq


@nb.njit(nogil=True, cache=True)
def _finish_query(
    q, qr, qc_dot, q_sq, short, short_d, cnt, k, kk, refine, rescore, metric, c_sq, c_lut,
    codes, scales, ids, vectors, out_ids, out_d,
):  # fmt: skip
    """Stages 2 and 3 for one query: asymmetric re-ranking of the shortlist (``refine``) down
    to ``kk``, exact float rescoring (``rescore``), the top ``k`` into the output row.

    ``qr`` is the query in code space (rotated, if the index rotates), ``q`` as given (what
    the float vectors are compared with). Without rescoring the distances returned are the
    estimates (the Hamming distance when not ``refine``).
    """
    stages = codes.shape[0]
    d = q.shape[0]
    keys = np.empty(cnt, dtype=np.float64)
    if refine:
        for t in range(cnt):  # ask for every shortlisted code first: the misses overlap
            for s in range(stages):
                for w in range(codes.shape[1]):
                    prefetch2(codes[s], w, short[t])
        lut = np.empty(((d + 7) // 8, 256), dtype=np.float32)
        fill_lut(qr, lut)
        for t in range(cnt):
            r = short[t]
            qu = 0.0  # <q, x^ - c>
            cu = 0.0  # <c, x^ - c>
            for s in range(stages):
                a = np.float64(scales[r, s])
                qu += a * lut_dot_col(lut, codes, s, r)
                if metric == 0:
                    cu += a * lut_dot_col(c_lut, codes, s, r)
            if metric == 0:
                uu = 0.0  # |x^ - c|^2 = sum_{s,t} a_s a_t <b_s, b_t>
                for s in range(stages):
                    for s2 in range(stages):
                        h = np.float64(_stage_hamming(codes, s, s2, r))
                        uu += np.float64(scales[r, s]) * np.float64(scales[r, s2]) * (d - 2 * h)
                keys[t] = q_sq - 2.0 * (qc_dot + qu) + c_sq + 2.0 * cu + uu
            elif metric == 1:
                keys[t] = -(qc_dot + qu)
            else:
                keys[t] = 1.0 - (qc_dot + qu)
    else:
        for t in range(cnt):
            keys[t] = short_d[t]
    cand = np.empty(kk, dtype=np.int64)
    ckeys = np.empty(kk, dtype=np.float64)
    nc = _select_unordered(keys, short, cnt, ids, kk, cand, ckeys)
    if rescore:
        _rescore(q, vectors, cand, nc, metric, ckeys)
    fin = np.empty(k, dtype=np.int64)
    fkeys = np.empty(k, dtype=np.float64)
    nf = _top_sorted(ckeys, cand, nc, ids, k, fin, fkeys)
    for t in range(nf):
        out_ids[t] = ids[fin[t]]
        out_d[t] = fkeys[t]


@nb.njit(nogil=True, cache=True)
def _search_chunk(
    queries, q0, q1, k, m, kk, refine, rescore, metric, signs, perms, center, c_sq, c_lut,
    codes, scales, n, ids, allow, vectors, out_ids, out_d,
):  # fmt: skip
    """Queries ``q0 .. q1-1`` (prepared: normalised for cosine): one shared pass over the
    first-stage codes collects each query's candidates, then each query is finished alone.
    ``signs`` / ``perms`` define the rotation into code space (no rounds: none)."""
    nq = q1 - q0
    d = queries.shape[1]
    n_words = codes.shape[1]
    rotated = signs.shape[0] > 0
    qrot = np.empty((nq if rotated else 0, d), dtype=np.float32)
    tmp = np.empty((2, d), dtype=np.float64)
    qcodes = np.empty((nq, n_words), dtype=np.uint64)
    qc_dot = np.empty(nq, dtype=np.float64)
    q_sq = np.empty(nq, dtype=np.float64)
    for i in range(nq):
        if rotated:
            rotate_into(queries[q0 + i], signs, perms, qrot[i], tmp)
            qc_dot[i], q_sq[i] = _prepare_query(qrot[i], center, qcodes[i])
        else:
            qc_dot[i], q_sq[i] = _prepare_query(queries[q0 + i], center, qcodes[i])
    cap = 0 if use_exhaustive(m, n) else candidate_capacity(m)
    cd = np.empty((nq, cap), dtype=np.uint16)
    cs = np.empty((nq, cap), dtype=np.int64)
    counts = np.empty(nq, dtype=np.int64)
    hist = np.empty(n_words * 64 + 1, dtype=np.int32)
    codes0 = codes[0]
    exhaustive = use_exhaustive(m, n)
    if exhaustive:
        counts[:] = -1
    else:
        scan_chunk(qcodes, codes0, n, allow, m, cd, cs, counts, hist)
    buf = np.empty(n if exhaustive or (counts < 0).any() else 0, dtype=np.uint16)
    short = np.empty(m, dtype=np.int64)
    short_d = np.empty(m, dtype=np.uint16)
    for i in range(nq):
        if counts[i] >= 0:
            cnt = select_top(cd[i], cs[i], counts[i], ids, m, hist, short, short_d)
        else:
            cnt = shortlist_exhaustive(
                qcodes[i], codes0, n, allow, ids, m, hist, buf, short, short_d
            )
        q = queries[q0 + i]
        _finish_query(
            q, qrot[i] if rotated else q, qc_dot[i], q_sq[i], short, short_d, cnt, k, kk,
            refine, rescore, metric, c_sq, c_lut, codes, scales, ids, vectors, out_ids[q0 + i],
            out_d[q0 + i],
        )  # fmt: skip


@nb.njit(nogil=True, cache=True, parallel=True)
def search_codes(
    queries, k, m, kk, refine, rescore, metric, signs, perms, center, c_sq, c_lut, codes,
    scales, n, ids, allow, vectors, chunk, n_workers,
):  # fmt: skip
    """The fused pipeline for a batch (queries prepared), ``chunk`` queries per pass over the
    codes. Returns ``(ids (nq, k) int64, distances (nq, k) float32)`` padded with ``-1`` /
    ``+inf``."""
    nq = queries.shape[0]
    out_ids = np.full((nq, k), -1, dtype=np.int64)
    out_d = np.full((nq, k), np.inf, dtype=np.float32)
    n_chunks = (nq + chunk - 1) // chunk
    ctr = np.zeros(1, dtype=np.int64)
    for _ in nb.prange(n_workers):
        while True:
            c = atomic_add(ctr, 0, 1)
            if c >= n_chunks:
                break
            _search_chunk(
                queries, c * chunk, min(nq, c * chunk + chunk), k, m, kk, refine, rescore,
                metric, signs, perms, center, c_sq, c_lut, codes, scales, n, ids, allow,
                vectors, out_ids, out_d,
            )  # fmt: skip
    return out_ids, out_d


@nb.njit(nogil=True, cache=True)
def search_codes_single(
    q, normalize, k, m, kk, refine, rescore, metric, signs, perms, center, c_sq, c_lut, codes,
    scales, n, ids, allow, vectors,
):  # fmt: skip
    """One raw query (1-d float32) in one call: checks it is finite (and, with ``normalize``,
    non-zero), normalises it, and runs the pipeline. Returns ``(ids (1, k), distances (1, k),
    status)``; ``status`` is 1 for a query the caller must reject."""
    d = q.shape[0]
    out_ids = np.full((1, k), -1, dtype=np.int64)
    out_d = np.full((1, k), np.inf, dtype=np.float32)
    s = 0.0
    for j in range(d):
        v = np.float64(q[j])
        if not np.isfinite(v):
            return out_ids, out_d, 1
        s += v * v
    qn = np.empty((1, d), dtype=np.float32)
    if normalize:
        if not s > 0.0:
            return out_ids, out_d, 1
        inv = 1.0 / np.sqrt(s)
        for j in range(d):
            qn[0, j] = q[j] * inv
    else:
        qn[0] = q
    _search_chunk(
        qn, 0, 1, k, m, kk, refine, rescore, metric, signs, perms, center, c_sq, c_lut, codes,
        scales, n, ids, allow, vectors, out_ids, out_d,
    )  # fmt: skip
    return out_ids, out_d, 0


# --------------------------------------------------------------------------------------------
# Full code-space scans (every row scored with every stage). Each folds the allowed rows into
# a per-query max-heap of ``kk`` entries keyed by (approximate distance, id) with the row's
# slot as payload. Work is split into chunks of queries (the parallel loop) and blocks of
# rows, so a block of codes is reused from cache by every query of a chunk.
# --------------------------------------------------------------------------------------------
_Q_CHUNK = 8
_ROW_BLOCK = 2048


@nb.njit(nogil=True, cache=True, parallel=True)
def scan_full(
    symmetric, qcodes, qscales, luts, codes, scales, cdot, xhat_sq, metric, dim, n, ids, allow,
    hd, hi, hc,
):  # fmt: skip
    """Top-``kk`` of every allowed row by a code-space estimate of ``<q, x^ - c>``.

    * ``symmetric``: the query is encoded too (``qcodes`` / ``qscales``) and
      ``<q^, u_x> = <c, u_x> + sum_{s,t} aq_s ax_t (dim - 2 ham(bq_s, bx_t))`` with
      ``u_x = x^ - c`` (``cdot`` holds ``<c, u_x>``);
    * otherwise (asymmetric) the float query is scored through its byte lookup tables
      ``luts``: ``<q, u_x> = sum_t ax_t <q, b_t>``.

    The key is ``-<q, u_x>`` (ip, cosine) or ``|x^|^2 - 2<q, u_x>`` (l2), which orders rows
    like the estimated distance (per-query constants dropped). Arguments the mode does not use
    may be empty.
    """
    nq = hd.shape[0]
    sq = qscales.shape[1]
    sx = scales.shape[1]
    use_allow = allow.shape[0] > 0
    n_chunks = (nq + _Q_CHUNK - 1) // _Q_CHUNK
    for c in nb.prange(n_chunks):
        q0 = c * _Q_CHUNK
        q1 = min(nq, q0 + _Q_CHUNK)
        for b0 in range(0, n, _ROW_BLOCK):
            b1 = min(n, b0 + _ROW_BLOCK)
            for q in range(q0, q1):
                d_row, i_row, c_row = hd[q], hi[q], hc[q]
                for j in range(b0, b1):
                    if use_allow and not allow[j]:
                        continue
                    if symmetric:
                        ip = cdot[j]
                        for s in range(sq):
                            for t in range(sx):
                                h = np.float32(hamming_col(codes, t, j, qcodes[q, s]))
                                ip += qscales[q, s] * scales[j, t] * (np.float32(dim) - 2 * h)
                    else:
                        ip = np.float32(0.0)
                        for t in range(sx):
                            ip += scales[j, t] * lut_dot_col(luts[q], codes, t, j)
                    d = xhat_sq[j] - 2 * ip if metric == 0 else -ip
                    if d < d_row[0] or (d == d_row[0] and ids[j] < i_row[0]):
                        _replace_top_payload(d_row, i_row, c_row, d, ids[j], j)
