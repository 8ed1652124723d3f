"""Qdrant's collection bodies -> :class:`~vecsearch.config.CollectionConfig`.

Create (``PUT /collections/{name}``)::

    {"vectors": {"size": 384, "distance": "Cosine"},                 # the unnamed vector, or
     "vectors": {"text": {"size": 384, "distance": "Cosine"},        # named vectors, each with
                 "image": {"size": 512, "distance": "Dot",           # its own size, distance,
                           "hnsw_config": {"m": 32}}},               # hnsw_config, ...
     "hnsw_config": {"m": 16, "ef_construct": 200, "full_scan_threshold": 10000},
     "index": {"type": "hnsw", "params": {"M": 32}}}                 # vecsearch's extension

Index parameters of a space come from, highest precedence first: its own ``index.params``
(vecsearch's extension, also accepted inside a vector's params), the vector's
``hnsw_config``, the collection's ``hnsw_config`` (Qdrant's ``m`` / ``ef_construct``, for the
index types that build an HNSW graph). ``m: 0`` means "no graph" in Qdrant: such a space
gets the exact ``flat`` index, unless an index type was chosen explicitly. A top-level
``index`` applies to every space whose kind (single- or multi-vector) it fits.

Update (``PATCH /collections/{name}``, :func:`parse_patch`): a vector's ``hnsw_config``,
``on_disk``, ``quantization_config`` (and vecsearch's ``index``), the collection's
``hnsw_config``, ``optimizers_config``, ``params``, ``quantization_config``,
``strict_mode_config`` and ``metadata``. Sizes, distances and multi-vector settings cannot
change (as in Qdrant). The caller rebuilds the index of every space whose index changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from vecsearch.config import (
    DEFAULT_FULL_SCAN_THRESHOLD_KB,
    CollectionConfig,
    Distance,
    IndexConfig,
    SpaceConfig,
    SparseSpaceConfig,
    parse_multivector,
)
from vecsearch.config_checks import (
    INT64_MAX,
    MAX_EF_CONSTRUCTION,
    MAX_HNSW_M,
    MAX_VECTOR_SIZE,
    USIZE_MAX,
    check_int_range,
    check_memory,
    check_optimizers,
    check_params,
    check_patch_params,
    check_quantization,
    check_strict_mode,
    check_vector_size,
    check_wal,
)
from vecsearch.errors import ValidationError
from vecsearch.registry import default_index_type, get_index_type

#: Qdrant create-collection fields kept as given, without effect (echoed in info).
QDRANT_ONLY_FIELDS = frozenset(
    {
        "shard_number",
        "sharding_method",
        "replication_factor",
        "write_consistency_factor",
        "on_disk_payload",
        "payload",
        "id_tracker",
        "optimizers_config",
        "wal_config",
        "quantization_config",
        "strict_mode_config",
        "metadata",
    }
)
#: Accepted and dropped (they describe how to create, not what is created).
_CREATE_ONLY = frozenset({"init_from", "timeout"})
_VECTOR_FIELDS = frozenset(
    {
        "size",
        "distance",
        "on_disk",
        "memory",
        "hnsw_config",
        "quantization_config",
        "multivector_config",
        "datatype",
        "index",
    }
)
#: (minimum, maximum) of Qdrant's ``HnswConfigDiff``: the minimums are its OpenAPI schema's;
#: the maximums bound the graph this builds (``m``, ``ef_construct``; ``payload_m`` as ``m``),
#: keep the planner's int64 arithmetic exact (``full_scan_threshold``, KB) or are Qdrant's
#: ``usize`` (``max_indexing_threads``, echoed only).
_HNSW_FIELDS = {
    "m": (0, MAX_HNSW_M),
    "ef_construct": (4, MAX_EF_CONSTRUCTION),
    "full_scan_threshold": (10, INT64_MAX // 1024),
    "max_indexing_threads": (0, USIZE_MAX),
    "payload_m": (0, MAX_HNSW_M),
}
#: (not ``copy_vectors``: no Qdrant schema has it, and echoed in a vector's hnsw_config it
#: made qdrant-client's HnswConfigDiff, which forbids unknown fields, refuse collection info)
_HNSW_FLAGS = frozenset({"on_disk", "inline_storage"})
#: Qdrant's hnsw_config keys that become index build parameters (through the type's aliases).
_HNSW_BUILD_KEYS = ("m", "ef_construct")
#: Longest vector name accepted.
MAX_NAME = 255
#: Largest vector size Qdrant accepts (its validation of ``VectorParams.size``).
MAX_SIZE = MAX_VECTOR_SIZE


def _hnsw(cfg: Any, field: str) -> dict[str, Any] | None:
    """A checked Qdrant ``hnsw_config`` (nulls dropped), or None."""
    if cfg is None:
        return None
    if not isinstance(cfg, Mapping):
        raise ValidationError(field, "expected an object")
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        if value is None:
            continue
        if key in _HNSW_FIELDS:
            out[key] = check_int_range(value, f"{field}.{key}", *_HNSW_FIELDS[key])
        elif key == "memory":  # where Qdrant keeps the graph; all of it is in RAM here
            out[key] = check_memory(value, f"{field}.{key}")
        elif key in _HNSW_FLAGS:
            if not isinstance(value, bool):
                raise ValidationError(f"{field}.{key}", f"expected true or false, got {value!r}")
            out[key] = value
        else:
            raise ValidationError(f"{field}.{key}", "unknown hnsw_config field")
    return out


def _index_spec(spec: Any, field: str) -> tuple[str | None, dict[str, Any]]:
    """``(type or None, params)`` of vecsearch's ``index: {type, params}``."""
    if spec is None:
        return None, {}
    if not isinstance(spec, Mapping):
        raise ValidationError(field, "expected an object {type, params}")
    extra = set(spec) - {"type", "params"}
    if extra:
        raise ValidationError(f"{field}.{sorted(extra)[0]}", "unknown field; expected type, params")
    params = spec.get("params")
    if params is not None and not isinstance(params, Mapping):
        raise ValidationError(f"{field}.params", "expected an object")
    type_ = spec.get("type")
    if type_ is not None and not isinstance(type_, str):
        raise ValidationError(f"{field}.type", f"expected a string, got {type_!r}")
    return type_, dict(params or {})


