"""Bit kernels for binary codes: packing, popcount, Hamming and lookup-table scans.

Codes are packed little-endian into uint64 words: bit ``j`` of a code is bit ``j % 64`` of word
``j // 64``, so byte ``p`` of the code (bits ``8p .. 8p+7``) is byte ``p % 8`` of word
``p // 8``. Padding bits past the dimension are 0 in every code.

Multi-bit (recurrent) codes hold ``S`` stages per vector: stage ``s`` is the sign pattern
``b_s`` (bit 1 = +1, bit 0 = -1) of the residual left by the stages before it, with a
per-vector scale ``a_s``; the vector is approximated by ``center + sum_s a_s b_s``.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numba.core import types
from numba.extending import intrinsic

from indexes._kernels.intrinsics import prefetch2
from indexes._kernels.topk import _replace_top_payload


@intrinsic
def popcount64(typingctx, x):
    """Hardware population count of a uint64 (LLVM ``ctpop``; ``popcnt``/``vpopcntq``)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


@nb.njit(nogil=True, cache=True, inline="always")
def hamming(a, b):
    """Number of differing bits of two packed codes (1-d uint64 arrays of equal length)."""
    s = np.uint64(0)
    for w in range(a.shape[0]):
        s += popcount64(a[w] ^ b[w])
    return s


@nb.njit(nogil=True, cache=True, parallel=True)
def hamming_matrix(qcodes, codes):
    """All-pairs Hamming distances ``(nq, n)`` (int32): for tests and small inputs."""
    nq, n = qcodes.shape[0], codes.shape[0]
    out = np.empty((nq, n), dtype=np.int32)
    for i in nb.prange(nq):
        for j in range(n):
            out[i, j] = hamming(qcodes[i], codes[j])
    return out


@nb.njit(nogil=True, cache=True, parallel=True)
def encode_recurrent(x, center, stages, n_words):
    """Recurrent binarization of rows of ``x`` around ``center``.

    Returns ``codes (n, stages, n_words) uint64`` and ``scales (n, stages) float32``. Stage
    ``s`` packs the signs of the residual ``r`` (a zero counts as +1) and its scale is
    ``mean(|r|)``, the least-squares optimal scale for a sign pattern; then
    ``r -= scale * sign(r)``. Each stage can only lower the reconstruction error.
    """
    n, d = x.shape
    codes = np.zeros((n, stages, n_words), dtype=np.uint64)
    scales = np.zeros((n, stages), dtype=np.float32)
    for i in nb.prange(n):
        r = np.empty(d, dtype=np.float64)
        for j in range(d):
            r[j] = np.float64(x[i, j]) - np.float64(center[j])
        for s in range(stages):
            a = 0.0
            for j in range(d):
                a += abs(r[j])
            a /= d
            for j in range(d):
                if r[j] >= 0.0:
                    codes[i, s, j >> 6] |= np.uint64(1) << np.uint64(j & 63)
                    r[j] -= a
                else:
                    r[j] += a
            scales[i, s] = a
    return codes, scales


@nb.njit(nogil=True, cache=True, parallel=True)
def decode_recurrent(codes, scales, center):
    """Reconstruct ``center + sum_s a_s b_s`` for every row (float32 ``(n, d)``)."""
    n, stages = scales.shape
    d = center.shape[0]
    out = np.empty((n, d), dtype=np.float32)
    for i in nb.prange(n):
        for j in range(d):
            v = np.float64(center[j])
            word = j >> 6
            bit = np.uint64(j & 63)
            for s in range(stages):
                if (codes[i, s, word] >> bit) & np.uint64(1):
                    v += scales[i, s]
                else:
                    v -= scales[i, s]
            out[i, j] = v
    return out


