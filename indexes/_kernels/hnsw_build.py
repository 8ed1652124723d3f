"""HNSW construction and repair kernels.

Construction inserts points in *batches* so that both cores work (ARCHITECTURE: ``prange`` only
over the outer loop, no shared mutable state inside it):

1. :func:`insert_search` (parallel over the batch): each new point descends the current graph
   and runs a beam search with ``ef_construction`` on each of its layers, then picks its
   neighbours with the heuristic. The graph is only read in this phase.
2. :func:`link_new` (parallel): each new point writes its own neighbour rows.
3. :func:`backlink_requests` + :func:`apply_backlinks` (parallel over *target* nodes): every
   reverse link ``target <- new`` is grouped by target, and each target merges all of its new
   neighbours at once, re-running the heuristic when its row overflows. Each group writes one
   row, so no two threads write the same memory.

The result depends only on the batch schedule (chosen from the graph size, never from the
thread count), so a seeded build is deterministic whatever the number of threads. The beam
search of phase 1 cannot reach the batch's own members (their rows are not written yet), so
each new point also scores the batch's other points exactly and chooses its neighbours from
both (:func:`_with_batch_mates`): ``b`` extra distances per point for a batch of ``b``.

:func:`repair_deleted` removes links to deleted nodes, reconnecting each affected node to the
neighbours of its deleted neighbours (FreshDiskANN's delete consolidation) with the heuristic.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from indexes._kernels.fastdist import dist_fast
from indexes._kernels.hnsw_search import beam_search, greedy_descent
from indexes._kernels.intrinsics import atomic_add
from indexes._kernels.pool import key_dist, key_slot, pack


@nb.njit(nogil=True, cache=True)
def select_neighbors(cand, n, m_max, vectors, metric, keep_pruned, live, out, disc):
    """The paper's Algorithm 4 over ascending keys ``cand[:n]`` (distances to the base point).

    A candidate is kept if it is closer to the base than to every neighbour kept so far.
    ``keep_pruned`` fills the remaining room with discarded candidates, nearest first.
    Candidates whose ``live`` flag is 0 are skipped. Writes slots to ``out``; returns the count.
    """
    sel = 0
    if n < m_max:  # too few to prune (hnswlib's rule): keep every live candidate
        for i in range(n):
            c = key_slot(cand[i])
            if live[c]:
                out[sel] = c
                sel += 1
        return sel
    nd = 0
    for i in range(n):
        c = key_slot(cand[i])
        if not live[c]:
            continue
        dc = key_dist(cand[i])
        good = True
        vc = vectors[c]
        for s in range(sel):
            if dist_fast(vc, vectors[out[s]], metric) < dc:
                good = False
                break
        if good:
            out[sel] = c
            sel += 1
            if sel == m_max:
                break
        elif keep_pruned:
            disc[nd] = c
            nd += 1
    if keep_pruned:
        for i in range(nd):
            if sel == m_max:
                break
            out[sel] = disc[i]
            sel += 1
    return sel


@nb.njit(nogil=True, cache=True)
def _with_batch_mates(q, i, lev, keys, size, new_slots, new_levels, vectors, metric, efc, mk, out):
    """The ``efc`` nearest of the beam's ascending ``keys[:size]`` and of the batch's other
    points on layer ``lev`` (scored exactly), ascending, in ``out``; returns their count.

    The beam cannot see the batch (its rows are written after this phase), so without the
    batch mates a batch that lands where the graph has no points (a new cluster added in one
    call) links only to far-away old nodes, whose heuristic then drops the reverse links: the
    new points become unreachable (recall 0.003 for 1,000 such points added to 50,000). Only
    mates that beat the beam's worst kept candidate are sorted and merged (``mk`` is their
    buffer), so a batch spread like the graph costs ``b`` distances per point and little more.
    """
    full = size >= efc
    worst = keys[size - 1] if full else 0
    nm = 0
    for j in range(new_slots.shape[0]):
        if j != i and new_levels[j] >= lev:
            s = new_slots[j]
            k = pack(dist_fast(q, vectors[s], metric), s)
            if not full or k < worst:
                mk[nm] = k
                nm += 1
    if nm > 1:
        mk[:nm] = np.sort(mk[:nm])
    n = a = c = 0
    while n < efc and (a < size or c < nm):
        if c >= nm or (a < size and keys[a] < mk[c]):
            out[n] = keys[a]
            a += 1
        else:
            out[n] = mk[c]
            c += 1
        n += 1
    return n


@nb.njit(nogil=True, cache=True)
def insert_search_worker(ctr, job, vis, sel_out, sel_cnt):
    """Phase 1 for the points this worker takes from the shared counter ``ctr`` (graph
    read-only).

    Point ``i`` writes its layer-``l`` selection to ``sel_out[row_off[i] + l]`` (count in
    ``sel_cnt``); layers above the current top level get an empty selection. ``vis`` is this
    worker's visited array. The output of a point does not depend on which worker took it.
    ``job`` is the tuple ``(new_slots, new_levels, row_off, vectors, links0, links_up, up_off,
    live, entry, max_level, efc, m, metric, keep_pruned, pf)``.
    """
    (new_slots, new_levels, row_off, vectors, links0, links_up, up_off, live, entry, max_level,
     efc, m, metric, keep_pruned, pf) = job  # fmt: skip
    b = new_slots.shape[0]
    width = max(links0.shape[1], links_up.shape[1])
    keys = np.empty(efc, dtype=np.int64)
    done = np.empty(efc, dtype=np.uint8)
    nbuf = np.empty(width, dtype=np.int64)
    mk = np.empty(b, dtype=np.int64)
    merged = np.empty(efc, dtype=np.int64)
    disc = np.empty(efc, dtype=np.int64)
    out = np.empty(m, dtype=np.int64)
    while True:
        i = atomic_add(ctr, 0, 1)
        if i >= b:
            break
        p = new_slots[i]
        lp = new_levels[i]
        q = vectors[p]
        for lev in range(lp + 1):
            sel_cnt[row_off[i] + lev] = 0
        cur = entry
        dcur = dist_fast(q, vectors[cur], metric)
        if lp < max_level:
            cur, dcur = greedy_descent(
                q, vectors, links_up, up_off, cur, dcur, max_level, lp, metric
            )
        for lev in range(min(lp, max_level), -1, -1):
            size = beam_search(
                q,
                vectors,
                links0,
                links_up,
                up_off,
                lev,
                cur,
                dcur,
                efc,
                vis,
                keys,
                done,
                nbuf,
                metric,
                pf,
            )
            n = _with_batch_mates(q, i, lev, keys, size, new_slots, new_levels, vectors,
                                  metric, efc, mk, merged)  # fmt: skip
            cnt = select_neighbors(merged, n, m, vectors, metric, keep_pruned, live, out, disc)
            r = row_off[i] + lev
            for t in range(cnt):
                sel_out[r, t] = out[t]
            sel_cnt[r] = cnt
            cur = key_slot(keys[0])
            dcur = key_dist(keys[0])


@nb.njit(nogil=True, cache=True, parallel=True)
def insert_search(job, vis_pool, sel_out, sel_cnt):
    """Phase 1 in parallel: one worker per row of ``vis_pool`` (its visited array), points
    handed out dynamically, so a descheduled thread holds up one point, not a share."""
    ctr = np.zeros(1, dtype=np.int64)
    for w in nb.prange(vis_pool.shape[0]):
        insert_search_worker(ctr, job, vis_pool[w], sel_out, sel_cnt)


@nb.njit(nogil=True, cache=True)
def link_new(new_slots, new_levels, row_off, sel_out, sel_cnt, links0, links_up, up_off):
    """Phase 2: each new point writes its own rows (all other entries ``-1``)."""
    for i in range(new_slots.shape[0]):
        p = new_slots[i]
        for lev in range(new_levels[i] + 1):
            r = row_off[i] + lev
            cnt = sel_cnt[r]
            row = links0[p] if lev == 0 else links_up[up_off[p] + lev - 1]
            for t in range(row.shape[0]):
                row[t] = sel_out[r, t] if t < cnt else -1


@nb.njit(nogil=True, cache=True)
def backlink_requests(new_slots, new_levels, row_off, sel_out, sel_cnt, n_keys):
    """Phase 3a: the reverse links, as ``(level * n_keys + target, source)`` sorted by key."""
    total = 0
    for i in range(new_slots.shape[0]):
        for lev in range(new_levels[i] + 1):
            total += sel_cnt[row_off[i] + lev]
    keys = np.empty(total, dtype=np.int64)
    srcs = np.empty(total, dtype=np.int64)
    pos = 0
    for i in range(new_slots.shape[0]):
        for lev in range(new_levels[i] + 1):
            r = row_off[i] + lev
            for t in range(sel_cnt[r]):
                keys[pos] = lev * n_keys + sel_out[r, t]
                srcs[pos] = new_slots[i]
                pos += 1
    order = np.argsort(keys, kind="mergesort")  # stable: sources keep batch order
    keys = keys[order]
    srcs = srcs[order]
    n_groups = 0
    for t in range(total):
        if t == 0 or keys[t] != keys[t - 1]:
            n_groups += 1
    starts = np.empty(n_groups + 1, dtype=np.int64)
    g = 0
    for t in range(total):
        if t == 0 or keys[t] != keys[t - 1]:
            starts[g] = t
            g += 1
    starts[n_groups] = total
    return keys, srcs, starts


@nb.njit(nogil=True, cache=True)
def _merge_into_row(
    t, row, extra, n_extra, m_max, vectors, metric, keep_pruned, live, cand, out, disc
):
    """Merge slots ``extra[:n_extra]`` into ``row`` (neighbours of ``t``), pruning on overflow."""
    cnt = 0
    while cnt < row.shape[0] and row[cnt] >= 0:
        cnt += 1
    n = 0
    for j in range(cnt):
        u = row[j]
        cand[n] = pack(dist_fast(vectors[t], vectors[u], metric), u)
        n += 1
    fits = True
    total = cnt
    for j in range(n_extra):
        s = extra[j]
        dup = False
        for i in range(cnt):
            if row[i] == s:
                dup = True
                break
        if dup:
            continue
        total += 1
        if total > m_max:
            fits = False
        cand[n] = pack(dist_fast(vectors[t], vectors[s], metric), s)
        n += 1
    if fits:
        w = cnt
        for j in range(cnt, n):
            row[w] = key_slot(cand[j])
            w += 1
        return
    srt = np.sort(cand[:n])
    got = select_neighbors(srt, n, m_max, vectors, metric, keep_pruned, live, out, disc)
    for j in range(row.shape[0]):
        row[j] = out[j] if j < got else -1


@nb.njit(nogil=True, cache=True)
def apply_backlinks_worker(ctr, job):
    """Phase 3b for the target groups this worker takes from ``ctr``: each target merges all
    its new reverse links at once (one writer per row). ``job`` is the tuple ``(keys, srcs,
    starts, n_keys, vectors, links0, links_up, up_off, live, m, m0, metric, keep_pruned,
    max_group)``."""
    (keys, srcs, starts, n_keys, vectors, links0, links_up, up_off, live, m, m0, metric,
     keep_pruned, max_group) = job  # fmt: skip
    n_groups = starts.shape[0] - 1
    cand = np.empty(m0 + max_group, dtype=np.int64)
    out = np.empty(m0, dtype=np.int64)
    disc = np.empty(m0 + max_group, dtype=np.int64)
    while True:
        g = atomic_add(ctr, 0, 1)
        if g >= n_groups:
            break
        a = starts[g]
        b = starts[g + 1]
        lev = keys[a] // n_keys
        t = keys[a] - lev * n_keys
        if lev == 0:
            row = links0[t]
            m_max = m0
        else:
            row = links_up[up_off[t] + lev - 1]
            m_max = m
        _merge_into_row(
            t, row, srcs[a:b], b - a, m_max, vectors, metric, keep_pruned, live, cand, out, disc
        )


@nb.njit(nogil=True, cache=True, parallel=True)
def apply_backlinks(job, n_workers):
    """Phase 3b in parallel: ``n_workers`` workers take target groups dynamically."""
    ctr = np.zeros(1, dtype=np.int64)
    for _ in nb.prange(n_workers):
        apply_backlinks_worker(ctr, job)


@nb.njit(nogil=True, cache=True, parallel=True)
def repair_deleted(
    levels,
    deleted,
    vectors,
    links0,
    links_up,
    up_off,
    n_slots,
    m,
    m0,
    metric,
    keep_pruned,
    n_workers,
):
    """Drop links to ``deleted`` slots from every surviving node, reconnecting it through the
    deleted neighbours' own surviving neighbours (heuristic-pruned). Rows of deleted nodes are
    read, never written, so the parallel loop has one writer per row. Returns the number of
    rows rewritten."""
    width = max(m0, m)
    live = np.empty(n_slots, dtype=np.bool_)
    for s in range(n_slots):
        live[s] = levels[s] >= 0 and not deleted[s]
    fixed = np.zeros(n_workers, dtype=np.int64)
    ctr = np.zeros(1, dtype=np.int64)
    for c in nb.prange(n_workers):
        cap = width * (width + 1)
        cand = np.empty(cap, dtype=np.int64)
        seen = np.empty(cap, dtype=np.int64)
        out = np.empty(width, dtype=np.int64)
        disc = np.empty(cap, dtype=np.int64)
        while True:
            p = atomic_add(ctr, 0, 1)
            if p >= n_slots:
                break
            if not live[p]:
                continue
            for lev in range(levels[p] + 1):
                row = links0[p] if lev == 0 else links_up[up_off[p] + lev - 1]
                m_max = m0 if lev == 0 else m
                hit = False
                for j in range(row.shape[0]):
                    u = row[j]
                    if u < 0:
                        break
                    if deleted[u]:
                        hit = True
                        break
                if not hit:
                    continue
                ns = 0
                for j in range(row.shape[0]):
                    u = row[j]
                    if u < 0:
                        break
                    if live[u]:
                        seen[ns] = u
                        ns += 1
                    elif deleted[u]:
                        drow = links0[u] if lev == 0 else links_up[up_off[u] + lev - 1]
                        for jj in range(drow.shape[0]):
                            w = drow[jj]
                            if w < 0:
                                break
                            if w != p and live[w]:
                                seen[ns] = w
                                ns += 1
                uniq = np.unique(seen[:ns])
                n = uniq.shape[0]
                for j in range(n):
                    cand[j] = pack(dist_fast(vectors[p], vectors[uniq[j]], metric), uniq[j])
                srt = np.sort(cand[:n])
                got = select_neighbors(srt, n, m_max, vectors, metric, keep_pruned, live, out, disc)
                for j in range(row.shape[0]):
                    row[j] = out[j] if j < got else -1
                fixed[c] += 1
    return fixed.sum()
