"""hnswlib (the reference HNSW implementation)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from bench.adapters.base import Adapter, AdapterUnavailable, insertion, pad_ids

_SPACES = {"l2": "l2", "ip": "ip", "cosine": "cosine"}


class HnswlibAdapter(Adapter):
    """``hnswlib.Index``; cosine uses hnswlib's own normalising ``cosine`` space."""

    name = "hnswlib"
    is_graph = True
    build_defaults: ClassVar[dict[str, Any]] = {"M": 16, "ef_construction": 200, "seed": 100}
    query_defaults: ClassVar[dict[str, Any]] = {"ef": 64}
    memory_method = "hnswlib index_file_size()"

    def __init__(self, metric: str, dim: int, **build: Any) -> None:
        super().__init__(metric, dim, **build)
        try:
            import hnswlib
        except ImportError as exc:
            raise AdapterUnavailable("hnswlib is not installed: pip install hnswlib") from exc
        self._hnswlib = hnswlib

    def fit(self, x: np.ndarray, order: np.ndarray | None = None) -> None:
        data, ids = insertion(np.ascontiguousarray(x, dtype=np.float32), order)
        self.index = self._hnswlib.Index(space=_SPACES[self.metric], dim=self.dim)
        self.index.init_index(
            max_elements=x.shape[0],
            M=int(self.build["M"]),
            ef_construction=int(self.build["ef_construction"]),
            random_seed=int(self.build["seed"]),
        )
        self.index.add_items(data, ids, num_threads=self.threads)
        self._apply_query_params()

    def _apply_query_params(self) -> None:
        if hasattr(self, "index"):
            self.index.set_ef(int(self.params["ef"]))

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        labels, _ = self.index.knn_query(q, k=k, num_threads=1)
        return labels[0].astype(np.int64)

    def batch_query(self, q: np.ndarray, k: int) -> np.ndarray:
        labels, _ = self.index.knn_query(q, k=k, num_threads=self.threads)
        return pad_ids(labels, k)

    def memory_bytes(self) -> int:
        return int(self.index.index_file_size())
