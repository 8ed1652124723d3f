"""Sparse dot-product search kernels: term-at-a-time accumulation over inverted lists.

Queries are split into one chunk per thread (``prange`` over chunks only); each chunk owns
one score accumulator and one touched list over slots, reset after every query by walking
the touched slots (never the whole array), so a query costs its postings, not ``n_slots``.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from indexes._kernels.topk import EMPTY, _worse, heap_replace_top, heap_sort


@nb.njit(nogil=True, cache=True, inline="always")
def _find(terms, t):
    """Position of term ``t`` in the sorted unique ``terms``, or -1."""
    lo, hi = 0, terms.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if terms[mid] < t:
            lo = mid + 1
        else:
            hi = mid
    if lo < terms.shape[0] and terms[lo] == t:
        return lo
    return -1


@nb.njit(nogil=True, cache=True)
def _one_query(
    qi, q_ptr, q_idx, q_val, post, tail, live, allow, use_allow, slot_ids, acc, seen, touched,
    hd, hi,
):  # fmt: skip
    """Scores of query ``qi`` accumulated into ``acc``; its top ``k`` into heap ``(hd, hi)``
    (distance = -score); ``acc`` / ``seen`` are left reset."""
    terms, ptr, p_slot, p_val = post
    sealed, f_off, f_len, f_idx, f_val = tail
    qs, qe = q_ptr[qi], q_ptr[qi + 1]
    nt = 0
    for j in range(qs, qe):
        pos = _find(terms, q_idx[j])
        if pos < 0:
            continue
        w = q_val[j]
        for p in range(ptr[pos], ptr[pos + 1]):
            s = p_slot[p]
            if not seen[s]:
                seen[s] = True
                touched[nt] = s
                nt += 1
            acc[s] += w * p_val[p]
    # slots added since the lists were built: merge-join their sorted terms with the query's
    for s in range(sealed, live.shape[0]):
        if not live[s]:
            continue
        a, ae = f_off[s], f_off[s] + f_len[s]
        b = qs
        hit = False
        dot = np.float32(0.0)
        while a < ae and b < qe:
            if f_idx[a] < q_idx[b]:
                a += 1
            elif f_idx[a] > q_idx[b]:
                b += 1
            else:
                dot += f_val[a] * q_val[b]
                hit = True
                a += 1
                b += 1
        if hit:
            seen[s] = True
            touched[nt] = s
            nt += 1
            acc[s] = dot
    hd[:] = np.inf
    hi[:] = EMPTY
    for t in range(nt):
        s = touched[t]
        if live[s] and (not use_allow or allow[s]):
            d = -acc[s]
            i = slot_ids[s]
            if not _worse(d, i, hd[0], hi[0]):
                heap_replace_top(hd, hi, d, i)
        acc[s] = 0.0
        seen[s] = False
    heap_sort(hd, hi)


@nb.njit(nogil=True, cache=True, inline="always")
def _merge_dot(f_idx, f_val, a, ae, q_idx, q_val, b, be):
    """Dot product of a forward row ``[a, ae)`` and the query ``[b, be)`` (both sorted)."""
    dot = np.float32(0.0)
    while a < ae and b < be:
        if f_idx[a] < q_idx[b]:
            a += 1
        elif f_idx[a] > q_idx[b]:
            b += 1
        else:
            dot += f_val[a] * q_val[b]
            a += 1
            b += 1
    return dot


#: Smallest weight for the dense path: a product of two such float32 weights is still a
#: normal positive number, so a score above zero means exactly "shares a term".
POSITIVE_MIN = 1e-18


@nb.njit(nogil=True, cache=True)
def _dense_query(
    qi, q_ptr, q_idx, q_val, post, tail, live, allow, use_allow, slot_ids, acc, hd, hi
):  # fmt: skip
    """Query ``qi`` for weights all ``>= POSITIVE_MIN`` (checked by the caller for the
    index's rows, here for the query) whose postings cover a quarter of the slots or more:
    plain accumulation without seen flags (slots in the forward tail by merge-join, into the
    same accumulator), then one sweep over the slots with the heap's worst entry kept in
    registers. Returns False (nothing done) when the query does not qualify."""
    terms, ptr, p_slot, p_val = post
    sealed, f_off, f_len, f_idx, f_val = tail
    qs, qe = q_ptr[qi], q_ptr[qi + 1]
    n = live.shape[0]
    total = 0
    for j in range(qs, qe):
        if q_val[j] < POSITIVE_MIN:
            return False
        pos = _find(terms, q_idx[j])
        if pos >= 0:
            total += ptr[pos + 1] - ptr[pos]
    if 4 * total < n:
        return False
    for j in range(qs, qe):
        pos = _find(terms, q_idx[j])
        if pos < 0:
            continue
        w = q_val[j]
        for p in range(ptr[pos], ptr[pos + 1]):
            acc[p_slot[p]] += w * p_val[p]
    for s in range(sealed, n):
        if live[s]:
            acc[s] = _merge_dot(f_idx, f_val, f_off[s], f_off[s] + f_len[s], q_idx, q_val, qs, qe)
    hd[:] = np.inf
    hi[:] = EMPTY
    worst_d, worst_i = hd[0], hi[0]
    for s in range(n):
        v = acc[s]
        acc[s] = 0.0  # unconditional: the branch below is rarely taken, so well predicted
        d = -v
        if d <= worst_d and v > 0 and live[s] and (not use_allow or allow[s]):
            i = slot_ids[s]
            if not _worse(d, i, worst_d, worst_i):
                heap_replace_top(hd, hi, d, i)
                worst_d, worst_i = hd[0], hi[0]
    heap_sort(hd, hi)
    return True


@nb.njit(nogil=True, cache=True)
def search_one(q_ptr, q_idx, q_val, post, tail, live, allow, use_allow, slot_ids, out_ids,
               out_d, positive, acc, seen, touched, hd, hi):  # fmt: skip
    """:func:`search_taat` for one query with caller-owned scratch (``acc`` all zero and
    ``seen`` all false on entry, and left so), so a single query allocates no per-slot
    arrays: on 117k WordNet slots the allocation was 9.5 of 26 us per call."""
    k = out_ids.shape[1]
    dense = positive and _dense_query(
        0, q_ptr, q_idx, q_val, post, tail, live, allow, use_allow, slot_ids, acc, hd, hi
    )
    if not dense:
        _one_query(
            0, q_ptr, q_idx, q_val, post, tail, live, allow, use_allow, slot_ids, acc, seen,
            touched, hd, hi,
        )  # fmt: skip
    for j in range(k):
        if hi[j] == EMPTY:
            out_ids[0, j] = -1
            out_d[0, j] = np.inf
        else:
            out_ids[0, j] = hi[j]
            out_d[0, j] = hd[j]


@nb.njit(nogil=True, cache=True, parallel=True)
def search_taat(q_ptr, q_idx, q_val, post, tail, live, allow, use_allow, slot_ids, out_ids,
                out_d, n_chunks, positive):  # fmt: skip
    """Top ``k = out_ids.shape[1]`` of every query by exact dot product, ascending by
    ``(-score, id)``; a row is padded with ``(-1, +inf)`` past the points sharing a term.
    ``positive``: every weight of the index's rows (lists and tail) is ``>= POSITIVE_MIN``,
    so queries with many postings may take :func:`_dense_query`."""
    nq = q_ptr.shape[0] - 1
    n = live.shape[0]
    k = out_ids.shape[1]
    for c in nb.prange(n_chunks):
        acc = np.zeros(n, dtype=np.float32)
        seen = np.zeros(n, dtype=np.bool_)
        touched = np.empty(n, dtype=np.int64)
        hd = np.empty(k, dtype=np.float32)
        hi = np.empty(k, dtype=np.int64)
        for qi in range(c * nq // n_chunks, (c + 1) * nq // n_chunks):
            dense = positive and _dense_query(
                qi, q_ptr, q_idx, q_val, post, tail, live, allow, use_allow, slot_ids, acc, hd, hi
            )
            if not dense:
                _one_query(
                    qi, q_ptr, q_idx, q_val, post, tail, live, allow, use_allow, slot_ids, acc,
                    seen, touched, hd, hi,
                )  # fmt: skip
            for j in range(k):
                if hi[j] == EMPTY:
                    out_ids[qi, j] = -1
                    out_d[qi, j] = np.inf
                else:
                    out_ids[qi, j] = hi[j]
                    out_d[qi, j] = hd[j]


@nb.njit(nogil=True, cache=True)
def check_sort_rows(indptr, idx, val, out_idx, out_val):
    """Validate CSR rows and write them sorted by index into ``out_idx`` (uint32) /
    ``out_val``. Returns ``(row, code)`` of the first bad row (code 1: index outside
    ``[0, 2**32)``, 2: a value NaN or inf, 3: a repeated index), or ``(-1, 0)``."""
    for r in range(indptr.shape[0] - 1):
        a, b = indptr[r], indptr[r + 1]
        ordered = True
        for j in range(a, b):
            if idx[j] < 0 or idx[j] >= 4294967296:
                return r, 1
            if j > a and idx[j] < idx[j - 1]:
                ordered = False
        for j in range(a, b):
            if not np.isfinite(val[j]):
                return r, 2
        if ordered:
            for j in range(a, b):
                out_idx[j] = idx[j]
                out_val[j] = val[j]
        else:
            order = np.argsort(idx[a:b], kind="mergesort")
            for t in range(b - a):
                out_idx[a + t] = idx[a + order[t]]
                out_val[a + t] = val[a + order[t]]
        for j in range(a + 1, b):
            if out_idx[j] == out_idx[j - 1]:
                return r, 3
    return -1, 0


@nb.njit(nogil=True, cache=True)
def sorted_and_finite(idx, val):
    """Whether ``idx`` is strictly ascending and every value finite (one pass, for the fast
    path of already valid single queries)."""
    for j in range(idx.shape[0]):
        if not np.isfinite(val[j]) or (j > 0 and idx[j] <= idx[j - 1]):
            return False
    return True
