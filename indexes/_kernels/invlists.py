"""Inverted-list maintenance kernels (see :mod:`indexes.invlists`)."""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(nogil=True, cache=True)
def drop_dead_entries(start, size, codes, slots, dead):
    """Remove, in place and order-preserving, every entry whose slot is marked in ``dead``.

    Lists are compacted within their own region (``start[l] .. start[l] + size[l]``);
    ``size`` is updated. Returns the number of entries removed.
    """
    removed = 0
    cs = codes.shape[1]
    for lst in range(start.shape[0]):
        lo = start[lst]
        w = lo
        for e in range(lo, lo + size[lst]):
            s = slots[e]
            if dead[s]:
                continue
            if w != e:
                for b in range(cs):
                    codes[w, b] = codes[e, b]
                slots[w] = s
            w += 1
        removed += lo + size[lst] - w
        size[lst] = w - lo
    return removed


@nb.njit(nogil=True, cache=True)
def live_positions(start, size):
    """Arena positions of all live entries, list by list, and the list of each."""
    total = 0
    for lst in range(start.shape[0]):
        total += size[lst]
    pos = np.empty(total, dtype=np.int64)
    owner = np.empty(total, dtype=np.int64)
    w = 0
    for lst in range(start.shape[0]):
        for e in range(start[lst], start[lst] + size[lst]):
            pos[w] = e
            owner[w] = lst
            w += 1
    return pos, owner
