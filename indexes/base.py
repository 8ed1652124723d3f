"""The index protocol every index satisfies, and the boundary checks they share.

Conventions (see ARCHITECTURE.md §2):

* ``metric`` is ``"l2"``, ``"ip"`` or ``"cosine"``. Search returns *distances*, smaller is
  better: squared Euclidean distance for ``l2``, ``-<q, x>`` for ``ip`` and ``1 - cos(q, x)``
  for ``cosine``. Cosine indexes normalise vectors on ``add`` and queries on ``search``.
* ``add(x, ids)`` takes external ids (non-negative int64, unique within the call); adding an id
  that is already present replaces its vector (upsert). ``remove(ids)`` raises
  :class:`~indexes.errors.UnknownIdError` (and changes nothing) when an id is absent.
* ``search(queries, k, params=None, allow=None)`` returns ``(ids int64 (n, k), distances
  float32 (n, k))``, each row ascending by distance (ties broken by ascending id), padded with
  id ``-1`` and distance ``+inf`` when fewer than ``k`` points qualify.
* ``allow`` restricts results: either a boolean mask over the index's internal slots
  (``len == index.n_slots``, as returned by :meth:`BaseIndex.allow_mask`) or an integer array
  of external ids. Ids in an allow list that are not in the index are ignored. Every index
  still returns ``k`` hits when ``k`` allowed points exist.
* Optional abilities are part of the protocol, never probed with ``getattr``: every index has
  :meth:`BaseIndex.get_vectors` and :meth:`BaseIndex.search_exact`, which either work or raise
  :class:`~indexes.errors.UnsupportedOperationError` (faiss's rule); ``keeps_vectors`` says
  which, so a planner can choose without trying. The slot helpers (``slot_ids``, ``n_slots``,
  ``allow_mask``, ``id_mask_allow``, ``count_allowed``) work everywhere.
* Multi-vector indexes (MaxSim over sets of vectors) take, wherever a single-vector index
  takes a ``(n, dim)`` array, a sequence of ``(m_i, dim)`` arrays or the ragged pair
  ``(tokens (t, dim), offsets (n + 1,))``, and give sets back as that pair.
* Search parameters are per-call objects (frozen dataclasses), never index state, so one index
  serves many concurrent searches.
* Build parameters are one frozen config per index family (``HNSWConfig``, ``IVFPQConfig``,
  ...), validated in one place and used by the constructor, ``save`` (``asdict(config)`` in
  the manifest's ``meta["config"]``) and ``load`` alike.
* ``save(path)`` writes a directory of plain ``.npy`` arrays plus ``manifest.json``; ``load``
  memory-maps them by default. Saving is atomic: a crash leaves the old copy or the new one.
  A family that changes its layout bumps ``format_version`` and keeps reading the versions in
  ``older_versions``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, Self, TypeVar, runtime_checkable

import numpy as np

from indexes._kernels.distances import normalize_rows as _normalize_rows
from indexes._kernels.masks import id_mask_to_slots
from indexes.errors import (
    DimensionMismatchError,
    IndexFormatError,
    InvalidParameterError,
    InvalidVectorError,
    UnknownMetricError,
    UnsupportedOperationError,
)

Metric = Literal["l2", "ip", "cosine"]
METRICS: tuple[str, ...] = ("l2", "ip", "cosine")
METRIC_CODES: dict[str, int] = {"l2": 0, "ip": 1, "cosine": 2}

#: Id used to pad result rows that have fewer than ``k`` hits.
PAD_ID = -1
MANIFEST = "manifest.json"
FORMAT_NAME = "vecsearch-index"


@dataclass(frozen=True, slots=True)
class SearchParams:
    """Per-call search parameters shared by every index.

    ``n_threads`` caps the Numba threads used by this call (``None``: Numba's current setting).
    Index families subclass this with their own knobs (``ef``, ``nprobe``...).
    """

    n_threads: int | None = None


P = TypeVar("P", bound="SearchParams")


@runtime_checkable
class Index(Protocol):
    """What every index answers to (faiss's idea: same verbs everywhere).

    Core: ``dim``, ``metric``, ``ntotal``, ``memory_bytes``, ``train`` (a no-op where nothing
    is learnt, else :class:`~indexes.errors.NotTrainedError` until it ran), ``add``,
    ``remove``, ``search``, ``save`` and the classmethod ``load(path, *, mmap=True)``.

    Abilities every index has, working or raising
    :class:`~indexes.errors.UnsupportedOperationError` (declared by ``keeps_vectors``):

    * ``get_vectors(ids)``: the stored vectors of ``ids`` in order, as held (normalised under
      cosine): float32 ``(n, dim)``, or for multi-vector indexes the ragged pair ``(tokens
      (t, dim) float32, offsets (n + 1,) int64)``; :class:`~indexes.errors.UnknownIdError` if
      an id is absent.
    * ``search_exact(queries, k, allow=None, n_threads=None)``: the exact ``k`` nearest
      allowed points, from the index's own exact vectors, in ``search``'s result form.

    Slots, which work on every index: ``slot_ids()`` (external id per internal slot, ``-1``
    when free), ``n_slots``, ``allow_mask(allow)``, ``id_mask_allow(id_mask)`` and
    ``count_allowed(allow)``.
    """

    dim: int
    metric: str
    keeps_vectors: bool

    @property
    def ntotal(self) -> int: ...

    @property
    def n_slots(self) -> int: ...

    def memory_bytes(self) -> int: ...

    def train(self, x: Any) -> None: ...

    def add(self, x: Any, ids: Any) -> None: ...

    def remove(self, ids: Any) -> None: ...

    def search(
        self,
        queries: Any,
        k: int,
        params: SearchParams | None = None,
        allow: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def search_exact(
        self,
        queries: Any,
        k: int,
        allow: np.ndarray | None = None,
        n_threads: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def get_vectors(self, ids: Any) -> Any: ...

    def slot_ids(self) -> np.ndarray: ...

    def allow_mask(self, allow: np.ndarray | None) -> np.ndarray | None: ...

    def id_mask_allow(self, id_mask: np.ndarray) -> tuple[np.ndarray, int]: ...

    def count_allowed(self, allow: np.ndarray | None) -> int: ...

    def save(self, path: str | os.PathLike[str]) -> None: ...


# --------------------------------------------------------------------------------------------
# Boundary validation: done once, in Python, before any kernel sees the data.
# --------------------------------------------------------------------------------------------


def check_metric(metric: str) -> str:
    """Return ``metric`` if known, else raise :class:`UnknownMetricError`."""
    if metric not in METRICS:
        raise UnknownMetricError(f"unknown metric {metric!r}; expected one of {list(METRICS)}")
    return metric


def check_dim(dim: int) -> int:
    """Validate a vector dimension given to a constructor."""
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or int(dim) <= 0:
        raise InvalidParameterError(f"dim must be a positive integer, got {dim!r}")
    return int(dim)


def check_k(k: int) -> int:
    """Validate the number of neighbours asked for."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or int(k) <= 0:
        raise InvalidParameterError(f"k must be a positive integer, got {k!r}")
    return int(k)


def check_positive_int(name: str, value: Any) -> int:
    """``value`` as an ``int`` if it is a positive integer (a bool is not), else
    :class:`InvalidParameterError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) <= 0:
        raise InvalidParameterError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


C = TypeVar("C")


def config_from_meta(config_cls: type[C], values: Any, where: Any) -> C:
    """A family's frozen build config from the ``meta["config"]`` a ``save`` wrote.

    A config this build cannot read (unknown fields, invalid values) is an
    :class:`IndexFormatError` naming ``where``, not a ``TypeError`` from the constructor."""
    if not isinstance(values, Mapping):
        raise IndexFormatError(f"{where}: the saved config is not an object: {values!r}")
    names = {f.name for f in fields(config_cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - names)
    if unknown:
        raise IndexFormatError(
            f"{where}: the saved {config_cls.__name__} has unknown fields {unknown}"
        )
    try:
        return config_cls(**values)
    except (TypeError, InvalidParameterError) as exc:
        raise IndexFormatError(f"{where}: invalid saved {config_cls.__name__}: {exc}") from exc


def as_vectors(x: Any, dim: int, *, what: str = "vectors") -> np.ndarray:
    """Convert ``x`` to a C-contiguous float32 ``(n, dim)`` array, rejecting bad input.

    A 1-d array of length ``dim`` is taken as one vector. Raises
    :class:`DimensionMismatchError` on a wrong shape and :class:`InvalidVectorError` on NaN or
    infinity (including values that overflow float32). A float32 array is not copied.
    """
    if isinstance(x, np.ndarray) and x.dtype == np.float32:
        arr = x  # fast path: the common case of a single-query search
    else:
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(f"{what} must be a numeric array: {exc}") from exc
        if arr.dtype == object or not (
            np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
        ):
            raise InvalidParameterError(f"{what} must be numeric, got dtype {arr.dtype}")
        if np.iscomplexobj(arr):
            raise InvalidParameterError(f"{what} must be real, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise DimensionMismatchError(
            f"{what} must be a 2-d array (n, {dim}), got shape {np.shape(x)}"
        )
    if arr.shape[1] != dim:
        raise DimensionMismatchError(f"{what} have dimension {arr.shape[1]}, index expects {dim}")
    if arr.dtype == np.float32:
        out = np.ascontiguousarray(arr)
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            out = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(out).all():
        bad = np.flatnonzero(~np.isfinite(out).all(axis=1))
        raise InvalidVectorError(
            f"{what} contain NaN or infinity (or values beyond float32 range) "
            f"in {len(bad)} row(s), first at row {int(bad[0])}"
        )
    return out


def normalize_rows(x: np.ndarray, *, what: str = "vectors") -> np.ndarray:
    """Return rows scaled to unit L2 norm (float32); zero rows raise :class:`InvalidVectorError`."""
    out, bad = _normalize_rows(x)
    if bad >= 0:
        raise InvalidVectorError(
            f"{what} row {bad} has zero norm and cannot be normalised for the cosine metric"
        )
    return out


def as_ids(ids: Any, n: int | None = None, *, what: str = "ids") -> np.ndarray:
    """Convert ``ids`` to a 1-d int64 array of non-negative, unique values (length ``n``)."""
    try:
        arr = np.asarray(ids)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"{what} must be an integer array: {exc}") from exc
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise InvalidParameterError(f"{what} must be 1-d, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.mod(arr, 1) == 0):
            pass  # integral floats such as 3.0 are accepted
        else:
            raise InvalidParameterError(f"{what} must be integers, got dtype {arr.dtype}")
    if arr.size and np.issubdtype(arr.dtype, np.unsignedinteger) and arr.max() > 2**63 - 1:
        raise InvalidParameterError(f"{what} must fit in int64")
    out = np.ascontiguousarray(arr, dtype=np.int64)
    if n is not None and out.shape[0] != n:
        raise InvalidParameterError(f"got {out.shape[0]} {what} for {n} vectors")
    if out.size and out.min() < 0:
        raise InvalidParameterError(f"{what} must be non-negative, got {int(out.min())}")
    if out.size > 1:
        # sort-based: numpy 2.4's hash-based np.unique is superlinear on int64 (measured 2.4 s
        # for 200k ids against 10 ms for np.sort) and get_vectors/remove pass large id arrays
        s = np.sort(out)
        same = s[1:] == s[:-1]
        if same.any():
            dup = int(s[np.flatnonzero(same)[0]])
            raise InvalidParameterError(f"{what} contain duplicates (for example {dup})")
    return out


def check_params(params: SearchParams | None, cls: type[P]) -> P:
    """Return ``params`` (or the defaults of ``cls``), rejecting parameters of another index."""
    if params is None:
        return cls()
    if not isinstance(params, cls):
        raise InvalidParameterError(
            f"expected {cls.__name__} (or None), got {type(params).__name__}"
        )
    if params.n_threads is not None and (
        not isinstance(params.n_threads, int) or params.n_threads <= 0
    ):
        raise InvalidParameterError(f"n_threads must be a positive integer, got {params.n_threads}")
    return params


# --------------------------------------------------------------------------------------------
# Shared behaviour: allow lists and the on-disk format.
# --------------------------------------------------------------------------------------------


class BaseIndex:
    """Common state and helpers. Subclasses set ``kind`` and ``format_version``."""

    kind: ClassVar[str] = "base"
    format_version: ClassVar[int] = 1
    #: Older on-disk versions ``load`` still reads (it converts them); empty: only the current.
    older_versions: ClassVar[tuple[int, ...]] = ()

    def __init__(self, dim: int, metric: str = "l2") -> None:
        self.dim = check_dim(dim)
        self.metric = check_metric(metric)

    # -- what subclasses provide ---------------------------------------------------------------
    def slot_ids(self) -> np.ndarray:
        """External id held by each internal slot (``-1`` for a free slot)."""
        raise NotImplementedError

    # -- optional abilities: each works or raises UnsupportedOperationError (faiss's rule) -----
    #: Whether :meth:`get_vectors` and :meth:`search_exact` work (the index keeps the exact
    #: vectors it was given). A declaration for planners; the methods stay the authority.
    #: Read it on the instance: the class value is the family's default, and a family whose
    #: build decides (``keep_vectors=False`` in IVF-PQ and binary codes) sets it per index.
    keeps_vectors: bool = False

    def get_vectors(self, ids: Any) -> Any:
        """The stored vectors of ``ids``, in the given order, as the index holds them
        (normalised under cosine): float32 ``(n, dim)``; for multi-vector indexes the ragged
        pair ``(tokens (t, dim), offsets (n + 1,))``. Raises :class:`UnknownIdError` when an
        id is absent and :class:`UnsupportedOperationError` when the index keeps no exact
        vectors."""
        raise UnsupportedOperationError(f"{type(self).__name__} keeps no exact vectors")

    def search_exact(
        self,
        queries: Any,
        k: int,
        allow: np.ndarray | None = None,
        n_threads: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact ``k`` nearest among the allowed stored points, from the index's own exact
        vectors, in :meth:`Index.search`'s result form (what a planner runs for selective
        filters). Raises :class:`UnsupportedOperationError` when the index keeps no exact
        vectors."""
        raise UnsupportedOperationError(f"{type(self).__name__} keeps no exact vectors")

    @property
    def n_slots(self) -> int:
        """Length of a boolean ``allow`` mask for this index."""
        return int(self.slot_ids().shape[0])

    # -- shared helpers ------------------------------------------------------------------------
    def prepare(self, x: Any, *, what: str = "vectors") -> np.ndarray:
        """Validate vectors and apply the metric's normalisation."""
        out = as_vectors(x, self.dim, what=what)
        if self.metric == "cosine":
            out = normalize_rows(out, what=what)
        return out

    def single_query(
        self, queries: Any, k: Any, params: Any, allow: Any, params_cls: type
    ) -> np.ndarray | None:
        """The query of a call that can take a one-kernel fast path, else ``None``.

        Eligible: no filter, ``k`` a positive int, ``params`` absent or exactly
        ``params_cls``, and ``queries`` one C-contiguous float32 row of this dimension (1-d,
        or 2-d with one row). Anything else goes the general, validating way. One query
        runs on one thread, so ``params.n_threads`` does not matter to the fast path.
        """
        if not (
            allow is None
            and type(queries) is np.ndarray
            and queries.dtype == np.float32
            and type(k) is int
            and k > 0
            and (params is None or type(params) is params_cls)
        ):
            return None
        q = queries if queries.ndim == 1 else (queries[0] if queries.shape[0] == 1 else None)
        if q is None or q.ndim != 1 or q.shape[0] != self.dim or not q.flags.c_contiguous:
            return None
        return q

    def allow_mask(self, allow: np.ndarray | None) -> np.ndarray | None:
        """Turn an ``allow`` argument into a boolean mask over slots (``None``: no filter)."""
        if allow is None:
            return None
        arr = np.asarray(allow)
        slot_ids = self.slot_ids()
        if arr.dtype == np.bool_:
            if arr.ndim != 1 or arr.shape[0] != slot_ids.shape[0]:
                raise InvalidParameterError(
                    f"boolean allow mask must have length n_slots={slot_ids.shape[0]}, "
                    f"got shape {arr.shape}"
                )
            return np.ascontiguousarray(arr)
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise InvalidParameterError(
                f"allow must be a boolean slot mask or an integer id array, got {arr.dtype}"
            )
        ids = np.ascontiguousarray(arr.reshape(-1), dtype=np.int64)
        return np.isin(slot_ids, ids) & (slot_ids >= 0)

    def id_mask_allow(self, id_mask: np.ndarray) -> tuple[np.ndarray, int]:
        """``(allow, count)``: the boolean slot mask admitting every stored point whose id
        ``i`` has ``id_mask[i]`` true (ids past the end are not admitted), and its population.

        For callers whose ids are small dense integers and whose filter is a mask by id (the
        engine's labels): one pass over the slots, no id list."""
        m = np.asarray(id_mask)
        if m.dtype != np.bool_ or m.ndim != 1:
            raise InvalidParameterError(f"id_mask must be a 1-d boolean array, got {m.dtype}")
        sid = np.ascontiguousarray(self.slot_ids(), dtype=np.int64)
        allow, count = id_mask_to_slots(sid, np.ascontiguousarray(m))
        return allow, int(count)

    def count_allowed(self, allow: np.ndarray | None) -> int:
        """How many stored points pass ``allow``: what a planner needs to choose a plan."""
        mask = self.allow_mask(allow)
        if mask is None:
            return self.ntotal  # type: ignore[attr-defined]
        return int(np.count_nonzero(mask & (self.slot_ids() >= 0)))

    # -- persistence ---------------------------------------------------------------------------
    def _save_arrays(
        self,
        path: str | os.PathLike[str],
        arrays: Mapping[str, np.ndarray],
        meta: dict,
        children: Mapping[str, BaseIndex] | None = None,
    ) -> None:
        """Atomically write ``arrays`` as .npy files plus a manifest into directory ``path``.

        ``children`` are indexes this one is composed of (e.g. the single-vector index inside
        a multi-vector index); each is saved into a sub-directory of the same name, inside the
        same atomic swap.
        """
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            for name, arr in arrays.items():
                np.save(tmp / f"{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)
            for name, child in (children or {}).items():
                child.save(tmp / name)
            manifest = {
                "format": FORMAT_NAME,
                "kind": self.kind,
                "version": self.format_version,
                "dim": self.dim,
                "metric": self.metric,
                "arrays": sorted(arrays),
                "children": {name: child.kind for name, child in (children or {}).items()},
                "meta": meta,
            }
            with open(tmp / MANIFEST, "w", encoding="utf-8") as fh:
                json.dump(manifest, fh, indent=2, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            old = None
            if target.exists():
                old = target.with_name(f".{target.name}.old-{os.getpid()}")
                if old.exists():
                    shutil.rmtree(old)
                os.replace(target, old)
            os.replace(tmp, target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @classmethod
    def _load_arrays(
        cls, path: str | os.PathLike[str], *, mmap: bool = True, mmap_mode: str = "r"
    ) -> tuple[dict, dict[str, np.ndarray]]:
        """Read a directory written by :meth:`_save_arrays`; arrays are memory-mapped if asked.

        ``mmap_mode`` is passed to :func:`numpy.load` when ``mmap`` is true: ``"r"`` maps
        read-only, ``"c"`` maps copy-on-write (writable in memory, the files never change).
        """
        src = Path(path)
        try:
            with open(src / MANIFEST, encoding="utf-8") as fh:
                manifest = json.load(fh)
        except FileNotFoundError as exc:
            raise IndexFormatError(f"{src} holds no saved index ({MANIFEST} missing)") from exc
        except json.JSONDecodeError as exc:
            raise IndexFormatError(f"{src / MANIFEST} is not valid JSON: {exc}") from exc
        if manifest.get("format") != FORMAT_NAME or manifest.get("kind") != cls.kind:
            raise IndexFormatError(
                f"{src} holds a {manifest.get('kind')!r} index, not {cls.kind!r}"
            )
        readable = (cls.format_version, *cls.older_versions)
        if manifest.get("version") not in readable:
            raise IndexFormatError(
                f"{src}: format version {manifest.get('version')} is not supported "
                f"(this build reads version{'s' if len(readable) > 1 else ''} "
                f"{', '.join(map(str, sorted(readable)))})"
            )
        arrays: dict[str, np.ndarray] = {}
        for name in manifest["arrays"]:
            file = src / f"{name}.npy"
            if not file.exists():
                raise IndexFormatError(f"{src}: array file {file.name} is missing")
            arrays[name] = np.load(file, mmap_mode=mmap_mode if mmap else None, allow_pickle=False)
        return manifest, arrays

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool = True) -> Self:
        """Load an index saved with ``save``; ``mmap=True`` maps arrays instead of copying."""
        raise NotImplementedError
