"""SPANN kernels: replica selection (closure + RNG rules), the posting scans, the row scan.

Float32 posting records are ``dim + 4`` 32-bit words: the record's slot and its external id, each an
int64 split in two little-endian words (low, high), then the float32 vector. Keeping the id in
the record means a search never touches the slot -> id table. The scan reads the same bytes
through a ``uint32`` view (the slot) and a ``float32`` view (the vector), so a buffer filled
by ``os.preadv`` is scanned in place without a copy. Binary-code records
(``codec="binary"``) are ``3 + n_words`` 64-bit words: slot, id, the code's scale and
``|x^|^2`` (two float32), then the packed 1-bit code.

Distances in the build rules are squared L2 (what SPTAG compares as well).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from indexes._kernels.bits import _lut_dot
from indexes._kernels.distances import distance, l2sq
from indexes._kernels.topk import _sift_down, heap_replace_top


@nb.njit(nogil=True, cache=True)
def _select_one(
    x, cand, cand_d, heads, hslot, replica_count, closure_ratio, rng_factor, out_h, out_d
):
    """Replica heads of one vector; returns how many were chosen.

    ``cand``/``cand_d`` are candidate heads ascending by squared distance (``-1`` padding).
    Closure rule: only heads with ``d <= closure_ratio * d_nearest``. RNG rule: skip head
    ``j`` when ``rng_factor * |c_j - c_chosen|^2 < d_j`` for an already chosen head, i.e.
    ``c_j`` is closer to a chosen head than to the vector (``rng_factor`` = SPTAG's RNGFactor).
    """
    n_sel = 0
    if cand.shape[0] == 0 or cand[0] < 0:
        return 0
    d0 = cand_d[0]
    limit = closure_ratio * d0
    for j in range(cand.shape[0]):
        h = cand[j]
        if h < 0:
            break
        dj = cand_d[j]
        if n_sel > 0 and dj > limit:
            break
        ok = True
        for t in range(n_sel):
            if rng_factor * l2sq(heads[hslot[h]], heads[hslot[out_h[t]]]) < dj:
                ok = False
                break
        if ok:
            out_h[n_sel] = h
            out_d[n_sel] = dj
            n_sel += 1
            if n_sel == replica_count:
                break
    return n_sel


@nb.njit(nogil=True, cache=True, parallel=True)
def select_replicas(x, cand, cand_d, heads, hslot, replica_count, closure_ratio, rng_factor):
    """Per row of ``x``: up to ``replica_count`` heads under the closure and RNG rules.

    Head ``h``'s vector is ``heads[hslot[h]]`` (the head index's own storage).

    Returns ``(heads (n, R) int64, -1 padded, squared distances (n, R) float32, counts (n,))``.
    """
    n = cand.shape[0]
    out_h = np.full((n, replica_count), -1, dtype=np.int64)
    out_d = np.full((n, replica_count), np.inf, dtype=np.float32)
    counts = np.zeros(n, dtype=np.int64)
    for i in nb.prange(n):
        counts[i] = _select_one(
            x[i], cand[i], cand_d[i], heads, hslot, replica_count, closure_ratio, rng_factor,
            out_h[i], out_d[i],
        )  # fmt: skip
    return out_h, out_d, counts


@nb.njit(nogil=True, cache=True)
def exact_topc(x, heads, c):
    """Exact ``c`` nearest heads (squared L2) of each row; used for small head sets and tests."""
    n = x.shape[0]
    h = heads.shape[0]
    c = min(c, h)
    out = np.full((n, c), -1, dtype=np.int64)
    out_d = np.full((n, c), np.inf, dtype=np.float32)
    d = np.empty(h, dtype=np.float32)
    for i in range(n):
        for j in range(h):
            d[j] = l2sq(x[i], heads[j])
        order = np.argsort(d, kind="mergesort")
        for t in range(c):
            out[i, t] = order[t]
            out_d[i, t] = d[order[t]]
    return out, out_d


@nb.njit(nogil=True, cache=True, inline="always")
def _offer(hd, hs, hid, d, slot, rid):
    """Offer ``(d, slot)`` with payload ``rid`` to the max-heap ``(hd, hs)``; a slot already
    in the heap is skipped (a replica has the same vector, hence the same distance: if it is
    not in the heap, it does not belong there). Returns whether the heap changed."""
    k = hd.shape[0]
    if not (d < hd[0] or (d == hd[0] and slot < hs[0])):
        return False
    for t in range(k):
        if hs[t] == slot:
            return False
    _sift_down(hd, hs, hid, k, d, slot, rid)  # replace the root, keyed (d, slot)
    return True


@nb.njit(nogil=True, cache=True)
def scan_records(q, words, vecs, metric, dead, allow, hd, hs, hid):
    """Fold float32 posting records into the max-heap ``(hd, hs)`` keyed by
    ``(distance, slot)``; ``hid`` carries each entry's external id.

    ``words`` (n, dim+4) uint32 and ``vecs`` (n, dim+4) float32 view the same records. Records
    of dead slots, of slots outside ``allow`` (when non-empty) and repeats of a slot already
    in the heap (replicas) are skipped. Returns the number of records scored.
    """
    n = words.shape[0]
    use_allow = allow.shape[0] > 0
    scored = 0
    for r in range(n):
        slot = np.int64(words[r, 0]) | (np.int64(words[r, 1]) << 32)
        if dead[slot]:
            continue
        if use_allow and not allow[slot]:
            continue
        d = distance(q, vecs[r, 4:], metric)
        scored += 1
        _offer(hd, hs, hid, d, slot, np.int64(words[r, 2]) | (np.int64(words[r, 3]) << 32))
    return scored


@nb.njit(nogil=True, cache=True)
def scan_code_records(lut, recs, vals, metric, dead, allow, hd, hs, hid):
    """Fold binary-code posting records into the max-heap ``(hd, hs)`` keyed by
    ``(estimated distance, slot)``, as :func:`scan_records` does for float records.

    ``recs`` (n, 3 + n_words) uint64 and ``vals`` (n, 6 + 2 n_words) float32 view the same
    records: slot, external id, the code's scale ``a`` (``vals[:, 4]``) and ``|x^|^2``
    (``vals[:, 5]``), then the packed 1-bit code ``b`` of ``x - c`` (:mod:`indexes._kernels.bits`).
    The float query is scored against the code through its byte lookup tables ``lut``
    (:func:`indexes._kernels.bits.byte_luts`): ``<q, u> = a <q, b>`` with ``x^ = c + a b``; the key
    is ``|x^|^2 - 2 <q, u>`` (l2) or ``-<q, u>`` (cosine), which orders records like the
    distance to ``x^`` (per-query constants dropped, as in ``bits_search.scan_full``).
    Returns the number of records scored.
    """
    n = recs.shape[0]
    n_bytes = lut.shape[0]
    use_allow = allow.shape[0] > 0
    scored = 0
    for r in range(n):
        slot = np.int64(recs[r, 0])
        if dead[slot]:
            continue
        if use_allow and not allow[slot]:
            continue
        ip = vals[r, 4] * _lut_dot(lut, recs[r, 3:], n_bytes)
        d = vals[r, 5] - 2 * ip if metric == 0 else -ip
        scored += 1
        _offer(hd, hs, hid, d, slot, np.int64(recs[r, 1]))
    return scored


@nb.njit(nogil=True, cache=True)
def row_distances(q, rows, metric):
    """Distances (float32 accumulation, as :func:`scan_records`) from ``q`` to each row."""
    n = rows.shape[0]
    out = np.empty(n, dtype=np.float32)
    for r in range(n):
        out[r] = distance(q, rows[r], metric)
    return out


@nb.njit(nogil=True, cache=True)
def live_records(words, dead):
    """Row numbers of the records whose slot is not dead."""
    n = words.shape[0]
    keep = np.empty(n, dtype=np.int64)
    m = 0
    for r in range(n):
        slot = np.int64(words[r, 0]) | (np.int64(words[r, 1]) << 32)
        if not dead[slot]:
            keep[m] = r
            m += 1
    return keep[:m]


@nb.njit(nogil=True, cache=True)
def scan_rows(q, rows, slots, metric, hd, hs):
    """Fold float rows (the vectors of ``slots``) into the max-heap ``(hd, hs)`` keyed by
    ``(distance, slot)``, distances as :func:`scan_records` computes them (exact scans)."""
    for r in range(rows.shape[0]):
        d = distance(q, rows[r], metric)
        s = slots[r]
        if d < hd[0] or (d == hd[0] and s < hs[0]):
            heap_replace_top(hd, hs, d, s)
