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
