"""Adapter for vecsearch's binary-code index (``indexes.binary.BinaryIndex``)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from bench.adapters.base import Adapter
from indexes.binary import BinaryIndex, BinaryParams


class BinaryAdapter(Adapter):
    """Exhaustive scan of 1- to 4-bit codes, optional float rescoring of ``oversampling * k``.

    ``rescore=0`` reports the code-only ranking. Memory is the searched part (codes, scales,
    ids) plus the float vectors kept for rescoring (in RAM here; ``memory_breakdown`` of the
    index splits them).
    """

    name = "binary"
    family = "ours"
    build_defaults: ClassVar[dict[str, Any]] = {"bits": 1, "scoring": "asymmetric"}
    query_defaults: ClassVar[dict[str, Any]] = {"oversampling": 4.0, "rescore": 1}

    def fit(self, x: np.ndarray, order: np.ndarray | None = None) -> None:
        self.index = BinaryIndex(
            self.dim, self.metric, bits=int(self.build["bits"]), scoring=str(self.build["scoring"])
        )
        self.index.train(x)
        self.index.add(x, np.arange(x.shape[0], dtype=np.int64))

    def _params(self) -> BinaryParams:
        return BinaryParams(
            oversampling=float(self.params["oversampling"]),
            rescore=bool(self.params["rescore"]),
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

    def code_bytes(self) -> int:
        """Bytes of the searched part only (what RAM must hold when vectors are on disk)."""
        return int(self.index.memory_breakdown()["codes"])
