"""Serial twins of parallel kernels, for calls too small to pay for a parallel region.

Entering a Numba ``parallel=True`` region costs a thread-team barrier: microseconds on an
idle machine, up to milliseconds when another process holds the other core (measured: a
one-row parallel encode took 1.4 ms under load against 2 us for its serial twin). Single-query
searches (latency mode) therefore call the serial twin, in which ``prange`` is a plain
``range``. The twin is a copy of the Python function under its own qualified name, so the two
compilations keep separate entries in Numba's on-disk cache.
"""

from __future__ import annotations

import types

import numba as nb

_SERIAL: dict[object, object] = {}


def serial_twin(kernel):
    """The ``parallel=False`` compilation of a ``parallel=True`` ``@njit`` kernel (memoised)."""
    twin = _SERIAL.get(kernel)
    if twin is None:
        f = kernel.py_func
        g = types.FunctionType(f.__code__, f.__globals__, f"{f.__name__}_serial", f.__defaults__)
        g.__qualname__ = f"{f.__qualname__}_serial"
        g.__module__ = f.__module__
        g.__doc__ = f.__doc__
        options = {
            k: v for k, v in kernel.targetoptions.items() if k not in ("parallel", "nopython")
        }
        twin = nb.njit(cache=True, **options)(g)
        _SERIAL[kernel] = twin
    return twin


def for_rows(kernel, n_rows: int, threshold: int = 2):
    """``kernel`` when there are at least ``threshold`` rows of work, else its serial twin."""
    return kernel if n_rows >= threshold else serial_twin(kernel)