@nb.njit(nogil=True, cache=True, parallel=True)
def byte_luts(queries, n_bytes):
    """Per-query lookup tables ``(nq, n_bytes, 256)`` float32 for asymmetric scoring.

    ``lut[q, p, v] = sum_i queries[q, 8p + i] * (+1 if bit i of v else -1)``, so the inner
    product of query ``q`` with a ±1 code is the sum over its bytes of ``lut[q, p, byte_p]``.
    Dimensions past ``d`` count as zero.
    """
    nq, d = queries.shape
    out = np.empty((nq, n_bytes, 256), dtype=np.float32)
    for q in nb.prange(nq):
        for p in range(n_bytes):
            vals = np.zeros(8, dtype=np.float32)
            for i in range(8):
                j = 8 * p + i
                if j < d:
                    vals[i] = queries[q, j]
            for v in range(256):
                s = np.float32(0.0)
                for i in range(8):
                    if (v >> i) & 1:
                        s += vals[i]
                    else:
                        s -= vals[i]
                out[q, p, v] = s
    return out


@nb.njit(nogil=True, cache=True, inline="always")
def _lut_dot(lut, code, n_bytes):
    """Inner product of a query (through its byte LUT) with one packed ±1 code."""
    s = np.float32(0.0)
    for p in range(n_bytes):
        byte = (code[p >> 3] >> np.uint64((p & 7) * 8)) & np.uint64(255)
        s += lut[p, byte]
    return s


# Scans. Each folds every allowed row into a per-query max-heap of ``kk`` entries keyed by
# (approximate distance, id) with the row's slot as payload. Work is split into chunks of
# queries (the parallel loop) and blocks of rows, so a block of codes is reused from cache by
# every query of a chunk.
_Q_CHUNK = 8
_ROW_BLOCK = 2048


@nb.njit(nogil=True, cache=True, parallel=True)
def scan_symmetric(
    qcodes, qscales, codes, scales, cdot, xhat_sq, metric, dim, ids, allow, hd, hi, hc
):
    """Top-``kk`` by the code-vs-code estimate of the distance (symmetric, multi-stage).

    ``<q^, u_x> = <c, u_x> + sum_{s,t} aq_s ax_t (dim - 2 ham(bq_s, bx_t))`` with
    ``u_x = x^ - c``; the key is ``-<q^, u_x>`` (ip, cosine) or ``|x^|^2 - 2<q^, u_x>`` (l2),
    which orders rows like the estimated distance (per-query constants dropped).
    """
    nq, sq = qscales.shape
    n, sx = scales.shape
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
                    ip = cdot[j]
                    for s in range(sq):
                        for t in range(sx):
                            h = np.float32(hamming(qcodes[q, s], codes[j, t]))
                            ip += qscales[q, s] * scales[j, t] * (np.float32(dim) - 2 * h)
                    d = xhat_sq[j] - 2 * ip if metric == 0 else -ip
                    if d < d_row[0] or (d == d_row[0] and ids[j] < i_row[0]):
                        _replace_top_payload(d_row, i_row, c_row, d, ids[j], j)


@nb.njit(nogil=True, cache=True, parallel=True)
def scan_asymmetric(luts, codes, scales, xhat_sq, metric, ids, allow, hd, hi, hc):
    """Top-``kk`` by the float-query-vs-code estimate ``<q, u_x> = sum_t ax_t <q, b_t>``.

    ``<q, b_t>`` comes from the query's byte lookup tables; keys as in :func:`scan_symmetric`.
    """
    nq, n_bytes = luts.shape[0], luts.shape[1]
    n, sx = scales.shape
    use_allow = allow.shape[0] > 0
    n_chunks = (nq + _Q_CHUNK - 1) // _Q_CHUNK
    for c in nb.prange(n_chunks):
        q0 = c * _Q_CHUNK
        q1 = min(nq, q0 + _Q_CHUNK)
        for b0 in range(0, n, _ROW_BLOCK):
            b1 = min(n, b0 + _ROW_BLOCK)
            for q in range(q0, q1):
                lut = luts[q]
                d_row, i_row, c_row = hd[q], hi[q], hc[q]
                for j in range(b0, b1):
                    if use_allow and not allow[j]:
                        continue
                    ip = np.float32(0.0)
                    for t in range(sx):
                        ip += scales[j, t] * _lut_dot(lut, codes[j, t], n_bytes)
                    d = xhat_sq[j] - 2 * ip if metric == 0 else -ip
                    if d < d_row[0] or (d == d_row[0] and ids[j] < i_row[0]):
                        _replace_top_payload(d_row, i_row, c_row, d, ids[j], j)


