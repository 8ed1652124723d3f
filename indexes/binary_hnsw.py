"""An HNSW graph searched on binary codes, then rescored with the float vectors.

Composition, not a copy: the graph is an :class:`~indexes.hnsw.HNSWIndex` (built on the float
vectors, for graph quality), the codes come from a :class:`~indexes.binary.BinaryIndex` codec
(its centre and its 1-bit encoder), and the search runs the HNSW kernels over the codes
through :meth:`HNSWIndex.search_slots` (the kernels' distance dispatches on the node type:
Hamming for packed codes). ``oversampling * k`` candidates found on the codes are re-ranked
by their exact float distances.

What it buys: the graph walk touches ``dim / 8`` bytes per visited node instead of
``4 * dim``. The float vectors are read only for the final candidates, so after
``load(path, mmap=True)`` they can stay on disk.

Filters (``allow``) follow the graph's plan: a selective filter is answered exactly from the
float vectors (:meth:`HNSWIndex.plan`'s cost model); otherwise the walk on codes admits only
allowed nodes, and a query that found fewer than ``min(k, allowed)`` of them is answered
exactly, so ``k`` hits come back whenever ``k`` allowed points exist. The graph's float
vectors are the exact ones: ``get_vectors`` and ``search_exact`` are the graph's.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from indexes._kernels.dispatch import for_rows
from indexes._kernels.distances import exact_candidate_distances
from indexes._kernels.topk import EMPTY, select_exact
from indexes._threads import numba_threads
from indexes.base import (
    METRIC_CODES,
    PAD_ID,
    BaseIndex,
    SearchParams,
    check_k,
    check_params,
    config_from_meta,
)
from indexes.binary import BinaryIndex
from indexes.errors import InvalidParameterError
from indexes.hnsw import HNSWConfig, HNSWIndex


@dataclass(frozen=True, slots=True)
class HNSWBinaryParams(SearchParams):
    """``ef`` for the walk on codes, ``oversampling * k`` candidates rescored;
    ``exact_filter_ratio`` overrides the graph's constant for choosing exact search under a
    filter, as in :class:`~indexes.hnsw.HNSWParams` (``0``: always walk, ``inf``: always
    scan exactly)."""

    ef: int = 64
    oversampling: float = 4.0
    rescore: bool = True
    exact_filter_ratio: float | None = None


@dataclass(frozen=True, slots=True)
class HNSWBinaryConfig:
    """Build parameters: the graph's ``M``, ``ef_construction`` and ``seed`` (validated as
    :class:`~indexes.hnsw.HNSWConfig` validates them); what ``save`` writes and ``load``
    reads."""

    M: int = 16
    ef_construction: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        graph = self.graph_config()  # one validation, the graph's
        object.__setattr__(self, "M", graph.M)
        object.__setattr__(self, "ef_construction", graph.ef_construction)
        object.__setattr__(self, "seed", graph.seed)

    def graph_config(self) -> HNSWConfig:
        """The graph's config."""
        return HNSWConfig(M=self.M, ef_construction=self.ef_construction, seed=self.seed)


