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

from collections.abc import Mapping
from typing import Any

from vecsearch.errors import ValidationError
from vecsearch.validate import check_int

MEMORY = ("cold", "cached", "pinned")

#: (minimum, maximum) of the integer fields of Qdrant's ``WalConfigDiff``.
WAL_LIMITS = {
    "wal_capacity_mb": (1, None),
    "wal_segments_ahead": (0, None),
    "wal_retain_closed": (0, None),
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
#: Integer collection parameters (``CreateCollection`` / ``CollectionParamsDiff``), minimum.
PARAM_MINIMUMS = {
    "shard_number": 1,
    "replication_factor": 1,
    "write_consistency_factor": 1,
    "read_fan_out_factor": 0,
    "read_fan_out_delay_ms": 0,
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
        k: check_int(v, f"{field}.{k}", minimum=WAL_LIMITS[k][0])
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
            out[key] = check_int(v, sub, minimum=OPTIMIZER_MINIMUMS[key])
        elif key == "deleted_threshold":
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
                raise ValidationError(sub, f"expected a number in [0, 1], got {v!r}")
            out[key] = v
        elif key == "max_optimization_threads":
            out[key] = v if v == "auto" else check_int(v, sub, minimum=0)
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
            out[key] = check_int(v, sub, minimum=STRICT_INTS[key])
            if key == "max_resident_memory_percent" and v > 100:
                raise ValidationError(sub, f"expected at most 100, got {v}")
        elif key in STRICT_FLAGS:
            out[key] = _bool(v, sub)
        elif key == "search_max_oversampling":
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ValidationError(sub, f"expected a number, got {v!r}")
            out[key] = v
        else:
            inner = STRICT_PER_VECTOR[key]
            per = _object(v, sub)
            for name, limits in per.items():
                limits = _object(limits, f"{sub}.{name}")
                _unknown(limits, (inner,), f"{sub}.{name}")
                if limits.get(inner) is not None:
                    check_int(limits[inner], f"{sub}.{name}.{inner}", minimum=1)
            out[key] = dict(per)
    return out


def check_params(body: Mapping[str, Any], field_prefix: str = "") -> dict[str, Any]:
    """The collection parameters of a create body (top level) or of PATCH's ``params``
    (``field_prefix="params."``): the integer limits, ``on_disk_payload``, ``payload``,
    ``id_tracker`` and ``sharding_method``. Returns the given ones, checked."""
    out: dict[str, Any] = {}
    for key, minimum in PARAM_MINIMUMS.items():
        if body.get(key) is not None:
            out[key] = check_int(body[key], f"{field_prefix}{key}", minimum=minimum)
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
