"""Exact (brute-force) search: the ground truth for every test and benchmark.

Search runs in blocks: BLAS computes inner products of a block of queries against a block of
stored rows, a Numba kernel folds them into per-query heaps of ``k + extra`` candidates, and
the survivors' distances are recomputed exactly (float64 accumulation) before the final
top-k. The re-computation makes returned distances exact and immune to the cancellation error
of the ``|x|^2 - 2<q, x>`` expansion; ties are broken by ascending id, so the answer is a
total order that does not depend on blocking or threads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from indexes._kernels.distances import exact_candidate_distances, row_sqnorms
from indexes._kernels.topk import EMPTY, merge_scores_into_heaps, select_exact
from indexes._threads import numba_threads
from indexes.base import (
    METRIC_CODES,
    PAD_ID,
    BaseIndex,
    SearchParams,
    as_ids,
    check_k,
    check_params,
)
from indexes.errors import UnknownIdError

_EMPTY_MASK = np.zeros(0, dtype=np.bool_)


@dataclass(frozen=True, slots=True)
class FlatParams(SearchParams):
    """Flat search has nothing to tune but the thread count."""


class FlatIndex(BaseIndex):
    """Exact search over float32 vectors held in memory (or memory-mapped after ``load``)."""

    kind = "flat"
    format_version = 1

    #: Candidates kept per query before the exact re-computation, beyond ``k``.
    RERANK_EXTRA = 16
    #: Score-block budget (entries of queries x rows) for one BLAS call.
    BLOCK_ENTRIES = 1 << 22

    def __init__(self, dim: int, metric: str = "l2") -> None:
        super().__init__(dim, metric)
        self._n = 0
        self._vectors = np.empty((0, self.dim), dtype=np.float32)
        self._ids = np.empty(0, dtype=np.int64)
        self._sqnorms = np.empty(0, dtype=np.float32)

    # -- protocol ------------------------------------------------------------------------------
    @property
    def ntotal(self) -> int:
        """Number of stored vectors."""
        return self._n

    def slot_ids(self) -> np.ndarray:
        """Ids by slot; slots are dense ``0..ntotal-1`` (removal compacts)."""
        return self._ids[: self._n]

    def memory_bytes(self) -> int:
        """Bytes of the arrays that back the index (mapped pages count too)."""
        return int(self._vectors.nbytes + self._ids.nbytes + self._sqnorms.nbytes)

    def train(self, x: np.ndarray) -> None:
        """Nothing to learn; validates ``x`` so misuse still fails loudly."""
        self.prepare(x, what="training vectors")

    def add(self, x: Any, ids: Any) -> None:
        """Add vectors under external ``ids``; an id already present has its vector replaced."""
        vecs = self.prepare(x)
        ids_arr = as_ids(ids, vecs.shape[0])
        if vecs.shape[0] == 0:
            return
        norms = row_sqnorms(vecs)
        self._own_arrays(extra=vecs.shape[0])
        n = self._n
        present = self._ids[:n]
        existing = np.isin(ids_arr, present)
        if existing.any():
            order = np.argsort(present, kind="stable")
            pos = order[np.searchsorted(present, ids_arr[existing], sorter=order)]
            self._vectors[pos] = vecs[existing]
            self._sqnorms[pos] = norms[existing]
        new = ~existing
        m = int(new.sum())
        self._vectors[n : n + m] = vecs[new]
        self._ids[n : n + m] = ids_arr[new]
        self._sqnorms[n : n + m] = norms[new]
        self._n = n + m

    def remove(self, ids: Any) -> None:
        """Remove points by id; every id must be present (else nothing is removed)."""
        ids_arr = as_ids(ids)
        present = self._ids[: self._n]
        missing = ~np.isin(ids_arr, present)
        if missing.any():
            example = int(ids_arr[missing][0])
            raise UnknownIdError(
                f"{int(missing.sum())} id(s) not in the index, for example {example}"
            )
        keep = ~np.isin(present, ids_arr)
        self._vectors = np.ascontiguousarray(self._vectors[: self._n][keep])
        self._ids = np.ascontiguousarray(present[keep])
        self._sqnorms = np.ascontiguousarray(self._sqnorms[: self._n][keep])
        self._n = int(keep.sum())

    def get_vectors(self, ids: Any) -> np.ndarray:
        """Stored (normalised, for cosine) vectors of ``ids``, in the given order."""
        ids_arr = as_ids(ids)
        present = self._ids[: self._n]
        order = np.argsort(present, kind="stable")
        pos = np.searchsorted(present, ids_arr, sorter=order)
        pos = np.minimum(pos, max(self._n - 1, 0))
        slots = order[pos] if self._n else pos
        if self._n == 0 or not np.array_equal(present[slots], ids_arr):
            bad = ids_arr if self._n == 0 else ids_arr[present[slots] != ids_arr]
            raise UnknownIdError(f"id {int(bad[0])} is not in the index")
        return np.array(self._vectors[slots])

    def search(
        self,
        queries: Any,
        k: int,
        params: FlatParams | None = None,
        allow: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact k nearest neighbours of each query (see module docstring)."""
        q = self.prepare(queries, what="queries")
        k = check_k(k)
        p = check_params(params, FlatParams)
        mask = self.allow_mask(allow)
        nq, n = q.shape[0], self._n
        out_ids = np.full((nq, k), PAD_ID, dtype=np.int64)
        out_d = np.full((nq, k), np.inf, dtype=np.float32)
        if nq == 0 or n == 0:
            return out_ids, out_d
        metric = METRIC_CODES[self.metric]
        kk = min(k + self.RERANK_EXTRA, n)
        vectors, ids, norms = self._vectors[:n], self._ids[:n], self._sqnorms[:n]
        qb = max(1, min(nq, 1024))
        db = max(1024, self.BLOCK_ENTRIES // qb)
        with numba_threads(p.n_threads):
            for qs in range(0, nq, qb):
                qe = min(nq, qs + qb)
                qblk = q[qs:qe]
                hd = np.full((qe - qs, kk), np.inf, dtype=np.float32)
                hi = np.full((qe - qs, kk), EMPTY, dtype=np.int64)
                hc = np.full((qe - qs, kk), -1, dtype=np.int64)
                for bs in range(0, n, db):
                    be = min(n, bs + db)
                    scores = qblk @ vectors[bs:be].T
                    blk_mask = _EMPTY_MASK if mask is None else mask[bs:be]
                    merge_scores_into_heaps(
                        scores,
                        norms[bs:be],
                        ids[bs:be],
                        np.arange(bs, be, dtype=np.int64),
                        blk_mask,
                        metric,
                        hd,
                        hi,
                        hc,
                    )
                exact = exact_candidate_distances(qblk, vectors, hc, metric)
                tiekey = np.where(hc >= 0, hi, EMPTY)
                slots, dist = select_exact(exact, hc, tiekey, k)
                out_ids[qs:qe] = np.where(slots >= 0, ids[np.maximum(slots, 0)], PAD_ID)
                out_d[qs:qe] = dist
        return out_ids, out_d

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write vectors, ids and norms as .npy files (atomic)."""
        n = self._n
        self._save_arrays(
            path,
            {"vectors": self._vectors[:n], "ids": self._ids[:n], "sqnorms": self._sqnorms[:n]},
            {"ntotal": n},
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool = True) -> FlatIndex:
        """Load a saved flat index; with ``mmap`` the vectors stay on disk until touched."""
        manifest, arrays = cls._load_arrays(path, mmap=mmap)
        index = cls(manifest["dim"], manifest["metric"])
        index._vectors = arrays["vectors"]
        index._ids = arrays["ids"]
        index._sqnorms = arrays["sqnorms"]
        index._n = int(arrays["ids"].shape[0])
        return index

    # -- internals -----------------------------------------------------------------------------
    def _own_arrays(self, extra: int) -> None:
        """Make the arrays writable, in-memory and large enough for ``extra`` more rows."""
        need = self._n + extra
        cap = self._vectors.shape[0]
        writable = isinstance(self._vectors, np.ndarray) and not isinstance(
            self._vectors, np.memmap
        )
        if writable and cap >= need and self._vectors.flags.writeable:
            return
        new_cap = max(need, 2 * cap, 1024)
        vectors = np.empty((new_cap, self.dim), dtype=np.float32)
        ids = np.empty(new_cap, dtype=np.int64)
        norms = np.empty(new_cap, dtype=np.float32)
        vectors[: self._n] = self._vectors[: self._n]
        ids[: self._n] = self._ids[: self._n]
        norms[: self._n] = self._sqnorms[: self._n]
        self._vectors, self._ids, self._sqnorms = vectors, ids, norms
