"""Visited sets that cost nothing to clear: epoch tags (hnswlib's VisitedList idea).

A visited set is a ``uint16`` array with one entry per graph slot plus one trailing entry that
stores the current epoch. Starting a traversal bumps the epoch; a slot is visited iff its
entry equals the epoch. Only when the 16-bit epoch wraps (every 65,534 traversals) is the
array zeroed. Each thread owns its array (a thread-local pool for single queries, one array
per parallel chunk for batches), so traversals never share one.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_MAX_EPOCH = 65535


def new_visited(n_slots: int) -> np.ndarray:
    """A visited array for a graph of ``n_slots`` slots (epoch 0, nothing visited)."""
    return np.zeros(n_slots + 1, dtype=np.uint16)


@nb.njit(nogil=True, cache=True)
def visited_alloc(n_slots):
    """In-kernel twin of :func:`new_visited`."""
    return np.zeros(n_slots + 1, dtype=np.uint16)


@nb.njit(nogil=True, cache=True)
def next_epoch(vis):
    """Start a new traversal on ``vis`` and return its tag (clears only on wrap-around)."""
    last = vis.shape[0] - 1
    tag = np.int64(vis[last]) + 1
    if tag >= _MAX_EPOCH:
        vis[:] = 0
        tag = 1
    vis[last] = tag
    return np.uint16(tag)
