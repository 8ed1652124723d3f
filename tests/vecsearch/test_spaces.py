"""Collections of several named vector spaces: optional vectors, per-space indexes and
queries, vector updates, ``has_vector``, durability, snapshots, PATCH with a background
rebuild under concurrent writes, and the errors of all of these."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from vecsearch.database import Database
from vecsearch.errors import PointNotFoundError, ValidationError
from vecsearch.ids import id_key

BODY = {
    "vectors": {
        "a": {"size": 8, "distance": "Cosine"},
        "b": {"size": 3, "distance": "Euclid", "index": {"type": "flat"}},
        "m": {"size": 4, "distance": "Dot", "multivector_config": {"comparator": "max_sim"}},
    },
    "hnsw_config": {"m": 8, "ef_construct": 64},
}


def points(rng, n):
    """Point i has a for i % 4 != 1, b for even i, m for i % 3 == 0."""
    a = rng.standard_normal((n, 8)).astype(np.float32)
    b = rng.standard_normal((n, 3)).astype(np.float32)
    m = [rng.standard_normal((1 + i % 3, 4)).astype(np.float32) for i in range(n)]
    out = []
    for i in range(n):
        v = {}
        if i % 4 != 1:
            v["a"] = a[i]
        if i % 2 == 0:
            v["b"] = b[i]
        if i % 3 == 0:
            v["m"] = m[i]
        out.append({"id": i, "vector": {k: x.tolist() for k, x in v.items()}, "payload": {"i": i}})
    return out, a, b, m


def exact_ids(vecs, has, q, k, metric):
    ids = np.flatnonzero(has)
    if metric == "cos":
        s = (vecs[ids] / np.linalg.norm(vecs[ids], axis=1, keepdims=True)) @ (q / np.linalg.norm(q))
        order = np.lexsort((ids, -s))
    elif metric == "l2":
        order = np.lexsort((ids, np.linalg.norm(vecs[ids] - q, axis=1)))
    else:  # MaxSim over Dot
        s = np.array([(q @ vecs[i].T).max(axis=1).sum() for i in ids])
        order = np.lexsort((ids, -s))
    return ids[order[:k]].tolist()


@pytest.fixture
def spaces(db, rng):
    coll = db.create_collection("s", BODY)
    pts, a, b, m = points(rng, 400)
    coll.upsert(pts)
    n = np.arange(400)
    has = {"a": n % 4 != 1, "b": n % 2 == 0, "m": n % 3 == 0}
    return coll, a, b, m, has


def test_config_per_space(spaces):
    coll = spaces[0]
    cfg = coll.config
    assert cfg.named and cfg.names == ["a", "b", "m"]
    assert cfg.space("a").index.type == "hnsw" and cfg.space("a").index.params["M"] == 8
    assert cfg.space("b").index.type == "flat" and cfg.space("b").metric == "l2"
    assert cfg.space("m").index.type == "muvera" and cfg.space("m").is_multivector
    assert [coll.space(n).count for n in cfg.names] == [300, 200, 134]
    assert {d.name for d in (coll.space(n).dir for n in cfg.names)} == {"0", "1", "2"}


def test_queries_use_each_space(spaces, rng):
    coll, a, b, m, has = spaces
    qa, qb = rng.standard_normal(8), rng.standard_normal(3)
    qm = rng.standard_normal((2, 4)).astype(np.float32)
    for using, q, vecs, metric in (("a", qa, a, "cos"), ("b", qb, b, "l2"), ("m", qm, m, "ms")):
        want = exact_ids(vecs, has[using], q, 10, metric)
        got = coll.query(
            {"query": np.asarray(q).tolist(), "using": using, "params": {"exact": True}}
        )
        assert [h.id for h in got] == want, using
        got = coll.search(q, limit=10, using=using)  # the search form: {"name", "vector"}
        assert len({h.id for h in got} & set(want)) >= 9, using
    # a prefetch in one space, re-scored exactly in another (only points having both)
    pre = coll.query({"query": qa.tolist(), "using": "a", "limit": 50, "params": {"exact": True}})
    pre_ids = [h.id for h in pre]
    got = coll.query(
        {
            "prefetch": {
                "query": qa.tolist(),
                "using": "a",
                "limit": 50,
                "params": {"exact": True},
            },
            "query": qb.tolist(),
            "using": "b",
            "limit": 100,
        }
    )
    both = np.zeros(400, bool)
    both[[i for i in pre_ids if has["b"][i]]] = True
    assert [h.id for h in got] == exact_ids(b, both, qb, 100, "l2")
    # rrf across spaces
    fused = coll.query(
        {
            "prefetch": [
                {"query": qa.tolist(), "using": "a", "limit": 20},
                {"query": qb.tolist(), "using": "b", "limit": 20},
            ],
            "query": {"fusion": "rrf"},
            "limit": 5,
        }
    )
    assert len(fused) == 5 and fused[0].score > fused[-1].score


def test_has_vector_filter(spaces, rng):
    coll, a, _b, _m, has = spaces
    flt = {"must": [{"has_vector": "m"}]}
    assert coll.count(flt) == int(has["m"].sum())
    assert coll.count({"must_not": [{"has_vector": "a"}]}) == int((~has["a"]).sum())
    assert coll.count({"must": [{"has_vector": "nope"}]}) == 0
    # combined with a payload condition that needs the payload scan
    flt2 = {"must": [{"has_vector": "b"}, {"is_empty": {"key": "missing"}}]}
    assert coll.count(flt2) == int(has["b"].sum())
    qa = rng.standard_normal(8)
    got = coll.search(qa, limit=10, using="a", filter=flt, params={"exact": True})
    assert [h.id for h in got] == exact_ids(a, has["a"] & has["m"], qa, 10, "cos")


def test_optional_vectors_and_vector_updates(spaces, rng):
    coll, a, _b, _m, _has = spaces
    assert sorted(coll.retrieve([1], with_vector=True)[0].vector) == []  # 1: no a, b, m
    assert sorted(coll.retrieve([6], with_vector=["a", "m"])[0].vector) == ["a", "m"]
    assert coll.retrieve([6], with_vector=["b"])[0].vector.keys() == {"b"}
    # update one vector: the others and the payload stay
    new_b = [9.0, 9.0, 9.0]
    coll.update_vectors([{"id": 6, "vector": {"b": new_b}}])
    r = coll.retrieve([6], with_vector=True)[0]
    assert r.vector["b"].tolist() == new_b and r.payload == {"i": 6}
    np.testing.assert_allclose(r.vector["a"], a[6] / np.linalg.norm(a[6]), rtol=1e-6)
    assert coll.search(new_b, limit=1, using="b")[0].id == 6
    # give a point a vector it lacked
    coll.update_vectors([{"id": 1, "vector": {"a": [1.0] * 8}}])
    assert coll.space("a").count == 301
    assert coll.search([1.0] * 8, limit=1, using="a")[0].id == 1
    # delete vectors by filter: the points stay
    coll.delete_vectors(["m"], filter={"must": [{"key": "i", "range": {"lt": 30}}]})
    assert coll.count() == 400 and coll.space("m").count == 134 - 10
    assert coll.count({"must": [{"has_vector": "m"}, {"key": "i", "range": {"lt": 30}}]}) == 0
    # an upsert replaces the whole point: vectors it does not give are gone
    coll.upsert([{"id": 6, "vector": {"a": [0.5] * 8}}])
    assert sorted(coll.retrieve([6], with_vector=True)[0].vector) == ["a"]
    assert coll.space("b").count == 199 and coll.space("m").count == 124  # 6's m was deleted
    got = coll.search([9.0, 9.0, 9.0], limit=1, using="b")
    assert got[0].id != 6


def test_bad_input_names_the_field_and_changes_nothing(spaces):
    coll = spaces[0]
    seq = coll.store.seq
    cases = [
        (lambda: coll.upsert([{"id": 1, "vector": [1.0] * 8}]), "points[0].vector"),
        (lambda: coll.upsert([{"id": 1, "vector": {"x": [1.0]}}]), "points[0].vector.x"),
        (lambda: coll.upsert([{"id": 1, "vector": {"b": [1.0, 2.0]}}]), "points[0].vector.b"),
        (
            lambda: coll.upsert([{"id": 1, "vector": {"b": {"indices": [1], "values": [1.0]}}}]),
            "points[0].vector.b",
        ),
        (
            lambda: coll.upsert(
                [{"id": 1, "vector": {"a": [1.0] * 8}}, {"id": 2, "vector": {"m": [1, 2, 3, 4]}}]
            ),
            "points[1].vector.m",
        ),
        (lambda: coll.update_vectors([{"id": 1, "vector": {}}]), "points[0].vector"),
        (
            lambda: coll.update_vectors([{"id": 1, "vector": {"a": [0.0] * 8}}]),
            "points[0].vector.a",
        ),
        (lambda: coll.delete_vectors(["zz"], points=[1]), "vector[0]"),
        (lambda: coll.delete_vectors([], points=[1]), "vector"),
        (lambda: coll.search([1.0] * 8, limit=3), "vector"),
        (lambda: coll.query({"query": [1.0] * 8, "using": "zz"}), "using"),
        (lambda: coll.query({"query": [1.0] * 3, "using": "a"}), "query"),
        (lambda: coll.query({"query": 1, "using": "b"}), "query"),  # 1 has no b
        (lambda: coll.count({"must": [{"has_vector": 3}]}), "filter.must[0].has_vector"),
        (
            lambda: coll.upsert_batch([1, 2], {"a": [[1.0] * 8]}),
            "batch.vectors.a",
        ),
    ]
    for call, field in cases:
        with pytest.raises(ValidationError) as info:
            call()
        assert info.value.field == field, (field, info.value)
    with pytest.raises(PointNotFoundError):
        coll.update_vectors([{"id": 10_000, "vector": {"a": [1.0] * 8}}])
    with pytest.raises(PointNotFoundError):
        coll.delete_vectors(["a"], points=[10_000])
    assert coll.store.seq == seq and coll.count() == 400


def test_reopen_and_snapshot_keep_every_space(db, spaces, rng, tmp_path):
    coll, a, _b, _m, has = spaces
    qa = rng.standard_normal(8)
    coll.save_index()
    coll.delete(points=[0, 2, 4])  # after the save: catch-up at open
    coll.update_vectors([{"id": 8, "vector": {"b": [7.0, 7.0, 7.0]}}])
    snap = db.create_snapshot("s")
    coll.close(save_index=False)
    again = db.get_collection("s")
    assert all(again.space(n).index_source == "loaded" for n in ("a", "b", "m"))
    assert [again.space(n).count for n in ("a", "b", "m")] == [297, 197, 133]
    assert again.space("a").index.ntotal == 297
    has_a = has["a"].copy()
    has_a[[0, 2, 4]] = False
    got = again.search(qa, limit=10, using="a", params={"exact": True})
    assert [h.id for h in got] == exact_ids(a, has_a, qa, 10, "cos")
    assert again.search([7.0, 7.0, 7.0], limit=1, using="b")[0].id == 8
    other = Database(tmp_path / "other")
    try:
        restored = other.restore_snapshot(db.snapshot_path("s", snap.name), "copy")
        assert restored.config == again.config
        assert [restored.space(n).count for n in ("a", "b", "m")] == [297, 197, 133]
        assert restored.search([7.0, 7.0, 7.0], limit=1, using="b")[0].id == 8
    finally:
        other.close()


def test_patch_rebuilds_in_background_while_writes_and_searches_continue(db, rng):
    coll = db.create_collection(
        "p",
        {"vectors": {"v": {"size": 32, "distance": "Euclid"}, "w": {"size": 2, "distance": "Dot"}}},
    )
    x = rng.standard_normal((12_000, 32)).astype(np.float32)
    coll.upsert_batch(list(range(12_000)), {"v": x, "w": [[1.0, 0.0]] * 12_000})
    q = x[:5] + 0.01
    coll.update_config({"vectors": {"v": {"hnsw_config": {"m": 24, "ef_construct": 120}}}})
    # durable at once; the space keeps its old index until the rebuild is swapped in
    assert coll.config.space("v").index.params["M"] == 24
    assert coll.space("v").config.index.params["M"] == 16
    during_writes = during_searches = 0
    new = rng.standard_normal((60, 32)).astype(np.float32)
    i = 0
    while coll.rebuilder.running("v") and i < 60:
        coll.upsert_batch([20_000 + i], {"v": new[i : i + 1], "w": [[0.0, 1.0]]})
        coll.delete(points=[i])
        during_writes += coll.rebuilder.running("v")
        during_searches += len(coll.search(q[1], limit=5, using="v")) == 5
        i += 1
    assert coll.rebuilder.wait(120)
    assert during_writes > 0 and during_searches > 0, "the rebuild ended before any write"
    assert coll.describe()["optimizer_error"] is None
    space = coll.space("v")
    assert space.config.index.params["M"] == 24 and space.index.M == 24
    assert space.index.ntotal == space.count == 12_000  # i deleted, i added
    # the new index holds exactly the store's vectors, the writes made during the rebuild
    # included (labels: the store's internal ids, which the index is keyed by)
    held = space.index.slot_ids()
    labels = coll.store.space_labels(space.config.id)
    np.testing.assert_array_equal(np.sort(held[held >= 0]), labels)
    found = coll.store.lookup([id_key(20_000 + j) for j in range(i)])
    lab = [found[id_key(20_000 + j)] for j in range(i)]
    np.testing.assert_array_equal(space.index.get_vectors(lab), new[:i])
    assert (
        sum(coll.search(new[j], limit=1, using="v")[0].id == 20_000 + j for j in range(i))
        >= 0.9 * i
    )
    assert all(coll.retrieve([j]) == [] for j in range(i))
    assert coll.space("w").config.index.params["M"] == 16  # untouched
    # the rebuilt index was saved: a reopen loads it
    coll.close()
    again = db.get_collection("p")
    assert again.space("v").index_source == "loaded" and again.space("v").index.M == 24


def test_patch_errors_and_close_during_a_rebuild(db, rng):
    coll = db.create_collection("p", {"vectors": {"size": 16, "distance": "Cosine"}})
    coll.upsert_batch(list(range(8000)), rng.standard_normal((8000, 16)))
    before = coll.config
    for body, field in (
        ({"vectors": {"nope": {"on_disk": True}}}, "vectors.nope"),
        ({"vectors": {"": {"size": 3}}}, "vectors..size"),
        ({"hnsw_config": {"m": -1}}, "hnsw_config.m"),
        ({"vectors": {"": {"index": {"params": {"bogus": 1}}}}}, "vectors..index.params.bogus"),
        ({"shard_number": 2}, "shard_number"),
    ):
        with pytest.raises(ValidationError) as info:
            coll.update_config(body)
        assert info.value.field == field
    assert coll.config == before
    coll.update_config({"hnsw_config": {"m": 12}, "optimizers_config": {"indexing_threshold": 5}})
    assert coll.config.qdrant["optimizers_config"] == {"indexing_threshold": 5}
    coll.close()  # cancels the rebuild, saves the old index
    again = db.get_collection("p")
    # the new config is durable; the saved index has the old parameters, so it is rebuilt
    assert again.config.space("").index.params["M"] == 12
    assert again.space("").index_source == "rebuilt" and again.space("").index.M == 12


def test_concurrent_searches_in_several_spaces_while_writing(spaces, rng):
    coll, _a, _b, _m, _has = spaces
    errors = []

    def reader(using, dim):
        try:
            for _ in range(40):
                coll.search(rng.standard_normal(dim), limit=5, using=using)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=u) for u in (("a", 8), ("b", 3))]
    for t in threads:
        t.start()
    for i in range(40):
        coll.upsert([{"id": 1000 + i, "vector": {"a": [i + 1.0] * 8, "b": [1.0, 2.0, 3.0]}}])
    for t in threads:
        t.join()
    assert not errors and coll.space("b").count == 240