# --------------------------------------------------------------------------------------------
# Fused search: Hamming shortlist -> optional asymmetric refinement -> optional float rescoring
# --------------------------------------------------------------------------------------------
# One query's whole pipeline runs inside one compiled function, so a single-query search is
# one kernel call (no per-stage Python, no intermediate arrays handed back and forth), and a
# batch is a ``prange`` over queries of the same function.
#
# Stage 1 ranks every allowed row by the Hamming distance of its first-stage code to the
# query's sign code and keeps the best ``m``: distances go into a buffer in a tight popcount
# loop, a histogram over the (small, integer) distances gives the cut-off, and one more pass
# collects the rows under it; rows tied at the cut-off are taken by smallest id, so the
# shortlist is exactly the top ``m`` by ``(distance, id)``. No heap is touched per row.


@nb.njit(nogil=True, cache=True)
def center_luts(center, n_bytes):
    """Byte lookup tables of the centre (for ``<c, b>`` of a code ``b``): ``(n_bytes, 256)``."""
    return byte_luts(center.reshape(1, -1), n_bytes)[0]


@nb.njit(nogil=True, cache=True)
def _fill_lut(q, lut):
    """``lut[p, v] = sum_i q[8p + i] * (+1 if bit i of v else -1)`` with 255 adds per byte."""
    d = q.shape[0]
    n_bytes = lut.shape[0]
    for p in range(n_bytes):
        base = np.float32(0.0)
        for i in range(8):
            j = 8 * p + i
            if j < d:
                base -= q[j]
        lut[p, 0] = base
        step = 1
        for i in range(8):
            j = 8 * p + i
            two_q = np.float32(2.0) * q[j] if j < d else np.float32(0.0)
            for v in range(step):
                lut[p, v + step] = lut[p, v] + two_q
            step *= 2


@nb.njit(nogil=True, cache=True)
def _hamming_shortlist(qcode, codes, ids, allow, m, buf, hist, out):
    """Slots of the ``m`` allowed rows nearest to ``qcode`` by (Hamming on stage 0, id).

    Writes them (unordered) into ``out`` and returns how many (fewer when fewer rows are
    allowed). ``buf`` (uint16, one per row) receives every row's distance, ``len(hist)`` for
    a row not allowed; ``hist`` (``n_words * 64 + 1`` counts) the distance histogram. The
    histogram is counted into two interleaved halves so that runs of equal distances do not
    serialise on one counter (measured 4.5 -> ~2 us per 11k rows).
    """
    n, n_words = codes.shape[0], codes.shape[2]
    nd = hist.shape[0]
    for j in range(n):
        s = np.uint64(0)
        for w in range(n_words):
            s += popcount64(qcode[w] ^ codes[j, 0, w])
        buf[j] = s
    h2 = np.zeros((2, nd + 1), dtype=np.int32)  # column nd counts rows not allowed
    if allow.shape[0] > 0:
        for j in range(n):
            if not allow[j]:
                buf[j] = nd
    n2 = n - n % 2
    for j in range(0, n2, 2):
        h2[0, buf[j]] += 1
        h2[1, buf[j + 1]] += 1
    if n2 < n:
        h2[0, buf[n - 1]] += 1
    for t in range(nd):
        hist[t] = h2[0, t] + h2[1, t]
    total = 0
    t = 0
    while t < nd and total + hist[t] < m:
        total += hist[t]
        t += 1
    cnt = 0
    if t == nd:  # fewer than m allowed rows: all of them
        for j in range(n):
            if buf[j] < nd:
                out[cnt] = j
                cnt += 1
        return cnt
    need = m - total
    tied = np.empty(hist[t], dtype=np.int64)
    nt = 0
    for j in range(n):
        dj = buf[j]
        if dj < t:
            out[cnt] = j
            cnt += 1
        elif dj == t:
            tied[nt] = j
            nt += 1
    if nt > need:  # keep the smallest ids among rows tied at the cut-off
        tie_ids = np.empty(nt, dtype=np.int64)
        for r in range(nt):
            tie_ids[r] = ids[tied[r]]
        order = np.argsort(tie_ids, kind="mergesort")
        for r in range(need):
            out[cnt] = tied[order[r]]
            cnt += 1
    else:
        for r in range(nt):
            out[cnt] = tied[r]
            cnt += 1
    return cnt


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
    m = 0
    for t in range(k):
        if hc[t] >= 0:
            hd[m], hi[m], hc[m] = hd[t], hi[t], hc[t]
            m += 1
    for a in range(1, m):  # insertion sort of at most k entries
        d, i, c = hd[a], hi[a], hc[a]
        b = a - 1
        while b >= 0 and (hd[b] > d or (hd[b] == d and hi[b] > i)):
            hd[b + 1], hi[b + 1], hc[b + 1] = hd[b], hi[b], hc[b]
            b -= 1
        hd[b + 1], hi[b + 1], hc[b + 1] = d, i, c
    for t in range(m):
        out_slots[t] = hc[t]
        out_keys[t] = hd[t]
    return m