def _resolve_index(
    type_: str | None,
    explicit: Mapping[str, Any],
    hnsw_layers: list[dict[str, Any] | None],
    size: int,
    multivector: bool,
    field: str,
) -> IndexConfig:
    """The space's index: its type (default by kind; ``m: 0`` -> flat), its parameters."""
    merged: dict[str, Any] = {}
    for layer in hnsw_layers:  # collection first, then the vector's: later wins
        for key in _HNSW_BUILD_KEYS:
            if layer and key in layer:
                merged[key] = layer[key]
    name = type_
    if name is None:
        name = default_index_type(multivector)
        if merged.get("m") == 0 and not multivector:
            name = "flat"  # Qdrant's m=0: no graph
    itype = get_index_type(name)
    params = {k: v for k, v in merged.items() if k in itype.build_aliases and v != 0}
    params.update(explicit)
    return IndexConfig.resolve(name, params, size, field, multivector=multivector)


def _space(
    name: str,
    sid: int,
    body: Any,
    field: str,
    top_index: tuple[str | None, dict[str, Any]],
    top_hnsw: dict[str, Any] | None,
    *,
    only: bool = False,
) -> SpaceConfig:
    """One space from its vector params; ``only``: the collection's one unnamed vector, to
    which the top-level ``index`` applies whatever its kind (a mismatch is an error)."""
    if not isinstance(body, Mapping):
        raise ValidationError(field, "expected an object {size, distance}")
    extra = set(body) - _VECTOR_FIELDS
    if extra:
        raise ValidationError(f"{field}.{sorted(extra)[0]}", "unknown vector config field")
    if body.get("datatype") not in (None, "float32", "Float32"):
        raise ValidationError(f"{field}.datatype", "only float32 vectors are supported")
    size = check_vector_size(body.get("size"), f"{field}.size")
    distance = Distance.parse(body.get("distance"), f"{field}.distance")
    comparator = parse_multivector(body.get("multivector_config"), distance, field)
    multi = comparator is not None
    hnsw = _hnsw(body.get("hnsw_config"), f"{field}.hnsw_config")
    own_type, own_params = _index_spec(body.get("index"), f"{field}.index")
    index_field = f"{field}.index"
    if own_type is None and not own_params:
        own_type, own_params = top_index
        index_field = "index"
        if not only and own_type is not None and get_index_type(own_type).multivector != multi:
            own_type, own_params = None, {}  # the top-level index fits the other kind
    threshold = DEFAULT_FULL_SCAN_THRESHOLD_KB
    for layer in (top_hnsw, hnsw):
        if layer and "full_scan_threshold" in layer:
            threshold = layer["full_scan_threshold"]
    on_disk = body.get("on_disk")
    if on_disk is not None and not isinstance(on_disk, bool):
        raise ValidationError(f"{field}.on_disk", f"expected true or false, got {on_disk!r}")
    memory = _memory(body.get("memory"), f"{field}.memory", pinned=False)
    quant = body.get("quantization_config")
    if quant is not None:
        quant = check_quantization(quant, f"{field}.quantization_config")
    return SpaceConfig(
        name=name,
        id=sid,
        size=size,
        distance=distance,
        index=_resolve_index(own_type, own_params, [top_hnsw, hnsw], size, multi, index_field),
        multivector=comparator,
        full_scan_threshold_kb=threshold,
        hnsw_config=hnsw,
        quantization_config=quant,
        on_disk=on_disk,
        memory=memory,
        datatype=body.get("datatype"),
    )


