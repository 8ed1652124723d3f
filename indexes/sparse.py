"""Sparse vectors (term id -> weight) searched by exact dot product: an inverted index.

The index of the engine's sparse vector spaces (:mod:`vecsearch.sparse_space`). Query
algorithm: term-at-a-time accumulation (exact); MaxScore was measured on Vaswani and not
kept. Measurements against bm25s and tantivy: ``docs/design/sparse.md``.

Layout (plain arrays, saved as ``.npy`` and memory-mapped on load):

* **forward rows** in slot order, CSR: ``f_off`` / ``f_len`` into ``f_idx`` (uint32 term
  ids, ascending within a row) and ``f_val`` (float32); ``ids`` and ``live`` per slot;
* **inverted lists** over the slots below ``sealed``: ``terms`` (sorted unique), ``ptr``
  into ``p_slot`` / ``p_val``, built from the live forward rows.

Adds append slots (re-adding an id deletes its old slot first); the slots at or past
``sealed`` are scored through their forward rows until the tail exceeds
``max(SEAL_MIN, seal_fraction * sealed)``, when the lists are rebuilt. Deletes clear
``live``; when dead slots reach half of all slots the rebuild also compacts them away.

Queries whose weights are all positive, over an index whose weights are all positive
(lists and tail), and whose postings cover a quarter of the slots take a dense path (plain
accumulation, the tail by merge-join into the same accumulator, one sweep); the others keep
a touched list. A single query given as ``[(uint32 indices ascending, float32 values)]``
(what the engine passes) skips the general validation after one check. Distances are
``-dot`` (ascending, as the dense ``ip`` metric). Only points sharing at least one term with
the query are returned (Qdrant's behaviour); rows are padded with id ``-1`` and ``+inf``.
Input is ``(indices, values)`` pairs or a CSR triple ``(indptr, indices, values)``; indices
must be integers in ``[0, 2**32)`` without duplicates, values finite; rows may come unsorted
and are sorted here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numba
import numpy as np

from indexes._kernels.sparse import (
    POSITIVE_MIN,
    check_sort_rows,
    search_one,
    search_taat,
    sorted_and_finite,
)
from indexes._threads import numba_threads
from indexes.base import BaseIndex, SearchParams, as_ids, check_k, check_metric, check_params
from indexes.errors import InvalidParameterError, InvalidVectorError, UnknownIdError

MAX_TERM = 2**32  # Qdrant's sparse indices are u32


@dataclass(frozen=True)
class SparseParams(SearchParams):
    """Search parameters: only ``n_threads`` (the search is exact)."""


@dataclass(frozen=True)
class SparseBatch:
    """Validated sparse rows in CSR form, each row's indices ascending and unique."""

    indptr: np.ndarray  # int64 (n + 1,)
    indices: np.ndarray  # uint32
    values: np.ndarray  # float32

    @property
    def n(self) -> int:
        return int(self.indptr.shape[0] - 1)


