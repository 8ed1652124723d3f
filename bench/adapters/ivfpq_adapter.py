"""Adapters for vecsearch's IVF-PQ index (``indexes.ivfpq.IVFPQIndex``)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from bench.adapters.base import Adapter
from indexes.ivfpq import IVFPQIndex, IVFPQParams


class IVFPQAdapter(Adapter):
    """IVF-PQ with PQ distances only (compare with ``faiss-ivfpq``)."""

    name = "ivfpq"
    family = "ours"
    build_defaults: ClassVar[dict[str, Any]] = {"nlist": 1024, "m": 16, "nbits": 8}
    query_defaults: ClassVar[dict[str, Any]] = {"nprobe": 8}
    keep_vectors: ClassVar[bool] = False

    def fit(self, x: np.ndarray, order: np.ndarray | None = None) -> None:
        self.index = IVFPQIndex(
            self.dim,
            self.metric,
            nlist=int(self.build["nlist"]),
            m=int(self.build["m"]),
            nbits=int(self.build["nbits"]),
            keep_vectors=self.keep_vectors,
        )
        self.index.train(x)
        self.index.add(x, np.arange(x.shape[0], dtype=np.int64))

    def _params(self) -> IVFPQParams:
        return IVFPQParams(
            nprobe=int(self.params["nprobe"]),
            k_factor=int(self.params.get("k_factor", 1)),
            rerank=self.keep_vectors,
            n_threads=self.threads,
        )

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        ids, _ = self.index.search(q, k, self._params())
        return ids[0]

    def batch_query(self, q: np.ndarray, k: int) -> np.ndarray:
        ids, _ = self.index.search(q, k, self._params())
        return ids

    def memory_bytes(self) -> int:
        return int(self.index.memory_bytes())


class IVFPQRefineAdapter(IVFPQAdapter):
    """IVF-PQ whose ``k_factor * k`` candidates are re-ranked exactly (``faiss-ivfpq-refine``)."""

    name = "ivfpq-refine"
    query_defaults: ClassVar[dict[str, Any]] = {"nprobe": 8, "k_factor": 4}
    keep_vectors: ClassVar[bool] = True