def _memory(value: Any, field: str, *, pinned: bool = True) -> str | None:
    """Qdrant's ``memory`` placement (stored and echoed; vectors stay in RAM here). Qdrant
    refuses ``pinned`` for dense vector storage (``pinned=False``)."""
    if value is None:
        return None
    return check_memory(value, field, pinned=pinned)


def check_vector_name(name: Any, field: str) -> str:
    """A vector name: a string of at most :data:`MAX_NAME` characters."""
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise ValidationError(field, f"vector names are strings of at most {MAX_NAME} characters")
    return name


def parse_create(body: Mapping[str, Any]) -> CollectionConfig:
    """Validated configuration from a create-collection body (see module docstring)."""
    if not isinstance(body, Mapping):
        raise ValidationError("", "collection config must be a JSON object")
    unknown = set(body) - {"vectors", "hnsw_config", "index", "sparse_vectors"}
    unknown -= QDRANT_ONLY_FIELDS | _CREATE_ONLY
    if unknown:
        raise ValidationError(sorted(unknown)[0], "unknown collection config field")
    raw_sparse = body.get("sparse_vectors")
    vectors = body.get("vectors")
    if vectors is None and raw_sparse:
        vectors = {}  # a sparse-only collection
    if not isinstance(vectors, Mapping) or (not vectors and not raw_sparse):
        raise ValidationError(
            "vectors", "expected an object {size, distance} or {name: {size, distance}, ...}"
        )
    top_hnsw = _hnsw(body.get("hnsw_config"), "hnsw_config")
    top_index = _index_spec(body.get("index"), "index")
    named = not vectors or ("size" not in vectors and "distance" not in vectors)
    if named:
        spaces = tuple(
            _space(check_vector_name(n, "vectors"), i, v, f"vectors.{n}", top_index, top_hnsw)
            for i, (n, v) in enumerate(vectors.items())
        )
    else:
        spaces = (_space("", 0, vectors, "vectors", top_index, top_hnsw, only=True),)
    if top_index[0] is not None and not any(
        get_index_type(top_index[0]).multivector == s.is_multivector for s in spaces
    ):
        kind = "multi" if get_index_type(top_index[0]).multivector else "single"
        raise ValidationError(
            "index.type", f"index type {top_index[0]!r} is for {kind}-vector spaces; none here"
        )
    qdrant = _qdrant_settings(body)
    sparse = _sparse_spaces(raw_sparse, len(spaces), {s.name for s in spaces})
    return CollectionConfig(
        spaces, named=named, hnsw_config=top_hnsw or {}, qdrant=qdrant, sparse=sparse
    )


def _qdrant_settings(body: Mapping[str, Any]) -> dict[str, Any]:
    """The create body's Qdrant settings kept without effect, checked with Qdrant's limits
    (:mod:`vecsearch.config_checks` says which are echoed and which refused)."""
    out = check_params(body)
    if body.get("optimizers_config") is not None:
        out["optimizers_config"] = check_optimizers(body["optimizers_config"])
    if body.get("wal_config") is not None:
        out["wal_config"] = check_wal(body["wal_config"])
    if body.get("strict_mode_config") is not None:
        out["strict_mode_config"] = check_strict_mode(body["strict_mode_config"])
    if body.get("quantization_config") is not None:
        out["quantization_config"] = check_quantization(body["quantization_config"])
    if body.get("metadata") is not None:
        if not isinstance(body["metadata"], Mapping):
            raise ValidationError("metadata", "expected an object")
        out["metadata"] = body["metadata"]
    return out


_SPARSE_FIELDS = frozenset({"index", "modifier"})
_SPARSE_INDEX_FIELDS = frozenset({"full_scan_threshold", "on_disk", "datatype", "memory"})


