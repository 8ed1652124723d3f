"""Issue 19, item 6, in the engine: every build parameter of every index type, Qdrant's
hnsw_config, the echoed Qdrant settings and the vector size have upper bounds, checked at
creation and on PATCH with a ValidationError naming the field and the range; search-time
beams and multipliers are clamped; integers past int64, floats for integers, bools and
strings are refused. A refused create or PATCH changes nothing stored."""

# ruff: noqa: E501  (tables of exact requests and messages read best one case a line)
from __future__ import annotations

import inspect

import numpy as np
import pytest

from vecsearch.config import CollectionConfig
from vecsearch.config_checks import INDEX_BOUNDS, MAX_OVERSAMPLING, MAX_SEARCH_BEAM
from vecsearch.config_qdrant import parse_create
from vecsearch.errors import ValidationError
from vecsearch.registry import get_index_type, index_types


def vec(size: int = 8, distance: str = "Cosine", **extra):
    return {"vectors": {"size": size, "distance": distance}, **extra}


def multi(size: int = 8, **extra):
    body = {"size": size, "distance": "Cosine", "multivector_config": {"comparator": "max_sim"}}
    return {"vectors": body, **extra}


def idx(type_: str, **params):
    return {"index": {"type": type_, "params": params}}


#: (create body, the error message), every one a refusal.
REFUSED = [
    # the issue's reproductions
    (vec(hnsw_config={"m": 10**9}), "hnsw_config.m: expected an integer in [0, 1024], got 1000000000"),
    (vec(hnsw_config={"m": 1e9}), "hnsw_config.m: expected an integer in [0, 1024], got 1000000000.0"),
    (vec(size=10**6), "vectors.size: expected an integer in [1, 65536], got 1000000"),
    (vec(size=2**63), "vectors.size: expected an integer in [1, 65536], got 9223372036854775808"),
    (vec(size=True), "vectors.size: expected an integer in [1, 65536], got True"),
    (vec(size="8"), "vectors.size: expected an integer in [1, 65536], got '8'"),
    (vec(size=8.0), "vectors.size: expected an integer in [1, 65536], got 8.0"),
    (multi(size=70_000, **idx("muvera")), "vectors.size: expected an integer in [1, 65536], got 70000"),
    ({"vectors": {"a": {"size": 65_537, "distance": "Dot"}}},
     "vectors.a.size: expected an integer in [1, 65536], got 65537"),
    # Qdrant's hnsw_config, collection-level and per vector
    (vec(hnsw_config={"ef_construct": 2**63}),
     "hnsw_config.ef_construct: expected an integer in [4, 4096], got 9223372036854775808"),
    (vec(hnsw_config={"ef_construct": 4097}),
     "hnsw_config.ef_construct: expected an integer in [4, 4096], got 4097"),
    (vec(hnsw_config={"payload_m": 2000}), "hnsw_config.payload_m: expected an integer in [0, 1024], got 2000"),
    (vec(hnsw_config={"full_scan_threshold": 2**63}),
     "hnsw_config.full_scan_threshold: expected an integer in [10, 9007199254740991], got "
     "9223372036854775808"),
    (vec(hnsw_config={"max_indexing_threads": 2**64}),
     "hnsw_config.max_indexing_threads: expected an integer in [0, 18446744073709551615], got "
     "18446744073709551616"),
    ({"vectors": {"size": 8, "distance": "Dot", "hnsw_config": {"m": 1025}}},
     "vectors.hnsw_config.m: expected an integer in [0, 1024], got 1025"),
    # our index.params shape, top level and inside a vector
    (vec(**idx("hnsw", M=10**9)), "index.params.M: expected an integer in [2, 1024], got 1000000000"),
    (vec(**idx("hnsw", m=2**63)), "index.params.m: expected an integer in [2, 1024], got 9223372036854775808"),
    (vec(**idx("hnsw", M=1e30)), "index.params.M: expected an integer in [2, 1024], got 1e+30"),
    (vec(**idx("hnsw", M=True)), "index.params.M: expected an integer in [2, 1024], got True"),
    (vec(**idx("hnsw", ef_construction="many")),
     "index.params.ef_construction: expected an integer in [1, 4096], got 'many'"),
    (vec(**idx("hnsw", ef_search=10**6)), "index.params.ef_search: expected an integer in [1, 65536], got 1000000"),
    (vec(**idx("hnsw", max_batch=2**40)),
     "index.params.max_batch: expected an integer in [1, 1048576], got 1099511627776"),
    (vec(**idx("hnsw", batch_fraction=0)), "index.params.batch_fraction: expected a number in (0, 1], got 0"),
    (vec(**idx("hnsw", exact_filter_ratio=1e30)),
     "index.params.exact_filter_ratio: expected a number in [0, 1e+06], got 1e+30"),
    (vec(**idx("hnsw", seed=2**63)), "index.params.seed: expected an integer in [0, 4294967295], got 9223372036854775808"),
    ({"vectors": {"size": 8, "distance": "Dot", "index": {"type": "hnsw", "params": {"M": 4096}}}},
     "vectors.index.params.M: expected an integer in [2, 1024], got 4096"),
    (vec(**idx("hnsw_binary", M=10**9)), "index.params.M: expected an integer in [2, 1024], got 1000000000"),
    (vec(**idx("hnsw_binary", ef_construct=10**5)),
     "index.params.ef_construct: expected an integer in [1, 4096], got 100000"),
    (vec(**idx("ivf_pq", nlist=10**9)), "index.params.nlist: expected an integer in [1, 65536], got 1000000000"),
    (vec(**idx("ivf_pq", nlist=2**63)), "index.params.nlist: expected an integer in [1, 65536], got 9223372036854775808"),
    (vec(**idx("ivf_pq", m=2**63)), "index.params.m: expected an integer in [1, 65536], got 9223372036854775808"),
    (vec(**idx("ivf_pq", nbits=64)), "index.params.nbits: expected an integer in [4, 8], got 64"),
    (vec(**idx("ivf_pq", kmeans_iter=10**9)),
     "index.params.kmeans_iter: expected an integer in [1, 1000], got 1000000000"),
    (vec(**idx("ivf_pq", pq_iter=10**9)), "index.params.pq_iter: expected an integer in [1, 1000], got 1000000000"),
    (vec(**idx("ivf_pq", opq_rounds=10**9)),
     "index.params.opq_rounds: expected an integer in [1, 1000], got 1000000000"),
    (vec(**idx("ivf_pq", max_points_per_centroid=10**9)),
     "index.params.max_points_per_centroid: expected an integer in [1, 65536], got 1000000000"),
    (vec(size=4096, **idx("ivf_pq", nlist=65_536, m=1024)),
     "index.params.nlist: nlist * vector size must be at most 67108864 (the centroids' float32 "
     "values); got 65536 * 4096; at this size nlist <= 16384"),
    (vec(**idx("binary", bits=2**63)), "index.params.bits: expected an integer in [1, 4], got 9223372036854775808"),
    (vec(distance="Euclid", **idx("spann", chunk_rows=2**63)),
     "index.params.chunk_rows: expected an integer in [1, 1048576], got 9223372036854775808"),
    (vec(distance="Euclid", **idx("spann", posting_vector_limit=10**9)),
     "index.params.posting_vector_limit: expected an integer in [4, 65536], got 1000000000"),
    (vec(distance="Euclid", **idx("spann", head_M=10**9)),
     "index.params.head_M: expected an integer in [2, 1024], got 1000000000"),
    (vec(distance="Euclid", **idx("spann", head_M=1)), "index.params.head_M: expected an integer in [2, 1024], got 1"),
    (vec(distance="Euclid", **idx("spann", max_train_points=10**12)),
     "index.params.max_train_points: expected an integer in [1, 10000000], got 1000000000000"),
    (vec(distance="Euclid", **idx("spann", rng_factor=1e300)),
     "index.params.rng_factor: expected a number in (0, 1000], got 1e+300"),
    (vec(distance="Euclid", **idx("spann", seed="x")), "index.params.seed: expected an integer in [0, 4294967295], got 'x'"),
    (multi(**idx("muvera", r_reps=4096, k_sim=16)),
     "index.params.r_reps: r_reps * 2**k_sim * d_proj (d_proj 0: the vector size) must be at "
     "most 131072, got 4294967296"),
    (multi(**idx("muvera", d_proj=10**9)), "index.params.d_proj: expected an integer in [0, 65536], got 1000000000"),
    (multi(**idx("muvera", final_dim=10**6)),
     "index.params.final_dim: expected an integer in [0, 65536], got 1000000"),
    (multi(**idx("muvera", candidates=2**63)),
     "index.params.candidates: expected an integer in [1, 65536], got 9223372036854775808"),
    (multi(**idx("muvera", M=10**9)), "index.params.M: expected an integer in [2, 1024], got 1000000000"),
    (vec(**idx("hnsw", exact_filter_ratio=2**1100)),
     "index.params.exact_filter_ratio: expected a number in [0, 1e+06], got an integer past 1e308"),
    # echoed Qdrant settings: their Rust type's maximum
    (vec(wal_config={"wal_capacity_mb": 2**70}),
     "wal_config.wal_capacity_mb: expected an integer in [1, 18446744073709551615], got "
     "1180591620717411303424"),
    (vec(optimizers_config={"indexing_threshold": 2**64}),
     "optimizers_config.indexing_threshold: expected an integer in [0, 18446744073709551615], "
     "got 18446744073709551616"),
    (vec(optimizers_config={"max_optimization_threads": 1e30}),
     "optimizers_config.max_optimization_threads: expected an integer in [0, "
     "18446744073709551615], got 1e+30"),
    (vec(shard_number=2**32), "shard_number: expected an integer in [1, 4294967295], got 4294967296"),
    (vec(replication_factor=True), "replication_factor: expected an integer in [1, 4294967295], got True"),
    (vec(strict_mode_config={"max_query_limit": 2**64}),
     "strict_mode_config.max_query_limit: expected an integer in [1, 18446744073709551615], got "
     "18446744073709551616"),
    (vec(strict_mode_config={"max_resident_memory_percent": 101}),
     "strict_mode_config.max_resident_memory_percent: expected an integer in [1, 100], got 101"),
    (vec(strict_mode_config={"search_max_oversampling": 2**1100}),
     "strict_mode_config.search_max_oversampling: expected a number in [1, 1.84467e+19], got an integer past 1e308"),
    (vec(strict_mode_config={"search_max_oversampling": 1e300}),
     "strict_mode_config.search_max_oversampling: expected a number in [1, 1.84467e+19], got 1e+300"),
    ({"vectors": {}, "sparse_vectors": {"s": {"index": {"full_scan_threshold": 2**64}}}},
     "sparse_vectors.s.index.full_scan_threshold: expected an integer in [0, "
     "18446744073709551615], got 18446744073709551616"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "message"), REFUSED)
