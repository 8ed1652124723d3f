"""The merge of per-shard ranked lists and the optimistic per-shard k (pure, no Ray)."""

from __future__ import annotations

import numpy as np
import pytest

from vecsearch.cluster.merge import (
    full_k,
    merge_hits,
    merge_scroll,
    optimistic_k,
    optimistic_merge,
)
from vecsearch.ids import id_key
from vecsearch.models import Record, ScoredPoint

pytestmark = pytest.mark.cluster


def _shards(rng, n_shards, n_points, *, skew, ties, descending):
    """Per-shard full rankings (best first): scores from ``rng``, optionally integer (ties),
    optionally with the best points all on shard 0 (``skew``)."""
    scores = rng.integers(0, 20, n_points).astype(float) if ties else rng.random(n_points)
    ids = rng.permutation(n_points * 3)[:n_points]
    order = np.argsort(-scores if descending else scores, kind="stable")
    shard = rng.integers(0, n_shards, n_points)
    if skew:
        shard[order[: n_points // 3]] = 0
    out = [[] for _ in range(n_shards)]
    for i in range(n_points):
        out[shard[i]].append(ScoredPoint(id=int(ids[i]), version=0, score=float(scores[i])))
    key = (
        (lambda h: (-h.score, id_key(h.id))) if descending else (lambda h: (h.score, id_key(h.id)))
    )
    return [sorted(hits, key=key) for hits in out]


def test_merge_orders_by_score_direction():
    a = [ScoredPoint(1, 0, 0.9), ScoredPoint(2, 0, 0.5)]
    b = [ScoredPoint(3, 0, 0.7), ScoredPoint(4, 0, 0.5)]
    assert [h.id for h in merge_hits([a, b], 0, 4, descending=True)] == [1, 3, 2, 4]
    assert [h.id for h in merge_hits([a, b], 1, 2, descending=True)] == [3, 2]
    # Euclid: lower is better
    a = [ScoredPoint(1, 0, 0.1), ScoredPoint(2, 0, 0.6)]
    b = [ScoredPoint(3, 0, 0.3), ScoredPoint(4, 0, 0.6)]
    assert [h.id for h in merge_hits([a, b], 0, 3, descending=False)] == [1, 3, 2]


def test_optimistic_k():
    assert optimistic_k(0, 10, 1) == 10
    assert full_k(5, 10) == 15
    k = optimistic_k(0, 100, 4)  # 25 + 3 * sqrt(100 * 1/4 * 3/4) = 25 + 13
    assert k == 38
    assert optimistic_k(0, 2, 4) <= 2  # never more than the full k


@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("skew", [False, True])
def test_optimistic_merge_equals_full_k_merge(descending, ties, skew):
    rng = np.random.default_rng(20261204)
    requeried_total = 0
    for trial in range(40):
        n_shards = int(rng.integers(2, 6))
        lists = _shards(
            rng, n_shards, int(rng.integers(5, 400)), skew=skew, ties=ties, descending=descending
        )
        offset, limit = int(rng.integers(0, 30)), int(rng.integers(1, 60))
        calls = []

        def run(shards, k, lists=lists, calls=calls):
            calls.append((list(shards), k))
            return [lists[s][:k] for s in shards]

        full = merge_hits(
            [h[: offset + limit] for h in lists], offset, limit, descending=descending
        )
        got, stats = optimistic_merge(
            run, list(range(n_shards)), offset, limit, descending=descending, factor=1.0, extra=0
        )
        assert [(h.id, h.score) for h in got] == [(h.id, h.score) for h in full], trial
        assert len(calls) <= 2 and calls[0][1] == stats.first_k
        requeried_total += len(stats.requeried)
    if skew:  # all best points on one shard: the optimistic k must be corrected
        assert requeried_total > 0


def test_optimistic_merge_without_requery_on_balanced_data():
    rng = np.random.default_rng(7)
    lists = _shards(rng, 4, 4000, skew=False, ties=False, descending=True)
    _, stats = optimistic_merge(
        lambda s, k: [lists[i][:k] for i in s], [0, 1, 2, 3], 0, 100, descending=True
    )
    assert stats.first_k < 100 and stats.requeried == []


def test_merge_scroll_next_offset():
    def page(ids, nxt):
        return [Record(id=i) for i in ids], nxt

    # shard A has 1..3 then 4; shard B has 10..12 then 13
    recs, nxt = merge_scroll([page([1, 2, 3], 4), page([10, 11, 12], 13)], 3)
    assert [r.id for r in recs] == [1, 2, 3] and nxt == 4
    recs, nxt = merge_scroll([page([1, 5], None), page([2, 3], None)], 3)
    assert [r.id for r in recs] == [1, 2, 3] and nxt == 5
    recs, nxt = merge_scroll([page([1], None), page([2], None)], 3)
    assert [r.id for r in recs] == [1, 2] and nxt is None
    u = "00000000-0000-0000-0000-000000000001"
    recs, nxt = merge_scroll([page([u], None), page([9, 10], 11)], 2)
    assert [r.id for r in recs] == [9, 10] and nxt == 11  # integers before UUIDs


# -- order_by and groups (vecsearch.cluster.merge / vecsearch.cluster.reads, pure) -----------
def test_order_sorted_ties_by_id_in_both_directions():
    from vecsearch.cluster.merge import merge_hits, merge_ordered_scroll

    a = [ScoredPoint(5, 0, 1.0, order_value=3), ScoredPoint(9, 0, 1.0, order_value=1.5)]
    b = [ScoredPoint(2, 0, 1.0, order_value=3.0), ScoredPoint(7, 0, 1.0, order_value=1.5)]
    asc = merge_hits([a, b], 0, 4, descending=False, by_order=True)
    assert [h.id for h in asc] == [7, 9, 2, 5]
    desc = merge_hits([a, b], 1, 2, descending=True, by_order=True)
    assert [h.id for h in desc] == [5, 7]  # 3 ties: 2 then 5; offset 1 drops 2
    recs = [[Record(4, order_value=2), Record(1, order_value=2)], [Record(3, order_value=8)]]
    assert [r.id for r in merge_ordered_scroll(recs, 2, descending=True)] == [3, 1]


def _single_node_groups(full, path, limit, size, key):
    """The engine's grouping over the merged full ranking (the oracle)."""
    from vecsearch.cluster.reads import members

    merged = sorted((h for hits in full for h in hits), key=key)
    groups = members(merged, path)
    return [(v, [h.id for h in hs[:size]]) for v, hs in list(groups.items())[:limit]]


@pytest.mark.parametrize("by_order", [False, True])
@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize("seed", range(6))
def test_sharded_groups_equal_grouping_the_merged_ranking(seed, descending, by_order):
    """Groups over shards (first lists, deepened when they hold too few groups, candidate
    choice, fill re-queries by ``match``) equal grouping the single merged ranking, with
    score ties, points in two groups, points that match a value but join no group (a float
    or a bool next to it), and (odd seeds) one group holding most points."""
    from vecsearch.cluster.plan import ReadPlan
    from vecsearch.cluster.reads import grouped, rank_key
    from vecsearch.payload_path import iter_leaf_values, parse_path
    from vecsearch.query.model import Groups

    rng = np.random.default_rng(seed)
    n_shards, n = 3, 1500
    n_values = int(rng.integers(20, 300))
    plan = ReadPlan(descending, 0, int(rng.integers(1, 8)), by_order)
    size = int(rng.integers(1, 12))
    key = rank_key(plan)
    full = [[] for _ in range(n_shards)]
    for pid in rng.permutation(3 * n)[:n].tolist():
        r = rng.random()
        v = int(rng.integers(0, n_values))
        k = v if r < 0.7 else [v, int(rng.integers(0, n_values))] if r < 0.85 else [v, 1.5]
        if r > 0.95:
            k = [True, 1]
        if seed % 2 and rng.random() < 0.98:
            k = 0
        s = float(rng.integers(0, 30))
        hit = (
            ScoredPoint(pid, 0, 1.0, payload={"k": k}, order_value=s)
            if by_order
            else ScoredPoint(pid, 0, s, payload={"k": k})
        )
        full[int(rng.integers(0, n_shards))].append(hit)
    full = [sorted(hits, key=key) for hits in full]
    path = parse_path("k", "k")

    deepest = []

    def ask(calls):
        deepest.extend(b["limit"] for bodies in calls.values() for b in bodies if "filter" not in b)
        out = {}
        for s, bodies in calls.items():
            out[s] = []
            for b in bodies:
                hits = full[s]
                if "filter" in b:  # match: any value equal (a bool equals 1, as in Python)
                    v = b["filter"]["must"][-1]["match"]["value"]
                    hits = [h for h in hits if v in list(iter_leaf_values(h.payload, path))]
                out[s].append(hits[: b["limit"]])
        return out

    fills: list[int] = []
    got = grouped(ask, {"limit": plan.limit}, Groups("k", size), plan, range(n_shards), fills)
    want = _single_node_groups(full, path, plan.limit, size, key)
    assert [(v, [h.id for h in hs]) for v, hs in got] == want
    assert fills[-1] == 0
    if seed % 2:  # one group holds most points: the first lists are deepened
        assert max(deepest) > max(64, 4 * plan.limit * size) or plan.limit == 1


def test_merge_facets_sums_then_orders_as_the_engine():
    from vecsearch.cluster.merge import merge_facets

    a = [("b", 3), ("a", 2), ("z", 1)]
    b = [("z", 4), ("a", 1), ("c", 3)]
    assert merge_facets([a, b], 10) == [("z", 5), ("a", 3), ("b", 3), ("c", 3)]
    assert merge_facets([a, b], 2) == [("z", 5), ("a", 3)]
    assert merge_facets([[(1, 2), (True, 1)], [(1, 1)]], 5) == [(1, 3), (True, 1)]
