"""Exact (brute-force) search: the ground truth for every test and benchmark.

Search runs in blocks: BLAS (or, on one thread, a serial Numba kernel, so that BLAS does not
start threads of its own) computes inner products of a block of queries against a block of
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

import numba
import numpy as np

from indexes._kernels.dispatch import for_rows
from indexes._kernels.distances import exact_candidate_distances, row_sqnorms
from indexes._kernels.fastdist import inner_products_into_heaps_serial
from indexes._kernels.topk import EMPTY, merge_scores_into_heaps, select_exact
from indexes._rows import RowStore
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

_EMPTY_MASK = np.zeros(0, dtype=np.bool_)
_NO_SLOTS = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class FlatParams(SearchParams):
    """Flat search has nothing to tune but the thread count."""


class FlatIndex(BaseIndex):
    """Exact search over float32 vectors held in memory (or memory-mapped after ``load``)."""

    kind = "flat"
    format_version = 1
    keeps_vectors = True  # its vectors are the exact ones: get_vectors and search_exact work

    #: Candidates kept per query before the exact re-computation, beyond ``k``.
    RERANK_EXTRA = 16
    #: Score-block budget (entries of queries x rows) for one BLAS call.
    BLOCK_ENTRIES = 1 << 22
    #: A filter admitting at most ``1 / GATHER_BELOW`` of the rows is answered by gathering
    #: and scoring only the admitted rows instead of scoring every row and skipping the rest.
    GATHER_BELOW = 8

    def __init__(self, dim: int, metric: str = "l2") -> None:
        super().__init__(dim, metric)
        self._rows = RowStore({"vectors": ((self.dim,), np.float32), "sqnorms": ((), np.float32)})

    # -- protocol ------------------------------------------------------------------------------
    @property
    def ntotal(self) -> int:
        """Number of stored vectors."""
        return self._rows.n

    def slot_ids(self) -> np.ndarray:
        """Ids by slot; slots are dense ``0..ntotal-1`` (removal compacts)."""
        return self._rows.slot_ids()

    def memory_bytes(self) -> int:
        """Bytes of the arrays that back the index (mapped pages count too)."""
        return self._rows.nbytes()

    def train(self, x: np.ndarray) -> None:
        """Nothing to learn; validates ``x`` so misuse still fails loudly."""
        self.prepare(x, what="training vectors")

    def add(self, x: Any, ids: Any) -> None:
        """Add vectors under external ``ids``; an id already present has its vector replaced."""
        vecs = self.prepare(x)
        ids_arr = as_ids(ids, vecs.shape[0])
        # a parallel region per small add (one upsert) costs more than the norms themselves
        sqnorms = for_rows(row_sqnorms, vecs.shape[0], threshold=4096)(vecs)
        self._rows.upsert(ids_arr, {"vectors": vecs, "sqnorms": sqnorms})

    def remove(self, ids: Any) -> None:
        """Remove points by id; every id must be present (else nothing is removed)."""
        self._rows.remove(as_ids(ids))

    def get_vectors(self, ids: Any) -> np.ndarray:
        """Stored (normalised, for cosine) vectors of ``ids``, in the given order."""
        return np.array(self._rows["vectors"][self._rows.slots_of(as_ids(ids))])

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
        nq, n = q.shape[0], self._rows.n
        out_ids = np.full((nq, k), PAD_ID, dtype=np.int64)
        out_d = np.full((nq, k), np.inf, dtype=np.float32)
        if nq == 0 or n == 0:
            return out_ids, out_d
        metric = METRIC_CODES[self.metric]
        kk = min(k + self.RERANK_EXTRA, n)
        vectors, ids, norms = self._rows["vectors"], self._rows.slot_ids(), self._rows["sqnorms"]
        rows = None  # the slots to score when a selective filter makes gathering them cheaper
        if mask is not None and np.count_nonzero(mask) * self.GATHER_BELOW <= n:
            rows = np.flatnonzero(mask)
            src, keys, bias = vectors[rows], ids[rows], norms[rows]
            m = rows.shape[0]
        else:
            src, keys, bias, m = vectors, ids, norms, n
        qb = max(1, min(nq, 1024))
        db = max(1024, self.BLOCK_ENTRIES // qb)
        with numba_threads(p.n_threads):
            serial = numba.get_num_threads() == 1
            for qs in range(0, nq, qb):
                qe = min(nq, qs + qb)
                qblk = q[qs:qe]
                hd = np.full((qe - qs, kk), np.inf, dtype=np.float32)
                hi = np.full((qe - qs, kk), EMPTY, dtype=np.int64)
                hc = np.full((qe - qs, kk), -1, dtype=np.int64)
                for bs in range(0, m, db):
                    be = min(m, bs + db)
                    if rows is None:
                        slots = _NO_SLOTS  # consecutive: bs + j
                        blk_mask = _EMPTY_MASK if mask is None else mask[bs:be]
                    else:
                        slots, blk_mask = rows[bs:be], _EMPTY_MASK
                    if serial:  # one thread: keep BLAS from starting its own, score in place
                        inner_products_into_heaps_serial(
                            qblk, src[bs:be], bias[bs:be], keys[bs:be], slots, bs, blk_mask,
                            metric, hd, hi, hc,
                        )  # fmt: skip
                        continue
                    if rows is None:
                        slots = np.arange(bs, be, dtype=np.int64)
                    scores = qblk @ src[bs:be].T
                    for_rows(merge_scores_into_heaps, qe - qs)(
                        scores,
                        bias[bs:be],
                        keys[bs:be],
                        slots,
                        blk_mask,
                        metric,
                        hd,
                        hi,
                        hc,
                    )
                exact = for_rows(exact_candidate_distances, qe - qs)(qblk, vectors, hc, metric)
                tiekey = np.where(hc >= 0, hi, EMPTY)
                slots, dist = for_rows(select_exact, qe - qs)(exact, hc, tiekey, k)
                out_ids[qs:qe] = np.where(slots >= 0, ids[np.maximum(slots, 0)], PAD_ID)
                out_d[qs:qe] = dist
        return out_ids, out_d

    def search_exact(
        self,
        queries: Any,
        k: int,
        allow: np.ndarray | None = None,
        n_threads: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` itself: flat search is exact."""
        return self.search(queries, k, FlatParams(n_threads=n_threads), allow)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write vectors, ids and norms as .npy files (atomic)."""
        self._save_arrays(path, self._rows.to_arrays(), {"ntotal": self.ntotal})

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool = True) -> FlatIndex:
        """Load a saved flat index; with ``mmap`` the vectors stay on disk until touched."""
        manifest, arrays = cls._load_arrays(path, mmap=mmap)
        index = cls(manifest["dim"], manifest["metric"])
        index._rows.set_loaded(arrays)
        return index