class HNSWBinaryIndex(BaseIndex):
    """HNSW over 1-bit codes with float rescoring (metrics cosine, ip, l2)."""

    kind: ClassVar[str] = "hnsw_binary"
    format_version: ClassVar[int] = 2  # 2: build parameters as meta["config"]
    older_versions: ClassVar[tuple[int, ...]] = (1,)  # 1: none saved (the graph's were used)
    keeps_vectors = True  # the graph's float vectors

    def __init__(
        self,
        dim: int,
        metric: str = "cosine",
        M: int = 16,
        ef_construction: int = 200,
        seed: int = 0,
    ) -> None:
        super().__init__(dim, metric)
        self.config = HNSWBinaryConfig(M=M, ef_construction=ef_construction, seed=seed)
        self.graph = HNSWIndex.from_config(dim, metric, self.config.graph_config())
        self.codec = BinaryIndex(dim, metric, bits=1, keep_vectors=False)
        self._codes = np.zeros((0, self.codec.n_words), dtype=np.uint64)

    @classmethod
    def from_config(cls, dim: int, metric: str, config: HNSWBinaryConfig) -> HNSWBinaryIndex:
        """A new, untrained index built with ``config``."""
        return cls(dim, metric, **asdict(config))

    @property
    def ntotal(self) -> int:
        """Number of stored points."""
        return self.graph.ntotal

    def slot_ids(self) -> np.ndarray:
        """The graph's ids by slot."""
        return self.graph.slot_ids()

    def memory_bytes(self) -> int:
        """Graph (links, ids and, unless memory-mapped, float vectors) plus the codes."""
        return int(self.graph.memory_bytes() + self._codes.nbytes)

    def train(self, x: Any) -> None:
        """Learn the codes' centre."""
        self.codec.train(x)

    def add(self, x: Any, ids: Any) -> None:
        """Insert into the graph (float vectors) and store each slot's code."""
        self.codec._need_center()  # raises before anything changes
        vecs = self.graph.prepare(x)
        self.graph.add(vecs, ids)
        codes = self.codec.encode(vecs)[0][:, 0]
        slot_of = self.graph._ids_to_slots()
        slots = np.fromiter((slot_of[int(i)] for i in np.asarray(ids).reshape(-1)), np.int64)
        if self._codes.shape[0] < self.graph._cap:
            grown = np.zeros((self.graph._cap, self.codec.n_words), dtype=np.uint64)
            grown[: self._codes.shape[0]] = self._codes
            self._codes = grown
        self._codes[slots] = codes

    def remove(self, ids: Any) -> None:
        """Remove from the graph (a reused slot gets its new code on ``add``)."""
        self.graph.remove(ids)

    def get_vectors(self, ids: Any) -> np.ndarray:
        """The graph's float vectors of ``ids`` (normalised, for cosine), in order."""
        return self.graph.get_vectors(ids)

    def search_exact(
        self,
        queries: Any,
        k: int,
        allow: np.ndarray | None = None,
        n_threads: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact ``k`` nearest allowed points: the graph's scan of its float vectors."""
        return self.graph.search_exact(queries, k, allow, n_threads)

    def search(
        self,
        queries: Any,
        k: int,
        params: HNSWBinaryParams | None = None,
        allow: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Walk the graph on codes, then rescore ``oversampling * k`` candidates exactly
        (``allow``: see the module docstring)."""
        self.codec._need_center()
        q = self.graph.prepare(queries, what="queries")
        k = check_k(k)
        p = check_params(params, HNSWBinaryParams)
        if not (isinstance(p.oversampling, int | float) and p.oversampling >= 1.0):
            raise InvalidParameterError(f"oversampling must be >= 1, got {p.oversampling!r}")
        if isinstance(p.ef, bool) or not isinstance(p.ef, int) or p.ef < 1:
            raise InvalidParameterError(f"ef must be a positive integer, got {p.ef!r}")
        ratio = p.exact_filter_ratio
        if ratio is not None and (
            isinstance(ratio, bool) or not isinstance(ratio, int | float) or not ratio >= 0
        ):
            raise InvalidParameterError(
                f"exact_filter_ratio must be a non-negative number, got {ratio!r}"
            )
        nq = q.shape[0]
        kk = math.ceil(k * p.oversampling) if p.rescore else k
        admit, n_admit = None, self.graph.ntotal
        if allow is not None:
            admit = self.graph.allow_mask(allow) & self.graph._live[: self.graph.n_slots]
            n_admit = int(np.count_nonzero(admit))
            if nq == 0 or n_admit == 0 or self.graph._plan(n_admit, k, p.ef, ratio) == "exact":
                return self.graph.search_exact(q, k, admit, p.n_threads)
        qcodes = np.ascontiguousarray(self.codec.encode(q)[0][:, 0])
        slots, hamming = self.graph.search_slots(
            qcodes, self._codes, kk, max(p.ef, kk), p.n_threads, admit
        )
        ids = np.asarray(self.graph._ids)
        if not p.rescore:
            out = np.where(slots >= 0, ids[np.maximum(slots, 0)], PAD_ID)
            out_ids, out_d = out[:, :k], hamming[:, :k]
        else:
            with numba_threads(p.n_threads):
                vectors = self.graph._vectors
                dist = for_rows(exact_candidate_distances, nq)(
                    q, vectors, slots, METRIC_CODES[self.metric]
                )
                tiekey = np.where(slots >= 0, ids[np.maximum(slots, 0)], EMPTY)
                top, best = for_rows(select_exact, nq)(dist, slots, tiekey, k)
            out_ids = np.where(top >= 0, ids[np.maximum(top, 0)], PAD_ID)
            out_d = best.astype(np.float32)
        if admit is not None:  # allowed points the walk did not reach: answer exactly
            short = np.flatnonzero((slots >= 0).sum(axis=1) < min(k, n_admit))
            if short.size:
                fix_ids, fix_d = self.graph.search_exact(q[short], k, admit, p.n_threads)
                out_ids[short], out_d[short] = fix_ids, fix_d
        return out_ids, out_d

    def save(self, path: str | os.PathLike[str]) -> None:
        """Codes and centre as arrays; the graph in ``graph/`` (one atomic swap)."""
        arrays = {"codes": self._codes, "center": self.codec._need_center()}
        meta = {"config": asdict(self.config)}
        self._save_arrays(path, arrays, meta, children={"graph": self.graph})

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool = True) -> HNSWBinaryIndex:
        """Load; with ``mmap`` the graph's float vectors stay on disk (codes are in RAM)."""
        manifest, arrays = cls._load_arrays(path, mmap=False)
        graph = HNSWIndex.load(os.path.join(path, "graph"), mmap=mmap)
        if manifest["version"] == 1:  # nothing saved: the graph's own parameters
            g = graph.config
            config = HNSWBinaryConfig(M=g.M, ef_construction=g.ef_construction, seed=g.seed)
        else:
            config = config_from_meta(HNSWBinaryConfig, manifest["meta"]["config"], path)
        index = cls.from_config(manifest["dim"], manifest["metric"], config)
        index.graph = graph
        index.codec._set_center(np.array(arrays["center"]))
        index._codes = np.array(arrays["codes"])
        return index