def _modifier(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value.lower() not in ("idf", "none"):
        raise ValidationError(field, f"expected 'idf' or 'none', got {value!r}")
    return "idf" if value.lower() == "idf" else None


def _sparse_index(value: Any, field: str) -> dict[str, Any] | None:
    """Qdrant's ``SparseIndexParams``, checked and kept as given (nulls dropped)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValidationError(field, "expected an object {full_scan_threshold, on_disk, ...}")
    out: dict[str, Any] = {}
    for key, v in value.items():
        sub = f"{field}.{key}"
        if v is None:
            continue
        if key not in _SPARSE_INDEX_FIELDS:
            raise ValidationError(sub, "unknown sparse index field")
        if key == "full_scan_threshold":
            out[key] = check_int_range(v, sub, 0, USIZE_MAX)
        elif key == "on_disk":
            if not isinstance(v, bool):
                raise ValidationError(sub, f"expected true or false, got {v!r}")
            out[key] = v
        elif key == "datatype":
            if v not in ("float32", "Float32"):
                raise ValidationError(sub, "only float32 sparse values are supported")
            out[key] = "float32"
        else:
            out[key] = _memory(v, sub)
    return out or None


def _sparse_one(name: str, sid: int, body: Any, field: str) -> SparseSpaceConfig:
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise ValidationError(field, "expected an object {index, modifier}")
    extra = set(body) - _SPARSE_FIELDS
    if extra:
        raise ValidationError(f"{field}.{sorted(extra)[0]}", "unknown sparse vector field")
    return SparseSpaceConfig(
        name=name,
        id=sid,
        modifier=_modifier(body.get("modifier"), f"{field}.modifier"),
        index_params=_sparse_index(body.get("index"), f"{field}.index"),
    )


def _sparse_spaces(raw: Any, first_id: int, dense: set[str]) -> tuple[SparseSpaceConfig, ...]:
    """The ``sparse_vectors`` of a create body (names must differ from the dense ones)."""
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise ValidationError("sparse_vectors", "expected an object {name: {index, modifier}}")
    out = []
    for i, (name, body) in enumerate(raw.items()):
        field = f"sparse_vectors.{name}"
        check_vector_name(name, "sparse_vectors")
        if name == "":
            raise ValidationError("sparse_vectors", "sparse vectors need a non-empty name")
        if name in dense:
            raise ValidationError(field, f"{name!r} is already the name of a dense vector")
        out.append(_sparse_one(name, first_id + i, body, field))
    return tuple(out)


def _patch_sparse(config: CollectionConfig, raw: Any) -> tuple[SparseSpaceConfig, ...]:
    """The sparse spaces with a PATCH's ``sparse_vectors`` changes (index settings and the
    modifier; both act at query time, so nothing is rebuilt)."""
    if raw is None:
        return config.sparse
    if not isinstance(raw, Mapping):
        raise ValidationError("sparse_vectors", "expected an object {name: changes}")
    for name in raw:
        if config.sparse_space(name) is None:
            have = ", ".join(repr(s.name) for s in config.sparse) or "none"
            raise ValidationError(
                f"sparse_vectors.{name}", f"no sparse vector named {name!r}; have {have}"
            )
    out = []
    for sp in config.sparse:
        diff = raw.get(sp.name)
        if not diff:
            out.append(sp)
            continue
        new = _sparse_one(sp.name, sp.id, diff, f"sparse_vectors.{sp.name}")
        out.append(
            replace(
                sp,
                modifier=new.modifier if "modifier" in diff else sp.modifier,
                index_params=_merged(sp.index_params, new.index_params or {}) or None,
            )
        )
    return tuple(out)


_PATCH_FIELDS = frozenset(
    {
        "vectors",
        "hnsw_config",
        "optimizers_config",
        "params",
        "quantization_config",
        "sparse_vectors",
        "strict_mode_config",
        "metadata",
    }
)
_VECTOR_DIFF_FIELDS = frozenset(
    {"hnsw_config", "on_disk", "memory", "quantization_config", "index"}
)


def _merged(old: Mapping[str, Any] | None, diff: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(old or {})
    out.update(diff)
    return out


def _patch_space(
    space: SpaceConfig,
    diff: Mapping[str, Any],
    top_hnsw_diff: dict[str, Any] | None,
    collection_hnsw: dict[str, Any],
    field: str,
) -> SpaceConfig:
    """``space`` with a vector diff (and the collection's hnsw_config diff) applied."""
    if not isinstance(diff, Mapping):
        raise ValidationError(field, "expected an object {hnsw_config, on_disk, ...}")
    extra = set(diff) - _VECTOR_DIFF_FIELDS
    if extra:
        raise ValidationError(
            f"{field}.{sorted(extra)[0]}",
            "cannot be changed; PATCH takes hnsw_config, on_disk, quantization_config, index",
        )
    hnsw_diff = _hnsw(diff.get("hnsw_config"), f"{field}.hnsw_config")
    # the collection's hnsw_config changes what the vector's own hnsw_config does not set
    own = space.hnsw_config or {}
    inherited = {k: v for k, v in (top_hnsw_diff or {}).items() if k not in own}
    own_type, own_params = _index_spec(diff.get("index"), f"{field}.index")
    index = space.index
    if own_type is not None and own_type != index.type:
        # a new index type starts from its defaults, the hnsw settings and the given params
        index = _resolve_index(
            own_type,
            own_params,
            [collection_hnsw, space.hnsw_config, hnsw_diff],
            space.size,
            space.is_multivector,
            f"{field}.index",
        )
    else:
        itype = get_index_type(index.type)
        params = dict(index.params)
        for layer in (inherited, hnsw_diff):
            for key in _HNSW_BUILD_KEYS:
                if layer and key in layer and key in itype.build_aliases and layer[key] != 0:
                    params[itype.build_aliases[key]] = layer[key]
        params.update(own_params)
        if params != index.params:
            index = IndexConfig.resolve(
                index.type, params, space.size, f"{field}.index", multivector=space.is_multivector
            )
    new_hnsw = space.hnsw_config if hnsw_diff is None else _merged(space.hnsw_config, hnsw_diff)
    threshold = space.full_scan_threshold_kb
    for layer in (inherited, hnsw_diff):
        if layer and "full_scan_threshold" in layer:
            threshold = layer["full_scan_threshold"]
    on_disk = diff.get("on_disk", space.on_disk)
    if on_disk is not None and not isinstance(on_disk, bool):
        raise ValidationError(f"{field}.on_disk", f"expected true or false, got {on_disk!r}")
    quant = diff.get("quantization_config", space.quantization_config)
    if quant == "Disabled":
        quant = None
    elif "quantization_config" in diff and quant is not None:
        quant = check_quantization(quant, f"{field}.quantization_config")
    memory = _memory(diff.get("memory"), f"{field}.memory", pinned=False) or space.memory
    return replace(
        space,
        index=index,
        hnsw_config=new_hnsw,
        full_scan_threshold_kb=threshold,
        on_disk=on_disk,
        memory=memory,
        quantization_config=quant,
    )


def parse_patch(
    config: CollectionConfig, body: Mapping[str, Any]
) -> tuple[CollectionConfig, list[str]]:
    """``(new config, names of the spaces whose index must be rebuilt)`` for a PATCH body."""
    if not isinstance(body, Mapping):
        raise ValidationError("", "expected a JSON object")
    unknown = set(body) - _PATCH_FIELDS
    if unknown:
        raise ValidationError(sorted(unknown)[0], "unknown or unchangeable collection field")
    sparse = _patch_sparse(config, body.get("sparse_vectors"))
    top_diff = _hnsw(body.get("hnsw_config"), "hnsw_config")
    hnsw = _merged(config.hnsw_config, top_diff) if top_diff else dict(config.hnsw_config)
    vectors = body.get("vectors") or {}
    if not isinstance(vectors, Mapping):
        raise ValidationError("vectors", "expected an object {vector name: changes}")
    for name in vectors:
        config.space(check_vector_name(name, "vectors"), f"vectors.{name}")  # must exist
    spaces = []
    for space in config.spaces:
        diff = vectors.get(space.name) or {}
        spaces.append(_patch_space(space, diff, top_diff, hnsw, f"vectors.{space.name}"))
    qdrant = dict(config.qdrant)
    checks = {
        "optimizers_config": check_optimizers,
        "params": check_patch_params,
        "strict_mode_config": check_strict_mode,
    }
    for key, check in checks.items():
        value = body.get(key)
        if value is None:
            continue
        qdrant[key] = _merged(qdrant.get(key), check(value))
    if body.get("metadata") is not None:
        if not isinstance(body["metadata"], Mapping):
            raise ValidationError("metadata", "expected an object")
        # Qdrant's merge: a null removes the key
        merged = _merged(qdrant.get("metadata"), body["metadata"])
        qdrant["metadata"] = {k: v for k, v in merged.items() if v is not None}
    if "quantization_config" in body:
        q = body["quantization_config"]
        if q is None or q == "Disabled":
            qdrant.pop("quantization_config", None)
        else:
            qdrant["quantization_config"] = check_quantization(q)
    new = replace(config, spaces=tuple(spaces), hnsw_config=hnsw, qdrant=qdrant, sparse=sparse)
    changed = [s.name for s, o in zip(new.spaces, config.spaces, strict=True) if s.index != o.index]
    return new, changed