@nb.njit(nogil=True, cache=True, inline="always")
def _lut_dot4(lut, code, n_bytes):
    """:func:`_lut_dot` with four independent partial sums (no add-latency chain)."""
    s0 = s1 = s2 = s3 = np.float32(0.0)
    n4 = n_bytes - n_bytes % 4
    for p in range(0, n4, 4):
        w = code[p >> 3]
        sh = np.uint64((p & 7) * 8)
        s0 += lut[p, (w >> sh) & np.uint64(255)]
        s1 += lut[p + 1, (w >> (sh + np.uint64(8))) & np.uint64(255)]
        s2 += lut[p + 2, (w >> (sh + np.uint64(16))) & np.uint64(255)]
        s3 += lut[p + 3, (w >> (sh + np.uint64(24))) & np.uint64(255)]
    for p in range(n4, n_bytes):
        s0 += lut[p, (code[p >> 3] >> np.uint64((p & 7) * 8)) & np.uint64(255)]
    return (s0 + s1) + (s2 + s3)


@nb.njit(nogil=True, cache=True, fastmath=True)
def _exact_fm(q, x, metric):
    """Distance of two float32 rows accumulated in float64: the rescoring step.

    ``fastmath`` lets LLVM reorder the float64 sum into vector lanes (inputs are validated
    finite, and reordering a float64 sum of float32 products moves the result by ~1e-16
    relative): measured 41 -> 18 us for 40 random 784-d rows.
    """
    s = 0.0
    if metric == 0:
        for j in range(q.shape[0]):
            t = np.float64(q[j]) - np.float64(x[j])
            s += t * t
        return s
    for j in range(q.shape[0]):
        s += np.float64(q[j]) * np.float64(x[j])
    return -s if metric == 1 else 1.0 - s