def test_create_refused_with_the_range(body, message):
    with pytest.raises(ValidationError) as err:
        parse_create(body)
    assert str(err.value) == message


#: The largest accepted value of each bound, accepted (the bound is inclusive).
ACCEPTED = [
    vec(size=65_536),
    vec(hnsw_config={"m": 1024, "ef_construct": 4096, "payload_m": 1024}),
    vec(**idx("hnsw", M=1024, ef_construction=4096, ef_search=65_536, seed=2**32 - 1)),
    vec(size=1024, **idx("ivf_pq", nlist=65_536, m=256)),
    vec(distance="Euclid", **idx("spann", replica_count=255, head_M=1024, chunk_rows=1 << 20)),
    multi(size=16, **idx("muvera", r_reps=64, k_sim=7, d_proj=16)),  # 64 * 128 * 16 = 2**17
    vec(wal_config={"wal_capacity_mb": 2**64 - 1}, shard_number=2**32 - 1),
]


@pytest.mark.parametrize("body", ACCEPTED)
def test_values_at_the_bounds_are_accepted(body):
    parse_create(body)


def test_every_numeric_build_parameter_has_a_bound():
    """Each constructor keyword of every registered type whose default is a number is in
    INDEX_BOUNDS (a parameter added later without a bound fails here)."""
    for name in index_types():
        itype = get_index_type(name)
        cls, _ = itype.classes()
        numeric = {
            p.name
            for p in inspect.signature(cls.__init__).parameters.values()
            if p.name not in ("self", "dim", "metric")
            and not isinstance(p.default, bool)
            and isinstance(p.default, int | float)
        }
        missing = numeric - set(INDEX_BOUNDS[name])
        assert not missing, (name, missing)


