"""Bit kernels for binary codes: packing, popcount, recurrent encoding, byte lookup tables.

Codes are packed little-endian into uint64 words: bit ``j`` of a code is bit ``j % 64`` of word
``j // 64``, so byte ``p`` of the code (bits ``8p .. 8p+7``) is byte ``p % 8`` of word
``p // 8``. Padding bits past the dimension are 0 in every code.

Multi-bit (recurrent) codes hold ``S`` stages per vector: stage ``s`` is the sign pattern
``b_s`` (bit 1 = +1, bit 0 = -1) of the residual left by the stages before it, with a
per-vector scale ``a_s``; the vector is approximated by ``center + sum_s a_s b_s``.

Encoders here return codes row-major, ``(n, stages, n_words)``; an index stores them
word-major (``(stages, n_words, n)``), which is what the scans in
:mod:`indexes._kernels.bits_scan` and :mod:`indexes._kernels.bits_search` read.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numba.core import types
from numba.extending import intrinsic


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


@nb.njit(nogil=True, cache=True)
def center_luts(center, n_bytes):
    """Byte lookup tables of the centre (for ``<c, b>`` of a code ``b``): ``(n_bytes, 256)``."""
    return byte_luts(center.reshape(1, -1), n_bytes)[0]


@nb.njit(nogil=True, cache=True)
def fill_lut(q, lut):
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
