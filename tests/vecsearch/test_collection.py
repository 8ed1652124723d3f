"""Collection operations against brute-force numpy: scores per distance, threshold, offset,
payload selection, scroll cursors, payload updates, payload indexes and the planner."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from vecsearch.collection import Collection
from vecsearch.database import Database
from vecsearch.errors import PointNotFoundError

N, DIM = 300, 8


def brute(x: np.ndarray, q: np.ndarray, distance: str) -> np.ndarray:
    """Qdrant scores of every row of ``x`` for query ``q`` (float64)."""
    x = x.astype(np.float64)
    q = q.astype(np.float64)
    if distance == "Cosine":
        return (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (q / np.linalg.norm(q))
    if distance == "Dot":
        return x @ q
    return np.linalg.norm(x - q, axis=1)


def filled(db: Database, distance: str, rng: np.random.Generator) -> tuple[Collection, np.ndarray]:
    # flat: these tests compare against brute force exactly
    body = {"vectors": {"size": DIM, "distance": distance}, "index": {"type": "flat"}}
    coll = db.create_collection("c", body)
    x = rng.normal(size=(N, DIM)).astype(np.float32)
    payloads = [
        {"i": i, "even": i % 2 == 0, "tag": f"t{i % 5}", "obj": {"k": i % 3}} for i in range(N)
    ]
    coll.upsert_batch(list(range(N)), x, payloads)
    return coll, x


@pytest.mark.parametrize("distance", ["Cosine", "Dot", "Euclid"])
def test_search_scores_match_brute_force(db, rng, distance):
    coll, x = filled(db, distance, rng)
    higher = distance != "Euclid"
    for q in rng.normal(size=(5, DIM)).astype(np.float32):
        s = brute(x, q, distance)
        order = np.argsort(-s if higher else s, kind="stable")[:10]
        hits = coll.search(q, limit=10)
        assert [h.id for h in hits] == order.tolist()
        np.testing.assert_allclose([h.score for h in hits], s[order], rtol=1e-5, atol=1e-5)
        # offset skips the best ones; threshold keeps scores on the right side
        assert [h.id for h in coll.search(q, limit=5, offset=3)] == order[3:8].tolist()
        thr = float(s[order[4]])
        kept = coll.search(q, limit=10, score_threshold=thr - 1e-6 if higher else thr + 1e-6)
        assert [h.id for h in kept] == order[:5].tolist()


def test_cosine_vectors_are_stored_normalised(db, rng):
    coll = db.create_collection("c", {"vectors": {"size": 3, "distance": "Cosine"}})
    coll.upsert([{"id": 1, "vector": [3.0, 0.0, 4.0]}])
    (rec,) = coll.retrieve([1], with_vector=True)
    np.testing.assert_allclose(rec.vector, [0.6, 0.0, 0.8], rtol=1e-6)
    (hit,) = coll.search([1.0, 0.0, 0.0], limit=1, with_vector=True)
    assert hit.score == pytest.approx(0.6, abs=1e-6)


def test_upsert_replaces_and_ids_of_both_kinds(db):
    coll = db.create_collection("c", {"vectors": {"size": 2, "distance": "Euclid"}})
    u = str(uuid.uuid4())
    r1 = coll.upsert(
        [{"id": 5, "vector": [0, 0], "payload": {"a": 1}}, {"id": u, "vector": [1, 1]}]
    )
    r2 = coll.upsert([{"id": 5, "vector": [2, 2], "payload": {"b": 2}}])
    assert r2.operation_id == r1.operation_id + 1
    assert coll.count() == 2
    recs = coll.retrieve([u.upper(), 5, 999], with_vector=True)
    assert [r.id for r in recs] == [u, 5]
    assert recs[1].payload == {"b": 2} and recs[1].vector.tolist() == [2.0, 2.0]
    assert recs[0].payload == {}
    # the same id twice in one batch: the last one wins
    coll.upsert([{"id": 7, "vector": [0, 1]}, {"id": 7, "vector": [0, 2], "payload": {"v": 2}}])
    assert coll.retrieve([7], with_vector=True)[0].vector.tolist() == [0.0, 2.0]
    hit = coll.search([2, 2], limit=1, with_payload=True)[0]
    assert (hit.id, hit.score, hit.payload, hit.version) == (5, 0.0, {"b": 2}, r2.operation_id)


def test_payload_selectors(db):
    coll = db.create_collection("c", {"vectors": {"size": 2, "distance": "Dot"}})
    p = {"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2]}
    coll.upsert([{"id": 1, "vector": [1, 0], "payload": p}])
    get = lambda sel: coll.retrieve([1], with_payload=sel)[0].payload  # noqa: E731
    assert get(True) == p
    assert get(False) is None
    assert get(["a", "e"]) == {"a": 1, "e": [1, 2]}
    assert get({"include": ["b.c"]}) == {"b": {"c": 2}}  # nested, as Qdrant returns it
    assert get({"exclude": ["b.c", "e"]}) == {"a": 1, "b": {"d": 3}}
    assert coll.search([1, 0], with_payload=["a"])[0].payload == {"a": 1}


def test_scroll_pages_in_id_order_with_and_without_filter(db, rng):
    coll = db.create_collection("c", {"vectors": {"size": 2, "distance": "Euclid"}})
    uuids = sorted(str(uuid.UUID(int=int(v))) for v in rng.integers(0, 2**62, size=5))
    ids = [3, 1, 2**63 + 5, 10, 0, *uuids]
    coll.upsert([{"id": i, "vector": [k, 0], "payload": {"k": k}} for k, i in enumerate(ids)])
    # Qdrant's order: integers numerically, then UUIDs
    expected = [0, 1, 3, 10, 2**63 + 5, *uuids]
    for flt, want in (
        (None, expected),
        ({"must": [{"key": "k", "range": {"gte": 2}}]}, [0, 10, 2**63 + 5, *uuids]),
    ):
        seen, offset = [], None
        while True:
            page, offset = coll.scroll(filter=flt, limit=3, offset=offset)
            seen += [r.id for r in page]
            if offset is None:
                break
        assert seen == want
    page, nxt = coll.scroll(limit=2, offset=3)
    assert [r.id for r in page] == [3, 10] and nxt == 2**63 + 5


def test_scroll_of_large_filtered_sets_pages_through_the_store(db, rng, monkeypatch):
    coll, _ = filled(db, "Dot", rng)
    monkeypatch.setattr(Collection, "SCROLL_SORT_LIMIT", 10)  # force the paging path
    flt = {"must": [{"key": "tag", "match": {"any": ["t1", "t3"]}}]}
    seen, offset = [], None
    while True:
        page, offset = coll.scroll(filter=flt, limit=7, offset=offset)
        seen += [r.id for r in page]
        if offset is None:
            break
    assert seen == [i for i in range(N) if i % 5 in (1, 3)]


def test_payload_updates(db):
    coll = db.create_collection("c", {"vectors": {"size": 2, "distance": "Dot"}})
    coll.upsert([{"id": i, "vector": [1, i], "payload": {"i": i, "g": i % 2}} for i in range(6)])
    coll.set_payload({"new": True}, points=[0, 1])
    coll.set_payload({"deep": 1}, points=[2], key="a.b")
    coll.overwrite_payload({"only": 1}, filter={"must": [{"key": "i", "match": {"value": 3}}]})
    coll.delete_payload(["g"], filter={"must": [{"key": "g", "match": {"value": 0}}]})
    coll.clear_payload(points=[5])
    got = {r.id: r.payload for r in coll.scroll(limit=10)[0]}
    assert got == {
        0: {"i": 0, "new": True},
        1: {"i": 1, "g": 1, "new": True},
        2: {"i": 2, "a": {"b": {"deep": 1}}},
        3: {"only": 1},
        4: {"i": 4},
        5: {},
    }
    with pytest.raises(PointNotFoundError):
        coll.set_payload({"x": 1}, points=[1, 99])
    assert coll.retrieve([1])[0].payload == {"i": 1, "g": 1, "new": True}  # unchanged


def test_delete_by_ids_and_filter(db, rng):
    coll, x = filled(db, "Euclid", rng)
    coll.delete(points=[0, 1, 2, 10_000])  # unknown ids are ignored
    coll.delete(filter={"must": [{"key": "tag", "match": {"value": "t4"}}]})
    left = [i for i in range(3, N) if i % 5 != 4]
    assert coll.count() == len(left)
    hits = coll.search(x[0], limit=len(left) + 10)
    assert sorted(h.id for h in hits) == left


@pytest.mark.parametrize("indexed", [False, True])
def test_filtered_search_returns_k_whenever_k_match(db, rng, indexed):
    coll, x = filled(db, "Cosine", rng)
    if indexed:
        coll.create_payload_index("tag", "keyword")
        coll.create_payload_index("i", "integer")
    q = rng.normal(size=DIM).astype(np.float32)
    s = brute(x, q, "Cosine")
    for flt, allowed in (
        ({"must": [{"key": "tag", "match": {"value": "t2"}}]}, [i for i in range(N) if i % 5 == 2]),
        ({"must": [{"key": "i", "range": {"lt": 7}}]}, list(range(7))),
        (
            {
                "must": [
                    {"key": "obj.k", "match": {"value": 1}},
                    {"key": "even", "match": {"value": True}},
                ]
            },
            [i for i in range(N) if i % 3 == 1 and i % 2 == 0],
        ),
    ):
        allowed = np.array(allowed)
        want = allowed[np.argsort(-s[allowed], kind="stable")][:10]
        hits = coll.search(q, limit=10, filter=flt)
        assert [h.id for h in hits] == want.tolist()
        assert coll.count(flt) == len(allowed)


def test_planner_uses_exact_search_for_small_filters(db, rng):
    """With an approximate index the planner switches to exact search for selective filters;
    a tiny full_scan_threshold forces the index path. Both give the exact answer here."""
    from vecsearch.config import CollectionConfig
    from vecsearch.planner import choose_plan

    mask = np.zeros(100, dtype=bool)
    mask[:10] = True
    kw = dict(dim=8, full_scan_threshold_kb=1, index_ready=True)
    assert choose_plan(mask, 100, index_exact=False, **kw).strategy == "exact"  # 320 B < 1 KB
    mask[:] = True
    assert choose_plan(mask, 100, index_exact=False, **kw).strategy == "index"
    assert choose_plan(mask, 100, index_exact=True, **kw).strategy == "index"
    assert choose_plan(None, 100, index_exact=False, **kw).strategy == "index"
    assert choose_plan(mask, 100, index_exact=False, force_exact=True, **kw).strategy == "exact"
    assert choose_plan(mask & False, 100, index_exact=False, **kw).strategy == "none"

    cfg = CollectionConfig.create(DIM, "Euclid", "flat")
    coll = db.create_collection("p", cfg)
    x = rng.normal(size=(50, DIM)).astype(np.float32)
    coll.upsert_batch(list(range(50)), x, [{"i": i} for i in range(50)])
    q = x[7] + 0.01
    flt = {"must": [{"key": "i", "range": {"gte": 5, "lt": 15}}]}
    via_index = coll.search(q, limit=3, filter=flt)
    assert coll.last_plan == "index"
    via_exact = coll.search(q, limit=3, filter=flt, params={"exact": True})
    assert [h.id for h in via_index] == [h.id for h in via_exact]
    assert via_index[0].id == 7
    assert coll.search(q, limit=3, filter={"must": [{"has_id": [123]}]}) == []
    assert coll.last_plan == "none"


def test_exact_search_path_matches_index_path(db, rng):
    """Force the planner's exact path (as for an approximate index) and compare with flat,
    reading vectors from the index and, when it cannot give them, from the store."""
    import dataclasses

    coll, _ = filled(db, "Dot", rng)
    q = rng.normal(size=DIM).astype(np.float32)
    flt = {"must": [{"key": "tag", "match": {"any": ["t1", "t2"]}}]}
    want = coll.search(q, limit=10, filter=flt, with_payload=True)
    assert coll.last_plan == "index"
    coll.space("").itype = dataclasses.replace(coll.space("").itype, exact=False)
    for source in ("index", "store"):
        if source == "store":
            coll.space("").index.get_vectors = lambda ids: (_ for _ in ()).throw(RuntimeError("no"))
        got = coll.search(q, limit=10, filter=flt, with_payload=True)
        assert coll.last_plan == "exact"
        assert [(h.id, h.payload) for h in got] == [(h.id, h.payload) for h in want]
        np.testing.assert_allclose([h.score for h in got], [h.score for h in want], rtol=1e-5)


def test_batch_search_equals_single_searches(db, rng):
    coll, _ = filled(db, "Euclid", rng)
    qs = rng.normal(size=(3, DIM)).astype(np.float32)
    reqs = [
        {"vector": qs[0].tolist(), "limit": 4},
        {
            "vector": qs[1].tolist(),
            "limit": 2,
            "filter": {"must": [{"key": "even", "match": {"value": True}}]},
            "with_payload": True,
        },
        {"vector": qs[2].tolist(), "limit": 3, "offset": 1, "score_threshold": 100.0},
    ]
    got = coll.search_batch(reqs)
    assert got[0] == coll.search(qs[0], limit=4)
    assert got[1] == coll.search(qs[1], limit=2, filter=reqs[1]["filter"], with_payload=True)
    assert got[2] == coll.search(qs[2], limit=3, offset=1, score_threshold=100.0)
    assert all(h.payload["even"] for h in got[1])


def test_payload_index_info_and_drop(db, rng):
    coll, _ = filled(db, "Dot", rng)
    coll.create_payload_index("tag", "keyword")
    coll.create_payload_index("obj.k", {"type": "integer"})
    assert coll.describe()["payload_schema"] == {
        "tag": {"data_type": "keyword", "points": N},
        "obj.k": {"data_type": "integer", "params": {"type": "integer"}, "points": N},
    }
    coll.delete_payload_index("tag")
    assert set(coll.payload_schema()) == {"obj.k"}
    info = coll.describe()
    assert info["points_count"] == N and info["config"].vector.vector_params() == {
        "size": DIM,
        "distance": "Dot",
    }
