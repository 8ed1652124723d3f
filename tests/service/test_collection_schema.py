"""Collection info conforms to Qdrant's schema for every index type: ``GET /collections/{c}``
parses as qdrant-client's ``CollectionInfo`` in strict mode, and meets the numeric limits and
the field lists of Qdrant's OpenAPI schemas, which qdrant-client's pydantic models do not
enforce (so they are written down here).

Source of :data:`SCHEMAS`: Qdrant's OpenAPI specification, docs/redoc/v1.19.x/openapi.json
in github.com/qdrant/qdrant, ``components.schemas``: ``CollectionInfo``,
``CollectionConfig``, ``CollectionParams``, ``VectorParams``, ``HnswConfig``,
``HnswConfigDiff``, ``OptimizersConfig``, ``WalConfig``, ``SparseVectorParams``,
``SparseIndexParams`` (``minimum`` / ``maximum`` of each property, ``required``, and the
property names). The vector size's upper limit, 65,536, is Qdrant's validation of
``VectorParams.size`` (the schema gives only the minimum of 1), also enforced by
qdrant-client's local mode.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from qdrant_client import QdrantClient
from qdrant_client.http import models as m

from vecsearch.registry import get_index_type, index_types


@dataclass(frozen=True)
class Schema:
    """Property names, required ones, and (minimum, maximum) per numeric property."""

    keys: frozenset[str]
    required: frozenset[str] = frozenset()
    limits: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)


HNSW_KEYS = frozenset(
    {
        "m",
        "ef_construct",
        "full_scan_threshold",
        "max_indexing_threads",
        "on_disk",
        "memory",
        "payload_m",
        "inline_storage",
    }
)
SCHEMAS: dict[str, Schema] = {
    "CollectionInfo": Schema(
        frozenset(
            {
                "status",
                "optimizer_status",
                "warnings",
                "indexed_vectors_count",
                "points_count",
                "segments_count",
                "config",
                "payload_schema",
                "update_queue",
                "created_at",  # Qdrant 1.20 (qdrant-client 1.20's CollectionInfo has it)
            }
        ),
        frozenset({"config", "optimizer_status", "payload_schema", "segments_count", "status"}),
        {
            "indexed_vectors_count": (0, None),
            "points_count": (0, None),
            "segments_count": (0, None),
        },
    ),
    "CollectionConfig": Schema(
        frozenset(
            {
                "params",
                "hnsw_config",
                "optimizer_config",
                "wal_config",
                "quantization_config",
                "strict_mode_config",
                "metadata",
            }
        ),
        frozenset({"hnsw_config", "optimizer_config", "params"}),
    ),
    "CollectionParams": Schema(
        frozenset(
            {
                "vectors",
                "shard_number",
                "sharding_method",
                "replication_factor",
                "write_consistency_factor",
                "read_fan_out_factor",
                "read_fan_out_delay_ms",
                "on_disk_payload",
                "payload",
                "id_tracker",  # 1.20: in qdrant-client 1.20's CollectionParams
                "sparse_vectors",
            }
        ),
        limits={
            "shard_number": (1, None),
            "replication_factor": (1, None),
            "write_consistency_factor": (1, None),
            "read_fan_out_factor": (0, None),
            "read_fan_out_delay_ms": (0, None),
        },
    ),
    "VectorParams": Schema(
        frozenset(
            {
                "size",
                "distance",
                "hnsw_config",
                "quantization_config",
                "on_disk",
                "memory",
                "datatype",
                "multivector_config",
            }
        ),
        frozenset({"size", "distance"}),
        {"size": (1, 65536)},
    ),
    "HnswConfigDiff": Schema(
        HNSW_KEYS,
        limits={
            "m": (0, None),
            "ef_construct": (4, None),
            "full_scan_threshold": (10, None),
            "max_indexing_threads": (0, None),
            "payload_m": (0, None),
        },
    ),
    "HnswConfig": Schema(
        HNSW_KEYS,
        frozenset({"m", "ef_construct", "full_scan_threshold"}),
        {
            "m": (0, None),
            "ef_construct": (4, None),
            "full_scan_threshold": (0, None),
            "max_indexing_threads": (0, None),
            "payload_m": (0, None),
        },
    ),
    "OptimizersConfig": Schema(
        frozenset(
            {
                "deleted_threshold",
                "vacuum_min_vector_number",
                "default_segment_number",
                "max_segment_size",
                "memmap_threshold",
                "indexing_threshold",
                "flush_interval_sec",
                "max_optimization_threads",
                "prevent_unoptimized",
            }
        ),
        frozenset({"default_segment_number", "flush_interval_sec"}),
        {
            "deleted_threshold": (0, 1),
            "vacuum_min_vector_number": (100, None),
            "default_segment_number": (0, None),
            "max_segment_size": (1, None),
            "memmap_threshold": (0, None),
            "indexing_threshold": (0, None),
            "flush_interval_sec": (0, None),
            "max_optimization_threads": (0, None),
        },
    ),
    "WalConfig": Schema(
        frozenset({"wal_capacity_mb", "wal_segments_ahead", "wal_retain_closed"}),
        frozenset({"wal_capacity_mb", "wal_segments_ahead"}),
        {
            "wal_capacity_mb": (1, None),
            "wal_segments_ahead": (0, None),
            "wal_retain_closed": (1, None),
        },
    ),
    "SparseVectorParams": Schema(frozenset({"index", "modifier"})),
    "SparseIndexParams": Schema(
        frozenset({"full_scan_threshold", "on_disk", "memory", "datatype"}),
        limits={"full_scan_threshold": (0, None)},
    ),
}


def _check(obj: Any, schema: str, path: str, problems: list[str]) -> None:
    s = SCHEMAS[schema]
    if not isinstance(obj, dict):
        problems.append(f"{path}: {schema} must be an object, got {obj!r}")
        return
    for key in sorted(set(obj) - s.keys):
        problems.append(f"{path}.{key}: not a property of {schema}")
    for key in sorted(s.required - set(obj)):
        problems.append(f"{path}.{key}: required by {schema}")
    for key, (lo, hi) in s.limits.items():
        value = obj.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{path}.{key}: {value!r} is not a number")
        elif (lo is not None and value < lo) or (hi is not None and value > hi):
            problems.append(f"{path}.{key}: {value} outside [{lo}, {hi}] of {schema}")


def schema_problems(info: dict[str, Any]) -> list[str]:
    """Every departure of a collection info from :data:`SCHEMAS` (empty: conformant)."""
    problems: list[str] = []
    body = {k: v for k, v in info.items() if k != "vecsearch"}  # our documented addition
    _check(body, "CollectionInfo", "result", problems)
    config = body.get("config", {})
    _check(config, "CollectionConfig", "config", problems)
    params = config.get("params", {})
    _check(params, "CollectionParams", "config.params", problems)
    vectors = params.get("vectors", {})
    named = isinstance(vectors, dict) and "size" not in vectors and "distance" not in vectors
    for name, vp in vectors.items() if named else [("", vectors)]:
        where = f"config.params.vectors{'.' + name if named else ''}"
        _check(vp, "VectorParams", where, problems)
        if isinstance(vp, dict) and vp.get("hnsw_config") is not None:
            _check(vp["hnsw_config"], "HnswConfigDiff", f"{where}.hnsw_config", problems)
    for name, sp in (params.get("sparse_vectors") or {}).items():
        where = f"config.params.sparse_vectors.{name}"
        _check(sp, "SparseVectorParams", where, problems)
        if isinstance(sp, dict) and sp.get("index") is not None:
            _check(sp["index"], "SparseIndexParams", f"{where}.index", problems)
    _check(config.get("hnsw_config"), "HnswConfig", "config.hnsw_config", problems)
    _check(config.get("optimizer_config"), "OptimizersConfig", "config.optimizer_config", problems)
    if config.get("wal_config") is not None:
        _check(config["wal_config"], "WalConfig", "config.wal_config", problems)
    return problems


def test_the_checker_can_fail():
    """The constraints bite: a made-up info breaking several of them is caught."""
    bad = {
        "status": "green",
        "optimizer_status": "ok",
        "segments_count": 1,
        "payload_schema": {},
        "config": {
            "params": {"vectors": {"size": 70000, "distance": "Dot"}, "shard_number": 0},
            "hnsw_config": {"m": 0, "ef_construct": 0, "full_scan_threshold": 1},
            "optimizer_config": {"default_segment_number": 1},
            "wal_config": {"wal_capacity_mb": 0, "wal_segments_ahead": 0},
        },
    }
    joined = "\n".join(schema_problems(bad))
    for text in (
        "params.shard_number: 0 outside [1, None]",
        "vectors.size: 70000 outside [1, 65536]",
        "hnsw_config.ef_construct: 0 outside [4, None]",
        "optimizer_config.flush_interval_sec: required",
        "wal_config.wal_capacity_mb: 0 outside [1, None]",
    ):
        assert text in joined, joined


rng = np.random.default_rng(3)
DIM = 16


def _dense(n: int) -> list[list[float]]:
    return rng.normal(size=(n, DIM)).astype(np.float32).tolist()


def _multi(n: int) -> list[list[list[float]]]:
    return [rng.normal(size=(3, DIM)).astype(np.float32).tolist() for _ in range(n)]


SINGLE_TYPES = sorted(t for t in index_types() if not get_index_type(t).multivector)
MULTI_TYPES = sorted(t for t in index_types() if get_index_type(t).multivector)
SMALL_PARAMS = {"ivf_pq": {"nlist": 4, "m": 4}}

#: name -> (create body, points); one collection per index type, and mixed ones.
CASES: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
for _t in SINGLE_TYPES:
    CASES[_t] = (
        {
            "vectors": {"size": DIM, "distance": "Cosine"},
            "index": {"type": _t, "params": SMALL_PARAMS.get(_t, {})},
        },
        [{"id": i, "vector": v} for i, v in enumerate(_dense(64))],
    )
for _t in MULTI_TYPES:
    CASES[f"multi-{_t}"] = (
        {
            "vectors": {
                "size": DIM,
                "distance": "Dot",
                "multivector_config": {"comparator": "max_sim"},
            },
            "index": {"type": _t},
        },
        [{"id": i, "vector": v} for i, v in enumerate(_multi(32))],
    )
CASES["sparse-only"] = (
    {"sparse_vectors": {"s": {"modifier": "idf", "index": {"full_scan_threshold": 100}}}},
    [{"id": i, "vector": {"s": {"indices": [i, 100], "values": [1.0, 2.0]}}} for i in range(20)],
)
CASES["named, mixed, Qdrant settings given"] = (
    {
        "vectors": {
            "text": {
                "size": DIM,
                "distance": "Cosine",
                "hnsw_config": {"m": 8, "ef_construct": 50},
            },
            "colbert": {
                "size": DIM,
                "distance": "Dot",
                "multivector_config": {"comparator": "max_sim"},
                "hnsw_config": {"m": 0},
            },
            "exact": {"size": 4, "distance": "Euclid", "hnsw_config": {"m": 0}},
        },
        "sparse_vectors": {"bm25": {"modifier": "idf"}},
        "hnsw_config": {"m": 16, "ef_construct": 100, "full_scan_threshold": 20000},
        "optimizers_config": {"indexing_threshold": 20000, "deleted_threshold": 0.3},
        "wal_config": {"wal_capacity_mb": 64},
        "shard_number": 1,
        "replication_factor": 1,
        "write_consistency_factor": 1,
        "on_disk_payload": True,
    },
    [
        {
            "id": i,
            "vector": {
                "text": v,
                "colbert": mv,
                "exact": v[:4],
                "bm25": {"indices": [i], "values": [1.0]},
            },
        }
        for i, (v, mv) in enumerate(zip(_dense(20), _multi(20), strict=True))
    ],
)


@pytest.mark.parametrize("name", sorted(CASES))
def test_collection_info_conforms(client, name):
    body, points = CASES[name]
    assert client.put("/collections/c", json=body).status_code == 200
    r = client.put("/collections/c/points", json={"points": points})
    assert r.status_code == 200, r.text
    r = client.put("/collections/c/index", json={"field_name": "g", "field_schema": "keyword"})
    assert r.status_code == 200, r.text
    r = client.get("/collections/c")
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    assert schema_problems(result) == []
    parsed = m.CollectionInfo.model_validate_json(json.dumps(result), strict=True)
    assert parsed.points_count == len(points)
    assert parsed.config.params.shard_number == 1


def test_collection_info_conforms_after_patch(client):
    """PATCHed settings are echoed within the schema too (and a rebuild leaves it green)."""
    body = {"vectors": {"v": {"size": DIM, "distance": "Cosine"}}, "index": {"type": "hnsw"}}
    assert client.put("/collections/c", json=body).status_code == 200
    points = [{"id": i, "vector": {"v": v}} for i, v in enumerate(_dense(64))]
    assert client.put("/collections/c/points", json={"points": points}).status_code == 200
    patch = {
        "vectors": {"v": {"hnsw_config": {"m": 8, "ef_construct": 64}, "memory": "cold"}},
        "hnsw_config": {"full_scan_threshold": 500},
        "optimizers_config": {"indexing_threshold": 1000},
        "params": {"replication_factor": 2, "payload": {"memory": "cached"}},
        "metadata": {"owner": "tests"},
    }
    r = client.patch("/collections/c", json=patch)
    assert r.status_code == 200, r.text
    result = client.get("/collections/c").json()["result"]
    assert schema_problems(result) == []
    parsed = m.CollectionInfo.model_validate_json(json.dumps(result), strict=True)
    assert parsed.config.params.vectors["v"].hnsw_config.m == 8
    assert parsed.config.params.replication_factor == 2
    assert parsed.config.metadata == {"owner": "tests"}


@pytest.mark.parametrize(
    ("body", "expect"),
    [
        # the vectors use the collection's config: the graph parameters in effect
        ({"vectors": {"size": 4, "distance": "Dot"}, "index": {"type": "hnsw"}}, (16, 200)),
        ({"vectors": {"size": 4, "distance": "Dot"}, "hnsw_config": {"m": 8}}, (8, 200)),
        # every vector has its own: Qdrant's defaults with the given changes, as Qdrant shows
        (
            {
                "vectors": {"a": {"size": 4, "distance": "Dot", "hnsw_config": {"m": 8}}},
                "hnsw_config": {"ef_construct": 50},
            },
            (16, 50),
        ),
        # no graph anywhere: m 0, Qdrant's default ef_construct
        ({"vectors": {"size": 4, "distance": "Dot"}, "index": {"type": "flat"}}, (0, 100)),
    ],
)
def test_collection_hnsw_config_means_what_qdrant_means(client, body, expect):
    assert client.put("/collections/c", json=body).status_code == 200
    config = client.get("/collections/c").json()["result"]["config"]
    assert (config["hnsw_config"]["m"], config["hnsw_config"]["ef_construct"]) == expect
    # not 0, which would tell a Qdrant client that indexing is disabled
    assert config["optimizer_config"]["indexing_threshold"] is None


def test_vector_params_agree_with_local_mode(qclient):
    """What qdrant-client sends comes back as local mode reports it. Deliberate difference:
    a vector's hnsw_config also shows the graph parameters in effect (given keys agree)."""
    ref = QdrantClient(":memory:")
    vectors = {
        "text": m.VectorParams(
            size=8,
            distance=m.Distance.COSINE,
            hnsw_config=m.HnswConfigDiff(m=8),
            on_disk=True,
            quantization_config=m.ScalarQuantization(
                scalar=m.ScalarQuantizationConfig(type=m.ScalarType.INT8, always_ram=True)
            ),
        ),
        "late": m.VectorParams(
            size=4,
            distance=m.Distance.DOT,
            multivector_config=m.MultiVectorConfig(comparator=m.MultiVectorComparator.MAX_SIM),
            memory=m.Memory.COLD,
        ),
        "geo": m.VectorParams(size=2, distance=m.Distance.EUCLID, datatype=m.Datatype.FLOAT32),
    }
    sparse = {"bm25": m.SparseVectorParams(modifier=m.Modifier.IDF)}
    got = []
    for c in (qclient, ref):
        c.create_collection("t", vectors_config=vectors, sparse_vectors_config=sparse)
        got.append(c.get_collection("t").config.params)
    ours, theirs = got
    assert ours.sparse_vectors == theirs.sparse_vectors
    for name in vectors:
        a, b = ours.vectors[name], theirs.vectors[name]
        assert a.model_dump(exclude={"hnsw_config"}) == b.model_dump(exclude={"hnsw_config"})
        given = (b.hnsw_config or m.HnswConfigDiff()).model_dump(exclude_none=True)
        assert (a.hnsw_config or m.HnswConfigDiff()).model_dump(include=set(given)) == given
