"""The ANN dataset type: points to index, queries, one metric."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Dataset:
    """Points to index (``train``) and queries (``test``) under one metric.

    ``train_labels``/``test_labels`` hold class labels where the data has them; ``train_keys``
    and ``test_keys`` map rows back to the source (GloVe row numbers, document ids...). Exact
    neighbours come from :func:`vecsearch.datasets.ground_truth` (computed once, cached).
    """

    name: str
    metric: str
    train: np.ndarray
    test: np.ndarray
    train_labels: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    train_keys: np.ndarray | None = None
    test_keys: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    _fingerprint: str | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.metric not in ("l2", "ip", "cosine"):
            raise ValueError(f"dataset {self.name}: unknown metric {self.metric!r}")
        self.train = np.ascontiguousarray(self.train, dtype=np.float32)
        self.test = np.ascontiguousarray(self.test, dtype=np.float32)
        if self.train.ndim != 2 or self.test.ndim != 2 or self.train.shape[1] != self.test.shape[1]:
            raise ValueError(
                f"dataset {self.name}: train {self.train.shape} and test {self.test.shape} "
                "must be 2-d with the same dimension"
            )

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return int(self.train.shape[1])

    def fingerprint(self) -> str:
        """SHA-256 over metric, shapes and bytes of ``train`` and ``test`` (memoised)."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            h.update(f"{self.metric}|{self.train.shape}|{self.test.shape}|float32|".encode())
            h.update(memoryview(self.train).cast("B"))
            h.update(b"|")
            h.update(memoryview(self.test).cast("B"))
            self._fingerprint = h.hexdigest()
        return self._fingerprint


def holdout_split(n: int, n_queries: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers ``(train_rows, test_rows)`` of a seeded hold-out of ``n_queries`` rows out
    of ``n`` (both sorted, disjoint, together all rows): how single-file embedding sets such
    as GloVe and WordNet get their queries."""
    rng = np.random.default_rng(seed)
    test_rows = np.sort(rng.choice(n, size=n_queries, replace=False)).astype(np.int64)
    mask = np.ones(n, dtype=bool)
    mask[test_rows] = False
    return np.flatnonzero(mask).astype(np.int64), test_rows
