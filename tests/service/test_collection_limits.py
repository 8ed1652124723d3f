"""Qdrant's limits at collection creation and PATCH: out-of-range values and settings that
would change behaviour without being honoured are refused with a 400 naming the field (and
nothing is created or changed); settings without observable effect are echoed back."""

from __future__ import annotations

from typing import Any

import pytest
from qdrant_client import QdrantClient, models

VEC = {"size": 4, "distance": "Dot"}

#: create body -> the field the 400 must name (and "not supported" where it says so).
BAD_CREATE: dict[str, tuple[dict[str, Any], str]] = {
    "size 0": ({"vectors": {"size": 0, "distance": "Dot"}}, "vectors.size"),
    "size above 65536": ({"vectors": {"size": 65537, "distance": "Dot"}}, "vectors.size"),
    "named size above 65536": (
        {"vectors": {"a": {"size": 70000, "distance": "Dot"}}},
        "vectors.a.size",
    ),
    "shard_number 0": ({"vectors": VEC, "shard_number": 0}, "shard_number"),
    "replication_factor 0": ({"vectors": VEC, "replication_factor": 0}, "replication_factor"),
    "write_consistency_factor -1": (
        {"vectors": VEC, "write_consistency_factor": -1},
        "write_consistency_factor",
    ),
    "custom sharding": ({"vectors": VEC, "sharding_method": "custom"}, "not supported"),
    "unknown sharding": ({"vectors": VEC, "sharding_method": "random"}, "sharding_method"),
    "strict mode enabled": (
        {"vectors": VEC, "strict_mode_config": {"enabled": True, "max_query_limit": 5}},
        "strict_mode_config.enabled: strict mode is not supported",
    ),
    "unknown strict mode field": (
        {"vectors": VEC, "strict_mode_config": {"max_everything": 1}},
        "strict_mode_config.max_everything",
    ),
    "strict mode limit of the wrong type": (
        {"vectors": VEC, "strict_mode_config": {"max_query_limit": "10"}},
        "strict_mode_config.max_query_limit",
    ),
    "strict mode per-vector limit": (
        {"vectors": VEC, "strict_mode_config": {"sparse_config": {"s": {"max_length": 0}}}},
        "strict_mode_config.sparse_config.s.max_length",
    ),
    "pinned dense vectors": (
        {"vectors": {**VEC, "memory": "pinned"}},
        "vectors.memory: 'pinned' is not supported",
    ),
    "pinned payload": ({"vectors": VEC, "payload": {"memory": "pinned"}}, "payload.memory"),
    "bad payload memory": ({"vectors": VEC, "payload": {"memory": "warm"}}, "payload.memory"),
    "unknown payload field": ({"vectors": VEC, "payload": {"x": 1}}, "payload.x"),
    "bad id_tracker memory": (
        {"vectors": VEC, "id_tracker": {"memory": 1}},
        "id_tracker.memory",
    ),
    "bad hnsw memory": ({"vectors": VEC, "hnsw_config": {"memory": "x"}}, "hnsw_config.memory"),
    "full_scan_threshold below 10": (
        {"vectors": VEC, "hnsw_config": {"full_scan_threshold": 9}},
        "hnsw_config.full_scan_threshold",
    ),
    "ef_construct below 4": (
        {"vectors": {**VEC, "hnsw_config": {"ef_construct": 3}}},
        "vectors.hnsw_config.ef_construct",
    ),
    "wal_capacity_mb 0": ({"vectors": VEC, "wal_config": {"wal_capacity_mb": 0}}, "wal_config"),
    "unknown wal field": ({"vectors": VEC, "wal_config": {"size": 1}}, "wal_config.size"),
    "deleted_threshold above 1": (
        {"vectors": VEC, "optimizers_config": {"deleted_threshold": 1.5}},
        "optimizers_config.deleted_threshold",
    ),
    "vacuum_min_vector_number below 100": (
        {"vectors": VEC, "optimizers_config": {"vacuum_min_vector_number": 10}},
        "optimizers_config.vacuum_min_vector_number",
    ),
    "unknown optimizer field": (
        {"vectors": VEC, "optimizers_config": {"turbo": True}},
        "optimizers_config.turbo",
    ),
    "float16 vectors": ({"vectors": {**VEC, "datatype": "float16"}}, "vectors.datatype"),
    "unknown quantization kind": (
        {"vectors": VEC, "quantization_config": {"fancy": {}}},
        "quantization_config: expected one of",
    ),
    "scalar quantization without type": (
        {"vectors": VEC, "quantization_config": {"scalar": {"quantile": 0.9}}},
        "quantization_config.scalar.type: missing",
    ),
    "quantile out of range": (
        {"vectors": {**VEC, "quantization_config": {"scalar": {"type": "int8", "quantile": 2}}}},
        "vectors.quantization_config.scalar.quantile",
    ),
    "bad compression": (
        {"vectors": VEC, "quantization_config": {"product": {"compression": "x3"}}},
        "quantization_config.product.compression",
    ),
    "unknown binary quantization field": (
        {"vectors": VEC, "quantization_config": {"binary": {"bits": 2}}},
        "quantization_config.binary.bits",
    ),
    "hnsw field outside Qdrant's schema": (
        {"vectors": {**VEC, "hnsw_config": {"copy_vectors": True}}},
        "vectors.hnsw_config.copy_vectors: unknown",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_CREATE))
