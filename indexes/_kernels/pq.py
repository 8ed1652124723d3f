"""Product-quantization kernels: encode, decode, lookup tables, exhaustive ADC.

Layouts: codebooks ``cb`` are ``(m, ksub, dsub)``; the transposed copy ``cb_t`` is
``(m, dsub, ksub)`` so loops over the ``ksub`` codewords are contiguous and vectorise. Codes
are ``(n, code_size)`` uint8: one byte per sub-quantizer for ``nbits = 8``; for ``nbits = 4``
two per byte, sub-quantizer ``2p`` in the low nibble of byte ``p`` and ``2p + 1`` in the high
nibble (``code_size = ceil(m / 2)``).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from indexes._kernels.kmeans import ROW_BLOCK, nearest_in_block


@nb.njit(nogil=True, cache=True, inline="always")
def get_code(codes_row, j, nbits):
    """Code of sub-quantizer ``j`` in one packed code row."""
    if nbits == 8:
        return np.int64(codes_row[j])
    b = np.int64(codes_row[j >> 1])
    return (b >> 4) if (j & 1) else (b & 15)


@nb.njit(nogil=True, cache=True, parallel=True)
def pq_encode(x, cb, nbits, codes):
    """Nearest codeword (direct squared differences) of every sub-vector of the rows of ``x``.

    ``cb`` is ``(m, ksub, dsub)``; ``codes`` (n, code_size) uint8 is overwritten.
    """
    n = x.shape[0]
    m, _ksub, dsub = cb.shape
    nblocks = (n + ROW_BLOCK - 1) // ROW_BLOCK
    for b in nb.prange(nblocks):
        lo = b * ROW_BLOCK
        w = min(n, lo + ROW_BLOCK) - lo
        xt = np.empty((dsub, ROW_BLOCK), dtype=np.float32)
        best = np.empty(ROW_BLOCK, dtype=np.float32)
        bi = np.empty(ROW_BLOCK, dtype=np.int32)
        acc = np.empty(ROW_BLOCK, dtype=np.float32)
        if nbits == 4:
            for i in range(w):
                for p in range(codes.shape[1]):
                    codes[lo + i, p] = 0
        for j in range(m):
            for i in range(w):
                for t in range(dsub):
                    xt[t, i] = x[lo + i, j * dsub + t]
            nearest_in_block(xt, w, cb[j], best, bi, acc)
            for i in range(w):
                if nbits == 8:
                    codes[lo + i, j] = bi[i]
                elif j & 1:
                    codes[lo + i, j >> 1] |= np.uint8(bi[i] << 4)
                else:
                    codes[lo + i, j >> 1] |= np.uint8(bi[i])


@nb.njit(nogil=True, cache=True, parallel=True)
def pq_decode(codes, cb, nbits, out):
    """Reconstruct sub-vectors from codes into ``out`` (n, m * dsub)."""
    n = codes.shape[0]
    m, _ksub, dsub = cb.shape
    for i in nb.prange(n):
        for j in range(m):
            c = get_code(codes[i], j, nbits)
            for t in range(dsub):
                out[i, j * dsub + t] = cb[j, c, t]


@nb.njit(nogil=True, cache=True)
def table_one(q, cb_t, metric_ip, scale, out):
    """Lookup table of one query: ``out[j, c]`` = ``|q_j - cb[j, c]|^2`` (``metric_ip`` False)
    or ``scale * <q_j, cb[j, c]>`` (``metric_ip`` True)."""
    m, dsub, ksub = cb_t.shape
    for j in range(m):
        row = out[j]
        for c in range(ksub):
            row[c] = 0.0
        for t in range(dsub):
            v = q[j * dsub + t]
            if metric_ip:
                v = v * scale
                for c in range(ksub):
                    row[c] += v * cb_t[j, t, c]
            else:
                for c in range(ksub):
                    u = v - cb_t[j, t, c]
                    row[c] += u * u


@nb.njit(nogil=True, cache=True, parallel=True)
def pq_tables(q, cb_t, metric_ip, scale):
    """Lookup tables ``(nq, m, ksub)`` of every query (see :func:`table_one`)."""
    nq = q.shape[0]
    m, _dsub, ksub = cb_t.shape
    out = np.empty((nq, m, ksub), dtype=np.float32)
    for i in nb.prange(nq):
        table_one(q[i], cb_t, metric_ip, scale, out[i])
    return out


@nb.njit(nogil=True, cache=True, parallel=True)
def adc_all(tables, codes, nbits):
    """Distances ``(nq, n)``: the sum over sub-quantizers of each code's table entries."""
    nq, m, _ksub = tables.shape
    n = codes.shape[0]
    out = np.empty((nq, n), dtype=np.float32)
    for i in nb.prange(nq):
        tab = tables[i]
        for r in range(n):
            s = np.float32(0.0)
            for j in range(m):
                s += tab[j, get_code(codes[r], j, nbits)]
            out[i, r] = s
    return out
