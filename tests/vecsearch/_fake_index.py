"""A flat index that insists on ``train`` first: stands in for IVF-PQ-like index types in
tests of the engine's training path (registry, planner, persistence)."""

from __future__ import annotations

import os
from typing import Any

from indexes.errors import NotTrainedError
from indexes.flat import FlatIndex
from indexes.flat import FlatParams as TrainedParams

__all__ = ["TrainedFlatIndex", "TrainedParams"]


class TrainedFlatIndex(FlatIndex):
    """Exact search, but ``add`` and ``search`` raise until ``train`` was called."""

    kind = "trained_flat"

    def __init__(self, dim: int, metric: str = "l2", nlist: int = 4) -> None:
        super().__init__(dim, metric)
        self.nlist = nlist
        self.trained_on = 0

    def train(self, x: Any) -> None:
        super().train(x)
        self.trained_on = len(x)

    def add(self, x: Any, ids: Any) -> None:
        if not self.trained_on:
            raise NotTrainedError("train first")
        super().add(x, ids)

    def search(self, *args: Any, **kwargs: Any):
        if not self.trained_on:
            raise NotTrainedError("train first")
        return super().search(*args, **kwargs)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool = True) -> TrainedFlatIndex:
        index = super().load(path, mmap=mmap)
        index.trained_on = -1  # trained before it was saved
        return index
