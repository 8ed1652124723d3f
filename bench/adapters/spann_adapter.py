"""Adapter for vecsearch's SPANN disk index (``indexes.spann.SPANNIndex``).

``fit`` builds, saves into a temporary directory and reopens with ``mmap=True``, so searches
read postings from the saved file as a deployment would. ``memory_bytes`` is the index's own
RAM accounting (heads, head graph, offsets table, per-slot flags); the postings file and the
memory-mapped slot -> id table are on disk (:meth:`SPANNAdapter.disk_bytes`).
"""

from __future__ import annotations

import shutil
import tempfile
from typing import Any, ClassVar

import numpy as np

from bench.adapters.base import Adapter, AdapterUnavailable
from indexes.spann import SPANNIndex, SPANNParams


class SPANNAdapter(Adapter):
    """SPANN: heads + graph in RAM, 4 KiB-aligned posting lists read with ``preadv``."""

    name = "spann"
    family = "ours"
    memory_method = "SPANN RAM accounting (heads + head graph + offsets + per-slot flags)"
    build_defaults: ClassVar[dict[str, Any]] = {
        "head_ratio": 0.02,
        "replica_count": 8,
        "rng_factor": 1.0,
        "closure_ratio": 4.0,
        "posting_vector_limit": 256,
        "head_M": 16,
    }
    query_defaults: ClassVar[dict[str, Any]] = {"n_probe": 32, "max_dist_ratio": 8.0}

    def __init__(self, metric: str, dim: int, **build: Any) -> None:
        if metric == "ip":
            raise AdapterUnavailable("spann supports the l2 and cosine metrics, not ip")
        super().__init__(metric, dim, **build)

    def fit(self, x: np.ndarray, order: np.ndarray | None = None) -> None:
        self._dir = tempfile.mkdtemp(prefix="spann-bench-")
        built = SPANNIndex(
            self.dim,
            self.metric,
            head_ratio=float(self.build["head_ratio"]),
            replica_count=int(self.build["replica_count"]),
            rng_factor=float(self.build["rng_factor"]),
            closure_ratio=float(self.build["closure_ratio"]),
            posting_vector_limit=int(self.build["posting_vector_limit"]),
            head_M=int(self.build["head_M"]),
            work_dir=self._dir,
        )
        built.build(x)
        built.save(f"{self._dir}/index")
        built.close()
        self.index = SPANNIndex.load(f"{self._dir}/index", mmap=True)

    def _params(self) -> SPANNParams:
        return SPANNParams(
            n_probe=int(self.params["n_probe"]),
            max_dist_ratio=float(self.params["max_dist_ratio"]),
            n_threads=self.threads,
        )

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        ids, _ = self.index.search(q, k, self._params())
        return ids[0]

    def batch_query(self, q: np.ndarray, k: int) -> np.ndarray:
        ids, _ = self.index.search(q, k, self._params())
        return ids

    def query_with_stats(self, q: np.ndarray, k: int) -> tuple[np.ndarray, Any]:
        """Ids and the I/O statistics of one query."""
        ids, _, stats = self.index.search_with_stats(q, k, self._params())
        return ids[0], stats

    def memory_bytes(self) -> int:
        return int(self.index.memory_bytes())

    def disk_bytes(self) -> int:
        """Postings file plus the memory-mapped slot tables."""
        return int(self.index.disk_bytes() + self.index.memory_report()["mapped"])

    def __del__(self) -> None:
        d = getattr(self, "_dir", None)
        if d:
            idx = getattr(self, "index", None)
            if idx is not None:
                idx.close()
            shutil.rmtree(d, ignore_errors=True)
