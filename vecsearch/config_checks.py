"""Qdrant's limits on the collection settings that vecsearch keeps without acting on them.

Qdrant accepts settings about shards, replicas, its WAL, its optimizer and where data lives
in memory. A single-node engine over SQLite has none of these parts, so
:mod:`vecsearch.config_qdrant` keeps them as given and collection info echoes them. This
module checks them first with Qdrant's own limits (the ``minimum`` / ``maximum`` of
Qdrant's OpenAPI schemas ``CreateCollection``, ``CollectionParamsDiff``, ``WalConfigDiff``,
``OptimizersConfigDiff``, ``PayloadStorageParams``, ``StrictModeConfig``,
``QuantizationConfig``; docs/redoc/v1.19.x/openapi.json), so that a bad value is a 400
naming the field and what is echoed stays within Qdrant's schema (qdrant-client parses
collection info with models that refuse unknown fields).

What happens to each setting (also in docs/params.md, "Qdrant settings"):

* echoed, no effect a client could observe in results: ``shard_number`` (the collection is
  one shard; ``/collections/{c}/cluster`` says so), ``replication_factor``,
  ``write_consistency_factor``, ``read_fan_out_factor``, ``read_fan_out_delay_ms``,
  ``on_disk_payload``, ``payload.memory`` and ``id_tracker.memory`` (payloads and ids live in
  the SQLite store either way), ``wal_config`` (the store journals its own writes),
  ``optimizers_config`` (no segments to optimize; indexes are built as points arrive),
  ``metadata``;
* refused with 400 "not supported", because they would change behaviour:
  ``sharding_method: "custom"`` (writes would need shard keys), ``strict_mode_config`` with
  ``enabled: true`` (its limits would have to be enforced), ``payload.memory: "pinned"``
  (Qdrant refuses it too).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from vecsearch.errors import ValidationError

MEMORY = ("cold", "cached", "pinned")

#: Qdrant's integer types at their largest: values past them fail Qdrant's parsing (400), and
#: here they would overflow the int64 arithmetic of numpy and SQLite.
USIZE_MAX = 2**64 - 1
U32_MAX = 2**32 - 1
INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class Bound:
    """The range a numeric setting must lie in: ``kind`` ``"int"`` (bools, floats and strings
    refused) or ``"float"`` (finite int or float; bools and strings refused), ``lo`` to
    ``hi`` inclusive (``open_low``: ``lo`` itself excluded)."""

    kind: str
    lo: float
    hi: float
    open_low: bool = False

    def check(self, value: Any, field: str) -> Any:
        """``value`` if it lies in the range, else :class:`ValidationError` giving the range."""
        if self.kind == "int":
            return check_int_range(value, field, int(self.lo), int(self.hi))
        return check_number_range(value, field, self.lo, self.hi, open_low=self.open_low)


def check_int_range(value: Any, field: str, lo: int, hi: int) -> int:
    """An integer in ``[lo, hi]`` (bools, floats and strings refused), named in the error
    with the range, so ``2**63`` or ``1e9`` is a 400 that says what is allowed."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValidationError(field, f"expected an integer in [{lo}, {hi}], got {value!r}")
    if not lo <= int(value) <= hi:
        raise ValidationError(field, f"expected an integer in [{lo}, {hi}], got {int(value)}")
    return int(value)


def check_number_range(
    value: Any, field: str, lo: float, hi: float, *, open_low: bool = False
) -> float:
    """A finite number in ``[lo, hi]`` (``(lo, hi]`` with ``open_low``); bools refused."""
    bracket = "(" if open_low else "["
    text = f"expected a number in {bracket}{lo:g}, {hi:g}]"
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValidationError(field, f"{text}, got {value!r}")
    try:
        v = float(value)
    except OverflowError:  # an integer past 1e308
        raise ValidationError(field, f"{text}, got an integer past 1e308") from None
    if not math.isfinite(v) or not (lo < v if open_low else lo <= v) or v > hi:
        raise ValidationError(field, f"{text}, got {value!r}")
    return v


