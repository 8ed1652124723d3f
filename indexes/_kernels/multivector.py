"""Kernels for multi-vector (late-interaction) retrieval: Chamfer / MaxSim and FDE aggregation.

Ragged sets are a flat ``(total, d)`` token array plus ``offsets`` (``n + 1``, int64): set
``i`` owns rows ``offsets[i]:offsets[i + 1]``.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(nogil=True, cache=True, fastmath=True)
def _dot32(a, b):
    """Float32 dot product; fastmath lets LLVM vectorise it (the same precision as BLAS's
    sgemm, which computes the brute-force scores)."""
    s = np.float32(0.0)
    for t in range(a.shape[0]):
        s += a[t] * b[t]
    return s


@nb.njit(nogil=True, cache=True)
def _maxsim_one(q_tok, d_tok):
    """``sum_i max_j <q_i, d_j>`` for one query set and one document set."""
    total = 0.0
    for i in range(q_tok.shape[0]):
        best = -np.inf
        for j in range(d_tok.shape[0]):
            best = max(best, np.float64(_dot32(q_tok[i], d_tok[j])))
        total += best
    return total


@nb.njit(nogil=True, cache=True, parallel=True)
def maxsim_candidates(q_tokens, q_offsets, d_tokens, d_offsets, cand):
    """Exact MaxSim of each query set ``r`` with its candidate documents ``cand[r, :]``.

    ``cand`` holds document rows (``-1`` = padding, score ``-inf``). Returns float64 scores.
    """
    nq, c = cand.shape
    out = np.full((nq, c), -np.inf)
    for r in nb.prange(nq):
        q_tok = q_tokens[q_offsets[r] : q_offsets[r + 1]]
        for t in range(c):
            doc = cand[r, t]
            if doc >= 0:
                out[r, t] = _maxsim_one(q_tok, d_tokens[d_offsets[doc] : d_offsets[doc + 1]])
    return out


@nb.njit(nogil=True, cache=True, parallel=True)
def maxsim_candidates_f16(q_tokens, q_offsets, d_bits, d_offsets, cand, lut):
    """:func:`maxsim_candidates` over float16 document tokens.

    Numba has no CPU float16, so the tokens come as their ``uint16`` bit patterns ``d_bits``
    and ``lut`` holds all 65,536 float16 values as float32 (256 KiB; decoding is one exact
    table look-up). Each candidate document is decoded into a per-row float32 scratch block
    (never the whole token array) and scored by the same float32 dot product as the float32
    path, so scores equal those of a float32 index over the float16-rounded tokens.
    """
    nq, c = cand.shape
    d = d_bits.shape[1]
    out = np.full((nq, c), -np.inf)
    for r in nb.prange(nq):
        q_tok = q_tokens[q_offsets[r] : q_offsets[r + 1]]
        longest = 0
        for t in range(c):
            doc = cand[r, t]
            if doc >= 0:
                longest = max(longest, d_offsets[doc + 1] - d_offsets[doc])
        scratch = np.empty((longest, d), dtype=np.float32)
        for t in range(c):
            doc = cand[r, t]
            if doc >= 0:
                lo, m = d_offsets[doc], d_offsets[doc + 1] - d_offsets[doc]
                for j in range(m):
                    for u in range(d):
                        scratch[j, u] = lut[d_bits[lo + j, u]]
                out[r, t] = _maxsim_one(q_tok, scratch[:m])
    return out


@nb.njit(nogil=True, cache=True, parallel=True)
def segment_max_sum(scores, d_offsets):
    """From token scores ``(nq_tokens, total_doc_tokens)`` of ONE query, each document's
    MaxSim: per document the sum over query tokens of the max over its tokens."""
    nq_tok = scores.shape[0]
    n_docs = d_offsets.shape[0] - 1
    out = np.empty(n_docs, dtype=np.float64)
    for doc in nb.prange(n_docs):
        lo, hi = d_offsets[doc], d_offsets[doc + 1]
        total = 0.0
        for i in range(nq_tok):
            best = -np.inf
            for j in range(lo, hi):
                best = max(best, np.float64(scores[i, j]))
            total += best
        out[doc] = total
    return out


@nb.njit(nogil=True, cache=True, inline="always")
def gray_append(code, bit):
    """Append a sign bit to a partition index.

    Appending bits ``r1, r2, ...`` this way yields the index whose Gray code is the sign
    pattern ``r1 r2 ...``: indices ``p`` and ``p + 1`` are sign patterns one bit apart.
    """
    return (code << 1) + (bit ^ (code & 1))


@nb.njit(nogil=True, cache=True, inline="always")
def partition_bits(code):
    """The sign pattern (first hyperplane most significant) of partition index ``code``."""
    return code ^ (code >> 1)


@nb.njit(nogil=True, cache=True, inline="always")
def _popcount(v):
    c = 0
    while v:
        v &= v - 1
        c += 1
    return c


@nb.njit(nogil=True, cache=True, parallel=True)
def fde_aggregate(sketches, projected, offsets, r_reps, k_sim, d_proj, average, fill_empty):
    """Fixed dimensional encodings of ragged sets from their SimHash sketches and projections.

    ``sketches (total, r_reps * k_sim)``: token ``x`` times each repetition's Gaussian
    hyperplanes; the signs, appended as a Gray code, give its partition (``2 ** k_sim`` per
    repetition). ``projected (total, r_reps * d_proj)``: each repetition's projection of the
    token. Block ``(rep, partition)`` of the output is the sum (queries) or the average
    (documents, ``average=True``) of the projected tokens that fall in it. With
    ``fill_empty``, an empty block of a document takes the projection of the token whose sign
    bits are closest (Hamming) to the partition's. Output ``(n, r_reps * 2**k_sim * d_proj)``.
    """
    n = offsets.shape[0] - 1
    n_parts = 1 << k_sim
    block = n_parts * d_proj
    out = np.zeros((n, r_reps * block), dtype=np.float32)
    for i in nb.prange(n):
        lo, hi = offsets[i], offsets[i + 1]
        m = hi - lo
        counts = np.zeros(n_parts, dtype=np.int64)
        bits = np.empty(m, dtype=np.int64)
        for rep in range(r_reps):
            counts[:] = 0
            base = rep * block
            for t in range(m):
                code = 0
                raw = 0
                for b in range(k_sim):
                    bit = 1 if sketches[lo + t, rep * k_sim + b] > 0 else 0
                    code = gray_append(code, bit)
                    raw = (raw << 1) | bit
                bits[t] = raw
                counts[code] += 1
                off = base + code * d_proj
                for j in range(d_proj):
                    out[i, off + j] += projected[lo + t, rep * d_proj + j]
            for p in range(n_parts):
                off = base + p * d_proj
                if counts[p] > 0:
                    if average and counts[p] > 1:
                        inv = np.float32(1.0 / counts[p])
                        for j in range(d_proj):
                            out[i, off + j] *= inv
                elif fill_empty and m > 0:
                    target = partition_bits(p)
                    best_t = 0
                    best_h = k_sim + 1
                    for t in range(m):
                        h = _popcount(bits[t] ^ target)
                        if h < best_h:
                            best_h = h
                            best_t = t
                    for j in range(d_proj):
                        out[i, off + j] = projected[lo + best_t, rep * d_proj + j]
    return out


@nb.njit(nogil=True, cache=True, parallel=True)
def count_sketch(x, buckets, signs, out_dim):
    """Final projection: coordinate ``j`` of each row is added, times ``signs[j]``, into
    ``buckets[j]`` of an ``out_dim`` vector (a count sketch; inner products are preserved in
    expectation)."""
    n, d = x.shape
    out = np.zeros((n, out_dim), dtype=np.float32)
    for i in nb.prange(n):
        for j in range(d):
            out[i, buckets[j]] += signs[j] * x[i, j]
    return out


@nb.njit(nogil=True, cache=True, parallel=True)
def project_rows(x, w):
    """``x @ w`` with a fixed summation order per output element (float32).

    BLAS splits sums differently with its thread count, which changes the last bits; FDEs
    must be identical in every process with the same seed, so projections use this kernel.
    Each row is computed by one thread, accumulating over ``x``'s columns in order; the inner
    loop runs along ``w``'s rows, which LLVM vectorises without reordering any sum.
    """
    n, d = x.shape
    m = w.shape[1]
    out = np.zeros((n, m), dtype=np.float32)
    for i in nb.prange(n):
        row = out[i]
        for t in range(d):
            a = x[i, t]
            wt = w[t]
            for j in range(m):
                row[j] += a * wt[j]
    return out
