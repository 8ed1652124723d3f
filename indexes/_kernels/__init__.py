"""Numba kernels: ``@njit`` functions over flat arrays, grouped by concern.

Policy (ARCHITECTURE.md §2): ``nogil=True`` everywhere, ``cache=True`` (no closures or
function arguments), ``prange`` only over the outermost loop, inputs validated and made
contiguous by the calling class, never here.
"""
