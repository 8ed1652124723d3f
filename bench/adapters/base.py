"""The one interface every benchmarked system is driven through.

An adapter owns one built index. The runner calls, in order: ``set_threads``, ``fit``, then
for each query setting ``set_query_params`` followed by ``query`` (one vector, latency mode)
or ``batch_query`` (all vectors in one call, batch mode). Result ids are row numbers of the
training matrix; the harness recomputes their distances itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np


class AdapterUnavailable(RuntimeError):
    """The system cannot run here (package not installed, index not written yet)."""


class Adapter(ABC):
    """Base class: holds the metric, build parameters, thread count and query parameters."""

    #: Registry name, e.g. ``"hnswlib"``.
    name: ClassVar[str] = "base"
    #: ``"ours"`` for vecsearch indexes, ``"peer"`` for other libraries.
    family: ClassVar[str] = "peer"
    #: Graph indexes honour an insertion order in :meth:`fit`.
    is_graph: ClassVar[bool] = False
    #: Build parameters and their defaults; unknown keys are rejected.
    build_defaults: ClassVar[dict[str, Any]] = {}
    #: Query parameters and their defaults.
    query_defaults: ClassVar[dict[str, Any]] = {}
    #: How :meth:`memory_bytes` measures (shown in reports).
    memory_method: ClassVar[str] = "index arrays"

    def __init__(self, metric: str, dim: int, **build: Any) -> None:
        if metric not in ("l2", "ip", "cosine"):
            raise ValueError(f"{self.name}: unknown metric {metric!r}")
        unknown = set(build) - set(self.build_defaults)
        if unknown:
            raise ValueError(
                f"{self.name}: unknown build parameter(s) {sorted(unknown)}; "
                f"known: {sorted(self.build_defaults)}"
            )
        self.metric = metric
        self.dim = int(dim)
        self.build = {**self.build_defaults, **build}
        self.params: dict[str, Any] = dict(self.query_defaults)
        self.threads = 1

    # -- settings -------------------------------------------------------------------------------
    def set_threads(self, n: int) -> None:
        """Threads for the next calls (libraries with their own pools read ``self.threads``)."""
        self.threads = max(1, int(n))

    def set_query_params(self, **params: Any) -> None:
        """Set per-query parameters (``ef``, ``nprobe``...); unknown keys are rejected."""
        unknown = set(params) - set(self.query_defaults)
        if unknown:
            raise ValueError(
                f"{self.name}: unknown query parameter(s) {sorted(unknown)}; "
                f"known: {sorted(self.query_defaults)}"
            )
        self.params = {**self.query_defaults, **params}
        self._apply_query_params()

    def _apply_query_params(self) -> None:
        """Push ``self.params`` into the library (override where needed)."""
        return  # default: adapters read ``self.params`` at query time

    # -- work -----------------------------------------------------------------------------------
    @abstractmethod
    def fit(self, x: np.ndarray, order: np.ndarray | None = None) -> None:
        """Build the index over rows of ``x`` (ids = row numbers), inserting in ``order``."""

    @abstractmethod
    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        """Ids (int64, at most ``k``) of the nearest rows to one query vector."""

    @abstractmethod
    def batch_query(self, q: np.ndarray, k: int) -> np.ndarray:
        """Ids (int64 ``(nq, k)``, ``-1`` padded) for all queries in one call."""

    @abstractmethod
    def memory_bytes(self) -> int:
        """Size of the built index in bytes (see ``memory_method``)."""

    # -- helpers --------------------------------------------------------------------------------
    def describe(self) -> str:
        """Short label of the build parameters, e.g. ``M=16,ef_construction=200``."""
        return ",".join(f"{k}={v}" for k, v in self.build.items())

    def prepared(self, x: np.ndarray) -> np.ndarray:
        """Float32 C-contiguous rows, unit-normalised for cosine (for peers that want IP)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.metric == "cosine":
            norms = np.linalg.norm(x, axis=-1, keepdims=True)
            x = np.ascontiguousarray(x / np.where(norms > 0, norms, 1), dtype=np.float32)
        return x


def insertion(x: np.ndarray, order: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``(rows in insertion order, their ids)``; ``order=None`` keeps the data order."""
    if order is None:
        return x, np.arange(x.shape[0], dtype=np.int64)
    order = np.asarray(order, dtype=np.int64)
    if order.shape != (x.shape[0],) or not np.array_equal(np.sort(order), np.arange(x.shape[0])):
        raise ValueError("insertion order must be a permutation of the rows")
    return np.ascontiguousarray(x[order]), order


def pad_ids(ids: np.ndarray, k: int) -> np.ndarray:
    """Make an ``(nq, <=k)`` id array exactly ``(nq, k)`` int64, padding with ``-1``."""
    ids = np.asarray(ids).astype(np.int64, copy=False)
    if ids.ndim == 1:
        ids = ids[None, :]
    if ids.shape[1] >= k:
        return ids[:, :k]
    out = np.full((ids.shape[0], k), -1, dtype=np.int64)
    out[:, : ids.shape[1]] = ids
    return out
