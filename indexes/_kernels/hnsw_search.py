"""HNSW search kernels: greedy descent through the upper layers and beam search on a layer.

Graph layout (flat arrays, owned by :class:`indexes.hnsw.HNSWIndex`):

* ``vectors`` (cap, dim) float32, normalised for cosine;
* ``links0`` (cap, 2M) int32: layer-0 neighbours of each slot, ``-1`` after the last one;
* ``links_up`` (rows, M) int32 and ``up_off`` (cap,) int32: the layer-``l`` (``l >= 1``)
  neighbours of slot ``v`` are row ``up_off[v] + l - 1``;
* ``ids`` (cap,) int64 external ids, ``-1`` for free or removed slots.

Two layer searches exist. :func:`beam_search` keeps a sorted pool of the ``ef`` best keys seen
and expands the best unexpanded entry until none is left (equivalent to the paper's Algorithm 2
with its two heaps, cheaper for the usual ``ef``); it serves unfiltered search and construction.
:func:`beam_search_filtered` follows hnswlib's filtered search: every node can be traversed,
only ``admit``-ted nodes enter the results, and the frontier keeps growing while fewer than
``ef`` admitted nodes are known, so ``k`` hits come back whenever ``k`` admitted nodes are
reachable.
"""

from __future__ import annotations

import numba as nb
import numpy as np

# Row normalisation is written once, in distances (unit_into, the kernel search_one uses for a
# query, and its batch forms); indexes/hnsw.py calls the batch forms under these names.
from indexes._kernels.distances import normalize_rows as normalize_rows_serial  # noqa: F401
from indexes._kernels.distances import normalize_rows_parallel as normalize_rows  # noqa: F401
from indexes._kernels.distances import unit_into
from indexes._kernels.fastdist import FASTMATH, dist_fast
from indexes._kernels.intrinsics import atomic_add, prefetch1, prefetch2
from indexes._kernels.pool import (
    key_dist,
    key_slot,
    maxheap_push,
    maxheap_replace_top,
    minheap_pop,
    minheap_push,
    pack,
    pool_insert,
)
from indexes._kernels.visited import next_epoch, visited_alloc

#: Status codes returned by :func:`search_one`.
OK, BAD_VALUE, ZERO_NORM = 0, -1, -2
#: ``mode`` of :func:`search_core`: no filter; traverse everything but admit only ``admit``-ted
#: nodes (:func:`beam_search_filtered`); plain beam search whose output skips non-admitted
#: nodes (for a few tombstones: the caller widens ``ef`` by their share).
ALL, FILTER, SKIP = 0, 1, 2


@nb.njit(nogil=True, cache=True)
def greedy_descent(q, vectors, links_up, up_off, cur, dcur, top_level, stop_level, metric):
    """Greedy search from ``cur`` through layers ``top_level .. stop_level + 1``."""
    for lev in range(top_level, stop_level, -1):
        changed = True
        while changed:
            changed = False
            row = links_up[up_off[cur] + lev - 1]
            for j in range(row.shape[0]):
                u = row[j]
                if u < 0:
                    break
                d = dist_fast(q, vectors[u], metric)
                if d < dcur:
                    dcur = d
                    cur = u
                    changed = True
    return cur, dcur


@nb.njit(nogil=True, cache=True, inline="always")
def _gather_unvisited(row, vis, tag, nbuf, vectors, pf_lines):
    """Mark the unvisited neighbours in ``row`` visited, copy them to ``nbuf``, prefetch them."""
    width = row.shape[0]
    for j in range(width):
        u = row[j]
        if u < 0:
            break
        prefetch1(vis, u)
    cnt = 0
    for j in range(width):
        u = row[j]
        if u < 0:
            break
        if vis[u] != tag:
            vis[u] = tag
            nbuf[cnt] = u
            cnt += 1
            for t in range(pf_lines):
                prefetch2(vectors, u, 16 * t)
    return cnt


