"""Dense rows of parallel arrays keyed by unique external ids.

Exhaustive indexes (flat, binary codes) keep one row per point in slots ``0..n-1``: vectors,
codes, norms... all indexed by slot. This class owns the bookkeeping they share: upsert by id
(replace in place or append, growing capacity geometrically), removal with compaction, id to
slot lookup, and copy-on-write after a memory-mapped load.

A column is normally row-major, ``(capacity, *tail)``. A column named in ``rows_last`` is
stored ``(*tail, capacity)`` instead: for each tail position the values of all rows are
contiguous. Scans that read one small field of every row (a word of every binary code)
then stream through memory and vectorise across rows.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from indexes.errors import UnknownIdError


class RowStore:
    """Parallel arrays ``name -> (capacity, *tail)`` (or ``(*tail, capacity)`` for the
    columns in ``rows_last``) plus an ``ids`` column."""

    def __init__(
        self,
        columns: Mapping[str, tuple[tuple[int, ...], np.dtype | type]],
        rows_last: tuple[str, ...] = (),
    ) -> None:
        self._columns = {name: (tuple(tail), np.dtype(dt)) for name, (tail, dt) in columns.items()}
        unknown = set(rows_last) - set(self._columns)
        if unknown:
            raise ValueError(f"rows_last names unknown columns: {sorted(unknown)}")
        self._rows_last = frozenset(rows_last)
        self.n = 0
        self.ids = np.empty(0, dtype=np.int64)
        self.arrays: dict[str, np.ndarray] = {name: self._alloc(name, 0) for name in self._columns}

    # -- reading -------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> np.ndarray:
        """The live rows of column ``name`` (a view of the first ``n`` slots; for a
        ``rows_last`` column a strided view ``(*tail, n)``)."""
        arr = self.arrays[name]
        return arr[..., : self.n] if name in self._rows_last else arr[: self.n]

    def slot_ids(self) -> np.ndarray:
        """External id of every live slot."""
        return self.ids[: self.n]

    def nbytes(self, *, include: set[str] | None = None, resident_only: bool = False) -> int:
        """Bytes of the backing arrays (``resident_only`` skips memory-mapped ones)."""
        total = 0 if resident_only and isinstance(self.ids, np.memmap) else self.ids.nbytes
        for name, arr in self.arrays.items():
            if include is not None and name not in include:
                continue
            if resident_only and isinstance(arr, np.memmap):
                continue
            total += arr.nbytes
        return int(total)

    def slots_of(self, ids: np.ndarray) -> np.ndarray:
        """Slots of ``ids`` in order; raises :class:`UnknownIdError` naming a missing id."""
        present = self.ids[: self.n]
        if self.n == 0:
            if ids.size:
                raise UnknownIdError(f"id {int(ids[0])} is not in the index")
            return np.empty(0, dtype=np.int64)
        order = np.argsort(present, kind="stable")
        pos = np.minimum(np.searchsorted(present, ids, sorter=order), self.n - 1)
        slots = order[pos]
        bad = present[slots] != ids
        if bad.any():
            raise UnknownIdError(
                f"{int(bad.sum())} id(s) not in the index, for example {int(ids[bad][0])}"
            )
        return slots.astype(np.int64)

    # -- writing -------------------------------------------------------------------------------
    def upsert(self, ids: np.ndarray, rows: Mapping[str, np.ndarray]) -> None:
        """Write ``rows`` under ``ids`` (unique): existing ids are replaced, others appended."""
        m = ids.shape[0]
        if m == 0:
            return
        self._own(extra=m)
        present = self.ids[: self.n]
        existing = np.isin(ids, present)
        if existing.any():
            slots = self.slots_of(ids[existing])
            for name, values in rows.items():
                self._write(name, slots, values[existing])
        new = ~existing
        n_new = int(new.sum())
        lo, hi = self.n, self.n + n_new
        self.ids[lo:hi] = ids[new]
        for name, values in rows.items():
            self._write(name, slice(lo, hi), values[new])
        self.n = hi

    def remove(self, ids: np.ndarray) -> None:
        """Drop the rows of ``ids`` (all must exist, else nothing changes) and compact."""
        self.slots_of(ids)  # raises before anything changes
        keep = ~np.isin(self.ids[: self.n], ids)
        self.ids = np.ascontiguousarray(self.ids[: self.n][keep])
        for name in self.arrays:
            live = self[name]
            kept = live[..., keep] if name in self._rows_last else live[keep]
            self.arrays[name] = np.ascontiguousarray(kept)
        self.n = int(keep.sum())

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The live rows of every column plus ``ids``, for saving (``rows_last`` columns
        keep their layout)."""
        out = {name: self[name] for name in self.arrays}
        out["ids"] = self.ids[: self.n]
        return out

    def set_loaded(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Adopt arrays read by ``load`` (possibly memory-mapped; copied on first write)."""
        self.ids = arrays["ids"]
        self.n = int(self.ids.shape[0])
        for name in self._columns:
            self.arrays[name] = arrays[name]

    def _own(self, extra: int) -> None:
        """Make every array writable, in memory and large enough for ``extra`` more rows."""
        need = self.n + extra
        cap = self.ids.shape[0]
        arrays = [self.ids, *self.arrays.values()]
        owned = all(
            not isinstance(a, np.memmap) and a.flags.writeable and a.flags.c_contiguous
            for a in arrays
        )
        if owned and cap >= need:
            return
        new_cap = max(need, 2 * cap, 1024)
        ids = np.empty(new_cap, dtype=np.int64)
        ids[: self.n] = self.ids[: self.n]
        self.ids = ids
        for name in self._columns:
            arr = self._alloc(name, new_cap)
            if name in self._rows_last:
                arr[..., : self.n] = self[name]
            else:
                arr[: self.n] = self.arrays[name][: self.n]
            self.arrays[name] = arr

    def _alloc(self, name: str, capacity: int) -> np.ndarray:
        tail, dt = self._columns[name]
        shape = (*tail, capacity) if name in self._rows_last else (capacity, *tail)
        return np.empty(shape, dtype=dt)

    def _write(self, name: str, where: np.ndarray | slice, values: np.ndarray) -> None:
        """Store row-major ``values`` (``(m, *tail)``) at slots ``where``."""
        if name in self._rows_last:
            self.arrays[name][..., where] = np.moveaxis(values, 0, -1)
        else:
            self.arrays[name][where] = values
