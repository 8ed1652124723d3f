"""Candidate lists for graph search, keyed by packed ``(distance, slot)`` int64 values.

``pack(d, slot)`` maps a float32 distance to an order-preserving signed 32-bit integer (the
usual sign-flip trick on the IEEE bits) and puts it above the slot number, so comparing two
keys compares ``(distance, slot)`` lexicographically in one instruction: ties in distance are
broken by the smaller slot, which keeps traversal deterministic.

Two structures are built on these keys:

* a *sorted pool* of at most ``L`` keys with an "expanded" flag each (the beam of the
  unfiltered search: expand the best unexpanded entry until none is left);
* binary *heaps* (a min-heap of candidates, a max-heap of results) for the filtered search,
  where the candidate frontier must grow beyond ``L`` while too few allowed points are found.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from indexes._kernels.intrinsics import bits_f32, f32_bits

_LOW31 = 0x7FFFFFFF
_LOW32 = 0xFFFFFFFF


@nb.njit(nogil=True, cache=True, inline="always")
def pack(d, slot):
    """Order-preserving int64 key of ``(float32 distance, slot >= 0)``."""
    b = np.int64(f32_bits(np.float32(d)))
    b = b ^ ((b >> 31) & _LOW31)
    return (b << 32) | np.int64(slot)


@nb.njit(nogil=True, cache=True, inline="always")
def key_slot(key):
    """The slot stored in a key."""
    return np.int64(key & _LOW32)


@nb.njit(nogil=True, cache=True, inline="always")
def key_dist(key):
    """The float32 distance stored in a key."""
    b = key >> 32
    b = b ^ ((b >> 31) & _LOW31)
    return bits_f32(np.int32(b))


# -- sorted pool ----------------------------------------------------------------------------


@nb.njit(nogil=True, cache=True, inline="always")
def pool_insert(keys, done, size, cap, key):
    """Insert ``key`` into the sorted ``keys[:size]`` (capacity ``cap``), dropping the worst
    entry when full. Returns ``(new_size, position)``; position ``cap`` means not inserted."""
    if size == cap:
        if key >= keys[cap - 1]:
            return size, cap
        i = cap - 1
    else:
        i = size
        size += 1
    while i > 0 and keys[i - 1] > key:
        keys[i] = keys[i - 1]
        done[i] = done[i - 1]
        i -= 1
    keys[i] = key
    done[i] = 0
    return size, i


# -- heaps ----------------------------------------------------------------------------------


@nb.njit(nogil=True, cache=True)
def minheap_push(h, size, key):
    """Push onto a min-heap ``h[:size]`` (caller guarantees room); returns the new size."""
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if h[parent] <= key:
            break
        h[i] = h[parent]
        i = parent
    h[i] = key
    return size + 1


@nb.njit(nogil=True, cache=True)
def minheap_pop(h, size):
    """Remove the minimum of ``h[:size]`` (size > 0); returns the new size."""
    size -= 1
    if size == 0:
        return 0
    last = h[size]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= size:
            break
        if c + 1 < size and h[c + 1] < h[c]:
            c += 1
        if h[c] >= last:
            break
        h[i] = h[c]
        i = c
    h[i] = last
    return size


@nb.njit(nogil=True, cache=True)
def maxheap_push(h, size, key):
    """Push onto a max-heap ``h[:size]`` (caller guarantees room); returns the new size."""
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if h[parent] >= key:
            break
        h[i] = h[parent]
        i = parent
    h[i] = key
    return size + 1


@nb.njit(nogil=True, cache=True)
def maxheap_replace_top(h, size, key):
    """Replace the maximum of the non-empty max-heap ``h[:size]`` by ``key``."""
    i = 0
    while True:
        c = 2 * i + 1
        if c >= size:
            break
        if c + 1 < size and h[c + 1] > h[c]:
            c += 1
        if h[c] <= key:
            break
        h[i] = h[c]
        i = c
    h[i] = key


@nb.njit(nogil=True, cache=True)
def maxheap_pop(h, size):
    """Remove the maximum of ``h[:size]`` (size > 0); returns the new size."""
    size -= 1
    if size > 0:
        maxheap_replace_top(h, size, h[size])
    return size
