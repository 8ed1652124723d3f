"""One switch for every thread pool in the process: BLAS, OpenMP (faiss), Numba.

Libraries that take a thread count per call (hnswlib, usearch) get it from their adapter's
``set_threads``; this module covers the process-wide pools.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import numba
from threadpoolctl import threadpool_limits


def available_threads() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@contextmanager
def limit_threads(n: int) -> Iterator[None]:
    """Run the block with at most ``n`` threads in BLAS, OpenMP, faiss and Numba."""
    n = max(1, int(n))
    old_numba = numba.get_num_threads()
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    faiss = sys.modules.get("faiss")
    old_faiss = faiss.omp_get_max_threads() if faiss is not None else None
    if faiss is not None:
        faiss.omp_set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        numba.set_num_threads(old_numba)
        if faiss is not None and old_faiss is not None:
            faiss.omp_set_num_threads(old_faiss)
