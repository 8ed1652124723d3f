"""Binary embeddings: 1-bit and multi-bit codes, Hamming / lookup-table scoring, rescoring.

Codes (see :mod:`indexes._kernels.bits`): ``train`` learns a centre ``c`` (the mean of the
training vectors, after cosine normalisation); each vector ``x`` becomes ``bits`` stages of
sign patterns with per-vector scales, the *recurrent binarization* of "Binary Embedding-based
Retrieval at Tencent": stage ``s`` binarizes the residual left by stages ``< s``, so
``x ~ c + sum_s a_s b_s`` and the error shrinks with every stage. The variant here is
training-free beyond the centre: each scale is the least-squares optimum ``mean(|r|)``.

With ``rotate=True`` (the default) vectors and queries first go through a seeded random
rotation (:mod:`indexes._kernels.rotation`, O(d log d), a few KiB of parameters). It leaves
distances unchanged and spreads variance evenly over the dimensions, so every bit carries
information: on fashion-mnist (pixels, many near-constant borders) 1-bit cascade recall@10
goes from 0.91 to 0.985; on MiniLM text embeddings it adds about half a point. Codes, the
centre and the code-space estimates live in the rotated space; the float vectors are kept as
given, so rescored distances are exact. ``decode`` rotates back.

Scoring (per call, :class:`BinaryParams`):

* ``"hamming"``: popcount of XOR between the query's and the row's first-stage codes;
* ``"cascade"`` (the default): Hamming over every row keeps a shortlist of ``shortlist * k``
  rows, which are re-ranked by the asymmetric estimate below (all stages' codes); the scan
  touches only the first-stage codes and the refinement only the shortlist, so it runs at
  Hamming speed with (nearly) the asymmetric ranking. The shortlist is only as good as 1-bit
  Hamming: it ignores vector norms (which ``ip`` ranks by) and has ``dim + 1`` distinct values,
  so low-dimensional or ``ip`` data needs a longer shortlist (or the full asymmetric scan);
* ``"symmetric"``: the query is encoded too; ``<q^, x^>`` is estimated from Hamming distances
  between every pair of stages, weighted by their scales;
* ``"asymmetric"``: the float query is scored against the codes through per-query byte lookup
  tables (256 entries per 8 dimensions).

Rescoring takes ``ceil(oversampling * k)`` candidates by code score and re-ranks them with the
float vectors (exact, float64 accumulation). The float vectors are optional (``keep_vectors``)
and, after ``load(path, mmap=True)``, stay on disk memory-mapped: RAM holds only the codes,
their scales and the ids. They are the vectors as given (normalised under cosine, never
rotated), so with ``keep_vectors`` the index also answers ``get_vectors`` and
``search_exact`` (which reads only the allowed rows, from disk if mapped). The per-row
scalars ``cdot`` and ``xhat_sq`` (used only by the full ``"symmetric"`` / ``"asymmetric"``
scans) stay memory-mapped too; ``"hamming"`` and ``"cascade"`` never read them (the cascade
recomputes what it needs for its shortlist).

Codes are stored word-major, ``(bits, n_words, n)``: word ``w`` of every row's stage-``s``
code is contiguous, so the Hamming scan over the first stage vectorises across rows and a
multi-bit index's scan reads only the first stage (:mod:`indexes._kernels.bits_scan`).
``"hamming"`` and ``"cascade"`` run as one fused kernel per query
(:func:`indexes._kernels.bits_search.search_codes`): a single-query search is one compiled
call, and a batch runs chunks of queries that share each pass over the codes.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numba as nb
import numpy as np

from indexes._exact import exact_over_slots
from indexes._kernels.bits import byte_luts, center_luts, decode_recurrent, encode_recurrent
from indexes._kernels.bits_search import scan_full, search_codes, search_codes_single
from indexes._kernels.dispatch import for_rows
from indexes._kernels.distances import exact_candidate_distances
from indexes._kernels.rotation import make_rotation, rotate_rows, unrotate_rows
from indexes._kernels.topk import EMPTY, select_exact
from indexes._rows import RowStore
from indexes._threads import numba_threads
from indexes.base import (
    METRIC_CODES,
    PAD_ID,
    BaseIndex,
    SearchParams,
    as_ids,
    check_k,
    check_params,
    config_from_meta,
)
from indexes.errors import InvalidParameterError, NotTrainedError, UnsupportedOperationError

SCORINGS = ("hamming", "cascade", "symmetric", "asymmetric")
_FUSED = ("hamming", "cascade")
_EMPTY_MASK = np.zeros(0, dtype=np.bool_)
#: Queries of a batch that share one pass over the codes (see ``bits_search.search_codes``).
_QUERY_CHUNK = 4
#: The structured random rotation (:mod:`indexes._kernels.rotation`) applied before encoding.
_ROTATION_ROUNDS = 2
_ROTATION_SEED = 0x5EED
#: Columns a search may need that stay memory-mapped after ``load(mmap=True)``.
_MAPPED = ("vectors", "cdot", "xhat_sq")


@dataclass(frozen=True, slots=True)
class BinaryParams(SearchParams):
    """Per-call knobs: candidates ``oversampling * k``, float rescoring, scoring mode, and for
    ``"cascade"`` the Hamming shortlist ``shortlist * k`` that the asymmetric estimate ranks."""

    oversampling: float = 4.0
    rescore: bool = True
    scoring: str | None = None  # None: the index's default
    shortlist: float = 16.0


_DEFAULT_PARAMS = BinaryParams()


@dataclass(frozen=True, slots=True)
class BinaryConfig:
    """Binary-code build parameters, validated here once; the constructor's keywords, and
    what ``save`` writes and ``load`` reads: ``bits`` stages (1 to 4), the default
    ``scoring``, ``keep_vectors`` (float vectors for rescoring and exact search), ``rotate``."""

    bits: int = 1
    scoring: str = "cascade"
    keep_vectors: bool = True
    rotate: bool = True

    def __post_init__(self) -> None:
        bits = self.bits
        if isinstance(bits, bool) or not isinstance(bits, int | np.integer) or not 1 <= bits <= 4:
            raise InvalidParameterError(f"bits must be 1, 2, 3 or 4, got {bits!r}")
        object.__setattr__(self, "bits", int(bits))
        if self.scoring not in SCORINGS:
            raise InvalidParameterError(f"scoring must be one of {SCORINGS}, got {self.scoring!r}")
        for name, flag in (("keep_vectors", self.keep_vectors), ("rotate", self.rotate)):
            if not isinstance(flag, bool | np.bool_):
                raise InvalidParameterError(f"{name} must be true or false, got {flag!r}")
            object.__setattr__(self, name, bool(flag))


class BinaryIndex(BaseIndex):
    """Exhaustive scan over binary codes with optional float rescoring."""

    kind: ClassVar[str] = "binary"
    #: 3: build parameters as meta["config"]; 2: codes word-major (bits, n_words, n), build
    #: parameters as top-level meta keys; 1: codes row-major (n, bits, n_words), no rotation
    format_version: ClassVar[int] = 3
    older_versions: ClassVar[tuple[int, ...]] = (1, 2)

    def __init__(
        self,
        dim: int,
        metric: str = "cosine",
        bits: int = 1,
        scoring: str = "cascade",
        keep_vectors: bool = True,
        rotate: bool = True,
    ) -> None:
        super().__init__(dim, metric)
        self.config = c = BinaryConfig(
            bits=bits, scoring=scoring, keep_vectors=keep_vectors, rotate=rotate
        )
        if self.dim > 65_000:  # Hamming distances are kept as uint16 by the scan
            raise InvalidParameterError(f"binary codes support dim <= 65000, got {self.dim}")
        # plain attributes (copies of the frozen config, which stays the one source)
        self.bits = bits = c.bits
        self.scoring = c.scoring
        self.keep_vectors = c.keep_vectors
        # the float vectors (as given, normalised under cosine) are the exact ones
        self.keeps_vectors = c.keep_vectors
        self.rotate = c.rotate
        if self.rotate:
            self._signs, self._perms = make_rotation(self.dim, _ROTATION_ROUNDS, _ROTATION_SEED)
        else:
            self._signs = np.zeros((0, self.dim), dtype=np.float32)
            self._perms = np.zeros((0, self.dim), dtype=np.int32)
        self.n_words = (self.dim + 63) // 64
        self.n_bytes = (self.dim + 7) // 8
        self.center: np.ndarray | None = None
        self._c_lut = np.zeros((0, 256), dtype=np.float32)  # l2 only: <c, b> by byte
        self._c_sq = 0.0
        self._normalize = self.metric == "cosine"
        self._metric_code = METRIC_CODES[self.metric]
        self._no_vectors = np.zeros((0, self.dim), dtype=np.float32)
        columns: dict[str, tuple[tuple[int, ...], Any]] = {
            "codes": ((bits, self.n_words), np.uint64),
            "scales": ((bits,), np.float32),
            "cdot": ((), np.float32),  # <c, x^ - c>
            "xhat_sq": ((), np.float32),  # |x^|^2
        }
        if self.keep_vectors:
            columns["vectors"] = ((self.dim,), np.float32)
        self._rows = RowStore(columns, rows_last=("codes",))

    @classmethod
    def from_config(cls, dim: int, metric: str, config: BinaryConfig) -> BinaryIndex:
        """A new, untrained index built with ``config``."""
        return cls(dim, metric, **asdict(config))

    # -- protocol ------------------------------------------------------------------------------
    @property
    def ntotal(self) -> int:
        """Number of stored points."""
        return self._rows.n

    @property
    def is_trained(self) -> bool:
        """Whether ``train`` has learnt the centre."""
        return self.center is not None

    def slot_ids(self) -> np.ndarray:
        """Ids by slot (dense; removal compacts)."""
        return self._rows.slot_ids()

    def memory_bytes(self) -> int:
        """Resident bytes: codes, scales, ids, the centre and rotation, and the float vectors
        unless memory-mapped."""
        return self._rows.nbytes(resident_only=True) + self._fixed_bytes()

    def _fixed_bytes(self) -> int:
        """The centre, its lookup tables and the rotation: RAM that does not grow with n."""
        center = 0 if self.center is None else self.center.nbytes + self._c_lut.nbytes
        return int(center + self._signs.nbytes + self._perms.nbytes)

    def memory_breakdown(self) -> dict[str, int]:
        """Bytes of the live rows by part, each split into RAM and memory-mapped (disk):

        * ``codes``: what ``"hamming"`` / ``"cascade"`` search touches (codes, scales, ids,
          plus the centre, its lookup tables and the rotation), always in RAM;
        * ``aux_ram`` / ``aux_disk``: the per-row scalars only full symmetric / asymmetric
          scans read;
        * ``vectors_ram`` / ``vectors_disk``: the float vectors used for rescoring.
        """
        rows = self._rows
        n = rows.n
        out = {"codes": int(rows.ids[:n].nbytes) + self._fixed_bytes()}
        out["codes"] += sum(int(rows[c].nbytes) for c in ("codes", "scales"))
        for part, cols in (("aux", ("cdot", "xhat_sq")), ("vectors", ("vectors",))):
            out[f"{part}_ram"] = out[f"{part}_disk"] = 0
            for c in cols:
                arr = rows.arrays.get(c)
                if arr is not None:
                    where = "disk" if isinstance(arr, np.memmap) else "ram"
                    out[f"{part}_{where}"] += int(arr[:n].nbytes)
        return out

    def train(self, x: Any) -> None:
        """Learn the centre of the codes from (a sample of) the data."""
        vecs = self.prepare(x, what="training vectors")
        if vecs.shape[0] == 0:
            raise InvalidParameterError("training needs at least one vector")
        rotated = self._code_space(vecs)
        self._set_center(rotated.mean(axis=0, dtype=np.float64).astype(np.float32))

    def add(self, x: Any, ids: Any) -> None:
        """Encode and store vectors under ``ids`` (re-adding an id replaces it)."""
        center = self._need_center()
        vecs = self.prepare(x)
        ids_arr = as_ids(ids, vecs.shape[0])
        codes, scales = encode_recurrent(self._code_space(vecs), center, self.bits, self.n_words)
        xhat = decode_recurrent(codes, scales, center)  # in code space, like the centre
        rows = {
            "codes": codes,
            "scales": scales,
            "cdot": ((xhat - center) @ center).astype(np.float32),
            "xhat_sq": np.einsum("ij,ij->i", xhat, xhat).astype(np.float32),
        }
        if self.keep_vectors:
            rows["vectors"] = vecs
        self._rows.upsert(ids_arr, rows)

    def remove(self, ids: Any) -> None:
        """Remove points by id (all must exist, else nothing changes)."""
        self._rows.remove(as_ids(ids))

    def get_vectors(self, ids: Any) -> np.ndarray:
        """Stored float vectors of ``ids`` (normalised, for cosine; not rotated), in the given
        order; only an index built with ``keep_vectors=True`` has them."""
        self._require_vectors()
        return np.array(self._rows["vectors"][self._rows.slots_of(as_ids(ids))])

    def search_exact(
        self,
        queries: Any,
        k: int,
        allow: np.ndarray | None = None,
        n_threads: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact ``k`` nearest allowed points from the float vectors (``keep_vectors=True``),
        reading only the allowed rows (which stay on disk after ``load(mmap=True)``)."""
        self._require_vectors()
        q = self.prepare(queries, what="queries")
        k = check_k(k)
        mask = self.allow_mask(allow)
        rows = self._rows
        return exact_over_slots(
            q, k, self._metric_code, rows["vectors"], rows.slot_ids(), mask, n_threads
        )

    def encode(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """Codes ``(n, bits, n_words) uint64`` and scales ``(n, bits)`` of vectors ``x``
        (of the rotated vectors, if the index rotates)."""
        center = self._need_center()
        vecs = self._code_space(self.prepare(x))
        return encode_recurrent(vecs, center, self.bits, self.n_words)

    def decode(self, codes: np.ndarray, scales: np.ndarray) -> np.ndarray:
        """Vectors reconstructed from codes: ``center + sum_s a_s b_s``, rotated back."""
        xhat = decode_recurrent(codes, scales, self._need_center())
        if not self.rotate:
            return xhat
        return for_rows(unrotate_rows, xhat.shape[0])(xhat, self._signs, self._perms)

    def stored_codes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Copies of the stored ``(codes (n, bits, n_words), scales (n, bits), ids)`` in slot
        order, codes row-major as :meth:`encode` returns them."""
        rows = self._rows
        codes = np.ascontiguousarray(np.moveaxis(rows["codes"], -1, 0))
        return codes, np.array(rows["scales"]), np.array(rows.slot_ids())

    def search(
        self,
        queries: Any,
        k: int,
        params: BinaryParams | None = None,
        allow: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """k nearest by code score, rescored with float vectors unless ``rescore=False``.

        Without rescoring, distances are the code-space estimates: the Hamming distance for
        ``"hamming"``, else the metric's distance to the reconstructed vector ``x^``.
        """
        # Fast path: one float32 query, no filter, fused scoring -> one kernel call.
        q = self.single_query(queries, k, params, allow, BinaryParams)
        if q is not None and self.center is not None and self._rows.n > 0:
            p = _DEFAULT_PARAMS if params is None else params
            plan = self._plan(p, k)
            if plan is not None:
                rows = self._rows
                ids, dists, status = search_codes_single(
                    q, self._normalize, k, plan[0], plan[1], plan[2], p.rescore,
                    self._metric_code, self._signs, self._perms, self.center, self._c_sq,
                    self._c_lut, rows.arrays["codes"], rows["scales"], rows.n, rows.slot_ids(),
                    _EMPTY_MASK, rows["vectors"] if p.rescore else self._no_vectors,
                )  # fmt: skip
                if status == 0:
                    return ids, dists
        return self._search_general(queries, k, params, allow)

    def _plan(self, p: BinaryParams, k: int) -> tuple[int, int, bool] | None:
        """``(shortlist m, candidates kk, refine)`` for the fused kernel, or ``None`` when the
        call must go the general way (other scoring, or parameters to validate)."""
        scoring = p.scoring or self.scoring
        if scoring not in _FUSED or not (
            type(p.oversampling) in (int, float)
            and p.oversampling >= 1.0
            and type(p.shortlist) in (int, float)
            and p.shortlist >= 1.0
            and (self.keep_vectors or not p.rescore)
        ):
            return None
        n = self._rows.n
        kk = min(n, math.ceil(k * p.oversampling) if p.rescore else k)
        if scoring == "hamming":
            return kk, kk, False
        return min(n, max(kk, math.ceil(k * p.shortlist))), kk, True

    def _search_general(
        self, queries: Any, k: int, params: BinaryParams | None, allow: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        center = self._need_center()
        q = self.prepare(queries, what="queries")
        k = check_k(k)
        p = check_params(params, BinaryParams)
        scoring = p.scoring or self.scoring
        if scoring not in SCORINGS:
            raise InvalidParameterError(f"scoring must be one of {SCORINGS}, got {scoring!r}")
        if not (isinstance(p.oversampling, int | float) and p.oversampling >= 1.0):
            raise InvalidParameterError(f"oversampling must be >= 1, got {p.oversampling!r}")
        if not (isinstance(p.shortlist, int | float) and p.shortlist >= 1.0):
            raise InvalidParameterError(f"shortlist must be >= 1, got {p.shortlist!r}")
        if p.rescore and not self.keep_vectors:
            raise UnsupportedOperationError(
                "rescoring needs the float vectors; this index was built with keep_vectors=False"
            )
        mask = self.allow_mask(allow)
        nq, n = q.shape[0], self._rows.n
        out_ids = np.full((nq, k), PAD_ID, dtype=np.int64)
        out_d = np.full((nq, k), np.inf, dtype=np.float32)
        if nq == 0 or n == 0:
            return out_ids, out_d
        kk = min(n, math.ceil(k * p.oversampling) if p.rescore else k)
        metric = METRIC_CODES[self.metric]
        rows = self._rows
        ids = rows.slot_ids()
        allow_arr = _EMPTY_MASK if mask is None else mask
        if scoring in _FUSED:
            m, kk, refine = self._plan(p, k)  # type: ignore[misc]  # validated above
            with numba_threads(p.n_threads):
                got_ids, got_d = for_rows(search_codes, nq)(
                    q, k, m, kk, refine, p.rescore, metric, self._signs, self._perms, center,
                    self._c_sq, self._c_lut, rows.arrays["codes"], rows["scales"], n, ids,
                    allow_arr, rows["vectors"] if p.rescore else self._no_vectors, _QUERY_CHUNK,
                    nb.get_num_threads(),
                )  # fmt: skip
            return got_ids, got_d
        qc = self._code_space(q)  # what the codes are compared with; q for the floats
        hd = np.full((nq, kk), np.inf, dtype=np.float32)
        hi = np.full((nq, kk), EMPTY, dtype=np.int64)
        hc = np.full((nq, kk), -1, dtype=np.int64)
        with numba_threads(p.n_threads):
            symmetric = scoring == "symmetric"
            if symmetric:
                encode = for_rows(encode_recurrent, nq)
                qcodes, qscales = encode(qc, center, self.bits, self.n_words)
                luts = np.zeros((0, self.n_bytes, 256), dtype=np.float32)
            else:
                qcodes = np.zeros((0, 1, self.n_words), dtype=np.uint64)
                qscales = np.zeros((0, 1), dtype=np.float32)
                luts = for_rows(byte_luts, nq)(qc, self.n_bytes)
            for_rows(scan_full, nq)(
                symmetric, qcodes, qscales, luts, rows.arrays["codes"], rows["scales"],
                rows["cdot"], rows["xhat_sq"], metric, self.dim, n, ids, allow_arr, hd, hi, hc,
            )  # fmt: skip
            if p.rescore:
                dist = for_rows(exact_candidate_distances, nq)(q, rows["vectors"], hc, metric)
            else:
                dist = hd.astype(np.float64) + self._estimate_offset(qc, scoring)[:, None]
            slots, best = for_rows(select_exact, nq)(dist, hc, np.where(hc >= 0, hi, EMPTY), k)
        out_ids[:] = np.where(slots >= 0, ids[np.maximum(slots, 0)], PAD_ID)
        out_d[:] = best
        return out_ids, out_d

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write centre, codes, scales, ids (and float vectors) as .npy files (atomic)."""
        arrays = self._rows.to_arrays()
        arrays["center"] = self._need_center()
        if self.rotate:
            arrays["rot_signs"], arrays["rot_perms"] = self._signs, self._perms
        meta = {"config": asdict(self.config)}
        self._save_arrays(path, arrays, meta)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool = True) -> BinaryIndex:
        """Load a saved index. Codes are read into RAM (they are what every search scans);
        with ``mmap`` the float vectors stay on disk, memory-mapped, for rescoring."""
        manifest, arrays = cls._load_arrays(path, mmap=mmap)
        meta = manifest["meta"]
        if manifest["version"] < 3:  # the build parameters were top-level meta keys
            config = BinaryConfig(
                bits=meta["bits"],
                scoring=meta["scoring"],
                keep_vectors=meta["keep_vectors"],
                rotate=meta.get("rotate", False),  # format 1 indexes never rotated
            )
        else:
            config = config_from_meta(BinaryConfig, meta["config"], path)
        index = cls.from_config(manifest["dim"], manifest["metric"], config)
        if index.rotate:  # the saved rotation, whatever the current seed makes
            index._signs = np.array(arrays.pop("rot_signs"), dtype=np.float32)
            index._perms = np.array(arrays.pop("rot_perms"), dtype=np.int32)
        loaded = {name: arr if name in _MAPPED else np.array(arr) for name, arr in arrays.items()}
        if manifest["version"] == 1:  # row-major codes (n, bits, n_words) -> word-major
            loaded["codes"] = np.ascontiguousarray(np.moveaxis(loaded["codes"], 0, -1))
        index._set_center(loaded.pop("center"))
        index._rows.set_loaded(loaded)
        return index

    # -- internals -----------------------------------------------------------------------------
    def _set_center(self, center: np.ndarray) -> None:
        """Adopt a centre and derive what the fused kernel needs from it."""
        self.center = np.ascontiguousarray(center, dtype=np.float32)
        if self.metric == "l2":  # the cascade's l2 estimate needs <c, x^ - c>
            self._c_lut = center_luts(self.center, self.n_bytes)
        self._c_sq = float(np.dot(self.center.astype(np.float64), self.center))

    def _code_space(self, vecs: np.ndarray) -> np.ndarray:
        """Prepared vectors as the codes see them: rotated, if the index rotates."""
        if not self.rotate or vecs.shape[0] == 0:
            return vecs
        return for_rows(rotate_rows, vecs.shape[0])(vecs, self._signs, self._perms)

    def _require_vectors(self) -> None:
        if not self.keep_vectors:
            raise UnsupportedOperationError(
                "BinaryIndex keeps exact vectors only when built with keep_vectors=True"
            )

    def _need_center(self) -> np.ndarray:
        if self.center is None:
            raise NotTrainedError("BinaryIndex needs train() before add() or search()")
        return self.center

    def _estimate_offset(self, q: np.ndarray, scoring: str) -> np.ndarray:
        """Per-query constant that turns a scan key into the estimated distance."""
        if scoring in _FUSED:  # pragma: no cover - the fused kernel returns its own estimates
            return np.zeros(q.shape[0])
        if scoring == "symmetric":
            nq = q.shape[0]
            codes, scales = for_rows(encode_recurrent, nq)(q, self.center, self.bits, self.n_words)
            q = for_rows(decode_recurrent, nq)(codes, scales, self.center)
        qc = q.astype(np.float64) @ self.center.astype(np.float64)
        if self.metric == "l2":
            return np.einsum("ij,ij->i", q, q, dtype=np.float64) - 2.0 * qc
        if self.metric == "ip":
            return -qc
        return 1.0 - qc