def test_python_create_bounds_the_size():
    with pytest.raises(ValidationError) as err:
        CollectionConfig.create(10**6)
    assert str(err.value) == "vectors.size: expected an integer in [1, 65536], got 1000000"
    with pytest.raises(ValidationError) as err:
        CollectionConfig.create(8, index="hnsw", index_params={"M": 10**9})
    assert str(err.value) == "index.params.M: expected an integer in [2, 1024], got 1000000000"


def test_refused_patch_changes_nothing(db):
    coll = db.create_collection("c", vec(size=4))
    coll.upsert([{"id": i, "vector": [i + 1.0, 1, 0, 0]} for i in range(5)])
    before_config = coll.config.to_dict()
    before = coll.scroll(limit=100, with_vector=True)[0]
    cases = [
        ({"hnsw_config": {"m": 10**9}}, "hnsw_config.m: expected an integer in [0, 1024], got 1000000000"),
        ({"vectors": {"": {"hnsw_config": {"ef_construct": 2**63}}}},
         "vectors..hnsw_config.ef_construct: expected an integer in [4, 4096], got "
         "9223372036854775808"),
        ({"vectors": {"": {"index": {"params": {"M": 2**63}}}}},
         "vectors..index.params.M: expected an integer in [2, 1024], got 9223372036854775808"),
        ({"vectors": {"": {"index": {"type": "ivf_pq", "params": {"nlist": 10**9}}}}},
         "vectors..index.params.nlist: expected an integer in [1, 65536], got 1000000000"),
        ({"optimizers_config": {"memmap_threshold": 2**64}},
         "optimizers_config.memmap_threshold: expected an integer in [0, 18446744073709551615], "
         "got 18446744073709551616"),
        ({"params": {"replication_factor": 2**32}},
         "params.replication_factor: expected an integer in [1, 4294967295], got 4294967296"),
    ]  # fmt: skip
    for body, message in cases:
        with pytest.raises(ValidationError) as err:
            coll.update_config(body)
        assert str(err.value) == message
    again = db.get_collection("c")
    assert again.config.to_dict() == before_config
    assert [(r.id, r.vector.tolist()) for r in again.scroll(limit=100, with_vector=True)[0]] == [
        (r.id, r.vector.tolist()) for r in before
    ]


