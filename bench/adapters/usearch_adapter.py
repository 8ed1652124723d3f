"""USearch (HNSW with SIMD kernels)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from bench.adapters.base import Adapter, AdapterUnavailable, insertion

_METRICS = {"l2": "l2sq", "ip": "ip", "cosine": "cos"}


class USearchAdapter(Adapter):
    """``usearch.index.Index`` with float32 storage."""

    name = "usearch"
    is_graph = True
    build_defaults: ClassVar[dict[str, Any]] = {"M": 16, "ef_construction": 200}
    query_defaults: ClassVar[dict[str, Any]] = {"ef": 64}
    memory_method = "usearch memory_usage"

    def __init__(self, metric: str, dim: int, **build: Any) -> None:
        super().__init__(metric, dim, **build)
        try:
            from usearch.index import Index
        except ImportError as exc:
            raise AdapterUnavailable("usearch is not installed: pip install usearch") from exc
        self._cls = Index

    def fit(self, x: np.ndarray, order: np.ndarray | None = None) -> None:
        data, ids = insertion(np.ascontiguousarray(x, dtype=np.float32), order)
        self.index = self._cls(
            ndim=self.dim,
            metric=_METRICS[self.metric],
            dtype="f32",
            connectivity=int(self.build["M"]),
            expansion_add=int(self.build["ef_construction"]),
            expansion_search=int(self.params["ef"]),
        )
        self.index.add(ids.astype(np.uint64), data, threads=self.threads)

    def _apply_query_params(self) -> None:
        if hasattr(self, "index"):
            self.index.expansion_search = int(self.params["ef"])

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        m = self.index.search(q, count=k, threads=1)
        return np.asarray(m.keys, dtype=np.int64)[: len(m)]

    def batch_query(self, q: np.ndarray, k: int) -> np.ndarray:
        m = self.index.search(q, count=k, threads=self.threads)
        keys = np.asarray(m.keys).astype(np.int64).reshape(q.shape[0], -1)
        out = np.full((q.shape[0], k), -1, dtype=np.int64)
        counts = np.asarray(m.counts).reshape(-1)
        cols = np.arange(keys.shape[1])[None, :]
        out[:, : keys.shape[1]] = np.where(cols < counts[:, None], keys, -1)
        return out

    def memory_bytes(self) -> int:
        return int(self.index.memory_usage)
