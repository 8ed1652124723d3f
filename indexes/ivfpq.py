"""IVF-PQ: inverted file over a k-means coarse quantizer, residuals coded by product quantization.

* ``train(x)``: k-means (``nlist`` centroids, :mod:`indexes.kmeans`) on at most
  ``max_points_per_centroid * nlist`` rows, then PQ codebooks (:mod:`indexes.pq`) on the
  residuals ``x - centroid(x)`` of at most ``256 * 2**nbits`` rows. With ``opq=True`` an OPQ
  rotation is learnt first and everything after it works on ``x @ R``.
* ``add``: each vector goes to its nearest list with the PQ code of its residual
  (:mod:`indexes.invlists` holds the lists). With ``keep_vectors=True`` the (normalised, for
  cosine) float vectors are kept too, for exact re-ranking, ``get_vectors`` and
  ``search_exact`` (``keeps_vectors`` is true only then; without them both raise
  :class:`~indexes.errors.UnsupportedOperationError`); ``load(mmap=True)`` leaves them, and
  the codes, memory-mapped on disk.
* ``search``: ``nprobe`` nearest lists, asymmetric distances from per-query lookup tables
  (:mod:`indexes._kernels.ivf_scan`, which explains the precomputed-table trick used for L2),
  then optionally exact re-ranking of ``k_factor * k`` candidates.

Metrics: ``l2`` (squared), ``ip`` (``-dot``; lists probed by largest ``<q, c>``) and
``cosine`` (vectors and queries normalised, searched as L2, reported as ``1 - cos = l2 / 2``).
Without re-ranking, distances are the PQ estimates, which equal the exact distances to the
decoded vectors (:meth:`IVFPQIndex.reconstruct`).

Slots: every stored vector has a stable slot (``slot_ids()[slot]`` is its id, ``-1`` when
free); ``allow`` masks are over slots. Removal frees slots, which later adds reuse.
Looking ids up costs a sort of the stored ids, so add and remove in batches.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import numba
import numpy as np

from indexes._exact import exact_over_slots
from indexes._kernels.ivf_scan import (
    MODE_IP,
    MODE_L2_DIRECT,
    MODE_L2_TABLE,
    STATUS_NONFINITE,
    search_batch,
    search_serial,
)
from indexes._threads import numba_threads
from indexes.base import (
    METRIC_CODES,
    BaseIndex,
    SearchParams,
    as_ids,
    as_vectors,
    check_k,
    check_params,
    check_positive_int,
    config_from_meta,
)
from indexes.errors import (
    InvalidParameterError,
    InvalidVectorError,
    NotTrainedError,
    UnknownIdError,
    UnsupportedOperationError,
)
from indexes.invlists import InvertedLists
from indexes.kmeans import KMeans, assign
from indexes.pq import (
    NBITS,
    _check_m,
    code_size,
    decode_with,
    encode_with,
    train_codebooks,
    train_opq_rotation,
    transpose_codebooks,
)

_EMPTY_MASK = np.zeros(0, dtype=np.bool_)
_NO_ROTATION = np.zeros((0, 0), dtype=np.float32)
#: Largest precomputed table (bytes) that ``precompute_table="auto"`` builds.
PRECOMPUTE_MAX_BYTES = 1 << 28


@dataclass(frozen=True, slots=True)
class IVFPQParams(SearchParams):
    """Per-call IVF-PQ search parameters.

    ``nprobe``: lists scanned (capped at ``nlist``). ``k_factor``: with re-ranking,
    ``k_factor * k`` PQ candidates are re-scored exactly. ``rerank``: ``None`` re-ranks when
    the index keeps its vectors; ``True`` requires them; ``False`` returns PQ distances.
    """

    nprobe: int = 8
    k_factor: int = 4
    rerank: bool | None = None

    def __post_init__(self) -> None:
        check_positive_int("nprobe", self.nprobe)
        check_positive_int("k_factor", self.k_factor)
        if self.rerank not in (None, True, False):
            raise InvalidParameterError(f"rerank must be None, True or False, got {self.rerank!r}")


@dataclass(frozen=True, slots=True)
class IVFPQConfig:
    """IVF-PQ build parameters, validated here once; the constructor's keywords, and what
    ``save`` writes and ``load`` reads (see :class:`IVFPQIndex`). That ``m`` divides the
    dimension is checked by the index, which knows the dimension."""

    nlist: int = 1024
    m: int = 8
    nbits: int = 8
    opq: bool = False
    opq_rounds: int = 12
    keep_vectors: bool = False
    precompute_table: bool | str = "auto"
    kmeans_iter: int = 10
    coarse_init: Literal["random", "kmeans++"] = "random"
    pq_iter: int = 25
    max_points_per_centroid: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        put = object.__setattr__  # frozen: normalise numpy scalars to plain JSON values
        for name in ("nlist", "m", "opq_rounds", "kmeans_iter", "pq_iter"):
            put(self, name, check_positive_int(name, getattr(self, name)))
        put(
            self,
            "max_points_per_centroid",
            check_positive_int("max_points_per_centroid", self.max_points_per_centroid),
        )
        if isinstance(self.nbits, bool) or self.nbits not in NBITS:
            raise InvalidParameterError(f"nbits must be one of {NBITS}, got {self.nbits!r}")
        put(self, "nbits", int(self.nbits))
        for name in ("opq", "keep_vectors"):
            flag = getattr(self, name)
            if not isinstance(flag, bool | np.bool_):
                raise InvalidParameterError(f"{name} must be true or false, got {flag!r}")
            put(self, name, bool(flag))
        table = self.precompute_table
        if not (table == "auto" or isinstance(table, bool | np.bool_)):
            raise InvalidParameterError(
                f"precompute_table must be 'auto', True or False, got {table!r}"
            )
        put(self, "precompute_table", table if table == "auto" else bool(table))
        if self.coarse_init not in ("random", "kmeans++"):
            raise InvalidParameterError(
                f"coarse_init must be 'random' or 'kmeans++', got {self.coarse_init!r}"
            )
        seed = self.seed
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise InvalidParameterError(f"seed must be a non-negative integer, got {seed!r}")
        put(self, "seed", int(seed))


class IVFPQIndex(BaseIndex):
    """IVF-PQ index; see the module docstring.

    ``nlist`` lists, ``m`` sub-quantizers of ``2**nbits`` codewords (``nbits`` 8 or 4, ``m``
    must divide ``dim``). ``precompute_table``: ``"auto"`` uses the L2 table trick when the
    table (``nlist * m * 2**nbits`` floats) fits in :data:`PRECOMPUTE_MAX_BYTES`.
    ``coarse_init``: seeding of the coarse k-means, ``"random"`` rows by default (as faiss;
    over four seeds on Fashion-MNIST IVF256,PQ16 it gave recall@10 0.567 at nprobe 16 against
    0.565 for ``"kmeans++"``; no difference on GloVe). The build parameters are validated
    into ``config`` (:class:`IVFPQConfig`), which ``save`` writes and ``load`` reads.
    """

    kind = "ivfpq"
    format_version = 2  # 2: build parameters as meta["config"]
    older_versions = (1,)  # 1: build parameters as top-level meta keys

    def __init__(
        self,
        dim: int,
        metric: str = "l2",
        nlist: int = 1024,
        m: int = 8,
        nbits: int = 8,
        *,
        opq: bool = False,
        opq_rounds: int = 12,
        keep_vectors: bool = False,
        precompute_table: bool | str = "auto",
        kmeans_iter: int = 10,
        coarse_init: Literal["random", "kmeans++"] = "random",
        pq_iter: int = 25,
        max_points_per_centroid: int = 256,
        seed: int = 0,
    ) -> None:
        super().__init__(dim, metric)
        self.config = c = IVFPQConfig(
            nlist=nlist,
            m=m,
            nbits=nbits,
            opq=opq,
            opq_rounds=opq_rounds,
            keep_vectors=keep_vectors,
            precompute_table=precompute_table,
            kmeans_iter=kmeans_iter,
            coarse_init=coarse_init,
            pq_iter=pq_iter,
            max_points_per_centroid=max_points_per_centroid,
            seed=seed,
        )
        _check_m(self.dim, c.m, c.nbits)
        # plain attributes (copies of the frozen config, which stays the one source)
        self.nlist, self.m, self.nbits = c.nlist, c.m, c.nbits
        self.opq, self.opq_rounds = c.opq, c.opq_rounds
        self.keep_vectors = c.keep_vectors
        self.keeps_vectors = c.keep_vectors  # exact vectors are kept only for re-ranking
        self.precompute_table = c.precompute_table
        self.kmeans_iter, self.coarse_init, self.pq_iter = c.kmeans_iter, c.coarse_init, c.pq_iter
        self.max_points_per_centroid = c.max_points_per_centroid
        self.seed = c.seed
        self.ksub = 1 << self.nbits
        self.code_size = code_size(self.m, self.nbits)
        # trained state
        self._centroids: np.ndarray | None = None
        self._codebooks: np.ndarray | None = None
        self._rotation = _NO_ROTATION
        # stored data
        self._lists = InvertedLists(self.nlist, self.code_size)
        self._slot_ids = np.zeros(0, dtype=np.int64)
        self._vectors = np.zeros((0, self.dim), dtype=np.float32)
        self._n_slots = 0
        self._ntotal = 0

    @classmethod
    def from_config(cls, dim: int, metric: str, config: IVFPQConfig) -> IVFPQIndex:
        """A new, untrained index built with ``config``."""
        return cls(dim, metric, **asdict(config))

    # -- protocol ------------------------------------------------------------------------------
    @property
    def is_trained(self) -> bool:
        """Whether ``train`` has run."""
        return self._centroids is not None

    @property
    def ntotal(self) -> int:
        """Number of stored vectors."""
        return self._ntotal

    def slot_ids(self) -> np.ndarray:
        """Id held by each slot (``-1`` for a free slot)."""
        return self._slot_ids[: self._n_slots]

    def memory_bytes(self) -> int:
        """Bytes of every array the index holds (capacity included, mapped pages too)."""
        arrays = [self._slot_ids, self._vectors]
        if self.is_trained:
            arrays += [
                self._centroids,
                self._codebooks,
                self._rotation,
                self._cent_t,
                self._cnorms,
                self._cb_t,
                self._ptable,
            ]
        return int(sum(a.nbytes for a in arrays) + self._lists.nbytes())

    def bytes_per_vector(self) -> float:
        """Per-vector storage: code + list entry slot (4) + id (8) (+ 4 * dim if kept)."""
        return float(self.code_size + 4 + 8 + (4 * self.dim if self.keep_vectors else 0))

    def train(self, x: Any) -> None:
        """Learn the coarse centroids, the PQ codebooks and (``opq``) the rotation.

        Needs at least ``nlist`` and ``2**nbits`` rows. Training an index that holds vectors
        is refused (their codes would be stale).
        """
        if self._ntotal:
            raise UnsupportedOperationError("cannot retrain an index that holds vectors")
        data = self.prepare(x, what="training vectors")
        n = data.shape[0]
        if n < max(self.nlist, self.ksub):
            raise InvalidParameterError(
                f"training needs at least max(nlist={self.nlist}, 2**nbits={self.ksub}) rows, "
                f"got {n}"
            )
        rng = np.random.default_rng(self.seed)
        pq_cap = 256 * self.ksub
        pq_rows = np.sort(rng.choice(n, pq_cap, replace=False)) if n > pq_cap else None
        rotation = _NO_ROTATION
        if self.opq:
            sample = data if pq_rows is None else np.ascontiguousarray(data[pq_rows])
            rotation, _ = train_opq_rotation(
                sample, self.m, self.nbits, n_rounds=self.opq_rounds, seed=self.seed + 7
            )
            data = np.ascontiguousarray(data @ rotation)
        km = KMeans(
            self.nlist,
            n_iter=self.kmeans_iter,
            init=self.coarse_init,
            seed=self.seed,
            max_points_per_centroid=self.max_points_per_centroid,
        )
        centroids = km.fit(data).centroids
        sample = data if pq_rows is None else np.ascontiguousarray(data[pq_rows])
        labels, _ = assign(sample, centroids)
        resid = np.ascontiguousarray(sample - centroids[labels])
        codebooks = train_codebooks(
            resid, self.m, self.nbits, n_iter=self.pq_iter, seed=self.seed + 1
        )
        self._set_trained(centroids, codebooks, rotation)

    def add(self, x: Any, ids: Any) -> None:
        """Add vectors under external ``ids``; an id already present is replaced (upsert)."""
        self._require_trained()
        vecs = self.prepare(x)
        ids_arr = as_ids(ids, vecs.shape[0])
        n = vecs.shape[0]
        if n == 0:
            return
        if self._ntotal:
            slots, found = self._lookup(ids_arr)
            if found.any():
                self._drop_slots(slots[found])
        xr = vecs if self._rotation.shape[0] == 0 else np.ascontiguousarray(vecs @ self._rotation)
        labels, _ = assign(xr, self._centroids)
        codes = encode_with(
            np.ascontiguousarray(xr - self._centroids[labels]), self._codebooks, self.nbits
        )
        slots = self._alloc_slots(n)
        self._slot_ids[slots] = ids_arr
        if self.keep_vectors:
            self._vectors[slots] = vecs
        self._lists.insert(labels, codes, slots.astype(np.int32))
        self._ntotal += n

    def remove(self, ids: Any) -> None:
        """Remove points by id; every id must be present (else nothing is removed)."""
        ids_arr = as_ids(ids)
        if ids_arr.size == 0:
            return
        slots, found = self._lookup(ids_arr)
        if not found.all():
            missing = ids_arr[~found]
            raise UnknownIdError(
                f"{missing.size} id(s) not in the index, for example {int(missing[0])}"
            )
        self._drop_slots(slots)

    def search(
        self,
        queries: Any,
        k: int,
        params: IVFPQParams | None = None,
        allow: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest stored vectors of each query (see the module docstring)."""
        if self._centroids is None:
            raise NotTrainedError("IVFPQIndex must be trained before search")
        q = self._queries(queries)
        k = check_k(k)
        p = check_params(params, IVFPQParams)
        rerank = self.keep_vectors if p.rerank is None else p.rerank
        if rerank and not self.keep_vectors:
            raise UnsupportedOperationError(
                "re-ranking needs the original vectors: build the index with keep_vectors=True"
            )
        mask = self.allow_mask(allow)
        kk = k * p.k_factor if rerank else k
        args = (
            q,
            self._rotation,
            METRIC_CODES[self.metric],
            self._mode,
            min(p.nprobe, self.nlist),
            k,
            kk,
            rerank,
            self._centroids,
            self._cent_t,
            self._cnorms,
            self._cb_t,
            self._ptable,
            self.nbits,
            self._lists.start,
            self._lists.size,
            self._lists.codes,
            self._lists.slots,
            self._slot_ids,
            _EMPTY_MASK if mask is None else mask,
            self._vectors,
        )
        if q.shape[0] == 1 or p.n_threads == 1:  # the lean serial path
            ids, dists, status = search_serial(*args)
        else:
            with numba_threads(p.n_threads):
                ids, dists, status = search_batch(*args, numba.get_num_threads())
        if status.any():
            row = int(np.flatnonzero(status)[0])
            if status[row] == STATUS_NONFINITE:
                raise InvalidVectorError(f"queries contain NaN or infinity, first at row {row}")
            raise InvalidVectorError(
                f"queries row {row} has zero norm and cannot be normalised for the cosine metric"
            )
        return ids, dists

    def get_vectors(self, ids: Any) -> np.ndarray:
        """Stored (normalised, for cosine) vectors of ``ids``, in the given order; only an
        index built with ``keep_vectors=True`` has them (:meth:`reconstruct` decodes codes)."""
        self._require_vectors()
        ids_arr = as_ids(ids)
        slots, found = self._lookup(ids_arr)
        if not found.all():
            raise UnknownIdError(f"id {int(ids_arr[~found][0])} is not in the index")
        return np.array(self._vectors[slots])

    def search_exact(
        self,
        queries: Any,
        k: int,
        allow: np.ndarray | None = None,
        n_threads: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact ``k`` nearest allowed points from the kept vectors (``keep_vectors=True``),
        reading only the allowed rows."""
        self._require_vectors()
        q = self.prepare(queries, what="queries")
        k = check_k(k)
        mask = self.allow_mask(allow)
        return exact_over_slots(
            q, k, METRIC_CODES[self.metric], self._vectors, self.slot_ids(), mask, n_threads
        )

    def reconstruct(self, ids: Any) -> np.ndarray:
        """Decoded vectors (centroid + PQ residual, rotated back) of ``ids``, in order
        (repeats allowed)."""
        self._require_trained()
        uniq, inverse = np.unique(np.asarray(ids).reshape(-1), return_inverse=True)
        ids_arr = as_ids(uniq)[inverse]
        slots, found = self._lookup(ids_arr)
        if not found.all():
            raise UnknownIdError(f"id {int(ids_arr[~found][0])} is not in the index")
        pos, owner = self._lists.live()
        where = np.full(max(self._n_slots, 1), -1, dtype=np.int64)
        where[self._lists.slots[pos]] = np.arange(pos.shape[0])
        at = where[slots]
        codes = np.ascontiguousarray(self._lists.codes[pos[at]])
        out = decode_with(codes, self._codebooks, self.nbits) + self._centroids[owner[at]]
        if self._rotation.shape[0]:
            out = out @ self._rotation.T
        return np.ascontiguousarray(out, dtype=np.float32)

    def list_sizes(self) -> np.ndarray:
        """Number of vectors in each list."""
        return self._lists.size.copy()

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write centroids, codebooks, rotation, packed lists, slot ids (and vectors)."""
        self._require_trained()
        offsets, codes, entry_slots = self._lists.to_arrays()
        arrays = {
            "centroids": self._centroids,
            "codebooks": self._codebooks,
            "rotation": self._rotation,
            "list_offsets": offsets,
            "codes": codes,
            "entry_slots": entry_slots,
            "slot_ids": self._slot_ids[: self._n_slots],
        }
        if self.keep_vectors:
            arrays["vectors"] = self._vectors[: self._n_slots]
        meta = {"config": asdict(self.config), "ntotal": self._ntotal}
        self._save_arrays(path, arrays, meta)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool = True) -> IVFPQIndex:
        """Load a saved index; with ``mmap`` codes and vectors stay on disk until touched."""
        manifest, arrays = cls._load_arrays(path, mmap=mmap)
        meta = manifest["meta"]
        if manifest["version"] == 1:  # the build parameters were top-level meta keys
            old = {f.name: meta[f.name] for f in fields(IVFPQConfig) if f.name in meta}
            old.setdefault("coarse_init", "kmeans++")  # saved before it was a parameter
            config = IVFPQConfig(**old)
        else:
            config = config_from_meta(IVFPQConfig, meta["config"], path)
        index = cls.from_config(manifest["dim"], manifest["metric"], config)
        index._set_trained(
            np.array(arrays["centroids"]),
            np.array(arrays["codebooks"]),
            np.array(arrays["rotation"]),
        )
        index._lists = InvertedLists.from_arrays(
            arrays["list_offsets"], arrays["codes"], arrays["entry_slots"]
        )
        index._slot_ids = arrays["slot_ids"]
        index._n_slots = int(arrays["slot_ids"].shape[0])
        if index.keep_vectors:
            index._vectors = arrays["vectors"]
        index._ntotal = int(meta["ntotal"])
        return index

    # -- internals -----------------------------------------------------------------------------
    def _require_vectors(self) -> None:
        if not self.keep_vectors:
            raise UnsupportedOperationError(
                "IVFPQIndex keeps exact vectors only when built with keep_vectors=True"
            )

    def _require_trained(self) -> None:
        if self._centroids is None:
            raise NotTrainedError("IVFPQIndex must be trained before add/search")

    def _set_trained(
        self, centroids: np.ndarray, codebooks: np.ndarray, rotation: np.ndarray
    ) -> None:
        """Install trained arrays and derive the kernels' layouts (and the L2 table)."""
        self._centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        self._codebooks = np.ascontiguousarray(codebooks, dtype=np.float32)
        self._rotation = np.ascontiguousarray(rotation, dtype=np.float32)
        self._cent_t = np.ascontiguousarray(self._centroids.T)
        self._cnorms = np.einsum("ij,ij->i", self._centroids, self._centroids).astype(np.float32)
        self._cb_t = transpose_codebooks(self._codebooks)
        table_bytes = self.nlist * self.m * self.ksub * 4
        use_table = self.metric != "ip" and (
            self.precompute_table is True
            or (self.precompute_table == "auto" and table_bytes <= PRECOMPUTE_MAX_BYTES)
        )
        if self.metric == "ip":
            self._mode = MODE_IP
        else:
            self._mode = MODE_L2_TABLE if use_table else MODE_L2_DIRECT
        if use_table:
            self._ptable = self._build_table()
        else:
            self._ptable = np.zeros((0, self.m, self.ksub), dtype=np.float32)

    def _build_table(self) -> np.ndarray:
        """``T[l, j, c] = |cb[j, c]|^2 + 2 <centroid_l (sub-space j), cb[j, c]>``."""
        cb = self._codebooks
        dsub = self.dim // self.m
        cbn = np.einsum("jcd,jcd->jc", cb, cb)
        cent = self._centroids.reshape(self.nlist, self.m, dsub)
        table = np.empty((self.nlist, self.m, self.ksub), dtype=np.float32)
        for j in range(self.m):
            table[:, j, :] = cbn[j][None, :] + 2.0 * (cent[:, j, :] @ cb[j].T)
        return table

    def _queries(self, queries: Any) -> np.ndarray:
        """Queries as float32 (n, dim); finiteness and cosine norms are checked in the kernel."""
        if (
            type(queries) is np.ndarray
            and queries.dtype == np.float32
            and queries.flags.c_contiguous
        ):
            if queries.ndim == 2 and queries.shape[1] == self.dim:
                return queries
            if queries.ndim == 1 and queries.shape[0] == self.dim:
                return queries.reshape(1, self.dim)
        return as_vectors(queries, self.dim, what="queries")

    def _lookup(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Slots of ``ids`` and whether each was found."""
        present = self._slot_ids[: self._n_slots]
        if present.shape[0] == 0:
            return np.zeros(ids.shape[0], dtype=np.int64), np.zeros(ids.shape[0], dtype=bool)
        order = np.argsort(present, kind="stable")
        pos = np.minimum(np.searchsorted(present, ids, sorter=order), present.shape[0] - 1)
        slots = order[pos]
        return slots, present[slots] == ids

    def _drop_slots(self, slots: np.ndarray) -> None:
        """Free ``slots`` and remove their entries from the lists."""
        self._own_slots(0)
        dead = np.zeros(self._n_slots, dtype=np.bool_)
        dead[slots] = True
        removed = self._lists.remove_dead(dead)
        self._slot_ids[slots] = -1
        self._ntotal -= removed

    def _alloc_slots(self, n: int) -> np.ndarray:
        """``n`` slots for new vectors: free ones first, then new ones at the end."""
        free = np.zeros(0, dtype=np.int64)
        if self._n_slots > self._ntotal:
            free = np.flatnonzero(self._slot_ids[: self._n_slots] < 0)[:n]
        extra = n - free.shape[0]
        self._own_slots(extra)
        fresh = np.arange(self._n_slots, self._n_slots + extra, dtype=np.int64)
        self._n_slots += extra
        return np.concatenate((free, fresh))

    def _own_slots(self, extra: int) -> None:
        """Make the slot table (and vectors) writable, in memory, with room for ``extra``."""
        need = self._n_slots + extra
        cap = self._slot_ids.shape[0]
        mapped = isinstance(self._slot_ids, np.memmap) or not self._slot_ids.flags.writeable
        vec_mapped = isinstance(self._vectors, np.memmap) or not self._vectors.flags.writeable
        if cap >= need and not mapped and not vec_mapped:
            return
        new_cap = max(need, 2 * cap if need > cap else cap, 1024)
        ids = np.full(new_cap, -1, dtype=np.int64)
        ids[: self._n_slots] = self._slot_ids[: self._n_slots]
        self._slot_ids = ids
        if self.keep_vectors:
            vecs = np.zeros((new_cap, self.dim), dtype=np.float32)
            vecs[: self._n_slots] = self._vectors[: self._n_slots]
            self._vectors = vecs
