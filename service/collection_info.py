"""Qdrant's ``CollectionInfo`` JSON from the engine's :meth:`Collection.describe` facts.

The wire format is the service's business: the engine says what it holds (points, vector
spaces with their index state, payload schema, settings as given); this module says it the
way Qdrant clients read it, plus a ``vecsearch`` section with what Qdrant has no words for
(index types and parameters per vector, whether an index is being rebuilt, relevance).

Status: ``green``, ``yellow`` while a vector's index is being rebuilt in the background (a
PATCH), ``red`` when the last rebuild failed (``optimizer_status: {"error": ...}``; the old
index keeps answering).
"""

from __future__ import annotations

from typing import Any

from vecsearch.config import DEFAULT_FULL_SCAN_THRESHOLD_KB, CollectionConfig, SpaceConfig
from vecsearch.registry import get_index_type

#: Optimizer settings reported to clients: an embedded single-segment engine has no
#: optimizer, but Qdrant clients expect the object (values given by the user are echoed).
OPTIMIZER_DEFAULTS = {
    "deleted_threshold": 0.2,
    "vacuum_min_vector_number": 1000,
    "default_segment_number": 1,
    "max_segment_size": None,
    "memmap_threshold": None,
    # not 0, which in Qdrant means "indexing disabled": here every point is indexed at once
    "indexing_threshold": None,
    "flush_interval_sec": 0,
    "max_optimization_threads": None,
}
#: Qdrant's WAL defaults: there is no Qdrant WAL here (the SQLite store journals its own
#: writes), but the schema wants ``wal_capacity_mb >= 1``, so Qdrant's defaults are shown.
WAL_DEFAULTS = {"wal_capacity_mb": 32, "wal_segments_ahead": 0}
#: Qdrant's default ``ef_construct``, reported when no vector builds an HNSW graph (Qdrant's
#: schema wants ``ef_construct >= 4`` even where ``m = 0`` says there is no graph).
DEFAULT_EF_CONSTRUCT = 100
#: Qdrant's default graph parameters.
QDRANT_HNSW_DEFAULTS = {"m": 16, "ef_construct": DEFAULT_EF_CONSTRUCT}
_PARAM_DEFAULTS = {
    "shard_number": 1,
    "replication_factor": 1,
    "write_consistency_factor": 1,
    "on_disk_payload": True,
}
_HNSW_KEYS = {"M": "m", "ef_construction": "ef_construct"}


def _graph_params(space: SpaceConfig) -> dict[str, Any]:
    """Qdrant's ``m`` / ``ef_construct`` of a space whose index builds an HNSW graph."""
    aliases = get_index_type(space.index.type).build_aliases
    return {
        qname: space.index.params[name]
        for name, qname in _HNSW_KEYS.items()
        if qname in aliases and name in space.index.params
    }


def _vector_params(space: SpaceConfig) -> dict[str, Any]:
    """A space's ``VectorParams``; its own ``hnsw_config`` (when it has one, as in Qdrant)
    shows the graph parameters in effect."""
    out = space.vector_params()
    if space.hnsw_config is not None:
        out["hnsw_config"] = {**space.hnsw_config, **_graph_params(space)}
    return out


def _hnsw_config(config: CollectionConfig) -> dict[str, Any]:
    hnsw: dict[str, Any] = {
        "m": 0,  # Qdrant's way of saying "no HNSW graph"
        "ef_construct": DEFAULT_EF_CONSTRUCT,
        "full_scan_threshold": (
            config.spaces[0].full_scan_threshold_kb
            if config.spaces
            else DEFAULT_FULL_SCAN_THRESHOLD_KB
        ),
        "max_indexing_threads": 0,
        "on_disk": False,
    }
    # the collection's hnsw_config is what the vectors without their own one use (Qdrant's
    # meaning): their graph parameters in effect, else Qdrant's defaults once any graph exists
    graphs = [_graph_params(s) for s in config.spaces]
    inherited = [g for g, s in zip(graphs, config.spaces, strict=True) if g and not s.hnsw_config]
    if inherited:
        hnsw.update(inherited[0])
    elif any(graphs):
        hnsw.update(QDRANT_HNSW_DEFAULTS)
    hnsw.update(config.hnsw_config)
    return hnsw


def collection_info(desc: dict[str, Any]) -> dict[str, Any]:
    """Qdrant's ``CollectionInfo`` (see module docstring)."""
    config: CollectionConfig = desc["config"]
    spaces = desc["spaces"]
    qdrant = config.qdrant
    if config.named:
        vectors: Any = {s.name: _vector_params(s) for s in config.spaces}
    else:
        vectors = _vector_params(config.spaces[0])
    params: dict[str, Any] = {"vectors": vectors}
    if config.sparse:
        params["sparse_vectors"] = {s.name: s.sparse_params() for s in config.sparse}
    for key, default in _PARAM_DEFAULTS.items():
        params[key] = qdrant.get(key, default)
    for key in ("sharding_method", "payload", "id_tracker"):
        if qdrant.get(key) is not None:
            params[key] = qdrant[key]
    for key, value in (qdrant.get("params") or {}).items():  # PATCH's, over the create's
        params[key] = value
    error = desc["optimizer_error"]
    rebuilding = any(s["rebuilding"] for s in spaces.values())
    status = "red" if error else ("yellow" if rebuilding else "green")
    out_config: dict[str, Any] = {
        "params": params,
        "hnsw_config": _hnsw_config(config),
        "optimizer_config": {**OPTIMIZER_DEFAULTS, **(qdrant.get("optimizers_config") or {})},
        "wal_config": {**WAL_DEFAULTS, **(qdrant.get("wal_config") or {})},
        "quantization_config": qdrant.get("quantization_config"),
    }
    for key in ("strict_mode_config", "metadata"):
        if qdrant.get(key) is not None:
            out_config[key] = qdrant[key]
    unnamed = spaces.get("")
    created = {"created_at": qdrant["created_at"]} if qdrant.get("created_at") else {}
    return {
        **created,
        "status": status,
        "optimizer_status": {"error": error} if error else "ok",
        "points_count": desc["points_count"],
        "indexed_vectors_count": sum(s["indexed_vectors_count"] for s in spaces.values()),
        "segments_count": 1,
        "config": out_config,
        "payload_schema": desc["payload_schema"],
        "vecsearch": {
            # the unnamed vector's index, where collections of one vector always had it
            **({"index": unnamed["index"]} if unnamed is not None else {}),
            "vectors": spaces,
            "seq": desc["seq"],
            "uuid": desc["uuid"],
            "relevance": desc["relevance"],
        },
    }