@nb.njit(nogil=True, cache=True, fastmath=FASTMATH)
def beam_search(
    q, vectors, links0, links_up, up_off, level, ep, dep, ef, vis, keys, done, nbuf, metric, pf
):
    """Beam search on ``level`` from entry ``ep`` (distance ``dep``) keeping ``ef`` best.

    Returns ``size``; ``keys[:size]`` are packed ``(distance, slot)`` keys, ascending.
    """
    tag = next_epoch(vis)
    vis[ep] = tag
    keys[0] = pack(dep, ep)
    done[0] = 0
    size = 1
    cur = 0
    worst = np.float32(np.inf)
    while cur < size:
        done[cur] = 1
        v = key_slot(keys[cur])
        row = links0[v] if level == 0 else links_up[up_off[v] + level - 1]
        cnt = _gather_unvisited(row, vis, tag, nbuf, vectors, pf)
        best = size
        for t in range(cnt):
            u = nbuf[t]
            d = dist_fast(q, vectors[u], metric)
            if size < ef or d < worst:
                size, pos = pool_insert(keys, done, size, ef, pack(d, u))
                if level == 0:  # likely expanded soon: fetch its links now (~10% on glove)
                    prefetch2(links0, u, 0)
                if pos < best:
                    best = pos
                if size == ef:
                    worst = key_dist(keys[ef - 1])
        nxt = best if best <= cur else cur + 1
        while nxt < size and done[nxt]:
            nxt += 1
        cur = nxt
    return size


@nb.njit(nogil=True, cache=True, fastmath=FASTMATH)
def beam_search_filtered(q, vectors, links0, ep, dep, ef, vis, res, nbuf, admit, metric, pf):
    """Layer-0 search that traverses every node but admits only ``admit[slot]`` ones.

    ``res`` (capacity ``ef``) receives a max-heap of admitted keys. Returns the number of
    admitted results (``<= ef``).
    """
    tag = next_epoch(vis)
    vis[ep] = tag
    cand = np.empty(max(64, 4 * ef), dtype=np.int64)
    csize = minheap_push(cand, 0, pack(dep, ep))
    rsize = 0
    lower = np.float32(np.inf)
    if admit[ep]:
        rsize = maxheap_push(res, 0, pack(dep, ep))
        if rsize == ef:
            lower = dep
    while csize > 0:
        c = cand[0]
        if rsize == ef and key_dist(c) > lower:
            break
        csize = minheap_pop(cand, csize)
        v = key_slot(c)
        cnt = _gather_unvisited(links0[v], vis, tag, nbuf, vectors, pf)
        for t in range(cnt):
            u = nbuf[t]
            d = dist_fast(q, vectors[u], metric)
            if rsize < ef or d < lower:
                key = pack(d, u)
                if csize == cand.shape[0]:
                    bigger = np.empty(2 * csize, dtype=np.int64)
                    bigger[:csize] = cand[:csize]
                    cand = bigger
                csize = minheap_push(cand, csize, key)
                prefetch2(links0, u, 0)
                if admit[u]:
                    if rsize < ef:
                        rsize = maxheap_push(res, rsize, key)
                    else:
                        maxheap_replace_top(res, rsize, key)
                    if rsize == ef:
                        lower = key_dist(res[0])
    return rsize


@nb.njit(nogil=True, cache=True)
def _emit(sorted_keys, n, k, ids, out_ids, out_d):
    """Write the first ``min(n, k)`` keys as external ids and distances; ties by ascending id."""
    m = min(n, k)
    for i in range(m):
        out_ids[i] = ids[key_slot(sorted_keys[i])]
        out_d[i] = key_dist(sorted_keys[i])
    for i in range(1, m):  # equal distances: order by external id (keys ordered them by slot)
        j = i
        while j > 0 and out_d[j - 1] == out_d[j] and out_ids[j - 1] > out_ids[j]:
            out_ids[j - 1], out_ids[j] = out_ids[j], out_ids[j - 1]
            j -= 1
    for i in range(m, k):
        out_ids[i] = -1
        out_d[i] = np.inf
    return m


