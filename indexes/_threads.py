"""Per-call Numba thread count (``n_threads`` search parameter)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numba


@contextmanager
def numba_threads(n: int | None) -> Iterator[None]:
    """Run the block with at most ``n`` Numba threads, restoring the setting afterwards.

    Numba's thread count is thread-local, so concurrent searches do not disturb each other.
    """
    if n is None:
        yield
        return
    old = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(old)
