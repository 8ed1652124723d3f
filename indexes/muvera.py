"""MUVERA: multi-vector retrieval through fixed dimensional encodings (FDEs).

"MUVERA: Multi-Vector Retrieval via Fixed Dimensional Encodings" turns a set of token vectors
into one vector whose inner product with a query's encoding approximates the Chamfer (MaxSim)
similarity ``sum_q max_x <q, x>``:

* ``r_reps`` independent repetitions; in each, ``k_sim`` Gaussian hyperplanes (SimHash) cut
  space into ``2 ** k_sim`` partitions, indexed so that neighbouring indices differ in one
  hyperplane (Gray code);
* every token is projected to ``d_proj`` dimensions (a dense random ±1/sqrt(d_proj) sketch)
  or kept as is (identity), and added into its partition's block: queries *sum*, documents
  *average*; a document's empty partition takes the token whose sign bits are closest
  (``fill_empty_partitions``);
* optionally a final count-sketch projection to ``final_dim``.

Everything random comes from one seed, so queries and documents encoded in different
processes agree. :class:`MultiVectorIndex` stores the document FDEs in a single-vector index
(HNSW by default, when available; flat otherwise) under inner product, keeps the token vectors
(in memory or memory-mapped after ``load``; float32, or float16 with ``token_dtype="float16"``
for half the bytes), and answers a search by taking ``candidates`` documents by FDE score and
re-ranking them with exact MaxSim. Because it keeps the tokens, ``get_vectors(ids)`` returns
them as the ragged pair ``(tokens, offsets)`` and ``search_exact`` is exact MaxSim over the
allowed documents. Build parameters are one frozen config per class
(:class:`MultiVectorConfig`, :class:`MuveraConfig`), which ``save`` writes and ``load`` reads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np

from indexes._kernels.dispatch import for_rows
from indexes._kernels.multivector import (
    count_sketch,
    fde_aggregate,
    maxsim_candidates,
    maxsim_candidates_f16,
    project_rows,
    segment_max_sum,
)
from indexes._kernels.topk import EMPTY, select_exact
from indexes._threads import numba_threads
from indexes.base import (
    PAD_ID,
    BaseIndex,
    SearchParams,
    as_ids,
    as_vectors,
    check_k,
    check_params,
    check_positive_int,
    config_from_meta,
    normalize_rows,
)
from indexes.errors import IndexFormatError, InvalidParameterError, UnknownIdError
from indexes.flat import FlatIndex

Ragged = tuple[np.ndarray, np.ndarray]

#: Storage types of the re-ranking token vectors. float16 halves their bytes (RAM or disk);
#: re-ranking decodes them to float32 one candidate document at a time.
TOKEN_DTYPES = ("float32", "float16")

#: Every float16 value as float32, indexed by its bit pattern (Numba has no CPU float16).
_F16_LUT = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
_F16_LUT = _F16_LUT.astype(np.float32)


def check_token_dtype(token_dtype: Any) -> str:
    """``token_dtype`` if it is one of :data:`TOKEN_DTYPES`, else :class:`InvalidParameterError`."""
    if not isinstance(token_dtype, str) or token_dtype not in TOKEN_DTYPES:
        raise InvalidParameterError(
            f"token_dtype must be one of {', '.join(TOKEN_DTYPES)}, got {token_dtype!r}"
        )
    return token_dtype


# --------------------------------------------------------------------------------------------
# Ragged input
# --------------------------------------------------------------------------------------------


def as_ragged(sets: Any, dim: int, *, what: str = "vector sets") -> Ragged:
    """Validate multi-vector input: a sequence of ``(m_i, dim)`` arrays, or a pair
    ``(tokens (total, dim), offsets (n + 1,))``. Every set must hold at least one vector.

    Returns C-contiguous ``(tokens float32, offsets int64)``.
    """
    if (
        isinstance(sets, tuple)
        and len(sets) == 2
        and np.ndim(sets[1]) == 1
        and np.ndim(sets[0]) == 2
    ):
        tokens = as_vectors(sets[0], dim, what=what)
        offsets = np.asarray(sets[1])
        if offsets.size == 0 or not np.issubdtype(offsets.dtype, np.integer):
            raise InvalidParameterError(f"{what}: offsets must be a non-empty integer array")
        offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        if offsets[0] != 0 or offsets[-1] != tokens.shape[0]:
            raise InvalidParameterError(
                f"{what}: offsets must start at 0 and end at the number of vectors "
                f"({tokens.shape[0]}), got {int(offsets[0])}..{int(offsets[-1])}"
            )
        sizes = np.diff(offsets)
        if (sizes < 0).any():
            raise InvalidParameterError(f"{what}: offsets must be non-decreasing")
    else:
        if isinstance(sets, np.ndarray) and sets.ndim == 2:
            raise InvalidParameterError(
                f"{what}: got one 2-d array; pass a list of (m, {dim}) arrays "
                "or a (tokens, offsets) pair"
            )
        try:
            parts = [np.asarray(s) for s in sets]
        except TypeError as exc:
            raise InvalidParameterError(f"{what} must be a sequence of 2-d arrays") from exc
        for i, part in enumerate(parts):
            if part.ndim != 2:
                raise InvalidParameterError(
                    f"{what}: set {i} must be a 2-d array (m, {dim}), got shape {part.shape}"
                )
        sizes = np.array([p.shape[0] for p in parts], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        stacked = np.concatenate(parts) if parts else np.empty((0, dim), np.float32)
        tokens = as_vectors(stacked, dim, what=what)
    if sizes.size and (sizes == 0).any():
        raise InvalidParameterError(
            f"{what}: set {int(np.flatnonzero(sizes == 0)[0])} is empty; every set needs "
            "at least one vector"
        )
    return tokens, offsets


# --------------------------------------------------------------------------------------------
# The encoder
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FDEConfig:
    """FDE parameters (the paper's names). ``d_proj=None`` keeps tokens whole (identity)."""

    r_reps: int = 20
    k_sim: int = 5
    d_proj: int | None = 16
    fill_empty_partitions: bool = True
    final_dim: int | None = None
    seed: int = 42

    def __post_init__(self) -> None:
        for name, lo, hi in (("r_reps", 1, 4096), ("k_sim", 0, 16)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise InvalidParameterError(f"{name} must be an integer in [{lo}, {hi}], got {v!r}")
        for name in ("d_proj", "final_dim"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
                raise InvalidParameterError(f"{name} must be a positive integer or None, got {v!r}")


class FDEEncoder:
    """Seeded FDE encoder for ``dim``-dimensional token vectors."""

    #: Sets encoded per chunk, to bound the memory of the intermediate sketches.
    CHUNK_TOKENS = 1 << 18

    def __init__(self, dim: int, config: FDEConfig | None = None) -> None:
        self.dim = int(dim)
        self.config = config or FDEConfig()
        c = self.config
        rng = np.random.default_rng(c.seed)
        self._simhash = rng.standard_normal((self.dim, c.r_reps * c.k_sim)).astype(np.float32)
        if c.d_proj is None:
            self._proj = None
            self.d_proj = self.dim
        else:
            signs = rng.integers(0, 2, size=(self.dim, c.r_reps * c.d_proj)) * 2 - 1
            self._proj = (signs / np.sqrt(c.d_proj)).astype(np.float32)
            self.d_proj = c.d_proj
        self.fde_dim = c.r_reps * (1 << c.k_sim) * self.d_proj
        if c.final_dim is not None:
            self._buckets = rng.integers(0, c.final_dim, size=self.fde_dim).astype(np.int64)
            self._signs = (rng.integers(0, 2, size=self.fde_dim) * 2 - 1).astype(np.float32)

    @property
    def out_dim(self) -> int:
        """Dimension of the encodings."""
        return self.config.final_dim or self.fde_dim

    def encode_queries(self, sets: Any) -> np.ndarray:
        """Query FDEs (sums per partition), ``(n, out_dim)`` float32."""
        return self._encode(*as_ragged(sets, self.dim, what="query vector sets"), document=False)

    def encode_documents(self, sets: Any) -> np.ndarray:
        """Document FDEs (averages per partition, empty partitions filled if configured)."""
        return self._encode(*as_ragged(sets, self.dim, what="document vector sets"), document=True)

    def _encode(self, tokens: np.ndarray, offsets: np.ndarray, *, document: bool) -> np.ndarray:
        c = self.config
        n = offsets.shape[0] - 1
        out = np.empty((n, self.out_dim), dtype=np.float32)
        start = 0
        while start < n:  # chunks of whole sets, about CHUNK_TOKENS tokens each
            stop = int(np.searchsorted(offsets, offsets[start] + self.CHUNK_TOKENS, "right")) - 1
            stop = min(n, max(stop, start + 1))
            lo, hi = int(offsets[start]), int(offsets[stop])
            tok = tokens[lo:hi]
            project = for_rows(project_rows, stop - start)
            sketches = project(tok, self._simhash)  # deterministic, unlike BLAS (see kernel)
            if self._proj is None:
                projected = np.ascontiguousarray(np.tile(tok, (1, c.r_reps)))
            else:
                projected = project(tok, self._proj)
            fde = for_rows(fde_aggregate, stop - start)(
                sketches,
                projected,
                offsets[start : stop + 1] - lo,
                c.r_reps,
                c.k_sim,
                self.d_proj,
                document,
                document and c.fill_empty_partitions,
            )
            if c.final_dim is not None:
                fde = for_rows(count_sketch, stop - start)(
                    fde, self._buckets, self._signs, c.final_dim
                )
            out[start:stop] = fde
            start = stop
        return out


# --------------------------------------------------------------------------------------------
# Exact MaxSim
# --------------------------------------------------------------------------------------------


def maxsim_scores(queries: Ragged, documents: Ragged) -> np.ndarray:
    """Exact MaxSim of every query set with every document set, ``(n_queries, n_docs)``.

    One BLAS product per query against all document tokens, then a segment max/sum.
    """
    q_tok, q_off = queries
    d_tok, d_off = documents
    out = np.empty((q_off.shape[0] - 1, d_off.shape[0] - 1), dtype=np.float64)
    for r in range(out.shape[0]):
        scores = q_tok[q_off[r] : q_off[r + 1]] @ d_tok.T
        out[r] = segment_max_sum(scores, d_off)
    return out


def exact_maxsim_search(
    queries: Any, documents: Any, k: int, dim: int
) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top-``k`` documents (row numbers) by MaxSim, and their scores (descending;
    ties by lower row). The ground truth of every multi-vector test and benchmark."""
    k = check_k(k)
    q = as_ragged(queries, dim, what="query vector sets")
    d = as_ragged(documents, dim, what="document vector sets")
    scores = maxsim_scores(q, d)
    n_docs = scores.shape[1]
    rows = np.tile(np.arange(n_docs, dtype=np.int64), (scores.shape[0], 1))
    top, dist = select_exact(-scores, rows, rows, k)
    return top, np.where(top >= 0, -dist, -np.inf)


# --------------------------------------------------------------------------------------------
# The index
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MultiVectorParams(SearchParams):
    """``candidates`` documents come from the FDE index (searched with ``inner`` parameters)
    and are re-ranked by exact MaxSim unless ``rerank=False``."""

    candidates: int = 100
    rerank: bool = True
    inner: SearchParams | None = field(default=None)


INNER_KINDS = ("flat", "hnsw")


@dataclass(frozen=True, slots=True)
class MultiVectorConfig:
    """:class:`MultiVectorIndex` build parameters, validated here once; what ``save`` writes
    and ``load`` reads: the FDE parameters, the inner (FDE) index kind and its constructor
    options, and the token storage type."""

    fde: FDEConfig = field(default_factory=FDEConfig)
    inner: str = "flat"
    inner_options: Mapping[str, Any] = field(default_factory=dict)
    token_dtype: str = "float32"

    def __post_init__(self) -> None:
        fde = self.fde
        if isinstance(fde, Mapping):  # as saved by asdict
            fde = FDEConfig(**fde)
        if not isinstance(fde, FDEConfig):
            raise InvalidParameterError(f"fde must be an FDEConfig, got {fde!r}")
        object.__setattr__(self, "fde", fde)
        if self.inner not in INNER_KINDS:
            raise InvalidParameterError(f"inner index must be 'flat' or 'hnsw', got {self.inner!r}")
        if not isinstance(self.inner_options, Mapping):
            raise InvalidParameterError(
                f"inner_options must be a mapping, got {self.inner_options!r}"
            )
        object.__setattr__(self, "inner_options", dict(self.inner_options))
        check_token_dtype(self.token_dtype)


def _make_inner(kind: str, dim: int, options: dict[str, Any]) -> BaseIndex:
    """The single-vector index that holds the FDEs (inner product)."""
    if kind == "flat":
        return FlatIndex(dim, "ip", **options)
    if kind == "hnsw":
        try:
            from indexes.hnsw import HNSWIndex
        except ImportError as exc:  # pragma: no cover - depends on the tree
            raise InvalidParameterError("inner index 'hnsw' is not available here") from exc
        return HNSWIndex(dim, "ip", **options)
    raise InvalidParameterError(f"inner index must be 'flat' or 'hnsw', got {kind!r}")


def _load_inner(kind: str, path: str | os.PathLike[str], mmap: bool) -> BaseIndex:
    if kind == "flat":
        return FlatIndex.load(path, mmap=mmap)
    from indexes.hnsw import HNSWIndex

    return HNSWIndex.load(path, mmap=mmap)


class MultiVectorIndex(BaseIndex):
    """Multi-vector documents searched through FDEs, re-ranked by exact MaxSim.

    Distances are ``-MaxSim`` (smaller is better, like ``ip``). ``token_dtype`` is how the
    token vectors are stored for re-ranking: ``"float32"`` or ``"float16"`` (half the bytes;
    values beyond float16's range, |x| > 65504, are rejected on ``add``). FDEs are always
    computed from the float32 input; vectors read back are float32.
    """

    kind: ClassVar[str] = "multivector"
    format_version: ClassVar[int] = 2  # 2: meta["config"] is a MultiVectorConfig
    older_versions: ClassVar[tuple[int, ...]] = (1,)  # 1: FDE config and options apart
    keeps_vectors = True  # the token vectors (float16-rounded with token_dtype="float16")
    #: The build parameters (the engine's face, :class:`MuveraIndex`, has its own).
    config: MultiVectorConfig

    #: Documents scored per block by :meth:`search_exact` (bounds its scratch memory).
    EXACT_BLOCK = 1 << 14

    def __init__(
        self,
        dim: int,
        config: FDEConfig | None = None,
        inner: str = "flat",
        inner_options: dict[str, Any] | None = None,
        token_dtype: str = "float32",
    ) -> None:
        super().__init__(dim, "ip")
        self.config = c = MultiVectorConfig(
            fde=config or FDEConfig(),
            inner=inner,
            inner_options=inner_options or {},
            token_dtype=token_dtype,
        )
        self.token_dtype = c.token_dtype
        self.encoder = FDEEncoder(self.dim, c.fde)
        self.inner_kind = c.inner
        self.inner_options = dict(c.inner_options)
        self.inner = _make_inner(c.inner, self.encoder.out_dim, self.inner_options)
        self._tokens = np.empty((0, self.dim), dtype=self.token_dtype)
        self._offsets = np.zeros(1, dtype=np.int64)
        self._ids = np.empty(0, dtype=np.int64)

    @property
    def fde_config(self) -> FDEConfig:
        """The FDE parameters."""
        return self.encoder.config

    @property
    def ntotal(self) -> int:
        """Number of documents."""
        return int(self._ids.shape[0])

    def slot_ids(self) -> np.ndarray:
        """Document ids by slot (dense; removal compacts)."""
        return self._ids

    def memory_bytes(self) -> int:
        """Resident bytes: the FDE index plus token vectors that are not memory-mapped."""
        tokens = 0 if isinstance(self._tokens, np.memmap) else self._tokens.nbytes
        return int(self.inner.memory_bytes() + tokens + self._offsets.nbytes + self._ids.nbytes)

    def train(self, x: Any) -> None:
        """FDEs are data-oblivious; only validates the input."""
        as_ragged(x, self.dim, what="training vector sets")

    def add(self, sets: Any, ids: Any) -> None:
        """Add documents (vector sets) under ``ids``; an existing id is replaced."""
        tokens, offsets = as_ragged(sets, self.dim, what="document vector sets")
        ids_arr = as_ids(ids, offsets.shape[0] - 1)
        if ids_arr.size == 0:
            return
        stored = self._to_store(tokens)
        fdes = self.encoder._encode(tokens, offsets, document=True)
        replaced = ids_arr[np.isin(ids_arr, self._ids)]
        self.inner.add(fdes, ids_arr)  # validated; replaces existing ids in the inner index
        if replaced.size:
            self._drop(replaced)
        self._tokens = np.concatenate([self._tokens, stored])
        self._offsets = np.concatenate([self._offsets, self._offsets[-1] + offsets[1:]])
        self._ids = np.concatenate([self._ids, ids_arr])

    def remove(self, ids: Any) -> None:
        """Remove documents by id (all must exist, else nothing changes)."""
        ids_arr = as_ids(ids)
        missing = ~np.isin(ids_arr, self._ids)
        if missing.any():
            raise UnknownIdError(f"id {int(ids_arr[missing][0])} is not in the index")
        self.inner.remove(ids_arr)
        self._drop(ids_arr)

    def get_vectors(self, ids: Any) -> Ragged:
        """The token vectors of documents ``ids``, in the given order, as the ragged pair
        ``(tokens (t, dim) float32, offsets (len(ids) + 1,) int64)``: document ``i``'s tokens
        are ``tokens[offsets[i]:offsets[i + 1]]``, as stored (normalised under cosine,
        float16-rounded with ``token_dtype="float16"``). Raises :class:`UnknownIdError` if an
        id is absent."""
        ids_arr = as_ids(ids)
        slots = self._slots_of(ids_arr)
        ok = self._ids[np.maximum(slots, 0)] == ids_arr if self.ntotal else slots < -1
        if not ok.all():
            raise UnknownIdError(f"id {int(ids_arr[~ok][0])} is not in the index")
        tokens, offsets = ragged_from_arrays(self._tokens, self._offsets, slots)
        return tokens, offsets.astype(np.int64)

    def search_exact(
        self,
        queries: Any,
        k: int,
        allow: np.ndarray | None = None,
        n_threads: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact MaxSim top-``k`` documents among the allowed ones for each query vector set,
        over the stored tokens (distances ``-MaxSim``, ties by id), in :meth:`search`'s form."""
        q_tok, q_off = self._sets(queries, "query vector sets")
        k = check_k(k)
        if n_threads is not None:
            check_positive_int("n_threads", n_threads)
        mask = self.allow_mask(allow)
        slots = np.arange(self.ntotal, dtype=np.int64) if mask is None else np.flatnonzero(mask)
        nq = q_off.shape[0] - 1
        if nq == 0 or slots.size == 0:
            return (
                np.full((nq, k), PAD_ID, dtype=np.int64),
                np.full((nq, k), np.inf, dtype=np.float32),
            )
        select = for_rows(select_exact, nq)
        best_s, best_d = [], []
        with numba_threads(n_threads):
            for b in range(0, slots.size, self.EXACT_BLOCK):  # top k of each block, then merge
                cand = np.tile(slots[b : b + self.EXACT_BLOCK].astype(np.int64), (nq, 1))
                scores = self._rerank_scores(q_tok, q_off, cand)
                top, dist = select(-scores, cand, self._ids[cand], k)
                best_s.append(top)
                best_d.append(dist)
            cand = np.concatenate(best_s, axis=1)
            tiekey = np.where(cand >= 0, self._ids[np.maximum(cand, 0)], EMPTY)
            top, dist = select(np.concatenate(best_d, axis=1), cand, tiekey, k)
        out_ids = np.where(top >= 0, self._ids[np.maximum(top, 0)], PAD_ID)
        return out_ids, dist.astype(np.float32)

    def search(
        self,
        queries: Any,
        k: int,
        params: MultiVectorParams | None = None,
        allow: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` documents for each query vector set: FDE candidates, exact MaxSim."""
        q_tok, q_off = as_ragged(queries, self.dim, what="query vector sets")
        k = check_k(k)
        p = check_params(params, MultiVectorParams)
        if isinstance(p.candidates, bool) or not isinstance(p.candidates, int) or p.candidates < 1:
            raise InvalidParameterError(
                f"candidates must be a positive integer, got {p.candidates!r}"
            )
        nq = q_off.shape[0] - 1
        mask = self.allow_mask(allow)
        allow_ids = None if mask is None else self._ids[mask]
        fdes = self.encoder._encode(q_tok, q_off, document=False)
        n_cand = max(k, p.candidates) if p.rerank else k
        cand_ids, cand_d = self.inner.search(fdes, n_cand, p.inner, allow=allow_ids)
        if not p.rerank:
            return cand_ids[:, :k], cand_d[:, :k]
        with numba_threads(p.n_threads):
            slots = self._slots_of(cand_ids)
            scores = self._rerank_scores(q_tok, q_off, slots)
            tiekey = np.where(slots >= 0, cand_ids, EMPTY)
            top, dist = for_rows(select_exact, nq)(-scores, slots, tiekey, k)
        out_ids = np.where(top >= 0, self._ids[np.maximum(top, 0)], PAD_ID)
        return out_ids, dist.astype(np.float32)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Tokens, offsets and ids as arrays; the FDE index in ``inner/``; atomic."""
        arrays = {"tokens": self._tokens, "offsets": self._offsets, "ids": self._ids}
        meta = {"config": asdict(self.config)}
        self._save_arrays(path, arrays, meta, children={"inner": self.inner})

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool = True) -> MultiVectorIndex:
        """Load a saved index; with ``mmap`` the token vectors stay on disk."""
        manifest, arrays = cls._load_arrays(path, mmap=mmap)
        meta = manifest["meta"]
        if manifest["version"] == 1:  # the FDE config and the options side by side
            config = MultiVectorConfig(
                fde=FDEConfig(**meta["config"]),
                inner=meta["inner"],
                inner_options=meta["inner_options"],
                token_dtype=meta.get("token_dtype", "float32"),  # saves before it: float32
            )
        else:
            config = config_from_meta(MultiVectorConfig, meta["config"], path)
        index = cls(
            manifest["dim"],
            config.fde,
            inner=config.inner,
            inner_options=dict(config.inner_options),
            token_dtype=config.token_dtype,
        )
        index._adopt(path, arrays, mmap)
        return index

    # -- internals -----------------------------------------------------------------------------
    def _adopt(
        self, path: str | os.PathLike[str], arrays: dict[str, np.ndarray], mmap: bool
    ) -> None:
        """Take the arrays ``load`` read and the inner index saved beside them."""
        self.inner = _load_inner(self.inner_kind, os.path.join(path, "inner"), mmap)
        self._tokens = self._checked_tokens(arrays["tokens"], path)
        self._offsets = np.array(arrays["offsets"])
        self._ids = np.array(arrays["ids"])

    def _sets(self, sets: Any, what: str) -> Ragged:
        """Validated ragged input, as the index compares it."""
        return as_ragged(sets, self.dim, what=what)

    def _to_store(self, tokens: np.ndarray) -> np.ndarray:
        """Validated float32 tokens in the storage type (nothing is changed on error)."""
        if self.token_dtype == "float32":
            return tokens
        with np.errstate(over="ignore"):  # overflow becomes inf, reported below
            stored = tokens.astype(np.float16)
        if not np.isfinite(stored).all():
            row = int(np.flatnonzero(~np.isfinite(stored).all(axis=1))[0])
            raise InvalidParameterError(
                f"document vector sets: token {row} exceeds the float16 range (|x| > 65504) "
                "of token_dtype='float16'"
            )
        return stored

    def _rerank_scores(self, q_tok: np.ndarray, q_off: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """Exact MaxSim of each query set with its candidate slots (float64, -inf padding)."""
        nq = q_off.shape[0] - 1
        if self.token_dtype == "float16":
            return for_rows(maxsim_candidates_f16, nq)(
                q_tok, q_off, self._tokens.view(np.uint16), self._offsets, slots, _F16_LUT
            )
        return for_rows(maxsim_candidates, nq)(q_tok, q_off, self._tokens, self._offsets, slots)

    def _checked_tokens(self, tokens: np.ndarray, path: Any) -> np.ndarray:
        if tokens.dtype != np.dtype(self.token_dtype) or tokens.ndim != 2:
            raise IndexFormatError(
                f"{path}: tokens.npy holds {tokens.dtype} {tokens.shape}, expected "
                f"{self.token_dtype} (n, {self.dim})"
            )
        return tokens

    def _slots_of(self, ids: np.ndarray) -> np.ndarray:
        """Slots of candidate ids (``-1`` stays ``-1``)."""
        order = np.argsort(self._ids, kind="stable")
        pos = np.searchsorted(self._ids, ids, sorter=order)
        pos = np.minimum(pos, max(self.ntotal - 1, 0))
        slots = order[pos] if self.ntotal else np.zeros_like(ids)
        return np.where(ids >= 0, slots, -1).astype(np.int64)

    def _drop(self, ids: np.ndarray) -> None:
        """Remove the token rows of ``ids`` and compact."""
        keep = ~np.isin(self._ids, ids)
        sizes = np.diff(self._offsets)
        row_keep = np.repeat(keep, sizes)
        self._tokens = np.ascontiguousarray(self._tokens[row_keep])
        self._offsets = np.concatenate([[0], np.cumsum(sizes[keep])]).astype(np.int64)
        self._ids = np.ascontiguousarray(self._ids[keep])


def ragged_from_arrays(tokens: np.ndarray, offsets: np.ndarray, rows: Sequence[int]) -> Ragged:
    """The sub-collection of sets ``rows`` as ``(tokens, offsets)`` (for splitting datasets)."""
    rows = np.asarray(rows, dtype=np.int64)
    sizes = offsets[rows + 1] - offsets[rows]
    parts = [tokens[offsets[r] : offsets[r + 1]] for r in rows]
    flat = np.concatenate(parts) if parts else np.empty((0, tokens.shape[1]), tokens.dtype)
    return np.ascontiguousarray(flat, dtype=np.float32), np.concatenate([[0], np.cumsum(sizes)])


# --------------------------------------------------------------------------------------------
# The engine's face: flat constructor keywords and numeric search parameters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MuveraParams(SearchParams):
    """Per-call parameters of :class:`MuveraIndex` as plain numbers (what a request carries):
    ``candidates`` FDE hits re-ranked by exact MaxSim (``None``: the index's default), ``ef``
    for the inner HNSW (``None``: ``max(ef_search, candidates)``)."""

    candidates: int | None = None
    ef: int | None = None

    def __post_init__(self) -> None:
        for name in ("candidates", "ef", "n_threads"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise InvalidParameterError(f"{name} must be a positive integer, got {v!r}")


@dataclass(frozen=True, slots=True)
class MuveraConfig:
    """:class:`MuveraIndex` build parameters as plain scalars (the registry's keywords),
    validated here once; what ``save`` writes and ``load`` reads. ``d_proj=0`` keeps tokens
    whole, ``final_dim=0`` skips the final projection."""

    r_reps: int = 20
    k_sim: int = 5
    d_proj: int = 16
    fill_empty_partitions: bool = True
    final_dim: int = 0
    seed: int = 42
    inner: str = "hnsw"
    M: int = 16
    ef_construction: int = 200
    candidates: int = 500
    token_dtype: str = "float32"

    def __post_init__(self) -> None:
        put = object.__setattr__  # frozen: normalise to plain JSON values
        put(self, "candidates", check_positive_int("candidates", self.candidates))
        for name in ("d_proj", "final_dim"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
                raise InvalidParameterError(f"{name} must be a non-negative integer, got {v!r}")
            put(self, name, int(v))
        if not isinstance(self.fill_empty_partitions, bool | np.bool_):
            raise InvalidParameterError(
                f"fill_empty_partitions must be true or false, got {self.fill_empty_partitions!r}"
            )
        put(self, "fill_empty_partitions", bool(self.fill_empty_partitions))
        if self.inner == "hnsw":  # validated as the inner index will validate them
            from indexes.hnsw import HNSWConfig

            g = HNSWConfig(M=self.M, ef_construction=self.ef_construction)
            put(self, "M", g.M)
            put(self, "ef_construction", g.ef_construction)
        self.multivector_config()  # the rest: as MultiVectorIndex validates it

    def fde_config(self) -> FDEConfig:
        """The FDE parameters."""
        return FDEConfig(
            r_reps=self.r_reps,
            k_sim=self.k_sim,
            d_proj=self.d_proj or None,
            fill_empty_partitions=self.fill_empty_partitions,
            final_dim=self.final_dim or None,
            seed=self.seed,
        )

    def multivector_config(self) -> MultiVectorConfig:
        """The :class:`MultiVectorIndex` config these scalars stand for."""
        options = {"M": self.M, "ef_construction": self.ef_construction}
        return MultiVectorConfig(
            fde=self.fde_config(),
            inner=self.inner,
            inner_options=options if self.inner == "hnsw" else {},
            token_dtype=self.token_dtype,
        )


class MuveraIndex(MultiVectorIndex):
    """:class:`MultiVectorIndex` with the ``(dim, metric, **scalars)`` constructor that the
    engine's index registry builds from a collection config.

    ``metric`` is the per-token similarity of MaxSim: ``"ip"`` (Qdrant's Dot) or ``"cosine"``
    (every token is unit-normalised on the way in, queries too). Distances are ``-MaxSim``.
    The inner index is HNSW over the FDEs (``M``, ``ef_construction``) or ``"flat"``.
    ``candidates`` is the default number of FDE hits re-ranked per search: 500 measured
    recall@10 0.93 against exact MaxSim on Vaswani per-token MiniLM (11,429 documents) at 17x
    lower latency than brute force (``bench/results/muvera/``); 100 gave only 0.75.
    ``token_dtype="float16"`` stores the re-ranking tokens in half the bytes. The keywords are
    the fields of :class:`MuveraConfig`, kept in ``config``.
    """

    kind: ClassVar[str] = "muvera"
    format_version: ClassVar[int] = 2  # 2: meta["config"] is a MuveraConfig
    older_versions: ClassVar[tuple[int, ...]] = (1,)  # 1: the same keywords as meta["build"]
    config: MuveraConfig  # type: ignore[assignment]

    def __init__(
        self,
        dim: int,
        metric: str = "ip",
        r_reps: int = 20,
        k_sim: int = 5,
        d_proj: int = 16,
        fill_empty_partitions: bool = True,
        final_dim: int = 0,
        seed: int = 42,
        inner: str = "hnsw",
        M: int = 16,
        ef_construction: int = 200,
        candidates: int = 500,
        token_dtype: str = "float32",
    ) -> None:
        if metric not in ("ip", "cosine"):
            raise InvalidParameterError(
                f"multi-vector MaxSim supports metric 'ip' or 'cosine', got {metric!r}"
            )
        config = MuveraConfig(
            r_reps=r_reps,
            k_sim=k_sim,
            d_proj=d_proj,
            fill_empty_partitions=fill_empty_partitions,
            final_dim=final_dim,
            seed=seed,
            inner=inner,
            M=M,
            ef_construction=ef_construction,
            candidates=candidates,
            token_dtype=token_dtype,
        )
        mv = config.multivector_config()
        super().__init__(
            dim,
            mv.fde,
            inner=mv.inner,
            inner_options=dict(mv.inner_options),
            token_dtype=mv.token_dtype,
        )
        self.metric = metric
        self.config = config
        self.candidates = config.candidates

    @classmethod
    def from_config(cls, dim: int, metric: str, config: MuveraConfig) -> MuveraIndex:
        """A new, empty index built with ``config``."""
        return cls(dim, metric, **asdict(config))

    def _sets(self, sets: Any, what: str) -> Ragged:
        tokens, offsets = as_ragged(sets, self.dim, what=what)
        if self.metric == "cosine":
            tokens = normalize_rows(tokens, what=what)
        return tokens, offsets

    def add(self, sets: Any, ids: Any) -> None:
        """Add documents (vector sets) under ``ids``; an existing id is replaced."""
        super().add(self._sets(sets, "document vector sets"), ids)

    def search(
        self,
        queries: Any,
        k: int,
        params: MuveraParams | MultiVectorParams | None = None,
        allow: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """FDE candidates (``params.candidates``, default the index's), exact MaxSim re-rank."""
        if not isinstance(params, MultiVectorParams):
            p = check_params(params, MuveraParams)
            cand = p.candidates or self.candidates
            inner = None
            if self.inner_kind == "hnsw":
                from indexes.hnsw import HNSWParams

                inner = HNSWParams(ef=p.ef or cand, n_threads=p.n_threads)
            params = MultiVectorParams(n_threads=p.n_threads, candidates=cand, inner=inner)
        return super().search(self._sets(queries, "query vector sets"), k, params, allow)

    def save(self, path: str | os.PathLike[str]) -> None:
        """As :meth:`MultiVectorIndex.save`, with the engine's constructor keywords."""
        arrays = {"tokens": self._tokens, "offsets": self._offsets, "ids": self._ids}
        meta = {"config": asdict(self.config)}
        self._save_arrays(path, arrays, meta, children={"inner": self.inner})

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool = True) -> MuveraIndex:
        """Load a saved index; with ``mmap`` the token vectors stay on disk."""
        manifest, arrays = cls._load_arrays(path, mmap=mmap)
        meta = manifest["meta"]
        if manifest["version"] == 1:  # the same keywords, under "build"
            config = MuveraConfig(**meta["build"])  # saves without token_dtype: float32
        else:
            config = config_from_meta(MuveraConfig, meta["config"], path)
        index = cls.from_config(manifest["dim"], manifest["metric"], config)
        index._adopt(path, arrays, mmap)
        return index
