"""Mask kernels shared by indexes: translating a caller's filter into a slot mask.

An engine that names its points by small dense integers (labels) holds a filter as a boolean
mask indexed by id. Turning that into the index's ``allow`` slot mask with numpy takes five
passes and two temporary copies over the slots (718 us of CPU for 390k slots on a loaded 2-core
machine); :func:`id_mask_to_slots` does it in one pass (278 us) and counts the admitted slots
on the way.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(nogil=True, cache=True)
def id_mask_to_slots(slot_ids, id_mask):
    """``(slot_mask, count)``: slot ``s`` is admitted when ``0 <= slot_ids[s] < len(id_mask)``
    and ``id_mask[slot_ids[s]]`` (free slots and tombstones carry id ``-1``)."""
    n = slot_ids.shape[0]
    m = id_mask.shape[0]
    out = np.empty(n, dtype=np.bool_)
    count = 0
    for s in range(n):
        i = slot_ids[s]
        ok = i >= 0 and i < m and id_mask[i]
        out[s] = ok
        count += ok
    return out, count


@nb.njit(nogil=True, cache=True)
def sparse_mask_slots(mask, count):
    """Indices of the ``count`` true entries of a sparse ``mask``: skips eight entries at a
    time where all are false (measured 34 us instead of 110 us for the branch-free
    ``hnsw_search.mask_slots`` on a 0.1% mask of 390k entries; slower above ~5%)."""
    out = np.empty(count + 8, dtype=np.int64)
    n = mask.shape[0]
    nw = n // 8
    words = mask[: nw * 8].view(np.uint64)
    j = 0
    for w in range(nw):
        if words[w] == 0:
            continue
        base = w * 8
        for t in range(8):
            out[j] = base + t
            j += 1 if mask[base + t] else 0
    for i in range(nw * 8, n):
        out[j] = i
        j += 1 if mask[i] else 0
    return out[:count]