#: (minimum, maximum) of the integer fields of Qdrant's ``WalConfigDiff`` (usize).
WAL_LIMITS = {
    "wal_capacity_mb": (1, USIZE_MAX),
    "wal_segments_ahead": (0, USIZE_MAX),
    "wal_retain_closed": (0, USIZE_MAX),
}
#: Integer fields of Qdrant's ``OptimizersConfigDiff`` and their minimum.
OPTIMIZER_MINIMUMS = {
    "vacuum_min_vector_number": 100,
    "default_segment_number": 0,
    "max_segment_size": 1,
    "memmap_threshold": 0,
    "indexing_threshold": 0,
    "flush_interval_sec": 0,
}
#: Every field of Qdrant's ``OptimizersConfigDiff``.
OPTIMIZER_KEYS = frozenset(
    {*OPTIMIZER_MINIMUMS, "deleted_threshold", "max_optimization_threads", "prevent_unoptimized"}
)
#: Integer collection parameters (``CreateCollection`` / ``CollectionParamsDiff``):
#: (minimum, maximum), the maximum that of Qdrant's type (``NonZeroU32``, ``u32``, ``u64``).
PARAM_LIMITS = {
    "shard_number": (1, U32_MAX),
    "replication_factor": (1, U32_MAX),
    "write_consistency_factor": (1, U32_MAX),
    "read_fan_out_factor": (0, U32_MAX),
    "read_fan_out_delay_ms": (0, USIZE_MAX),
}