@nb.njit(nogil=True, cache=True)
def search_core(q, k, ef, metric, g, scratch, admit, mode, pf, out_ids, out_d):
    """k nearest neighbours of one (prepared) query; returns how many were found.

    ``g`` is the graph tuple ``(vectors, links0, links_up, up_off, ids, entry, max_level)``
    and ``scratch`` the per-thread tuple ``(vis, keys, done, nbuf)`` from :func:`_scratch`.
    """
    vectors, links0, links_up, up_off, ids, entry, max_level = g
    vis, keys, done, nbuf = scratch
    if entry < 0:
        return _emit(keys, 0, k, ids, out_ids, out_d)
    dcur = dist_fast(q, vectors[entry], metric)
    cur, dcur = greedy_descent(q, vectors, links_up, up_off, entry, dcur, max_level, 0, metric)
    if mode == FILTER:
        n = beam_search_filtered(
            q, vectors, links0, cur, dcur, ef, vis, keys, nbuf, admit, metric, pf
        )
        res = np.sort(keys[:n])
        return _emit(res, n, k, ids, out_ids, out_d)
    n = beam_search(
        q, vectors, links0, links_up, up_off, 0, cur, dcur, ef, vis, keys, done, nbuf, metric, pf
    )
    if mode == SKIP:
        m = 0
        for i in range(n):
            if admit[key_slot(keys[i])]:
                keys[m] = keys[i]
                m += 1
        n = m
    return _emit(keys, n, k, ids, out_ids, out_d)


@nb.njit(nogil=True, cache=True)
def _scratch(g, ef, vis):
    """Per-thread search scratch for graph ``g``: ``(vis, keys, done, nbuf)``."""
    width = max(g[1].shape[1], g[2].shape[1])
    return (
        vis,
        np.empty(ef, dtype=np.int64),
        np.empty(ef, dtype=np.uint8),
        np.empty(width, dtype=np.int64),
    )


@nb.njit(nogil=True, cache=True)
def search_one(q_in, k, ef, metric, normalize, g, vis, admit, mode, pf):
    """The single-query path: validate (finite, non-zero for cosine) and normalise ``q_in``
    here, then search. Returns ``(ids (1, k), distances (1, k), found, status)``."""
    dim = g[0].shape[1]
    out_ids = np.empty((1, k), dtype=np.int64)
    out_d = np.empty((1, k), dtype=np.float32)
    for j in range(dim):
        if not np.isfinite(q_in[j]):
            return out_ids, out_d, 0, BAD_VALUE
    if normalize:
        q = np.empty(dim, dtype=np.float32)
        if not unit_into(q_in, q):
            return out_ids, out_d, 0, ZERO_NORM
    else:
        q = q_in
    ef = max(ef, k)
    scratch = _scratch(g, ef, vis)
    found = search_core(q, k, ef, metric, g, scratch, admit, mode, pf, out_ids[0], out_d[0])
    return out_ids, out_d, found, OK


@nb.njit(nogil=True, cache=True)
def search_serial(queries, k, ef, metric, g, vis, admit, mode, pf):
    """Prepared queries one after another on the calling thread, with visited array ``vis``.

    A parallel region costs a thread wake-up and a barrier, which on a busy machine can cost
    more than a query; this is the path for one query or one thread.
    """
    nq = queries.shape[0]
    out_ids = np.empty((nq, k), dtype=np.int64)
    out_d = np.empty((nq, k), dtype=np.float32)
    found = np.zeros(nq, dtype=np.int64)
    ef = max(ef, k)
    scratch = _scratch(g, ef, vis)
    for i in range(nq):
        found[i] = search_core(
            queries[i], k, ef, metric, g, scratch, admit, mode, pf, out_ids[i], out_d[i]
        )
    return out_ids, out_d, found


