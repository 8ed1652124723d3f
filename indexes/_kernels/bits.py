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
def scan_hamming(qcodes, codes, ids, allow, hd, hi, hc):
    """Top-``kk`` by plain Hamming distance on the first stage's codes.

    Per block, distances are computed first into a small buffer (a tight popcount loop that
    LLVM vectorises), then a second pass offers only rows that beat the heap's worst entry.
    """
    nq = qcodes.shape[0]
    n, n_words = codes.shape
    use_allow = allow.shape[0] > 0
    n_chunks = (nq + _Q_CHUNK - 1) // _Q_CHUNK
    for c in nb.prange(n_chunks):
        q0 = c * _Q_CHUNK
        q1 = min(nq, q0 + _Q_CHUNK)
        buf = np.empty(_ROW_BLOCK, dtype=np.int64)
        for b0 in range(0, n, _ROW_BLOCK):
            b1 = min(n, b0 + _ROW_BLOCK)
            for q in range(q0, q1):
                qc = qcodes[q]
                if n_words == 1:
                    w0 = qc[0]
                    for j in range(b0, b1):
                        buf[j - b0] = popcount64(w0 ^ codes[j, 0])
                else:
                    for j in range(b0, b1):
                        buf[j - b0] = hamming(qc, codes[j])
                d_row, i_row, c_row = hd[q], hi[q], hc[q]
                worst = d_row[0]
                for j in range(b0, b1):
                    d = np.float32(buf[j - b0])
                    if d > worst or (d == worst and ids[j] > i_row[0]):
                        continue
                    if use_allow and not allow[j]:
                        continue
                    _replace_top_payload(d_row, i_row, c_row, d, ids[j], j)
                    worst = d_row[0]


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
