"""The index registry: flat works, missing index modules give a clear error, trainable
types go through the training path, and HNSW (when its module exists) plugs in."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from vecsearch import registry
from vecsearch.config import CollectionConfig
from vecsearch.errors import IndexTypeUnavailableError, ValidationError
from vecsearch.registry import IndexType


@pytest.fixture
def trained_type():
    registry.register(
        IndexType(
            name="trained_flat",
            module="tests.vecsearch._fake_index",
            index_class="TrainedFlatIndex",
            params_class="TrainedParams",
            defaults=lambda dim: {"nlist": 4},
            needs_training=True,
            min_train_points=lambda p: 5 * int(p["nlist"]),
        )
    )
    yield
    registry.unregister("trained_flat")


def test_known_types_and_defaults():
    assert {"flat", "hnsw", "ivf_pq", "binary"} <= set(registry.index_types())
    assert registry.get_index_type("flat").available()
    expected = "hnsw" if importlib.util.find_spec("indexes.hnsw") else "flat"
    assert registry.default_index_type() == expected
    params, exact = registry.get_index_type("flat").search_params(
        {"hnsw_ef": 128, "exact": True, "quantization": None, "n_threads": 1}
    )
    assert exact is True and params.n_threads == 1


def test_missing_module_gives_a_clear_error():
    registry.register(IndexType("ghost", "indexes.ghost_not_here", "GhostIndex", "GhostParams"))
    try:
        with pytest.raises(IndexTypeUnavailableError) as info:
            CollectionConfig.create(4, "Dot", "ghost")
        assert "'ghost'" in str(info.value) and "indexes.ghost_not_here" in str(info.value)
        assert info.value.code == "index_type_unavailable"
    finally:
        registry.unregister("ghost")
    for name in ("hnsw", "ivf_pq", "binary"):
        itype = registry.get_index_type(name)
        if importlib.util.find_spec(itype.module) is None:
            with pytest.raises(IndexTypeUnavailableError, match=f"'{name}'.*{itype.module}"):
                CollectionConfig.create(4, "Dot", name)


def test_ivfpq_defaults_divide_the_dimension():
    for dim in (50, 384, 784, 7):
        p = registry._ivfpq_defaults(dim)
        assert dim % p["m"] == 0


def test_trainable_type_trains_once_it_has_enough_points(db, rng, trained_type):
    coll = db.create_collection(
        "t", {"vectors": {"size": 4, "distance": "Euclid"}, "index": {"type": "trained_flat"}}
    )
    assert coll.config.index.params == {"nlist": 4}
    x = rng.normal(size=(30, 4)).astype(np.float32)
    coll.upsert_batch(list(range(10)), x[:10])
    assert not coll.space("").ready
    assert coll.search(x[3], limit=2)[0].id == 3
    assert coll.last_plan == "exact"  # nothing to search in yet: exact over the store
    coll.upsert_batch(list(range(10, 30)), x[10:])
    assert (
        coll.space("").ready
        and coll.space("").index.trained_on == 30
        and coll.space("").index.ntotal == 30
    )
    assert coll.search(x[17], limit=1)[0].id == 17
    assert coll.last_plan == "index"
    db.close()
    reopened = db.get_collection("t")
    assert reopened.index_source == "loaded" and reopened.space("").index.ntotal == 30
    with pytest.raises(ValidationError, match=r"params\.bogus"):
        db.create_collection(
            "u",
            {
                "vectors": {"size": 4, "distance": "Dot"},
                "index": {"type": "trained_flat", "params": {"bogus": 1}},
            },
        )


# -- HNSW, once indexes.hnsw exists ---------------------------------------------------------


def test_hnsw_collection(db, rng):
    pytest.importorskip("indexes.hnsw")
    coll = db.create_collection(
        "h",
        {
            "vectors": {"size": 16, "distance": "Cosine"},
            "hnsw_config": {"m": 8, "ef_construct": 64},
        },
    )
    assert coll.config.index.type == "hnsw"
    assert coll.config.index.params["M"] == 8 and coll.config.index.params["ef_construction"] == 64
    x = rng.normal(size=(3000, 16)).astype(np.float32)
    coll.upsert_batch(list(range(3000)), x, [{"g": i % 100} for i in range(3000)])
    exact = db.create_collection(
        "e", {"vectors": {"size": 16, "distance": "Cosine"}, "index": {"type": "flat"}}
    )
    exact.upsert_batch(list(range(3000)), x, [{"g": i % 100} for i in range(3000)])
    qs = rng.normal(size=(30, 16)).astype(np.float32)
    hits = total = 0
    for q in qs:
        got = {h.id for h in coll.search(q, limit=10, params={"hnsw_ef": 64})}
        want = {h.id for h in exact.search(q, limit=10)}
        hits += len(got & want)
        total += 10
    assert hits / total >= 0.9
    for flt in (
        {"must": [{"key": "g", "match": {"value": 3}}]},  # 30 points: exact plan
        {"must": [{"key": "g", "range": {"lt": 60}}]},  # 60 %: filtered index search
    ):
        for q in qs[:5]:
            got = coll.search(q, limit=10, filter=flt)
            assert len(got) == 10
            assert all(exact.retrieve([h.id])[0].payload["g"] in range(60) for h in got)
    db.close()
    again = db.get_collection("h")
    assert again.index_source == "loaded" and again.space("").index.ntotal == 3000


def test_build_params_accept_flags_and_reject_containers():
    ivf = registry.get_index_type("ivf_pq")
    if not ivf.available():
        pytest.skip("this build has no ivf_pq index")
    params = ivf.build_params(16, {"nlist": 8, "keep_vectors": True}, "index.params")
    assert params["keep_vectors"] is True
    with pytest.raises(ValidationError, match=r"index.params.nlist"):
        ivf.build_params(16, {"nlist": [8]}, "index.params")


def test_hnsw_filtered_search_after_slot_reuse(db, rng):
    """Filtered HNSW search through the engine, before and after churn has moved points to
    reused slots (the label -> slot translation then goes through the slots' ids): the exact
    plan returns exactly the brute-force answer over the allowed points, the index plan only
    allowed points, k of them."""
    pytest.importorskip("indexes.hnsw")
    coll = db.create_collection(
        "h",
        {
            "vectors": {"size": 8, "distance": "Euclid"},
            "index": {"type": "hnsw", "params": {"M": 8, "ef_construction": 32}},
            "hnsw_config": {"full_scan_threshold": 10},  # KB: up to 320 points go exact
        },
    )
    coll.create_payload_index("g", "integer")
    points = {i: rng.normal(size=8).astype(np.float32) for i in range(1500)}
    coll.upsert_batch(
        list(points), np.stack(list(points.values())), [{"g": i % 50} for i in points]
    )

    def check(expect_identity: bool) -> None:
        ids = np.array(sorted(points))
        x = np.stack([points[i] for i in ids])
        qs = rng.normal(size=(8, 8)).astype(np.float32)
        for lt, plan in ((1, "exact"), (2, "exact"), (40, "index")):
            flt = {"must": [{"key": "g", "range": {"lt": lt}}]}
            allowed = ids[ids % 50 < lt]
            for q in qs:
                hits = coll.search(q, limit=10, filter=flt)
                assert coll.last_plan == plan
                got = [h.id for h in hits]
                assert len(got) == 10 and set(got) <= set(allowed.tolist())
                if plan == "exact":
                    d = ((x[np.isin(ids, allowed)] - q) ** 2).sum(axis=1)
                    assert got == allowed[np.argsort(d, kind="stable")[:10]].tolist()
        assert (
            coll.space("")._slot_cache is not None
            and coll.space("")._slot_cache[1] is expect_identity
        )

    check(expect_identity=True)  # built in label order: slot == label
    gone = rng.choice(1500, size=500, replace=False).tolist()
    coll.delete(gone)
    for i in gone:
        del points[i]
    coll.space("").index.consolidate()  # frees the deleted slots for reuse
    new = {2000 + j: rng.normal(size=8).astype(np.float32) for j in range(400)}
    coll.upsert_batch(list(new), np.stack(list(new.values())), [{"g": i % 50} for i in new])
    points.update(new)
    check(expect_identity=False)