def as_sparse(x: Any, *, what: str = "sparse vectors") -> SparseBatch:
    """Validate sparse rows: a sequence of ``(indices, values)`` pairs (or mappings with
    those keys) or a CSR triple ``(indptr, indices, values)`` of numpy arrays."""
    if isinstance(x, SparseBatch):
        return x
    fast = _one_typed_row(x)
    if fast is not None:
        return fast
    if isinstance(x, tuple) and len(x) == 3 and all(isinstance(a, np.ndarray) for a in x):
        indptr = np.asarray(x[0], dtype=np.int64)
        idx, val = np.asarray(x[1]), np.asarray(x[2])
        if (
            indptr.ndim != 1
            or indptr.shape[0] < 1
            or indptr[0] != 0
            or (np.diff(indptr) < 0).any()
            or idx.shape != val.shape
            or idx.ndim != 1
            or indptr[-1] != idx.shape[0]
        ):
            raise InvalidVectorError(f"{what}: inconsistent CSR triple (indptr, indices, values)")
        _check_dtypes(idx, val, what)
        return _checked_rows(indptr, idx.astype(np.int64), val.astype(np.float32), what)
    if not isinstance(x, Sequence) or isinstance(x, str | bytes):
        raise InvalidVectorError(f"{what} must be a list of (indices, values) pairs")
    lengths = np.zeros(len(x) + 1, dtype=np.int64)
    idx_parts, val_parts = [], []
    for r, row in enumerate(x):
        if isinstance(row, dict):
            row = (row.get("indices"), row.get("values"))
        try:
            raw_idx, raw_val = row
        except (TypeError, ValueError):
            raise InvalidVectorError(f"{what}[{r}] must be an (indices, values) pair") from None
        idx = np.asarray(raw_idx)
        val = np.asarray(raw_val)
        if idx.ndim != 1 or val.ndim != 1 or idx.shape != val.shape:
            raise InvalidVectorError(
                f"{what}[{r}]: indices and values must be 1-d of equal length, got "
                f"{idx.shape} and {val.shape}"
            )
        _check_dtypes(idx, val, f"{what}[{r}]")
        idx_parts.append(idx)
        val_parts.append(val)
        lengths[r + 1] = idx.shape[0]
    indptr = np.cumsum(lengths)
    if len(idx_parts) == 1:
        idx64, v32 = idx_parts[0].astype(np.int64), val_parts[0].astype(np.float32)
    elif idx_parts:
        idx64 = np.concatenate(idx_parts).astype(np.int64, copy=False)
        v32 = np.concatenate(val_parts).astype(np.float32, copy=False)
    else:
        idx64, v32 = np.zeros(0, np.int64), np.zeros(0, np.float32)
    return _checked_rows(indptr, idx64, v32, what)


def _one_typed_row(x: Any) -> SparseBatch | None:
    """The fast path of the common single query: one ``(uint32, float32)`` pair of 1-d
    arrays, indices strictly ascending, values finite (what the engine passes). ``None``
    sends anything else through the general validation."""
    if not (isinstance(x, list | tuple) and len(x) == 1 and isinstance(x[0], tuple)):
        return None
    row = x[0]
    if len(row) != 2:
        return None
    idx, val = row
    if not (
        isinstance(idx, np.ndarray)
        and isinstance(val, np.ndarray)
        and idx.dtype == np.uint32
        and val.dtype == np.float32
        and idx.ndim == 1
        and idx.shape == val.shape
    ):
        return None
    if not sorted_and_finite(idx, val):
        return None
    return SparseBatch(np.array([0, idx.shape[0]], dtype=np.int64), idx, val)


def _check_dtypes(idx: np.ndarray, val: np.ndarray, where: str) -> None:
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise InvalidVectorError(f"{where}: indices must be integers, got {idx.dtype}")
    if val.size and not (np.issubdtype(val.dtype, np.number) and val.dtype != np.bool_):
        raise InvalidVectorError(f"{where}: values must be numbers, got {val.dtype}")


_ROW_ERRORS = {
    1: "indices must lie in [0, 2**32)",
    2: "values must be finite (no NaN or inf)",
    3: "indices must not repeat",
}


def _checked_rows(indptr: np.ndarray, idx64: np.ndarray, v32: np.ndarray, what: str) -> SparseBatch:
    """Bounds, finiteness and uniqueness of every row, rows sorted by index (one kernel)."""
    indices = np.empty(idx64.shape[0], dtype=np.uint32)
    values = np.empty(v32.shape[0], dtype=np.float32)
    row, code = check_sort_rows(indptr, idx64, v32, indices, values)
    if code:
        raise InvalidVectorError(f"{what}[{row}]: {_ROW_ERRORS[code]}")
    return SparseBatch(indptr, indices, values)


def _grow(arr: np.ndarray, need: int) -> np.ndarray:
    """``arr`` with room for ``need`` entries (geometric growth; a mapped array is copied)."""
    if arr.shape[0] >= need and arr.flags.writeable:
        return arr
    out = np.empty(max(need, 2 * arr.shape[0], 16), dtype=arr.dtype)
    out[: arr.shape[0]] = arr
    return out