@nb.njit(nogil=True, cache=True, parallel=True)
def search_batch(queries, k, ef, metric, g, n_slots, admit, mode, pf, n_workers):
    """Many prepared queries in parallel: ``n_workers`` workers, each with its own visited set
    and scratch, take queries one at a time from a shared counter (dynamic scheduling: on a
    busy machine a descheduled thread holds up one query, not half the batch).

    Returns ``(ids (nq, k), distances (nq, k), found (nq,))``.
    """
    nq = queries.shape[0]
    out_ids = np.empty((nq, k), dtype=np.int64)
    out_d = np.empty((nq, k), dtype=np.float32)
    found = np.zeros(nq, dtype=np.int64)
    ef = max(ef, k)
    ctr = np.zeros(1, dtype=np.int64)
    for _ in nb.prange(n_workers):
        scratch = _scratch(g, ef, visited_alloc(n_slots))
        while True:
            i = atomic_add(ctr, 0, 1)
            if i >= nq:
                break
            found[i] = search_core(
                queries[i], k, ef, metric, g, scratch, admit, mode, pf, out_ids[i], out_d[i]
            )
    return out_ids, out_d, found


@nb.njit(nogil=True, cache=True)
def mask_slots(mask, count):
    """Indices of the ``count`` true entries of ``mask`` (branch-free compaction; measured
    107 us instead of 294 us for ``np.flatnonzero`` on a random 5% mask of 390k entries)."""
    out = np.empty(count + 1, dtype=np.int64)
    j = 0
    for i in range(mask.shape[0]):
        out[j] = i
        j += 1 if mask[i] else 0
    return out[:count]


#: How many rows ahead :func:`_exact_core` prefetches (scattered rows miss the cache).
_AHEAD = 8


@nb.njit(nogil=True, cache=True, fastmath=FASTMATH)
def _exact_core(q, k, metric, vectors, slots, ids, heap, pf, out_ids, out_d):
    size = 0
    n = slots.shape[0]
    for t in range(n):
        if t + _AHEAD < n:
            for j in range(pf):
                prefetch2(vectors, slots[t + _AHEAD], 16 * j)
        s = slots[t]
        d = dist_fast(q, vectors[s], metric)
        key = pack(d, s)
        if size < k:
            size = maxheap_push(heap, size, key)
        elif key < heap[0]:
            maxheap_replace_top(heap, size, key)
    res = np.sort(heap[:size])
    return _emit(res, size, k, ids, out_ids, out_d)


@nb.njit(nogil=True, cache=True, parallel=True)
def exact_subset(queries, k, metric, vectors, slots, ids, pf, n_workers):
    """Exact k nearest neighbours among ``slots`` (the plan for very selective filters)."""
    nq = queries.shape[0]
    out_ids = np.empty((nq, k), dtype=np.int64)
    out_d = np.empty((nq, k), dtype=np.float32)
    ctr = np.zeros(1, dtype=np.int64)
    for _ in nb.prange(n_workers):
        heap = np.empty(k, dtype=np.int64)
        while True:
            i = atomic_add(ctr, 0, 1)
            if i >= nq:
                break
            _exact_core(queries[i], k, metric, vectors, slots, ids, heap, pf, out_ids[i], out_d[i])
    return out_ids, out_d


@nb.njit(nogil=True, cache=True)
def exact_subset_serial(queries, k, metric, vectors, slots, ids, pf):
    """:func:`exact_subset` without thread start-up, for one or few queries."""
    nq = queries.shape[0]
    out_ids = np.empty((nq, k), dtype=np.int64)
    out_d = np.empty((nq, k), dtype=np.float32)
    heap = np.empty(k, dtype=np.int64)
    for i in range(nq):
        _exact_core(queries[i], k, metric, vectors, slots, ids, heap, pf, out_ids[i], out_d[i])
    return out_ids, out_d