def _object(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError(field, "expected an object")
    return value


def _unknown(obj: Mapping[str, Any], known: Any, field: str) -> None:
    extra = sorted(set(obj) - set(known))
    if extra:
        raise ValidationError(f"{field}.{extra[0]}", "unknown field")


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(field, f"expected true or false, got {value!r}")
    return value


def check_memory(value: Any, field: str, *, pinned: bool = True) -> str:
    """Qdrant's ``Memory`` placement: cold, cached or (where Qdrant allows it) pinned."""
    allowed = MEMORY if pinned else MEMORY[:2]
    if not isinstance(value, str) or value.lower() not in MEMORY:
        raise ValidationError(field, f"expected one of {', '.join(allowed)}, got {value!r}")
    if value.lower() not in allowed:
        raise ValidationError(field, f"{value!r} is not supported here; use cold or cached")
    return value.lower()


def _placement(value: Any, field: str, *, pinned: bool) -> dict[str, Any]:
    """``PayloadStorageParams`` / ``IdTrackerParams``: ``{memory}``."""
    obj = _object(value, field)
    _unknown(obj, ("memory",), field)
    if obj.get("memory") is None:
        return {}
    return {"memory": check_memory(obj["memory"], f"{field}.memory", pinned=pinned)}


def check_wal(value: Any, field: str = "wal_config") -> dict[str, Any]:
    """Qdrant's ``WalConfigDiff`` (nulls dropped)."""
    obj = _object(value, field)
    _unknown(obj, WAL_LIMITS, field)
    return {
        k: check_int_range(v, f"{field}.{k}", *WAL_LIMITS[k])
        for k, v in obj.items()
        if v is not None
    }


def check_optimizers(value: Any, field: str = "optimizers_config") -> dict[str, Any]:
    """Qdrant's ``OptimizersConfigDiff`` (nulls dropped)."""
    obj = _object(value, field)
    _unknown(obj, OPTIMIZER_KEYS, field)
    out: dict[str, Any] = {}
    for key, v in obj.items():
        sub = f"{field}.{key}"
        if v is None:
            continue
        if key in OPTIMIZER_MINIMUMS:
            out[key] = check_int_range(v, sub, OPTIMIZER_MINIMUMS[key], USIZE_MAX)
        elif key == "deleted_threshold":
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
                raise ValidationError(sub, f"expected a number in [0, 1], got {v!r}")
            out[key] = v
        elif key == "max_optimization_threads":
            out[key] = v if v == "auto" else check_int_range(v, sub, 0, USIZE_MAX)
        else:
            out[key] = _bool(v, sub)
    return out


#: Qdrant's ``StrictModeConfig``: integer fields and their minimum; flags; the rest.
STRICT_INTS = {
    "max_query_limit": 1,
    "max_timeout": 1,
    "search_max_hnsw_ef": 0,
    "upsert_max_batchsize": 0,
    "search_max_batchsize": 0,
    "max_collection_vector_size_bytes": 0,
    "read_rate_limit": 1,
    "write_rate_limit": 1,
    "max_collection_payload_size_bytes": 0,
    "max_points_count": 1,
    "filter_max_conditions": 0,
    "condition_max_size": 0,
    "max_payload_index_count": 0,
    "max_resident_memory_percent": 1,
}
STRICT_FLAGS = frozenset(
    {"enabled", "unindexed_filtering_retrieve", "unindexed_filtering_update", "search_allow_exact"}
)
#: Per-vector limits: field -> the one key of each vector's object.
STRICT_PER_VECTOR = {"multivector_config": "max_vectors", "sparse_config": "max_length"}


def check_strict_mode(value: Any, field: str = "strict_mode_config") -> dict[str, Any]:
    """Qdrant's ``StrictModeConfig``, field by field: kept while it is not enabled; enabling
    it is refused (its limits are not enforced here, and silently not enforcing them would
    be wrong)."""
    obj = _object(value, field)
    known = {*STRICT_INTS, *STRICT_FLAGS, *STRICT_PER_VECTOR, "search_max_oversampling"}
    _unknown(obj, known, field)
    if obj.get("enabled") is True:
        raise ValidationError(f"{field}.enabled", "strict mode is not supported")
    out: dict[str, Any] = {}
    for key, v in obj.items():
        sub = f"{field}.{key}"
        if v is None:
            continue
        if key in STRICT_INTS:
            top = 100 if key == "max_resident_memory_percent" else USIZE_MAX
            out[key] = check_int_range(v, sub, STRICT_INTS[key], top)
        elif key in STRICT_FLAGS:
            out[key] = _bool(v, sub)
        elif key == "search_max_oversampling":
            check_number_range(v, sub, 1.0, float(USIZE_MAX))
            out[key] = v
        else:
            inner = STRICT_PER_VECTOR[key]
            per = _object(v, sub)
            for name, limits in per.items():
                limits = _object(limits, f"{sub}.{name}")
                _unknown(limits, (inner,), f"{sub}.{name}")
                if limits.get(inner) is not None:
                    check_int_range(limits[inner], f"{sub}.{name}.{inner}", 1, USIZE_MAX)
            out[key] = dict(per)
    return out


def check_params(body: Mapping[str, Any], field_prefix: str = "") -> dict[str, Any]:
    """The collection parameters of a create body (top level) or of PATCH's ``params``
    (``field_prefix="params."``): the integer limits, ``on_disk_payload``, ``payload``,
    ``id_tracker`` and ``sharding_method``. Returns the given ones, checked."""
    out: dict[str, Any] = {}
    for key, (minimum, maximum) in PARAM_LIMITS.items():
        if body.get(key) is not None:
            out[key] = check_int_range(body[key], f"{field_prefix}{key}", minimum, maximum)
    if body.get("on_disk_payload") is not None:
        out["on_disk_payload"] = _bool(body["on_disk_payload"], f"{field_prefix}on_disk_payload")
    if body.get("payload") is not None:
        # Qdrant: "pinned is not supported for payload storage"
        out["payload"] = _placement(body["payload"], f"{field_prefix}payload", pinned=False)
    if body.get("id_tracker") is not None:
        out["id_tracker"] = _placement(body["id_tracker"], f"{field_prefix}id_tracker", pinned=True)
    method = body.get("sharding_method")
    if method is not None:
        if method == "custom":
            raise ValidationError(
                f"{field_prefix}sharding_method",
                "custom sharding is not supported (one shard per collection)",
            )
        if method != "auto":
            raise ValidationError(
                f"{field_prefix}sharding_method", f"expected auto or custom, got {method!r}"
            )
        out["sharding_method"] = method
    return out


#: The keys of PATCH's ``params`` (Qdrant's ``CollectionParamsDiff``).
PATCH_PARAM_KEYS = frozenset(
    {
        "replication_factor",
        "write_consistency_factor",
        "read_fan_out_factor",
        "read_fan_out_delay_ms",
        "on_disk_payload",
        "payload",
        "id_tracker",
    }
)


def check_patch_params(value: Any) -> dict[str, Any]:
    """PATCH's ``params`` (``CollectionParamsDiff``): known keys only, checked."""
    obj = _object(value, "params")
    _unknown(obj, PATCH_PARAM_KEYS, "params")
    return check_params(obj, "params.")


#: Qdrant's quantization configs: kind -> {field: allowed values (None: any of its type)}.
_QUANTIZATION: dict[str, dict[str, tuple[Any, ...] | type | None]] = {
    "scalar": {"type": ("int8",), "quantile": float, "always_ram": bool, "memory": MEMORY},
    "product": {
        "compression": ("x4", "x8", "x16", "x32", "x64"),
        "always_ram": bool,
        "memory": MEMORY,
    },
    "binary": {
        "always_ram": bool,
        "memory": MEMORY,
        "encoding": ("one_bit", "two_bits", "one_and_half_bits"),
        "query_encoding": ("default", "binary", "scalar4bits", "scalar8bits"),
    },
    "turbo": {"always_ram": bool, "memory": MEMORY, "bits": ("bits1", "bits1_5", "bits2", "bits4")},
}
_QUANTIZATION_REQUIRED = {"scalar": ("type",), "product": ("compression",)}


def check_quantization(value: Any, field: str = "quantization_config") -> dict[str, Any]:
    """Qdrant's ``QuantizationConfig`` (scalar, product, binary or turbo), checked field by
    field: it is echoed in collection info, which qdrant-client parses with models that
    refuse unknown fields, so a malformed one would make the collection unreadable."""
    obj = _object(value, field)
    if len(obj) != 1 or next(iter(obj)) not in _QUANTIZATION:
        raise ValidationError(field, f"expected one of {{{'}, {'.join(_QUANTIZATION)}}}")
    kind, spec = next(iter(obj.items()))
    sub = f"{field}.{kind}"
    spec = _object(spec, sub)
    allowed = _QUANTIZATION[kind]
    _unknown(spec, allowed, sub)
    for key in _QUANTIZATION_REQUIRED.get(kind, ()):
        if spec.get(key) is None:
            raise ValidationError(f"{sub}.{key}", "missing")
    out: dict[str, Any] = {}
    for key, v in spec.items():
        if v is None:
            continue
        rule = allowed[key]
        if rule is bool:
            _bool(v, f"{sub}.{key}")
        elif rule is float:
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0.5 <= v <= 1:
                raise ValidationError(f"{sub}.{key}", f"expected a number in [0.5, 1], got {v!r}")
        elif isinstance(rule, tuple) and v not in rule:
            raise ValidationError(f"{sub}.{key}", f"expected one of {', '.join(rule)}, got {v!r}")
        out[key] = v
    return {kind: out}


# -- index build parameters ------------------------------------------------------------------
#: Largest vector size (Qdrant's bound on ``VectorParams.size``); also the largest dimension
#: of the vectors an index derives (MUVERA's final projection).
MAX_VECTOR_SIZE = 65_536
#: Largest HNSW ``M`` (Qdrant's ``m``): each node keeps ``2 * M`` int32 links on layer 0, and
#: the graph allocates them for 1,024 nodes at a time (8 MB at this bound).
MAX_HNSW_M = 1_024
#: Largest HNSW ``ef_construction`` (Qdrant's ``ef_construct``): the build beam width.
MAX_EF_CONSTRUCTION = 4_096
#: Largest beam width and candidate count a search (or an index's default) may ask for;
#: search-time values above it are clamped to it (Qdrant accepts any ``hnsw_ef``).
MAX_SEARCH_BEAM = 65_536
#: Largest candidates-per-hit multiplier (oversampling, shortlist, k_factor); search-time
#: values above it are clamped to it.
MAX_OVERSAMPLING = 1_000.0
#: Largest IVF list count, and the most floats its centroids may take (``nlist * dim``:
#: 256 MB of float32).
MAX_NLIST = 65_536
MAX_IVF_CENTROID_FLOATS = 1 << 26
#: Largest MUVERA encoding before the final projection (``r_reps * 2**k_sim * d_proj``,
#: ``d_proj`` the vector size when 0): 512 KB of float32 per document.
MAX_FDE_DIM = 1 << 17
#: Iteration counts (k-means, PQ, OPQ rounds): bounded so one create cannot ask for a
#: build that never ends.
MAX_ITERATIONS = 1_000
MAX_SEED = U32_MAX


def check_vector_size(value: Any, field: str = "vectors.size") -> int:
    """A vector size: an integer in ``[1, MAX_VECTOR_SIZE]`` (Qdrant's 65,536)."""
    return check_int_range(value, field, 1, MAX_VECTOR_SIZE)


_SEED = Bound("int", 0, MAX_SEED)
_FRACTION = Bound("float", 0.0, 1.0, open_low=True)
_HNSW_GRAPH = {
    "M": Bound("int", 2, MAX_HNSW_M),
    "ef_construction": Bound("int", 1, MAX_EF_CONSTRUCTION),
    "seed": _SEED,
}
#: Every numeric build parameter of every index type, by type: its range. (Flags and
#: choices -- ``keep_vectors``, ``scoring``, ``codec``... -- are checked by the index's own
#: config class, which names them.)
INDEX_BOUNDS: dict[str, dict[str, Bound]] = {
    "flat": {},
    "hnsw": {
        **_HNSW_GRAPH,
        "ef_search": Bound("int", 1, MAX_SEARCH_BEAM),
        "max_batch": Bound("int", 1, 1 << 20),
        "batch_fraction": _FRACTION,
        "consolidate_fraction": _FRACTION,
        "exact_filter_ratio": Bound("float", 0.0, 1e6),
    },
    "hnsw_binary": dict(_HNSW_GRAPH),
    "ivf_pq": {
        "nlist": Bound("int", 1, MAX_NLIST),
        "m": Bound("int", 1, MAX_VECTOR_SIZE),
        "nbits": Bound("int", 4, 8),
        "opq_rounds": Bound("int", 1, MAX_ITERATIONS),
        "kmeans_iter": Bound("int", 1, MAX_ITERATIONS),
        "pq_iter": Bound("int", 1, MAX_ITERATIONS),
        "max_points_per_centroid": Bound("int", 1, 1 << 16),
        "seed": _SEED,
    },
    "binary": {"bits": Bound("int", 1, 4)},
    "spann": {
        "head_ratio": _FRACTION,
        "replica_count": Bound("int", 1, 255),
        "rng_factor": Bound("float", 0.0, 1_000.0, open_low=True),
        "closure_ratio": Bound("float", 1.0, 1_000.0),
        "posting_vector_limit": Bound("int", 4, 1 << 16),
        "build_candidates": Bound("int", 1, MAX_EF_CONSTRUCTION),
        "reassign_candidates": Bound("int", 1, MAX_EF_CONSTRUCTION),
        "branching": Bound("int", 2, 1_024),
        "head_M": Bound("int", 2, MAX_HNSW_M),
        "head_ef_construction": Bound("int", 1, MAX_EF_CONSTRUCTION),
        "slack": Bound("float", 0.0, 10.0),
        "max_train_points": Bound("int", 1, 10_000_000),
        "chunk_rows": Bound("int", 1, 1 << 20),
        "kmeans_iter": Bound("int", 1, MAX_ITERATIONS),
        "compact_fraction": _FRACTION,
        "seed": _SEED,
    },
    "muvera": {
        **_HNSW_GRAPH,
        "r_reps": Bound("int", 1, 4_096),
        "k_sim": Bound("int", 0, 16),
        "d_proj": Bound("int", 0, MAX_VECTOR_SIZE),
        "final_dim": Bound("int", 0, MAX_VECTOR_SIZE),
        "candidates": Bound("int", 1, MAX_SEARCH_BEAM),
        "seed": _SEED,
    },
}


def check_index_bounds(
    type_name: str, dim: int, params: Mapping[str, Any], fields: Mapping[str, str]
) -> None:
    """Check the build parameters ``params`` of an index of type ``type_name`` over
    ``dim``-dimensional vectors against :data:`INDEX_BOUNDS` and the limits that combine
    several of them (IVF centroids, MUVERA's encoding). ``fields[name]`` is how the request
    named parameter ``name`` (errors name it so); types without bounds pass."""
    bounds = INDEX_BOUNDS.get(type_name)
    if bounds is None:
        return
    for name, value in params.items():
        if name in bounds:
            bounds[name].check(value, fields.get(name, name))
    if type_name == "ivf_pq":
        nlist = int(params.get("nlist", 1))
        if nlist * dim > MAX_IVF_CENTROID_FLOATS:
            raise ValidationError(
                fields.get("nlist", "nlist"),
                f"nlist * vector size must be at most {MAX_IVF_CENTROID_FLOATS} (the centroids' "
                f"float32 values); got {nlist} * {dim}; at this size nlist <= "
                f"{MAX_IVF_CENTROID_FLOATS // dim}",
            )
    if type_name == "muvera":
        d_proj = int(params.get("d_proj", 16)) or dim
        fde = int(params.get("r_reps", 20)) * (1 << int(params.get("k_sim", 5))) * d_proj
        if fde > MAX_FDE_DIM:
            raise ValidationError(
                fields.get("r_reps", "r_reps"),
                f"r_reps * 2**k_sim * d_proj (d_proj 0: the vector size) must be at most "
                f"{MAX_FDE_DIM}, got {fde}",
            )
