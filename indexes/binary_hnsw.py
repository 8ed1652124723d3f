"""An HNSW graph searched on binary codes, then rescored with the float vectors.

Composition, not a copy: the graph is an :class:`~indexes.hnsw.HNSWIndex` (built on the float
vectors, for graph quality), the codes come from a :class:`~indexes.binary.BinaryIndex` codec
(its centre and its 1-bit encoder), and the search runs the HNSW kernels over the codes
through :meth:`HNSWIndex.search_slots` (the kernels' distance dispatches on the node type:
Hamming for packed codes). ``oversampling * k`` candidates found on the codes are re-ranked
by their exact float distances.

What it buys: the graph walk touches ``dim / 8`` bytes per visited node instead of
``4 * dim``. The float vectors are read only for the final candidates, so after
``load(path, mmap=True)`` they can stay on disk.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from indexes._kernels.dispatch import for_rows
from indexes._kernels.distances import exact_candidate_distances
from indexes._kernels.topk import EMPTY, select_exact
from indexes._threads import numba_threads
from indexes.base import METRIC_CODES, PAD_ID, BaseIndex, SearchParams, check_k, check_params
from indexes.binary import BinaryIndex
from indexes.errors import InvalidParameterError
from indexes.hnsw import HNSWIndex


@dataclass(frozen=True, slots=True)
class HNSWBinaryParams(SearchParams):
    """``ef`` for the walk on codes, ``oversampling * k`` candidates rescored."""

    ef: int = 64
    oversampling: float = 4.0
    rescore: bool = True


class HNSWBinaryIndex(BaseIndex):
    """HNSW over 1-bit codes with float rescoring (metrics cosine, ip, l2)."""

    kind: ClassVar[str] = "hnsw_binary"
    format_version: ClassVar[int] = 1

    def __init__(
        self,
        dim: int,
        metric: str = "cosine",
        M: int = 16,
        ef_construction: int = 200,
        seed: int = 0,
    ) -> None:
        super().__init__(dim, metric)
        self.graph = HNSWIndex(dim, metric, M=M, ef_construction=ef_construction, seed=seed)
        self.codec = BinaryIndex(dim, metric, bits=1, keep_vectors=False)
        self._codes = np.zeros((0, self.codec.n_words), dtype=np.uint64)

    @property
    def ntotal(self) -> int:
        """Number of stored points."""
        return self.graph.ntotal

    def slot_ids(self) -> np.ndarray:
        """The graph's ids by slot."""
        return self.graph.slot_ids()

    def memory_bytes(self) -> int:
        """Graph (links, ids and, unless memory-mapped, float vectors) plus the codes."""
        return int(self.graph.memory_bytes() + self._codes.nbytes)

    def train(self, x: Any) -> None:
        """Learn the codes' centre."""
        self.codec.train(x)

    def add(self, x: Any, ids: Any) -> None:
        """Insert into the graph (float vectors) and store each slot's code."""
        self.codec._need_center()  # raises before anything changes
        vecs = self.graph.prepare(x)
        self.graph.add(vecs, ids)
        codes = self.codec.encode(vecs)[0][:, 0]
        slot_of = self.graph._ids_to_slots()
        slots = np.fromiter((slot_of[int(i)] for i in np.asarray(ids).reshape(-1)), np.int64)
        if self._codes.shape[0] < self.graph._cap:
            grown = np.zeros((self.graph._cap, self.codec.n_words), dtype=np.uint64)
            grown[: self._codes.shape[0]] = self._codes
            self._codes = grown
        self._codes[slots] = codes

    def remove(self, ids: Any) -> None:
        """Remove from the graph (a reused slot gets its new code on ``add``)."""
        self.graph.remove(ids)

    def search(
        self,
        queries: Any,
        k: int,
        params: HNSWBinaryParams | None = None,
        allow: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Walk the graph on codes, then rescore ``oversampling * k`` candidates exactly."""
        if allow is not None:
            raise InvalidParameterError(
                "HNSWBinaryIndex does not take allow filters yet; use HNSWIndex or BinaryIndex"
            )
        self.codec._need_center()
        q = self.graph.prepare(queries, what="queries")
        k = check_k(k)
        p = check_params(params, HNSWBinaryParams)
        if not (isinstance(p.oversampling, int | float) and p.oversampling >= 1.0):
            raise InvalidParameterError(f"oversampling must be >= 1, got {p.oversampling!r}")
        if isinstance(p.ef, bool) or not isinstance(p.ef, int) or p.ef < 1:
            raise InvalidParameterError(f"ef must be a positive integer, got {p.ef!r}")
        nq = q.shape[0]
        kk = math.ceil(k * p.oversampling) if p.rescore else k
        qcodes = np.ascontiguousarray(self.codec.encode(q)[0][:, 0])
        slots, hamming = self.graph.search_slots(
            qcodes, self._codes, kk, max(p.ef, kk), p.n_threads
        )
        ids = np.asarray(self.graph._ids)
        if not p.rescore:
            out = np.where(slots >= 0, ids[np.maximum(slots, 0)], PAD_ID)
            return out[:, :k], hamming[:, :k]
        with numba_threads(p.n_threads):
            vectors = self.graph._vectors
            dist = for_rows(exact_candidate_distances, nq)(
                q, vectors, slots, METRIC_CODES[self.metric]
            )
            tiekey = np.where(slots >= 0, ids[np.maximum(slots, 0)], EMPTY)
            top, best = for_rows(select_exact, nq)(dist, slots, tiekey, k)
        out = np.where(top >= 0, ids[np.maximum(top, 0)], PAD_ID)
        return out, best.astype(np.float32)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Codes and centre as arrays; the graph in ``graph/`` (one atomic swap)."""
        arrays = {"codes": self._codes, "center": self.codec._need_center()}
        self._save_arrays(path, arrays, {}, children={"graph": self.graph})

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool = True) -> HNSWBinaryIndex:
        """Load; with ``mmap`` the graph's float vectors stay on disk (codes are in RAM)."""
        manifest, arrays = cls._load_arrays(path, mmap=False)
        index = cls(manifest["dim"], manifest["metric"])
        index.graph = HNSWIndex.load(os.path.join(path, "graph"), mmap=mmap)
        index.codec._set_center(np.array(arrays["center"]))
        index._codes = np.array(arrays["codes"])
        return index