@pytest.mark.parametrize(
    ("type_", "given", "field", "expected"),
    [
        ("hnsw", {"hnsw_ef": 2**63}, "ef", MAX_SEARCH_BEAM),
        ("hnsw", {"ef": 10**12}, "ef", MAX_SEARCH_BEAM),
        ("hnsw", {"hnsw_ef": 100}, "ef", 100),  # within the bound: as given
        ("ivf_pq", {"nprobe": 2**63}, "nprobe", MAX_SEARCH_BEAM),
        ("ivf_pq", {"k_factor": 2**63}, "k_factor", int(MAX_OVERSAMPLING)),
        ("ivf_pq", {"quantization": {"oversampling": 1e30}}, "k_factor", int(MAX_OVERSAMPLING)),
        ("binary", {"quantization": {"oversampling": 1e30}}, "oversampling", MAX_OVERSAMPLING),
        ("binary", {"shortlist": 1e300}, "shortlist", MAX_OVERSAMPLING),
        ("hnsw_binary", {"quantization": {"oversampling": 2**63}}, "oversampling", 1000),
        ("hnsw_binary", {"hnsw_ef": 2**63}, "ef", MAX_SEARCH_BEAM),
        ("spann", {"n_probe": 2**63, "hnsw_ef": 2**63}, "n_probe", MAX_SEARCH_BEAM),
        ("spann", {"hnsw_ef": 2**63}, "ef_heads", MAX_SEARCH_BEAM),
        ("spann", {"oversampling": 1e30}, "oversampling", MAX_OVERSAMPLING),
        ("muvera", {"candidates": 2**63, "hnsw_ef": 2**63}, "candidates", MAX_SEARCH_BEAM),
        ("muvera", {"hnsw_ef": 2**63}, "ef", MAX_SEARCH_BEAM),
        ("binary", {"oversampling": 2**1100}, "oversampling", MAX_OVERSAMPLING),  # past 1e308
        ("hnsw", {"exact_filter_ratio": 2**1100}, "exact_filter_ratio", float("inf")),
        ("spann", {"max_dist_ratio": 2**1100}, "max_dist_ratio", float("inf")),
    ],
)
def test_search_parameters_are_clamped(type_, given, field, expected):
    params, exact = get_index_type(type_).search_params(given)
    assert getattr(params, field) == expected and not exact


