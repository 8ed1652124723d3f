"""faiss peers: exact flat, HNSW, IVF-PQ (with and without exact re-ranking), binary flat.

Cosine runs as inner product over unit-normalised vectors. faiss numbers vectors in insertion
order, so adapters keep a label array to map results back to training-row ids.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from bench.adapters.base import Adapter, AdapterUnavailable, insertion, pad_ids


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise AdapterUnavailable("faiss is not installed: pip install faiss-cpu") from exc
    return faiss


class _FaissFloat(Adapter):
    """Shared plumbing for float indexes: metric mapping, label mapping, memory."""

    memory_method = "faiss serialize_index size"

    def __init__(self, metric: str, dim: int, **build: Any) -> None:
        super().__init__(metric, dim, **build)
        self.faiss = _faiss()
        self.faiss_metric = (
            self.faiss.METRIC_L2 if metric == "l2" else self.faiss.METRIC_INNER_PRODUCT
        )
        self.labels: np.ndarray | None = None

    def _map(self, idx: np.ndarray) -> np.ndarray:
        if self.labels is None:
            return idx.astype(np.int64, copy=False)
        return np.where(idx >= 0, self.labels[np.maximum(idx, 0)], -1)

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        _, idx = self.index.search(self.prepared(q[None, :]), k)
        return self._map(idx[0])

    def batch_query(self, q: np.ndarray, k: int) -> np.ndarray:
        _, idx = self.index.search(self.prepared(q), k)
        return pad_ids(self._map(idx), k)

    def memory_bytes(self) -> int:
        return int(self.faiss.serialize_index(self.index).size)


class FaissFlatAdapter(_FaissFloat):
    """``IndexFlatL2`` / ``IndexFlatIP``: exact search with BLAS."""

    name = "faiss-flat"
    memory_method = "ntotal * dim * 4"

    def fit(self, x: np.ndarray, order: np.ndarray | None = None) -> None:
        self.index = self.faiss.IndexFlat(self.dim, self.faiss_metric)
        self.index.add(self.prepared(x))

    def memory_bytes(self) -> int:
        return int(self.index.ntotal) * self.dim * 4


class FaissHNSWAdapter(_FaissFloat):
    """``IndexHNSWFlat`` with ``efConstruction`` / ``efSearch``."""

    name = "faiss-hnsw"
    is_graph = True
    build_defaults: ClassVar[dict[str, Any]] = {"M": 16, "ef_construction": 200}
    query_defaults: ClassVar[dict[str, Any]] = {"ef": 64}

    def fit(self, x: np.ndarray, order: np.ndarray | None = None) -> None:
        data, ids = insertion(self.prepared(x), order)
        self.labels = None if order is None else ids
        self.index = self.faiss.IndexHNSWFlat(self.dim, int(self.build["M"]), self.faiss_metric)
        self.index.hnsw.efConstruction = int(self.build["ef_construction"])
        self.index.add(data)
        self._apply_query_params()

    def _apply_query_params(self) -> None:
        if hasattr(self, "index"):
            self.index.hnsw.efSearch = int(self.params["ef"])


class FaissIVFPQAdapter(_FaissFloat):
    """``IndexIVFPQ``: coarse k-means lists + product-quantised residuals, ``nprobe`` lists."""

    name = "faiss-ivfpq"
    build_defaults: ClassVar[dict[str, Any]] = {
        "nlist": 1024,
        "m": 16,
        "nbits": 8,
        "train_size": 100_000,
        "seed": 0,
    }
    query_defaults: ClassVar[dict[str, Any]] = {"nprobe": 16}

    def _make(self) -> Any:
        quantizer = self.faiss.IndexFlat(self.dim, self.faiss_metric)
        self._quantizer = quantizer  # keep alive: faiss does not own it
        return self.faiss.IndexIVFPQ(
            quantizer,
            self.dim,
            int(self.build["nlist"]),
            int(self.build["m"]),
            int(self.build["nbits"]),
            self.faiss_metric,
        )

    def fit(self, x: np.ndarray, order: np.ndarray | None = None) -> None:
        if self.dim % int(self.build["m"]):
            raise ValueError(f"{self.name}: m={self.build['m']} must divide dim={self.dim}")
        data = self.prepared(x)
        rng = np.random.default_rng(int(self.build["seed"]))
        n_train = min(data.shape[0], int(self.build["train_size"]))
        sample = data[np.sort(rng.choice(data.shape[0], n_train, replace=False))]
        self.index = self._make()
        self.index.train(sample)
        self.index.add(data)
        self._apply_query_params()

    def _apply_query_params(self) -> None:
        if hasattr(self, "index"):
            self.faiss.extract_index_ivf(self.index).nprobe = int(self.params["nprobe"])


class FaissIVFPQRefineAdapter(FaissIVFPQAdapter):
    """IVF-PQ followed by exact re-ranking of ``k_factor * k`` candidates (``IndexRefineFlat``)."""

    name = "faiss-ivfpq-refine"
    query_defaults: ClassVar[dict[str, Any]] = {"nprobe": 16, "k_factor": 4}

    def _make(self) -> Any:
        self._base = super()._make()
        return self.faiss.IndexRefineFlat(self._base)

    def _apply_query_params(self) -> None:
        if hasattr(self, "index"):
            self.faiss.extract_index_ivf(self.index).nprobe = int(self.params["nprobe"])
            self.index.k_factor = float(self.params["k_factor"])


class FaissBinaryFlatAdapter(Adapter):
    """``IndexBinaryFlat`` over 1-bit codes (one bit per dimension), optional float rescoring.

    A dimension's bit is set when the value exceeds a per-dimension threshold learnt from the
    data (``threshold = "median"``) or zero (``"zero"``, the usual choice for embeddings).
    With ``rerank = r > 0`` the ``r * k`` nearest codes by Hamming distance are rescored with
    exact float distances (numpy), else the Hamming ranking is the answer.
    """

    name = "faiss-binary"
    build_defaults: ClassVar[dict[str, Any]] = {"threshold": "median"}
    query_defaults: ClassVar[dict[str, Any]] = {"rerank": 0}
    memory_method = "codes bytes (+ float vectors when rerank > 0)"

    def __init__(self, metric: str, dim: int, **build: Any) -> None:
        super().__init__(metric, dim, **build)
        self.faiss = _faiss()
        if self.build["threshold"] not in ("median", "zero"):
            raise ValueError("faiss-binary: threshold must be 'median' or 'zero'")

    def _codes(self, x: np.ndarray) -> np.ndarray:
        return np.packbits(x > self.thresholds, axis=1)

    def fit(self, x: np.ndarray, order: np.ndarray | None = None) -> None:
        self.vectors = self.prepared(x)
        if self.build["threshold"] == "median":
            self.thresholds = np.median(self.vectors, axis=0).astype(np.float32)
        else:
            self.thresholds = np.zeros(self.dim, dtype=np.float32)
        codes = self._codes(self.vectors)
        self.index = self.faiss.IndexBinaryFlat(codes.shape[1] * 8)
        self.index.add(codes)

    def _rescore(self, q: np.ndarray, cand: np.ndarray, k: int) -> np.ndarray:
        out = np.full((q.shape[0], k), -1, dtype=np.int64)
        for s in range(0, q.shape[0], 64):
            c = cand[s : s + 64]
            x = self.vectors[np.maximum(c, 0)]
            if self.metric == "l2":
                d = ((x - q[s : s + 64, None, :]) ** 2).sum(-1)
            else:
                d = -np.einsum("ijk,ik->ij", x, q[s : s + 64])
            d = np.where(c >= 0, d, np.inf)
            top = np.argsort(d, axis=1, kind="stable")[:, :k]
            out[s : s + 64, : top.shape[1]] = np.take_along_axis(c, top, 1)
        return out

    def _search(self, q: np.ndarray, k: int) -> np.ndarray:
        q = self.prepared(q)
        r = int(self.params["rerank"])
        _, idx = self.index.search(self._codes(q), k * r if r > 0 else k)
        idx = idx.astype(np.int64)
        return pad_ids(self._rescore(q, idx, k) if r > 0 else idx, k)

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        return self._search(q[None, :], k)[0]

    def batch_query(self, q: np.ndarray, k: int) -> np.ndarray:
        return self._search(q, k)

    def memory_bytes(self) -> int:
        codes = int(self.index.ntotal) * self.index.code_size
        return codes + (self.vectors.nbytes if int(self.params["rerank"]) > 0 else 0)


class FaissIVFFlatAdapter(_FaissFloat):
    """``IndexIVFFlat``: coarse k-means lists holding the float vectors, ``nprobe`` lists.

    The in-memory analogue of a posting-list index (SPANN without replicas or disk).
    """

    name = "faiss-ivfflat"
    build_defaults: ClassVar[dict[str, Any]] = {"nlist": 1024, "train_size": 100_000, "seed": 0}
    query_defaults: ClassVar[dict[str, Any]] = {"nprobe": 16}

    def fit(self, x: np.ndarray, order: np.ndarray | None = None) -> None:
        data = self.prepared(x)
        rng = np.random.default_rng(int(self.build["seed"]))
        n_train = min(data.shape[0], int(self.build["train_size"]))
        sample = data[np.sort(rng.choice(data.shape[0], n_train, replace=False))]
        self._quantizer = self.faiss.IndexFlat(self.dim, self.faiss_metric)
        self.index = self.faiss.IndexIVFFlat(
            self._quantizer, self.dim, int(self.build["nlist"]), self.faiss_metric
        )
        self.index.train(sample)
        self.index.add(data)
        self._apply_query_params()

    def _apply_query_params(self) -> None:
        if hasattr(self, "index"):
            self.index.nprobe = int(self.params["nprobe"])
