"""A seeded random rotation in O(d log d): rounds of random signs, a random permutation and
orthonormal Walsh-Hadamard transforms on power-of-two blocks.

Binary codes keep one bit per dimension, so a dimension with little variance (a border pixel
of fashion-mnist) wastes its bit and a few high-variance ones dominate the error. A random
rotation spreads the variance over every dimension first; it preserves distances and inner
products, so search results are unchanged up to the code's error (the RaBitQ observation).
A dense ``d x d`` rotation costs ``4 d^2`` bytes of RAM and ``d^2`` flops per query; this
structured one stores ``rounds * d`` signs and permutation entries and costs about
``rounds * d log2 d`` adds. ``d`` need not be a power of two: it is split into the
power-of-two blocks of its binary expansion (784 = 512 + 256 + 16), each transformed on its
own, and the next round's permutation mixes values across blocks.

One round maps ``v`` to ``H(P(s * v))``: ``new[j] = v[p[j]] * s[p[j]]``, then every block is
replaced by its normalised Hadamard transform (``H`` is symmetric and its own inverse).
Sums run in float64.
"""

from __future__ import annotations

import numba as nb
import numpy as np


def make_rotation(dim: int, rounds: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(signs (rounds, dim) float32 of ±1, perms (rounds, dim) int32)`` from ``seed``."""
    rng = np.random.default_rng(seed)
    signs = np.empty((rounds, dim), dtype=np.float32)
    perms = np.empty((rounds, dim), dtype=np.int32)
    for r in range(rounds):
        signs[r] = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), dim)
        perms[r] = rng.permutation(dim)
    return signs, perms


@nb.njit(nogil=True, cache=True, inline="always")
def _hadamard8(v, g):
    """The first three butterfly stages (pairs 1, 2 and 4 apart) on ``v[g:g + 8]``, in the
    order the generic loop would do them (same results), with the eight values in registers."""
    a0, a1, a2, a3 = v[g], v[g + 1], v[g + 2], v[g + 3]
    a4, a5, a6, a7 = v[g + 4], v[g + 5], v[g + 6], v[g + 7]
    b0, b1, b2, b3 = a0 + a1, a0 - a1, a2 + a3, a2 - a3
    b4, b5, b6, b7 = a4 + a5, a4 - a5, a6 + a7, a6 - a7
    c0, c1, c2, c3 = b0 + b2, b1 + b3, b0 - b2, b1 - b3
    c4, c5, c6, c7 = b4 + b6, b5 + b7, b4 - b6, b5 - b7
    v[g], v[g + 1], v[g + 2], v[g + 3] = c0 + c4, c1 + c5, c2 + c6, c3 + c7
    v[g + 4], v[g + 5], v[g + 6], v[g + 7] = c0 - c4, c1 - c5, c2 - c6, c3 - c7


@nb.njit(nogil=True, cache=True, inline="always")
def _hadamard_blocks(v):
    """Orthonormal Walsh-Hadamard transform, in place, of each power-of-two block of ``v``.

    Blocks of 8 or more start with :func:`_hadamard8` per group of eight; the later stages
    work on slices (``x[j]``, ``y[j]``) so the loop over ``j`` vectorises.
    """
    d = v.shape[0]
    off = 0
    bit = 1
    while bit * 2 <= d:
        bit *= 2
    while bit >= 1:
        if d & bit:
            h = 1
            if bit >= 8:
                for g in range(off, off + bit, 8):
                    _hadamard8(v, g)
                h = 8
            while h < bit:
                for i in range(off, off + bit, 2 * h):
                    x = v[i : i + h]
                    y = v[i + h : i + 2 * h]
                    for j in range(h):
                        a = x[j]
                        b = y[j]
                        x[j] = a + b
                        y[j] = a - b
                h *= 2
            scale = 1.0 / np.sqrt(bit)
            for j in range(off, off + bit):
                v[j] *= scale
            off += bit
        bit //= 2


@nb.njit(nogil=True, cache=True)
def rotate_into(x, signs, perms, out, tmp):
    """``out`` (float32) = the rotation of ``x``; ``tmp`` is float64 scratch ``(2, len(x))``."""
    d = x.shape[0]
    v, w = tmp[0], tmp[1]
    for j in range(d):
        v[j] = x[j]
    for r in range(signs.shape[0]):
        for j in range(d):
            p = perms[r, j]
            w[j] = v[p] * signs[r, p]
        _hadamard_blocks(w)
        v, w = w, v
    for j in range(d):
        out[j] = v[j]


@nb.njit(nogil=True, cache=True, parallel=True)
def rotate_rows(x, signs, perms):
    """The rotation of every row of ``x`` (float32 ``(n, d)``)."""
    n, d = x.shape
    out = np.empty((n, d), dtype=np.float32)
    for i in nb.prange(n):
        rotate_into(x[i], signs, perms, out[i], np.empty((2, d), dtype=np.float64))
    return out


@nb.njit(nogil=True, cache=True, parallel=True)
def unrotate_rows(y, signs, perms):
    """The inverse rotation of every row of ``y``: rounds undone in reverse order."""
    n, d = y.shape
    out = np.empty((n, d), dtype=np.float32)
    for i in nb.prange(n):
        v = np.empty(d, dtype=np.float64)
        for j in range(d):
            v[j] = y[i, j]
        for r in range(signs.shape[0] - 1, -1, -1):
            _hadamard_blocks(v)
            w = v.copy()
            for j in range(d):
                p = perms[r, j]
                v[p] = w[j] * signs[r, p]
        for j in range(d):
            out[i, j] = v[j]
    return out
