"""Hamming shortlist over word-major codes: the scan that every binary search starts with.

Codes are stored word-major, ``codes[stage, word, slot]`` (see :class:`indexes._rows.RowStore`
``rows_last``): word ``w`` of every row's first-stage code is one contiguous run. The scan
walks the rows in blocks of ``BLOCK``; within a block it adds ``popcount(row word ^ query
word)`` over the words into a small per-row counter, and that inner loop over rows compiles to
vector ``xor`` + ``vpopcntq`` + add (measured 1.4 -> 0.6 ns per 384-bit row against the
row-major loop, where the short loop over a row's words does not vectorise). Several queries
can share one pass over the codes: each block is read from memory once and scored for every
query of the chunk while it sits in L1.

Selection keeps the ``m`` rows with the smallest ``(distance, id)`` without sorting or a heap
per row: rows at or under a per-query threshold are appended to a candidate buffer; when the
buffer is full it is shrunk to the rows at or under its own ``m``-th smallest distance (found
by a histogram of the small integer distances), and that distance becomes the new threshold.
A block whose minimum exceeds the threshold is skipped in one vector pass. If ties at the
threshold leave no room for a block after a shrink (data with very few distinct codes), the
query falls back to an exhaustive distance buffer; both paths select exactly the same rows.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from indexes._kernels.bits import popcount64

BLOCK = 256  # rows per block: a block of 384-bit codes is 12 KiB, well inside L1
NOT_ALLOWED = 65535  # distance given to rows a filter excludes (dims are capped at 65000)


@nb.njit(nogil=True, cache=True, inline="always")
def block_distances(qcode, codes0, b0, b1, acc):
    """``acc[r] = Hamming(qcode, row b0 + r)`` for rows ``b0 .. b1-1`` of ``codes0 (W, cap)``.

    Words are taken four (then two, then one) at a time so each pass over ``acc`` adds
    several popcounts; slices (not ``b0 + r`` indices) keep the loads contiguous vectors.
    """
    n_words = codes0.shape[0]
    n_rows = b1 - b0
    for r in range(n_rows):
        acc[r] = 0
    w = 0
    while w + 4 <= n_words:
        q0, q1, q2, q3 = qcode[w], qcode[w + 1], qcode[w + 2], qcode[w + 3]
        c0, c1 = codes0[w, b0:b1], codes0[w + 1, b0:b1]
        c2, c3 = codes0[w + 2, b0:b1], codes0[w + 3, b0:b1]
        for r in range(n_rows):
            acc[r] += (popcount64(c0[r] ^ q0) + popcount64(c1[r] ^ q1)) + (
                popcount64(c2[r] ^ q2) + popcount64(c3[r] ^ q3)
            )
        w += 4
    if w + 2 <= n_words:
        q0, q1 = qcode[w], qcode[w + 1]
        c0, c1 = codes0[w, b0:b1], codes0[w + 1, b0:b1]
        for r in range(n_rows):
            acc[r] += popcount64(c0[r] ^ q0) + popcount64(c1[r] ^ q1)
        w += 2
    if w < n_words:
        q0 = qcode[w]
        c0 = codes0[w, b0:b1]
        for r in range(n_rows):
            acc[r] += popcount64(c0[r] ^ q0)


@nb.njit(nogil=True, cache=True)
def all_distances(qcode, codes0, n, allow, buf):
    """Hamming distance of every row to ``qcode`` into ``buf`` (``NOT_ALLOWED`` if filtered)."""
    use_allow = allow.shape[0] > 0
    for b0 in range(0, n, BLOCK):
        b1 = min(n, b0 + BLOCK)
        out = buf[b0:b1]
        block_distances(qcode, codes0, b0, b1, out)
        if use_allow:
            al = allow[b0:b1]
            for r in range(b1 - b0):
                if not al[r]:
                    out[r] = NOT_ALLOWED


@nb.njit(nogil=True, cache=True)
def _cut(cd, c, m, hist):
    """Smallest ``t`` with at least ``m`` of ``cd[:c]`` at or under it (``len(hist)`` if none),
    and how many are strictly under it."""
    nd = hist.shape[0]
    hist[:] = 0
    for i in range(c):
        if cd[i] < nd:
            hist[cd[i]] += 1
    total = 0
    t = 0
    while t < nd and total + hist[t] < m:
        total += hist[t]
        t += 1
    return t, total


@nb.njit(nogil=True, cache=True)
def _shrink(cd, cs, qi, c, m, hist):
    """Keep query ``qi``'s candidates at or under their ``m``-th smallest distance; returns
    ``(kept, t)``."""
    t, _ = _cut(cd[qi], c, m, hist)
    kept = 0
    for i in range(c):
        if cd[qi, i] <= t:
            cd[qi, kept] = cd[qi, i]
            cs[qi, kept] = cs[qi, i]
            kept += 1
    return kept, t


@nb.njit(nogil=True, cache=True, inline="always")
def _collect(acc, n_rows, b0, thr, m, cd, cs, qi, c, hist):
    """Append rows of a scored block at or under ``thr`` to query ``qi``'s candidates; returns
    ``(count, thr)``, count -1 when ties overflow the buffer (see the module notes).

    The append is branchless (every row is written, the count advances only for rows under
    the threshold), so a block costs the same whatever fraction of it qualifies; the buffer
    is shrunk first if a whole block might not fit.
    """
    low = acc[0]
    for r in range(1, n_rows):
        low = min(low, acc[r])
    if low > thr:
        return c, thr
    if c + n_rows > cd.shape[1]:
        c, t = _shrink(cd, cs, qi, c, m, hist)
        thr = np.uint16(t)
        if c + n_rows > cd.shape[1]:
            return -1, thr
    for r in range(n_rows):
        d = acc[r]
        cd[qi, c] = d
        cs[qi, c] = b0 + r
        c += np.int64(d <= thr)
    return c, thr


@nb.njit(nogil=True, cache=True)
def candidate_capacity(m):
    """Size of the per-query candidate buffer for a shortlist of ``m``: room for ``m`` kept
    rows, as many new ones, and one whole block."""
    return max(2 * m, m + BLOCK) + BLOCK


@nb.njit(nogil=True, cache=True)
def scan_chunk(qcodes, codes0, n, allow, m, cd, cs, counts, hist):
    """Candidates for each query of a chunk in one pass over the codes.

    ``qcodes (Q, W)``; ``cd (Q, cap) uint16`` / ``cs (Q, cap) int64`` receive, per query,
    candidate distances and slots (a superset of its top ``m``), ``counts[q]`` how many
    (-1: overflowed, use :func:`all_distances`). ``hist`` is scratch of ``W * 64 + 1``.
    """
    nq = qcodes.shape[0]
    nd = hist.shape[0]
    acc = np.empty(BLOCK, dtype=np.uint16)
    thr = np.full(nq, nd - 1, dtype=np.uint16)
    counts[:] = 0
    use_allow = allow.shape[0] > 0
    for b0 in range(0, n, BLOCK):
        b1 = min(n, b0 + BLOCK)
        for qi in range(nq):
            if counts[qi] < 0:
                continue
            block_distances(qcodes[qi], codes0, b0, b1, acc)
            if use_allow:
                al = allow[b0:b1]
                for r in range(b1 - b0):
                    if not al[r]:
                        acc[r] = NOT_ALLOWED
            c, t = _collect(acc, b1 - b0, b0, thr[qi], m, cd, cs, qi, counts[qi], hist)
            counts[qi] = c
            thr[qi] = t


@nb.njit(nogil=True, cache=True)
def _take_tied(tied, nt, need, t, ids, out, out_d, cnt):
    """Append ``need`` of the ``nt`` slots ``tied`` at distance ``t`` (all of them if they
    fit), the smallest ids first; returns the new count."""
    if nt > need:
        tie_ids = np.empty(nt, dtype=np.int64)
        for r in range(nt):
            tie_ids[r] = ids[tied[r]]
        order = np.argsort(tie_ids, kind="mergesort")
        for r in range(need):
            out[cnt] = tied[order[r]]
            out_d[cnt] = t
            cnt += 1
    else:
        for r in range(nt):
            out[cnt] = tied[r]
            out_d[cnt] = t
            cnt += 1
    return cnt


@nb.njit(nogil=True, cache=True)
def select_top(cd, cs, c, ids, m, hist, out, out_d):
    """The ``m`` entries of ``(cd, cs)[:c]`` with the smallest ``(distance, ids[slot])``.

    Writes their slots (unordered) into ``out`` and distances into ``out_d``; returns how many
    (fewer when fewer than ``m`` have a distance under ``len(hist)``: filtered rows never do).
    Rows tied at the cut-off are taken by smallest id, so the result does not depend on slot
    order or on which path collected the candidates.
    """
    nd = hist.shape[0]
    t, total = _cut(cd, c, m, hist)
    cnt = 0
    if t == nd:  # fewer than m rows: all of them
        for i in range(c):
            if cd[i] < nd:
                out[cnt] = cs[i]
                out_d[cnt] = cd[i]
                cnt += 1
        return cnt
    need = m - total
    tied = np.empty(hist[t], dtype=np.int64)
    nt = 0
    for i in range(c):
        d = cd[i]
        if d < t:
            out[cnt] = cs[i]
            out_d[cnt] = d
            cnt += 1
        elif d == t:
            tied[nt] = cs[i]
            nt += 1
    return _take_tied(tied, nt, need, t, ids, out, out_d, cnt)


@nb.njit(nogil=True, cache=True)
def shortlist_exhaustive(qcode, codes0, n, allow, ids, m, hist, buf, out, out_d):
    """The exact top ``m`` by ``(distance, id)`` from a distance buffer over every row.

    The path for dense shortlists (``m`` rows touch most blocks anyway, see
    :func:`use_exhaustive`) and for heavily tied data: all distances into ``buf`` (``n``
    uint16), a histogram of them gives the cut-off, one more pass collects the rows under it.
    The histogram is counted into two interleaved halves so that runs of equal distances do
    not serialise on one counter. Returns how many rows were written (fewer than ``m`` only
    when fewer rows are allowed).
    """
    all_distances(qcode, codes0, n, allow, buf)
    nd = hist.shape[0]
    h2 = np.zeros((2, nd + 1), dtype=np.int32)  # column nd counts filtered rows
    n2 = n - n % 2
    for j in range(0, n2, 2):
        h2[0, min(buf[j], nd)] += 1
        h2[1, min(buf[j + 1], nd)] += 1
    if n2 < n:
        h2[0, min(buf[n - 1], nd)] += 1
    total = 0
    t = 0
    while t < nd and total + h2[0, t] + h2[1, t] < m:
        total += h2[0, t] + h2[1, t]
        t += 1
    cnt = 0
    if t == nd:  # fewer than m allowed rows: all of them
        for j in range(n):
            if buf[j] < nd:
                out[cnt] = j
                out_d[cnt] = buf[j]
                cnt += 1
        return cnt
    tied = np.empty(h2[0, t] + h2[1, t], dtype=np.int64)
    nt = 0
    for j in range(n):
        d = buf[j]
        if d <= t:
            if d < t:
                out[cnt] = j
                out_d[cnt] = d
                cnt += 1
            else:
                tied[nt] = j
                nt += 1
    need = m - total
    return _take_tied(tied, nt, need, t, ids, out, out_d, cnt)


@nb.njit(nogil=True, cache=True)
def use_exhaustive(m, n):
    """Whether a shortlist of ``m`` among ``n`` rows is dense enough that most blocks would
    hold a candidate: then the exhaustive buffer is cheaper than the threshold pass
    (measured on 11k MiniLM codes, shortlist 80: 14 vs 18 us)."""
    return m * BLOCK > n