def test_create_refusals(client, name):
    body, needle = BAD_CREATE[name]
    r = client.put("/collections/c", json=body)
    assert r.status_code == 400, r.text
    assert needle in r.json()["status"]["error"], r.text
    assert client.get("/collections/c/exists").json()["result"] == {"exists": False}


BAD_PATCH: dict[str, tuple[dict[str, Any], str]] = {
    "replication_factor 0": ({"params": {"replication_factor": 0}}, "params.replication_factor"),
    "write_consistency_factor 0": (
        {"params": {"write_consistency_factor": 0}},
        "params.write_consistency_factor",
    ),
    "read_fan_out_factor -1": ({"params": {"read_fan_out_factor": -1}}, "params.read_fan_out"),
    "shard_number cannot change": ({"params": {"shard_number": 2}}, "params.shard_number"),
    "pinned payload": ({"params": {"payload": {"memory": "pinned"}}}, "params.payload.memory"),
    "pinned dense vectors": ({"vectors": {"": {"memory": "pinned"}}}, "vectors..memory"),
    "strict mode enabled": ({"strict_mode_config": {"enabled": True}}, "not supported"),
    "bad quantization": ({"quantization_config": {"scalar": {}}}, "quantization_config.scalar"),
    "bad vector quantization": (
        {"vectors": {"": {"quantization_config": {"binary": {"always_ram": 1}}}}},
        "vectors..quantization_config.binary.always_ram",
    ),
    "bad optimizer value": (
        {"optimizers_config": {"indexing_threshold": -1}},
        "optimizers_config.indexing_threshold",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_PATCH))
def test_patch_refusals(client, name):
    assert client.put("/collections/c", json={"vectors": VEC}).status_code == 200
    before = client.get("/collections/c").json()["result"]["config"]
    body, needle = BAD_PATCH[name]
    r = client.patch("/collections/c", json=body)
    assert r.status_code == 400, r.text
    assert needle in r.json()["status"]["error"], r.text
    assert client.get("/collections/c").json()["result"]["config"] == before


