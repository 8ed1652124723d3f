"""Adapters for vecsearch's own indexes (``indexes/``).

Plug-in point for new index families: write a subclass of :class:`~bench.adapters.base.Adapter`
here (``family = "ours"``) whose ``__init__`` imports the index module inside a
``try/except ImportError`` that raises :class:`AdapterUnavailable`, then register it in
``bench/adapters/__init__.py``. HNSW is wired below against the agreed API; IVF-PQ
(``indexes.ivfpq``) and binary codes (``indexes.binary``) slot in the same way when they land.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import numpy as np

from bench.adapters.base import Adapter, AdapterUnavailable, insertion, pad_ids
from indexes import FlatIndex, FlatParams


class FlatAdapter(Adapter):
    """``indexes.flat.FlatIndex``: exact search (BLAS blocks + Numba top-k)."""

    name = "flat"
    family = "ours"

    def fit(self, x: np.ndarray, order: np.ndarray | None = None) -> None:
        self.index = FlatIndex(self.dim, self.metric)
        self.index.add(x, np.arange(x.shape[0], dtype=np.int64))

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        ids, _ = self.index.search(q[None, :], k, FlatParams(n_threads=self.threads))
        return ids[0]

    def batch_query(self, q: np.ndarray, k: int) -> np.ndarray:
        ids, _ = self.index.search(q, k, FlatParams(n_threads=self.threads))
        return ids

    def memory_bytes(self) -> int:
        return self.index.memory_bytes()


class HNSWAdapter(Adapter):
    """``indexes.hnsw.HNSWIndex`` (``HNSWIndex(dim, metric, M, ef_construction)``,
    ``HNSWParams(ef=...)``). Unavailable until the HNSW module is merged."""

    name = "hnsw"
    family = "ours"
    is_graph = True
    build_defaults: ClassVar[dict[str, Any]] = {"M": 16, "ef_construction": 200}
    query_defaults: ClassVar[dict[str, Any]] = {"ef": 64}

    def __init__(self, metric: str, dim: int, **build: Any) -> None:
        super().__init__(metric, dim, **build)
        try:
            from indexes.hnsw import HNSWIndex, HNSWParams
        except ImportError as exc:
            raise AdapterUnavailable(
                "indexes.hnsw is not in this checkout yet (HNSW issue); 'hnsw' skipped"
            ) from exc
        self._index_cls, self._params_cls = HNSWIndex, HNSWParams

    def fit(self, x: np.ndarray, order: np.ndarray | None = None) -> None:
        kwargs: dict[str, Any] = {
            "M": self.build["M"],
            "ef_construction": self.build["ef_construction"],
        }
        accepted = inspect.signature(self._index_cls).parameters
        if "seed" in accepted:
            kwargs["seed"] = 0
        self.index = self._index_cls(self.dim, self.metric, **kwargs)
        data, ids = insertion(x, order)
        add_params = inspect.signature(self.index.add).parameters
        if "n_threads" in add_params:
            self.index.add(data, ids, n_threads=self.threads)
        else:
            self.index.add(data, ids)

    def _search_params(self) -> Any:
        return self._params_cls(ef=int(self.params["ef"]), n_threads=self.threads)

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        ids, _ = self.index.search(q[None, :], k, self._search_params())
        return ids[0]

    def batch_query(self, q: np.ndarray, k: int) -> np.ndarray:
        ids, _ = self.index.search(q, k, self._search_params())
        return pad_ids(ids, k)

    def memory_bytes(self) -> int:
        return int(self.index.memory_bytes())


# Plug-in point: IVF-PQ and binary-code adapters for indexes.ivfpq / indexes.binary go here,
# following HNSWAdapter (guarded import raising AdapterUnavailable).
