"""Inverted lists: per-list, growable storage of fixed-size byte codes plus one int32 slot each.

Every list owns a contiguous region of one arena (``codes``: entries x ``code_size`` uint8,
``slots``: entries int32): list ``l`` holds ``size[l]`` entries from ``start[l]`` and has room
for ``cap[l]``. A list that outgrows its room moves to the end of the arena with doubled
capacity, so appends cost amortised O(1) per entry; the regions it leaves behind are garbage,
reclaimed by :meth:`compact` once they outweigh the live entries. Kernels read the arena
directly with ``start``/``size``.

Saved form (:meth:`to_arrays`): ``offsets`` (nlist + 1), compact ``codes`` and ``slots`` in list
order -- plain arrays that :meth:`from_arrays` can take memory-mapped (read-only until the
first write, which copies them into memory).
"""

from __future__ import annotations

import numpy as np

from indexes._kernels.invlists import drop_dead_entries, live_positions

#: Smallest capacity given to a list that grows.
MIN_CAP = 8


class InvertedLists:
    """``nlist`` growable lists of ``code_size``-byte codes with an int32 slot per entry."""

    def __init__(self, nlist: int, code_size: int) -> None:
        self.nlist = int(nlist)
        self.code_size = int(code_size)
        self.start = np.zeros(nlist, dtype=np.int64)
        self.size = np.zeros(nlist, dtype=np.int64)
        self.cap = np.zeros(nlist, dtype=np.int64)
        self.codes = np.zeros((0, code_size), dtype=np.uint8)
        self.slots = np.zeros(0, dtype=np.int32)
        self.used = 0

    # -- queries -------------------------------------------------------------------------------
    @property
    def ntotal(self) -> int:
        """Live entries over all lists."""
        return int(self.size.sum())

    def nbytes(self) -> int:
        """Bytes held by the arena and the list tables."""
        return int(
            self.codes.nbytes
            + self.slots.nbytes
            + self.start.nbytes
            + self.size.nbytes
            + self.cap.nbytes
        )

    def live(self) -> tuple[np.ndarray, np.ndarray]:
        """``(arena positions, owning list)`` of every live entry, list by list."""
        return live_positions(self.start, self.size)

    # -- updates -------------------------------------------------------------------------------
    def insert(self, lists: np.ndarray, codes: np.ndarray, slots: np.ndarray) -> None:
        """Append entries: ``codes[i]`` with ``slots[i]`` to list ``lists[i]`` (in input order)."""
        n = lists.shape[0]
        if n == 0:
            return
        self._own()
        counts = np.bincount(lists, minlength=self.nlist).astype(np.int64)
        grow, new_cap, total = self._growth(counts)
        if grow.size and self.used + total > self.codes.shape[0]:
            if self.used - self.ntotal > self.ntotal:
                self.compact()
                grow, new_cap, total = self._growth(counts)
            self._reserve(self.used + total)
        if grow.size:
            new_start = self.used + np.concatenate(([0], np.cumsum(new_cap)[:-1]))
            self._move(grow, new_start)
            self.cap[grow] = new_cap
            self.used += total
        order = np.argsort(lists, kind="stable")
        sorted_lists = lists[order]
        first = np.concatenate(([0], np.cumsum(counts)[:-1]))
        rank = np.arange(n, dtype=np.int64) - first[sorted_lists]
        pos = self.start[sorted_lists] + self.size[sorted_lists] + rank
        self.codes[pos] = codes[order]
        self.slots[pos] = slots[order]
        self.size += counts

    def remove_dead(self, dead: np.ndarray) -> int:
        """Drop every entry whose slot is ``True`` in ``dead``; returns how many were dropped."""
        self._own()
        return int(drop_dead_entries(self.start, self.size, self.codes, self.slots, dead))

    def compact(self) -> None:
        """Pack the lists in list order with no spare room (reclaims garbage)."""
        offsets, codes, slots = self.to_arrays()
        self.codes, self.slots = codes, slots
        self.start = offsets[:-1].copy()
        self.size = np.diff(offsets)
        self.cap = self.size.copy()
        self.used = int(offsets[-1])

    # -- persistence ---------------------------------------------------------------------------
    def to_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(offsets (nlist + 1) int64, codes, slots)`` packed in list order."""
        pos, _owner = self.live()
        offsets = np.concatenate(([0], np.cumsum(self.size))).astype(np.int64)
        return offsets, np.ascontiguousarray(self.codes[pos]), np.ascontiguousarray(self.slots[pos])

    @classmethod
    def from_arrays(
        cls, offsets: np.ndarray, codes: np.ndarray, slots: np.ndarray
    ) -> InvertedLists:
        """Wrap saved arrays (possibly read-only memory maps) without copying them."""
        nlist = offsets.shape[0] - 1
        out = cls(nlist, codes.shape[1])
        out.start = np.asarray(offsets[:-1], dtype=np.int64).copy()
        out.size = np.diff(np.asarray(offsets, dtype=np.int64))
        out.cap = out.size.copy()
        out.codes, out.slots = codes, slots
        out.used = int(offsets[-1])
        return out

    # -- internals -----------------------------------------------------------------------------
    def _own(self) -> None:
        """Copy memory-mapped (read-only) arenas into writable memory before a write."""
        if isinstance(self.codes, np.memmap) or not self.codes.flags.writeable:
            self.codes = np.array(self.codes)
            self.slots = np.array(self.slots)

    def _growth(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """Lists that must move to take ``counts`` more entries, their new room, its total."""
        need = self.size + counts
        grow = np.flatnonzero(need > self.cap)
        new_cap = np.maximum(np.maximum(need[grow], 2 * self.cap[grow]), MIN_CAP)
        return grow, new_cap, int(new_cap.sum())

    def _reserve(self, entries: int) -> None:
        cap = self.codes.shape[0]
        if entries <= cap:
            return
        new = max(entries, 2 * cap)
        codes = np.zeros((new, self.code_size), dtype=np.uint8)
        slots = np.zeros(new, dtype=np.int32)
        codes[: self.used] = self.codes[: self.used]
        slots[: self.used] = self.slots[: self.used]
        self.codes, self.slots = codes, slots

    def _move(self, lists: np.ndarray, new_start: np.ndarray) -> None:
        """Copy the live entries of ``lists`` to ``new_start`` (beyond ``used``)."""
        lens = self.size[lists]
        tot = int(lens.sum())
        if tot:
            skip = np.cumsum(lens) - lens
            step = np.arange(tot, dtype=np.int64)
            src = np.repeat(self.start[lists] - skip, lens) + step
            dst = np.repeat(new_start - skip, lens) + step
            self.codes[dst] = self.codes[src]
            self.slots[dst] = self.slots[src]
        self.start[lists] = new_start