@nb.njit(nogil=True, cache=True)
def _search_codes_one(
    q, k, m, kk, refine, rescore, metric, center, c_sq, c_lut, codes, scales, ids, allow,
    vectors, out_ids, out_d,
):  # fmt: skip
    """One query (prepared: normalised for cosine) through the three stages; fills a row.

    ``m`` rows are shortlisted by Hamming; with ``refine`` they are re-ranked by the
    asymmetric estimate of the distance (float query against all stages' codes) and ``kk``
    kept; with ``rescore`` those ``kk`` are re-ranked by exact float distances. Without
    rescoring the returned distances are the estimates (Hamming distance without ``refine``).
    """
    n, stages, n_words = codes.shape
    d = q.shape[0]
    qcode = np.zeros(n_words, dtype=np.uint64)
    qc_dot = 0.0
    q_sq = 0.0
    for j in range(d):
        if q[j] >= center[j]:
            qcode[j >> 6] |= np.uint64(1) << np.uint64(j & 63)
        qc_dot += np.float64(q[j]) * np.float64(center[j])
        q_sq += np.float64(q[j]) * np.float64(q[j])
    buf = np.empty(n, dtype=np.uint16)
    hist = np.empty(n_words * 64 + 1, dtype=np.int32)
    short = np.empty(m, dtype=np.int64)
    cnt = _hamming_shortlist(qcode, codes, ids, allow, m, buf, hist, short)
    keys = np.empty(cnt, dtype=np.float64)
    if refine:
        n_bytes = c_lut.shape[0]
        lut = np.empty((n_bytes, 256), dtype=np.float32)
        _fill_lut(q, lut)
        for t in range(cnt):
            r = short[t]
            qu = 0.0  # <q, x^ - c>
            cu = 0.0  # <c, x^ - c>
            for s in range(stages):
                a = np.float64(scales[r, s])
                qu += a * _lut_dot4(lut, codes[r, s], n_bytes)
                if metric == 0:
                    cu += a * _lut_dot4(c_lut, codes[r, s], n_bytes)
            if metric == 0:
                uu = 0.0  # |x^ - c|^2 = sum_{s,t} a_s a_t <b_s, b_t>
                for s in range(stages):
                    for s2 in range(stages):
                        h = np.float64(hamming(codes[r, s], codes[r, s2]))
                        uu += np.float64(scales[r, s]) * np.float64(scales[r, s2]) * (d - 2 * h)
                keys[t] = q_sq - 2.0 * (qc_dot + qu) + c_sq + 2.0 * cu + uu
            elif metric == 1:
                keys[t] = -(qc_dot + qu)
            else:
                keys[t] = 1.0 - (qc_dot + qu)
    else:
        for t in range(cnt):
            keys[t] = buf[short[t]]
    cand = np.empty(kk, dtype=np.int64)
    ckeys = np.empty(kk, dtype=np.float64)
    nc = _top_sorted(keys, short, cnt, ids, kk, cand, ckeys)
    if rescore:
        # ask for every candidate row first: the loads overlap instead of one miss per row
        for t in range(nc):
            for j in range(0, d, 16):
                prefetch2(vectors, cand[t], j)
        for t in range(nc):
            ckeys[t] = _exact_fm(q, vectors[cand[t]], metric)
    fin = np.empty(k, dtype=np.int64)
    fkeys = np.empty(k, dtype=np.float64)
    nf = _top_sorted(ckeys, cand, nc, ids, k, fin, fkeys)
    for t in range(nf):
        out_ids[t] = ids[fin[t]]
        out_d[t] = fkeys[t]
    return nf


@nb.njit(nogil=True, cache=True, parallel=True)
def search_codes(
    queries, k, m, kk, refine, rescore, metric, center, c_sq, c_lut, codes, scales, ids, allow,
    vectors,
):  # fmt: skip
    """:func:`_search_codes_one` for every query (parallel over queries). Returns
    ``(ids (nq, k) int64, distances (nq, k) float32)`` padded with ``-1`` / ``+inf``."""
    nq = queries.shape[0]
    out_ids = np.full((nq, k), -1, dtype=np.int64)
    out_d = np.full((nq, k), np.inf, dtype=np.float32)
    for i in nb.prange(nq):
        _search_codes_one(
            queries[i], k, m, kk, refine, rescore, metric, center, c_sq, c_lut, codes, scales,
            ids, allow, vectors, out_ids[i], out_d[i],
        )  # fmt: skip
    return out_ids, out_d


@nb.njit(nogil=True, cache=True)
def search_codes_single(
    q, normalize, k, m, kk, refine, rescore, metric, center, c_sq, c_lut, codes, scales, ids,
    allow, vectors,
):  # fmt: skip
    """One raw query (1-d float32) in one call: checks it is finite (and, with ``normalize``,
    non-zero), normalises it, and runs :func:`_search_codes_one`. Returns ``(ids (1, k),
    distances (1, k), status)``; ``status`` is 1 for a query the caller must reject."""
    d = q.shape[0]
    out_ids = np.full((1, k), -1, dtype=np.int64)
    out_d = np.full((1, k), np.inf, dtype=np.float32)
    s = 0.0
    for j in range(d):
        v = np.float64(q[j])
        if not np.isfinite(v):
            return out_ids, out_d, 1
        s += v * v
    if normalize:
        if not s > 0.0:
            return out_ids, out_d, 1
        inv = 1.0 / np.sqrt(s)
        qn = np.empty(d, dtype=np.float32)
        for j in range(d):
            qn[j] = q[j] * inv
    else:
        qn = q
    _search_codes_one(
        qn, k, m, kk, refine, rescore, metric, center, c_sq, c_lut, codes, scales, ids, allow,
        vectors, out_ids[0], out_d[0],
    )  # fmt: skip
    return out_ids, out_d, 0
