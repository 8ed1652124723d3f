"""Exact search over a slot table of float vectors: ``search_exact`` for the indexes that keep
their exact vectors beside some other representation (IVF-PQ codes, binary codes).

The scan is the one HNSW's exact plan runs (:func:`indexes._kernels.hnsw_search.exact_subset`):
a heap of ``k`` per query over the admitted slots only, ties by ascending id, rows padded with
``-1`` / ``+inf``. It reads nothing but the admitted rows, so a selective filter costs little
even when the vectors are memory-mapped.
"""

from __future__ import annotations

import numba
import numpy as np

from indexes._kernels import hnsw_search as ks
from indexes._threads import numba_threads
from indexes.base import PAD_ID, check_positive_int


def exact_over_slots(
    queries: np.ndarray,
    k: int,
    metric_code: int,
    vectors: np.ndarray,
    slot_ids: np.ndarray,
    admit: np.ndarray | None,
    n_threads: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``k`` nearest of prepared ``queries`` among the slots with ``slot_ids >= 0`` that
    ``admit`` (a boolean mask over slots, ``None``: all) lets through.

    ``vectors`` row ``s`` is slot ``s``'s vector (at least ``len(slot_ids)`` rows; memory-mapped
    rows are fine). Returns external ids and float32 distances, ``(n, k)``."""
    if n_threads is not None:
        check_positive_int("n_threads", n_threads)
    nq = queries.shape[0]
    sid = np.ascontiguousarray(slot_ids, dtype=np.int64)
    live = sid >= 0
    slots = np.flatnonzero(live if admit is None else admit[: sid.shape[0]] & live)
    if nq == 0 or slots.size == 0:
        return (
            np.full((nq, k), PAD_ID, dtype=np.int64),
            np.full((nq, k), np.inf, dtype=np.float32),
        )
    vecs = np.asarray(vectors)  # a plain ndarray (not a memmap subclass) dispatches faster
    pf = int(min(8, -(-vecs.shape[1] * 4 // 64)))  # cache lines prefetched per row
    slots = slots.astype(np.int64)
    with numba_threads(n_threads):
        workers = max(1, min(numba.get_num_threads(), nq))
        if workers == 1:
            return ks.exact_subset_serial(queries, k, metric_code, vecs, slots, sid, pf)
        return ks.exact_subset(queries, k, metric_code, vecs, slots, sid, pf, workers)
