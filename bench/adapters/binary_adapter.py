"""Adapter for vecsearch's binary-code index (``indexes.binary.BinaryIndex``)."""

from __future__ import annotations

import shutil
import tempfile
import weakref
from typing import Any, ClassVar

import numpy as np

from bench.adapters.base import Adapter
from indexes.binary import BinaryIndex, BinaryParams


class BinaryAdapter(Adapter):
    """Exhaustive scan of 1- to 4-bit codes, optional float rescoring of ``oversampling * k``.

    ``rescore=0`` reports the code-only ranking; ``shortlist`` is the Hamming shortlist (times
    k) of ``scoring = "cascade"``; ``rotate=0`` encodes without the random rotation. With
    ``mmap = 1`` (default) the built index is saved to a temporary folder and loaded back with
    ``mmap=True``: codes, scales and ids in RAM, float vectors (and the per-row scalars only
    full symmetric/asymmetric scans read) memory-mapped from disk, as a deployment would run
    it. :meth:`memory_bytes` is then the resident part; :meth:`memory_detail` splits RAM and
    disk bytes.
    """

    name = "binary"
    family = "ours"
    build_defaults: ClassVar[dict[str, Any]] = {
        "bits": 1,
        "scoring": "cascade",
        "rotate": 1,
        "mmap": 1,
    }
    query_defaults: ClassVar[dict[str, Any]] = {"oversampling": 4.0, "rescore": 1, "shortlist": 16}
    memory_method = "resident arrays (codes, scales, ids; float vectors memory-mapped if mmap=1)"

    def fit(self, x: np.ndarray, order: np.ndarray | None = None) -> None:
        index = BinaryIndex(
            self.dim,
            self.metric,
            bits=int(self.build["bits"]),
            scoring=str(self.build["scoring"]),
            rotate=bool(int(self.build["rotate"])),
        )
        index.train(x)
        index.add(x, np.arange(x.shape[0], dtype=np.int64))
        if int(self.build["mmap"]):
            folder = tempfile.mkdtemp(prefix="vecsearch-binary-")
            weakref.finalize(self, shutil.rmtree, folder, True)
            index.save(f"{folder}/index")
            del index
            index = BinaryIndex.load(f"{folder}/index", mmap=True)
        self.index = index

    def _params(self) -> BinaryParams:
        return BinaryParams(
            oversampling=float(self.params["oversampling"]),
            rescore=bool(self.params["rescore"]),
            shortlist=float(self.params["shortlist"]),
            n_threads=self.threads,
        )

    def _apply_query_params(self) -> None:
        self._p = self._params()

    def set_threads(self, n: int) -> None:
        super().set_threads(n)
        self._p = self._params()

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        ids, _ = self.index.search(q, k, self._p)
        return ids[0]

    def batch_query(self, q: np.ndarray, k: int) -> np.ndarray:
        ids, _ = self.index.search(q, k, self._p)
        return ids

    def memory_bytes(self) -> int:
        return int(self.index.memory_bytes())

    def memory_detail(self) -> dict[str, int]:
        """RAM and disk bytes by part (see ``BinaryIndex.memory_breakdown``), plus the bytes
        of the float vectors as float32 for the ratio."""
        detail = dict(self.index.memory_breakdown())
        detail["float_vectors_bytes"] = int(self.index.ntotal) * self.dim * 4
        return detail