class SparseIndex(BaseIndex):
    """Inverted index over sparse vectors, exact dot-product search (see module docstring)."""

    kind: ClassVar[str] = "sparse"
    format_version: ClassVar[int] = 1
    keeps_vectors = True
    #: Tail slots scanned through their forward rows before the lists are rebuilt. Was
    #: 4096, which left every index under 4,096 points unsealed: with 4,000 Vaswani documents
    #: a query took 460 us unsealed against 21 us sealed (bench.sparse_speed's author); a
    #: seal of 4,000 such documents costs about a millisecond.
    SEAL_MIN = 512

    def __init__(self, metric: str = "ip", seal_fraction: float = 0.1) -> None:
        if check_metric(metric) != "ip":
            raise InvalidParameterError("sparse vectors are scored by dot product: metric 'ip'")
        if not (isinstance(seal_fraction, float | int) and 0 < seal_fraction <= 1):
            raise InvalidParameterError(f"seal_fraction must be in (0, 1], got {seal_fraction}")
        self.dim = 0  # no fixed dimension: term ids span [0, 2**32)
        self.metric = "ip"
        self.seal_fraction = float(seal_fraction)
        self._n = 0  # slots in use
        self._nnz = 0  # forward entries in use
        self._ids = np.zeros(0, dtype=np.int64)
        self._live = np.zeros(0, dtype=np.bool_)
        self._f_off = np.zeros(0, dtype=np.int64)
        self._f_len = np.zeros(0, dtype=np.int64)
        self._f_idx = np.zeros(0, dtype=np.uint32)
        self._f_val = np.zeros(0, dtype=np.float32)
        self._slot_of: dict[int, int] = {}
        self._sealed = 0
        self._terms = np.zeros(0, dtype=np.uint32)
        self._ptr = np.zeros(1, dtype=np.int64)
        self._p_slot = np.zeros(0, dtype=np.int64)
        self._p_val = np.zeros(0, dtype=np.float32)
        self._positive = True  # every row weight >= POSITIVE_MIN (the dense query path)
        #: Scratch sets of single-query searches (see :meth:`_take_scratch`).
        self._scratch: list[tuple[np.ndarray, ...]] = []

    # -- state ---------------------------------------------------------------------------------
    @property
    def ntotal(self) -> int:
        return len(self._slot_of)

    @property
    def unsealed(self) -> int:
        """Slots past the inverted lists (scored through their forward rows, slower):
        :meth:`seal` brings it to 0."""
        return self._n - self._sealed

    def slot_ids(self) -> np.ndarray:
        """External id per slot, ``-1`` for a deleted slot."""
        return np.where(self._live[: self._n], self._ids[: self._n], -1)

    def memory_bytes(self) -> int:
        arrays = (self._ids, self._live, self._f_off, self._f_len, self._f_idx, self._f_val,
                  self._terms, self._ptr, self._p_slot, self._p_val)  # fmt: skip
        return int(sum(a.nbytes for a in arrays))

    def train(self, x: Any) -> None:
        """Nothing to learn; validates ``x``."""
        as_sparse(x, what="training vectors")

    # -- writes --------------------------------------------------------------------------------
    def add(self, x: Any, ids: Any) -> None:
        """Add sparse rows under ``ids``; an id already present has its vector replaced."""
        batch = as_sparse(x)
        ids_arr = as_ids(ids, batch.n)
        if np.unique(ids_arr).shape[0] != ids_arr.shape[0]:
            raise InvalidParameterError("ids must not repeat within one add")
        self._own()
        old = [self._slot_of[i] for i in ids_arr.tolist() if i in self._slot_of]
        if old:
            self._live[old] = False
        n, m = batch.n, int(batch.indptr[-1])
        s0, e0 = self._n, self._nnz
        for name, need in (("_ids", s0 + n), ("_live", s0 + n), ("_f_off", s0 + n),
                           ("_f_len", s0 + n), ("_f_idx", e0 + m), ("_f_val", e0 + m)):  # fmt: skip
            setattr(self, name, _grow(getattr(self, name), need))
        self._ids[s0 : s0 + n] = ids_arr
        self._live[s0 : s0 + n] = True
        self._f_off[s0 : s0 + n] = e0 + batch.indptr[:-1]
        self._f_len[s0 : s0 + n] = np.diff(batch.indptr)
        self._f_idx[e0 : e0 + m] = batch.indices
        self._f_val[e0 : e0 + m] = batch.values
        self._n, self._nnz = s0 + n, e0 + m
        if m and batch.values.min() < POSITIVE_MIN:
            self._positive = False  # until a seal finds every live weight positive again
        for s, i in enumerate(ids_arr.tolist(), start=s0):
            self._slot_of[i] = s
        if self._n - self._sealed > max(self.SEAL_MIN, self.seal_fraction * self._sealed):
            self.seal()

    def remove(self, ids: Any) -> None:
        """Remove points by id; every id must be present (else nothing is removed)."""
        ids_arr = as_ids(ids)
        missing = [i for i in ids_arr.tolist() if i not in self._slot_of]
        if missing:
            raise UnknownIdError(missing[:10])
        self._own()
        slots = [self._slot_of.pop(i) for i in ids_arr.tolist()]
        self._live[slots] = False

    def _own(self) -> None:
        """Copy memory-mapped per-slot arrays before the first write (the files never change)."""
        if not self._live.flags.writeable:
            self._ids, self._live = np.array(self._ids), np.array(self._live)
            self._f_off, self._f_len = np.array(self._f_off), np.array(self._f_len)

    def seal(self) -> None:
        """Rebuild the inverted lists over every slot (compacting dead slots away when they
        are half of all slots), so no slot is left to the forward-row scan."""
        n = self._n
        if n - self.ntotal >= max(1, n // 2):
            self._compact()
            n = self._n
        lens = np.where(self._live[:n], self._f_len[:n], 0)
        slot = np.repeat(np.arange(n, dtype=np.int64), lens)
        pos = np.repeat(self._f_off[:n] - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
        term = self._f_idx[pos]
        order = np.argsort(term, kind="stable")  # stable: slots ascending within a term
        term, slot, val = term[order], slot[order], self._f_val[pos][order]
        self._terms, first = np.unique(term, return_index=True)
        self._ptr = np.append(first, term.shape[0]).astype(np.int64)
        self._p_slot, self._p_val = slot, val
        self._positive = bool(val.shape[0] == 0 or val.min() >= POSITIVE_MIN)
        self._sealed = n

    def _compact(self) -> None:
        """Renumber the live slots densely (forward rows copied in slot order)."""
        keep = np.flatnonzero(self._live[: self._n])
        lens = self._f_len[keep]
        pos = np.repeat(self._f_off[keep] - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
        self._f_idx = self._f_idx[pos].copy()
        self._f_val = self._f_val[pos].copy()
        self._f_len = lens.copy()
        self._f_off = (np.cumsum(lens) - lens).astype(np.int64)
        self._ids = self._ids[keep].copy()
        self._live = np.ones(keep.shape[0], dtype=np.bool_)
        self._n, self._nnz = keep.shape[0], int(lens.sum())
        self._slot_of = {int(i): s for s, i in enumerate(self._ids.tolist())}
        self._sealed = 0

    # -- reads ---------------------------------------------------------------------------------
    def document_frequencies(self) -> tuple[np.ndarray, np.ndarray]:
        """``(terms ascending uint32, count of live rows holding each term int64)``: the
        statistics behind IDF weighting, in one pass over the live forward rows."""
        n = self._n
        lens = np.where(self._live[:n], self._f_len[:n], 0)
        pos = np.repeat(self._f_off[:n] - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
        terms, counts = np.unique(self._f_idx[pos], return_counts=True)
        return terms.astype(np.uint32), counts.astype(np.int64)

    def get_vectors(self, ids: Any) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(indices, values)`` of each id, indices ascending."""
        out = []
        for i in as_ids(ids).tolist():
            s = self._slot_of.get(i)
            if s is None:
                raise UnknownIdError([i])
            a, b = self._f_off[s], self._f_off[s] + self._f_len[s]
            out.append((np.array(self._f_idx[a:b]), np.array(self._f_val[a:b])))
        return out

    def search(
        self,
        queries: Any,
        k: int,
        params: SparseParams | None = None,
        allow: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top ``k`` by dot product: ids ``(nq, k)`` int64, distances ``-dot``."""
        q = as_sparse(queries, what="queries")
        k = check_k(k)
        p = check_params(params, SparseParams)
        mask = self.allow_mask(allow)
        if q.n == 0 or self.ntotal == 0:
            return np.full((q.n, k), -1, np.int64), np.full((q.n, k), np.inf, np.float32)
        out_ids = np.empty((q.n, k), dtype=np.int64)  # the kernels write every entry
        out_d = np.empty((q.n, k), dtype=np.float32)
        n = self._n
        post = (self._terms, self._ptr, self._p_slot, self._p_val)
        tail = (self._sealed, self._f_off[:n], self._f_len[:n], self._f_idx, self._f_val)
        use_allow = mask is not None
        allow_arr = mask if use_allow else np.zeros(0, dtype=np.bool_)
        positive = self._positive
        args = (q.indptr, q.indices, q.values, post, tail, self._live[:n], allow_arr,
                use_allow, self._ids[:n], out_ids, out_d)  # fmt: skip
        if q.n == 1:  # one query: serial, with pooled scratch, no thread setting to change
            scratch = self._take_scratch(n, k)
            search_one(*args, positive, *scratch)
            self._scratch.append(scratch)  # only after a complete run: the scratch is clean
            return out_ids, out_d
        with numba_threads(p.n_threads):
            search_taat(*args, max(1, min(q.n, numba.get_num_threads())), positive)
        return out_ids, out_d

    def _take_scratch(self, n: int, k: int) -> tuple[np.ndarray, ...]:
        """Per-slot scratch for one single-query search: a pooled set when one fits (the
        kernel leaves ``acc`` zero and ``seen`` false), else a new one. The pool holds at
        most as many sets as searches ever ran at once; ``list.pop`` / ``append`` are atomic,
        so concurrent searches never share a set."""
        while True:
            try:
                acc, seen, touched, hd, hi = self._scratch.pop()
            except IndexError:
                break
            if acc.shape[0] >= n and hd.shape[0] == k:
                return acc, seen, touched, hd, hi
            if acc.shape[0] >= n:  # another k: keep the per-slot arrays
                return acc, seen, touched, np.empty(k, np.float32), np.empty(k, np.int64)
            # too small for the grown index: drop it
        size = max(n, 16)
        per_slot = (np.zeros(size, np.float32), np.zeros(size, np.bool_), np.empty(size, np.int64))
        return (*per_slot, np.empty(k, np.float32), np.empty(k, np.int64))

    def search_exact(
        self,
        queries: Any,
        k: int,
        allow: np.ndarray | None = None,
        n_threads: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The same exact search (the index is exact)."""
        return self.search(queries, k, SparseParams(n_threads=n_threads), allow)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the arrays and a manifest atomically into directory ``path``."""
        n, m = self._n, self._nnz
        arrays = {
            "ids": self._ids[:n], "live": self._live[:n], "f_off": self._f_off[:n],
            "f_len": self._f_len[:n], "f_idx": self._f_idx[:m], "f_val": self._f_val[:m],
            "terms": self._terms, "ptr": self._ptr, "p_slot": self._p_slot, "p_val": self._p_val,
        }  # fmt: skip
        meta = {"sealed": self._sealed, "seal_fraction": self.seal_fraction}
        self._save_arrays(path, arrays, meta)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool = True) -> Self:
        """Load a saved index; ``mmap=True`` maps the arrays (a later add copies them)."""
        manifest, a = cls._load_arrays(path, mmap=mmap)
        meta = manifest["meta"]
        index = cls(seal_fraction=meta["seal_fraction"])
        index._ids, index._live = a["ids"], a["live"]
        index._f_off, index._f_len = a["f_off"], a["f_len"]
        index._f_idx, index._f_val = a["f_idx"], a["f_val"]
        index._terms, index._ptr = a["terms"], a["ptr"]
        index._p_slot, index._p_val = a["p_slot"], a["p_val"]
        index._n, index._nnz = int(a["ids"].shape[0]), int(a["f_idx"].shape[0])
        index._sealed = int(meta["sealed"])
        pv = a["p_val"]
        tail_start = int(a["f_off"][index._sealed]) if index._sealed < index._n else index._nnz
        tv = a["f_val"][tail_start:]
        index._positive = bool(
            (pv.shape[0] == 0 or pv.min() >= POSITIVE_MIN)
            and (tv.shape[0] == 0 or tv.min() >= POSITIVE_MIN)
        )
        live_ids = np.asarray(a["ids"])[np.asarray(a["live"])]
        index._slot_of = {int(i): s for i, s in zip(live_ids.tolist(),
                          np.flatnonzero(a["live"]).tolist(), strict=True)}  # fmt: skip
        return index