def test_settings_without_effect_are_echoed(client):
    body = {
        "vectors": {**VEC, "memory": "cold", "hnsw_config": {"memory": "pinned", "m": 8}},
        "shard_number": 2,
        "replication_factor": 2,
        "write_consistency_factor": 2,
        "sharding_method": "auto",
        "payload": {"memory": "cached"},
        "id_tracker": {"memory": "pinned"},
        "wal_config": {"wal_capacity_mb": 64, "wal_segments_ahead": 1},
        "optimizers_config": {"deleted_threshold": 0.5, "max_optimization_threads": "auto"},
        "strict_mode_config": {"enabled": False, "max_query_limit": 5},
    }
    assert client.put("/collections/c", json=body).status_code == 200
    r = client.patch(
        "/collections/c",
        json={"params": {"replication_factor": 3, "payload": {"memory": "cold"}}},
    )
    assert r.status_code == 200, r.text
    config = client.get("/collections/c").json()["result"]["config"]
    params = config["params"]
    assert params["shard_number"] == 2 and params["replication_factor"] == 3
    assert params["write_consistency_factor"] == 2 and params["sharding_method"] == "auto"
    assert params["payload"] == {"memory": "cold"} and params["id_tracker"] == {"memory": "pinned"}
    assert params["vectors"]["memory"] == "cold"
    assert params["vectors"]["hnsw_config"]["memory"] == "pinned"
    assert config["wal_config"]["wal_capacity_mb"] == 64
    assert config["optimizer_config"]["deleted_threshold"] == 0.5
    assert config["strict_mode_config"] == {"enabled": False, "max_query_limit": 5}
    # the physical layout is still one shard
    assert client.get("/collections/c/cluster").json()["result"]["shard_count"] == 1


def test_qdrant_client_creation_arguments(qclient):
    """qdrant-client 1.20's create_collection arguments (payload / id_tracker placement)."""
    assert qclient.create_collection(
        "c",
        models.VectorParams(size=65536, distance=models.Distance.DOT),
        payload=models.PayloadStorageParams(memory=models.Memory.CACHED),
        id_tracker=models.IdTrackerParams(memory=models.Memory.PINNED),
        shard_number=1,
    )
    info = qclient.get_collection("c")
    assert info.config.params.vectors.size == 65536
    assert info.config.params.payload.memory == models.Memory.CACHED


@pytest.mark.parametrize("size", [0, 65537])
def test_vector_size_refused_like_local_mode(qclient, size):
    ref = QdrantClient(":memory:")
    for c in (qclient, ref):
        with pytest.raises(Exception) as info:
            c.create_collection("c", models.VectorParams(size=size, distance=models.Distance.DOT))
        if c is qclient:
            assert "400" in str(info.value) and "vectors.size" in str(info.value)
        assert not c.collection_exists("c")


def test_quantization_configs_are_echoed_and_readable_by_qdrant_client(qclient):
    qclient.create_collection(
        "c",
        models.VectorParams(
            size=4,
            distance=models.Distance.DOT,
            quantization_config=models.BinaryQuantization(
                binary=models.BinaryQuantizationConfig(always_ram=True)
            ),
        ),
        quantization_config=models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, quantile=0.99)
        ),
    )
    qclient.update_collection(
        "c",
        quantization_config=models.ProductQuantization(
            product=models.ProductQuantizationConfig(compression=models.CompressionRatio.X16)
        ),
    )
    info = qclient.get_collection("c")  # parses with models that forbid unknown fields
    assert info.config.quantization_config.product.compression == models.CompressionRatio.X16
    assert info.config.params.vectors.quantization_config.binary.always_ram is True
    qclient.update_collection("c", quantization_config=models.Disabled.DISABLED)
    assert qclient.get_collection("c").config.quantization_config is None


def test_metadata_agrees_with_local_mode(qclient):
    """Create with metadata, merge changes by PATCH (a null removes a key), as local mode."""
    ref = QdrantClient(":memory:")
    for c in (qclient, ref):
        c.create_collection(
            "c",
            models.VectorParams(size=4, distance=models.Distance.DOT),
            metadata={"owner": "a", "n": 1, "tags": ["x"]},
        )
        c.update_collection("c", metadata={"n": 2, "owner": None, "new": {"k": True}})
    got = [c.get_collection("c").config.metadata for c in (qclient, ref)]
    assert got[0] == got[1] == {"n": 2, "tags": ["x"], "new": {"k": True}}