@pytest.mark.parametrize(
    ("type_", "given", "message"),
    [
        ("binary", {"oversampling": float("nan")}, "params.oversampling: expected a number, got NaN"),
        ("hnsw", {"ef": True}, "params.ef: expected a number, got True"),
        ("hnsw", {"hnsw_ef": "64"}, "params.hnsw_ef: expected a positive integer, got '64'"),
        ("ivf_pq", {"nprobe": float("inf")}, "params.nprobe: expected a finite number, got inf"),
        ("binary", {"quantization": {"oversampling": 0.5}}, "params.quantization.oversampling: expected a number >= 1, got 0.5"),
        ("hnsw", {"quantization": {"oversampling": -1}}, "params.quantization.oversampling: expected a number >= 1, got -1"),
        ("hnsw", {"acorn": {"enable": 2**63}}, "params.acorn.enable: expected true or false, got 9223372036854775808"),
        ("hnsw", {"acorn": {"enable": True, "max_selectivity": 1e30}}, "params.acorn.max_selectivity: expected a number in [0, 1], got 1e+30"),
        ("hnsw", {"acorn": {"enable": True, "x": 1}}, "params.acorn.x: unknown field"),
        ("hnsw", {"indexed_only": {}}, "params.indexed_only: expected true or false, got {}"),
    ],
)  # fmt: skip
def test_search_parameters_refused(type_, given, message):
    with pytest.raises(ValidationError) as err:
        get_index_type(type_).search_params(given)
    assert str(err.value) == message


def test_searches_with_clamped_parameters_answer(db):
    """The issue's 500s: hnsw_ef 2**63 (a numba TypingError), oversampling 1e9 on
    hnsw_binary (MemoryError) now search, with the results of a large beam."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(1200, 8)).astype(np.float32)
    for type_ in ("hnsw", "hnsw_binary"):
        coll = db.create_collection(type_, vec(**idx(type_)))
        coll.upsert_batch(list(range(1200)), x, [{}] * 1200)
        q = x[3]
        exact = [h.id for h in coll.search(q, limit=10, params={"exact": True})]
        for params in ({"hnsw_ef": 2**63}, {"quantization": {"oversampling": 1e9}}):
            if type_ == "hnsw" and "quantization" in params:
                continue
            hits = [h.id for h in coll.search(q, limit=10, params=params)]
            assert hits[0] == 3 and len(set(hits)) == 10, (type_, params)
            if type_ == "hnsw":  # a beam over the whole graph finds the exact neighbours
                assert hits == exact
