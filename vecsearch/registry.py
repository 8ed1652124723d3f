"""Index registry: index type name -> constructor, search-parameter class and defaults.

Index modules are imported lazily, on first use of their type, so the engine works with
whatever index families this build contains: ``flat`` always; ``hnsw``, ``ivf_pq`` and
``binary`` as soon as their modules exist. Asking for a type whose module cannot be imported
raises :class:`IndexTypeUnavailableError` naming the type and the missing module.

Parameter names: a collection's build parameters are the index constructor's keyword
arguments (``M``, ``ef_construction``, ``nlist``...); Qdrant's spellings (``m``,
``ef_construct``) are accepted as aliases. Per-call search parameters are the fields of the
index's params dataclass (``ef``, ``nprobe``, ``k_factor``, ``n_threads``) and Qdrant's
request names (``hnsw_ef``, ``exact``, ``quantization``, ``indexed_only``); Qdrant names that
do not apply to the collection's index type are accepted and ignored, as Qdrant does.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from indexes.base import SearchParams
from vecsearch.config_checks import (
    MAX_OVERSAMPLING,
    MAX_SEARCH_BEAM,
    check_index_bounds,
    check_number_range,
)
from vecsearch.errors import IndexTypeUnavailableError, ValidationError

#: Qdrant search-request parameter names accepted for every index type.
QDRANT_SEARCH_KEYS = frozenset({"hnsw_ef", "exact", "quantization", "indexed_only", "acorn"})


def _ivfpq_defaults(dim: int) -> dict[str, Any]:
    """IVF-PQ defaults that depend on the dimension: ``m`` divides ``dim`` (about dim/4)."""
    divisors = [d for d in range(1, dim + 1) if dim % d == 0]
    m = min(divisors, key=lambda d: (abs(d - dim / 4), d))
    return {"nlist": 256, "m": m}


@dataclass(frozen=True)
class IndexType:
    """How the engine builds, parameterises and searches one index family."""

    name: str
    module: str
    index_class: str
    params_class: str
    #: Constructor keyword defaults (beyond ``dim`` and ``metric``); may depend on ``dim``.
    defaults: Callable[[int], dict[str, Any]] = lambda dim: {}
    #: Alternative spellings of constructor keywords (Qdrant's ``m`` -> ``M``).
    build_aliases: Mapping[str, str] = field(default_factory=dict)
    #: Request search-parameter names -> params-class fields (``hnsw_ef`` -> ``ef``).
    search_aliases: Mapping[str, str] = field(default_factory=dict)
    #: The index learns from data (``train``) before it can hold points.
    needs_training: bool = False
    #: Search is exact (no planner choice needed: filtered index search is exact search).
    exact: bool = False
    #: Fewest points to train on, from the build parameters.
    min_train_points: Callable[[dict[str, Any]], int] = lambda params: 0
    #: Metrics the type supports (``None``: all of them).
    metrics: frozenset[str] | None = None
    #: The constructor (and ``load``) take ``work_dir``: where the index keeps its working
    #: files (the engine passes the collection's directory); not a user parameter.
    takes_work_dir: bool = False

    def check_metric(self, metric: str, field: str = "vectors.distance") -> None:
        """Raise :class:`ValidationError` if this type cannot serve ``metric``."""
        if self.metrics is not None and metric not in self.metrics:
            raise ValidationError(
                field,
                f"index type {self.name!r} supports the metrics {sorted(self.metrics)}, "
                f"not {metric!r}",
            )

    #: Points are sets of vectors (Qdrant's ``multivector_config``), searched by MaxSim.
    multivector: bool = False

    def classes(self) -> tuple[type, type[SearchParams]]:
        """Import the module and return ``(index class, params class)``."""
        try:
            mod = importlib.import_module(self.module)
        except ImportError as exc:
            raise IndexTypeUnavailableError(
                f"index type {self.name!r} is not available in this build: "
                f"module {self.module} cannot be imported ({exc})"
            ) from exc
        try:
            return getattr(mod, self.index_class), getattr(mod, self.params_class)
        except AttributeError as exc:
            raise IndexTypeUnavailableError(
                f"index type {self.name!r} is not available: {self.module} lacks "
                f"{self.index_class} or {self.params_class} ({exc})"
            ) from exc

    def available(self) -> bool:
        """Whether the module imports (without raising)."""
        try:
            self.classes()
        except IndexTypeUnavailableError:
            return False
        return True

    # -- build parameters ----------------------------------------------------------------------
    def build_params(self, dim: int, given: Mapping[str, Any] | None, field: str) -> dict:
        """Constructor keywords: defaults overlaid with ``given`` (aliases resolved), checked
        against the constructor's signature; unknown names raise :class:`ValidationError`,
        and so do values outside :data:`vecsearch.config_checks.INDEX_BOUNDS` (the error
        names the field as the request spelt it and gives the range)."""
        index_cls, _ = self.classes()
        sig = inspect.signature(index_cls.__init__)
        hidden = ("self", "dim", "metric", "work_dir")
        accepted = {n for n in sig.parameters if n not in hidden}
        takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        params = dict(self.defaults(dim))
        named = {n: f"{field}.{n}" for n in params}  # how the request spelt each name
        for key, value in (given or {}).items():
            name = self.build_aliases.get(key, key)
            if value is None:
                continue  # Qdrant clients send every field, unset ones as null
            if name not in accepted and not takes_kwargs:
                raise ValidationError(
                    f"{field}.{key}",
                    f"unknown parameter for index type {self.name!r}; "
                    f"expected one of {sorted(accepted | set(self.build_aliases))}",
                )
            if not isinstance(value, bool | int | float | str):  # flags too: keep_vectors, opq
                raise ValidationError(
                    f"{field}.{key}", f"expected a number, string or bool, got {value!r}"
                )
            params[name] = value
            named[name] = f"{field}.{key}"
        signature_defaults = {
            n: p.default
            for n, p in sig.parameters.items()
            if n not in hidden and p.default is not p.empty
        }
        check_index_bounds(self.name, dim, {**signature_defaults, **params}, named)
        return params

    def make_index(
        self, dim: int, metric: str, params: Mapping[str, Any], work_dir: Any = None
    ) -> Any:
        """A new, empty index (``work_dir`` reaches types with ``takes_work_dir``)."""
        index_cls, _ = self.classes()
        if self.takes_work_dir and work_dir is not None:
            return index_cls(dim, metric, **params, work_dir=work_dir)
        return index_cls(dim, metric, **params)

    def load_index(self, path: Any, work_dir: Any = None) -> Any:
        """An index saved by ``save``, read into memory (not memory-mapped: a live
        collection keeps adding to it, and mapped arrays may be read-only)."""
        index_cls, _ = self.classes()
        if self.takes_work_dir and work_dir is not None:
            return index_cls.load(path, mmap=False, work_dir=work_dir)
        return index_cls.load(path, mmap=False)

    # -- search parameters ---------------------------------------------------------------------
    def search_params(
        self, given: Mapping[str, Any] | None, field: str = "params"
    ) -> tuple[SearchParams | None, bool]:
        """``(params object or None, exact)`` from a request's ``params`` mapping.

        Accepts the params-class field names, this type's aliases and Qdrant's generic
        names; anything else raises :class:`ValidationError` naming the field.
        """
        if given is None:
            return None, False
        if not isinstance(given, Mapping):
            raise ValidationError(field, f"expected an object, got {type(given).__name__}")
        _, params_cls = self.classes()
        kinds = {f.name: _kind(f) for f in dataclasses.fields(params_cls)}
        names = set(kinds)
        kwargs: dict[str, Any] = {}
        exact = False
        for key, value in given.items():
            if value is None:
                continue
            if key == "exact":
                if not isinstance(value, bool):
                    raise ValidationError(f"{field}.exact", "expected true or false")
                exact = value
                continue
            _check_qdrant_param(key, value, f"{field}.{key}")
            nested = key in QDRANT_SEARCH_KEYS or any(
                a.startswith(f"{key}.") for a in self.search_aliases
            )
            if nested and isinstance(value, Mapping):  # quantization: {"oversampling": 2.0}
                for sub, subval in value.items():
                    alias = self.search_aliases.get(f"{key}.{sub}")
                    if alias is not None and subval is not None:
                        kwargs[alias] = _coerce(kinds[alias], subval, f"{field}.{key}.{sub}")
                continue
            target = self.search_aliases.get(key, key if key in names else None)
            if target is None:
                if key in QDRANT_SEARCH_KEYS:
                    continue  # a Qdrant knob that does not apply to this index type
                raise ValidationError(
                    f"{field}.{key}",
                    f"unknown search parameter for index type {self.name!r}; expected one of "
                    f"{sorted(names | set(self.search_aliases) | QDRANT_SEARCH_KEYS)}",
                )
            kwargs[target] = _coerce(kinds[target], value, f"{field}.{key}")
        kwargs = {k: _clamp(k, v) for k, v in kwargs.items()}
        try:
            return params_cls(**kwargs), exact
        except (TypeError, ValueError) as exc:
            raise ValidationError(field, str(exc)) from exc


def _kind(f: dataclasses.Field) -> str:
    """``bool``, ``int``, ``float`` or ``str``: the type of a params-class field."""
    t = str(f.type)
    for kind in ("bool", "int", "float", "str"):
        if kind in t.replace("None", "").replace("|", " ").split():
            return kind
    return "float"


def _coerce(kind: str, value: Any, field: str) -> Any:
    """A request value for a params field of type ``kind``. A fractional number for an
    integer knob is rounded up: Qdrant's ``quantization.oversampling`` is a float (1.5
    is common), ``ivf_pq``'s ``k_factor`` it stands for is a whole number of candidates."""
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValidationError(field, f"expected true or false, got {value!r}")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise ValidationError(field, f"expected a string, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(field, f"expected a number, got {value!r}")
    if isinstance(value, float) and math.isnan(value):
        raise ValidationError(field, "expected a number, got NaN")
    if kind == "float" and isinstance(value, int):
        try:
            return float(value)
        except OverflowError:  # an integer past 1e308: as large as a float gets
            return math.inf
    if kind == "int" and isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(field, f"expected a finite number, got {value!r}")
        return math.ceil(value)
    return value


#: Search-parameter fields that are beam widths or candidate counts, and multipliers of the
#: candidates per hit: values above :data:`MAX_SEARCH_BEAM` / :data:`MAX_OVERSAMPLING` are
#: clamped (Qdrant accepts any ``hnsw_ef`` and ``oversampling``; past these they would only
#: allocate, never find more).
_BEAM_FIELDS = frozenset({"ef", "ef_heads", "nprobe", "n_probe", "candidates"})
_MULTIPLIER_FIELDS = frozenset({"oversampling", "shortlist", "k_factor"})


def _clamp(name: str, value: Any) -> Any:
    """``value`` of search parameter ``name``, clamped to its maximum (see above)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if name in _BEAM_FIELDS and value > MAX_SEARCH_BEAM:
        return MAX_SEARCH_BEAM
    if name in _MULTIPLIER_FIELDS and value > MAX_OVERSAMPLING:
        return int(MAX_OVERSAMPLING) if isinstance(value, int) else MAX_OVERSAMPLING
    return value


def _check_qdrant_param(key: str, value: Any, field: str) -> None:
    """Type-check Qdrant's generic search parameters even where they have no effect."""
    if key == "hnsw_ef" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValidationError(field, f"expected a positive integer, got {value!r}")
    if key == "indexed_only" and not isinstance(value, bool):
        raise ValidationError(field, f"expected true or false, got {value!r}")
    if key == "acorn":  # Qdrant's AcornSearchParams {enable, max_selectivity in [0, 1]}
        if isinstance(value, bool):
            return
        if not isinstance(value, Mapping):
            raise ValidationError(
                field, f"expected an object {{enable, max_selectivity}}, got {value!r}"
            )
        extra = sorted(set(value) - {"enable", "max_selectivity"})
        if extra:
            raise ValidationError(f"{field}.{extra[0]}", "unknown field")
        if value.get("enable") is not None and not isinstance(value["enable"], bool):
            raise ValidationError(
                f"{field}.enable", f"expected true or false, got {value['enable']!r}"
            )
        if value.get("max_selectivity") is not None:
            check_number_range(value["max_selectivity"], f"{field}.max_selectivity", 0.0, 1.0)
    if key == "quantization" and not isinstance(value, Mapping):
        raise ValidationError(field, f"expected an object, got {value!r}")
    if key == "quantization" and value.get("oversampling") is not None:
        o = value["oversampling"]  # Qdrant's QuantizationSearchParams: range(min = 1.0)
        if isinstance(o, bool) or not isinstance(o, int | float) or not o >= 1:
            raise ValidationError(f"{field}.oversampling", f"expected a number >= 1, got {o!r}")


_REGISTRY: dict[str, IndexType] = {}
_LOCK = threading.Lock()


def register(index_type: IndexType) -> None:
    """Add (or replace) an index type; later families plug in here."""
    with _LOCK:
        _REGISTRY[index_type.name] = index_type


def unregister(name: str) -> None:
    """Remove an index type (tests register temporary ones)."""
    with _LOCK:
        _REGISTRY.pop(name, None)


def get_index_type(name: str) -> IndexType:
    """The registered type ``name``; unknown names raise :class:`IndexTypeUnavailableError`."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise IndexTypeUnavailableError(
            f"unknown index type {name!r}; known types: {sorted(_REGISTRY)}"
        ) from None


def index_types() -> list[str]:
    """Names of every registered type (available or not)."""
    return sorted(_REGISTRY)


def default_index_type(multivector: bool = False) -> str:
    """``hnsw`` when this build has it (Qdrant's default), else ``flat``; ``muvera`` for
    multi-vector collections."""
    if multivector:
        return "muvera"
    return "hnsw" if get_index_type("hnsw").available() else "flat"


register(
    IndexType(
        name="flat",
        module="indexes.flat",
        index_class="FlatIndex",
        params_class="FlatParams",
        exact=True,
    )
)
register(
    IndexType(
        name="hnsw",
        module="indexes.hnsw",
        index_class="HNSWIndex",
        params_class="HNSWParams",
        defaults=lambda dim: {"M": 16, "ef_construction": 200, "seed": 0},
        build_aliases={"m": "M", "ef_construct": "ef_construction"},
        search_aliases={"hnsw_ef": "ef"},
    )
)
register(
    IndexType(
        name="ivf_pq",
        module="indexes.ivfpq",
        index_class="IVFPQIndex",
        params_class="IVFPQParams",
        defaults=_ivfpq_defaults,
        search_aliases={"quantization.oversampling": "k_factor"},
        needs_training=True,
        min_train_points=lambda p: max(256, 4 * int(p.get("nlist", 256))),
    )
)
register(
    IndexType(
        name="binary",
        module="indexes.binary",
        index_class="BinaryIndex",
        params_class="BinaryParams",
        search_aliases={
            "quantization.oversampling": "oversampling",
            "quantization.rescore": "rescore",
        },
        needs_training=True,  # learns the centre of the codes
        min_train_points=lambda params: 1000,  # exact search until then
    )
)
register(
    IndexType(
        name="hnsw_binary",  # HNSW walked on 1-bit codes, rescored with the float vectors
        module="indexes.binary_hnsw",
        index_class="HNSWBinaryIndex",
        params_class="HNSWBinaryParams",
        defaults=lambda dim: {"M": 16, "ef_construction": 200, "seed": 0},
        build_aliases={"m": "M", "ef_construct": "ef_construction"},
        search_aliases={
            "hnsw_ef": "ef",
            "quantization.oversampling": "oversampling",
            "quantization.rescore": "rescore",
        },
        needs_training=True,  # learns the centre of the codes
        min_train_points=lambda params: 1000,  # exact search until then
    )
)
register(
    IndexType(
        name="spann",
        module="indexes.spann",
        index_class="SPANNIndex",
        params_class="SPANNParams",
        search_aliases={"hnsw_ef": "ef_heads"},
        needs_training=True,  # heads are learnt from the data
        min_train_points=lambda params: 1000,  # exact search until then
        metrics=frozenset({"l2", "cosine"}),
        takes_work_dir=True,  # postings live in a file in the collection's directory
    )
)
register(
    IndexType(
        name="muvera",
        module="indexes.muvera",
        index_class="MuveraIndex",
        params_class="MuveraParams",
        build_aliases={"m": "M", "ef_construct": "ef_construction"},
        search_aliases={"hnsw_ef": "ef"},
        multivector=True,
        metrics=frozenset({"ip", "cosine"}),  # MaxSim over dot products (Dot, Cosine)
    )
)
