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
re-ranking them with exact MaxSim.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
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
    format_version: ClassVar[int] = 1

    def __init__(
        self,
        dim: int,
        config: FDEConfig | None = None,
        inner: str = "flat",
        inner_options: dict[str, Any] | None = None,
        token_dtype: str = "float32",
    ) -> None:
        super().__init__(dim, "ip")
        self.token_dtype = check_token_dtype(token_dtype)
        self.encoder = FDEEncoder(self.dim, config)
        self.inner_kind = inner
        self.inner_options = dict(inner_options or {})
        self.inner = _make_inner(inner, self.encoder.out_dim, self.inner_options)
        self._tokens = np.empty((0, self.dim), dtype=self.token_dtype)
        self._offsets = np.zeros(1, dtype=np.int64)
        self._ids = np.empty(0, dtype=np.int64)

    @property
    def config(self) -> FDEConfig:
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

    def get_vectors(self, doc_id: int) -> np.ndarray:
        """The token vectors of one document."""
        slot = np.flatnonzero(self._ids == doc_id)
        if slot.size == 0:
            raise UnknownIdError(f"id {doc_id} is not in the index")
        s = int(slot[0])
        return np.array(self._tokens[self._offsets[s] : self._offsets[s + 1]], dtype=np.float32)

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
        meta = {
            "config": asdict(self.config),
            "inner": self.inner_kind,
            "inner_options": self.inner_options,
            "token_dtype": self.token_dtype,
        }
        arrays = {"tokens": self._tokens, "offsets": self._offsets, "ids": self._ids}
        self._save_arrays(path, arrays, meta, children={"inner": self.inner})

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool = True) -> MultiVectorIndex:
        """Load a saved index; with ``mmap`` the token vectors stay on disk."""
        manifest, arrays = cls._load_arrays(path, mmap=mmap)
        meta = manifest["meta"]
        index = cls(
            manifest["dim"],
            FDEConfig(**meta["config"]),
            inner=meta["inner"],
            inner_options=meta["inner_options"],
            token_dtype=meta.get("token_dtype", "float32"),  # saves before it: float32
        )
        index.inner = _load_inner(meta["inner"], os.path.join(path, "inner"), mmap)
        index._tokens = index._checked_tokens(arrays["tokens"], path)
        index._offsets = np.array(arrays["offsets"])
        index._ids = np.array(arrays["ids"])
        return index

    # -- internals -----------------------------------------------------------------------------
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


class MuveraIndex(MultiVectorIndex):
    """:class:`MultiVectorIndex` with the ``(dim, metric, **scalars)`` constructor that the
    engine's index registry builds from a collection config.

    ``metric`` is the per-token similarity of MaxSim: ``"ip"`` (Qdrant's Dot) or ``"cosine"``
    (every token is unit-normalised on the way in, queries too). Distances are ``-MaxSim``.
    The inner index is HNSW over the FDEs (``M``, ``ef_construction``) or ``"flat"``.
    ``candidates`` is the default number of FDE hits re-ranked per search: 500 measured
    recall@10 0.93 against exact MaxSim on Vaswani per-token MiniLM (11,429 documents) at 17x
    lower latency than brute force (``bench/results/muvera/``); 100 gave only 0.75.
    ``token_dtype="float16"`` stores the re-ranking tokens in half the bytes.
    """

    kind: ClassVar[str] = "muvera"

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
        for name, v in (("candidates", candidates), ("d_proj", d_proj)):
            if (
                isinstance(v, bool)
                or not isinstance(v, int)
                or v < 0
                or (name == "candidates" and v < 1)
            ):
                raise InvalidParameterError(f"{name} must be a positive integer, got {v!r}")
        config = FDEConfig(
            r_reps=r_reps,
            k_sim=k_sim,
            d_proj=d_proj or None,  # 0: identity (keep tokens whole)
            fill_empty_partitions=bool(fill_empty_partitions),
            final_dim=final_dim or None,
            seed=seed,
        )
        options = {"M": M, "ef_construction": ef_construction} if inner == "hnsw" else {}
        super().__init__(dim, config, inner=inner, inner_options=options, token_dtype=token_dtype)
        self.metric = metric
        self.candidates = int(candidates)
        self._build = {
            "r_reps": r_reps,
            "k_sim": k_sim,
            "d_proj": d_proj,
            "fill_empty_partitions": bool(fill_empty_partitions),
            "final_dim": final_dim,
            "seed": seed,
            "inner": inner,
            "M": M,
            "ef_construction": ef_construction,
            "candidates": candidates,
            "token_dtype": token_dtype,
        }

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

    def get_sets(self, ids: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(found ids, tokens, offsets)`` of the documents of ``ids`` that are stored."""
        ids_arr = as_ids(ids)
        slots = self._slots_of(ids_arr)
        ok = (
            (slots >= 0) & (self._ids[np.maximum(slots, 0)] == ids_arr)
            if self.ntotal
            else slots < -1
        )
        found, slots = ids_arr[ok], slots[ok]
        tokens, offsets = ragged_from_arrays(self._tokens, self._offsets, slots)
        return found, tokens, offsets.astype(np.int64)

    def save(self, path: str | os.PathLike[str]) -> None:
        """As :meth:`MultiVectorIndex.save`, with the engine's constructor keywords."""
        arrays = {"tokens": self._tokens, "offsets": self._offsets, "ids": self._ids}
        self._save_arrays(path, arrays, {"build": self._build}, children={"inner": self.inner})

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool = True) -> MuveraIndex:
        """Load a saved index; with ``mmap`` the token vectors stay on disk."""
        manifest, arrays = cls._load_arrays(path, mmap=mmap)
        build = manifest["meta"]["build"]
        index = cls(manifest["dim"], manifest["metric"], **build)  # no token_dtype: float32
        index.inner = _load_inner(build["inner"], os.path.join(path, "inner"), mmap)
        index._tokens = index._checked_tokens(arrays["tokens"], path)
        index._offsets = np.array(arrays["offsets"])
        index._ids = np.array(arrays["ids"])
        return index
