"""Sharded reads equal single-node reads on the same real data (exact search)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.cluster.conftest import BODY, payloads
from vecsearch.cluster.collection import ClusterCollection
from vecsearch.cluster.plan import ClusterUnsupportedError
from vecsearch.collection import Collection
from vecsearch.config_qdrant import parse_create

pytestmark = pytest.mark.cluster

FILTER = {"must": [{"key": "g", "match": {"any": [1, 3, 4]}}]}


@pytest.fixture(scope="module")
def pair(ray_cluster, glove, tmp_path_factory):
    """The same 3,000 points in a single-node collection and in a 3-shard one."""
    points, _ = glove
    base = tmp_path_factory.mktemp("sharded")
    single = Collection.create("ref", base / "single", parse_create(BODY))
    ids = list(range(len(points)))
    single.upsert_batch(ids, {"cos": points, "l2": points}, payloads(len(points)))
    cc = ClusterCollection.create("glove", {**BODY, "shard_number": 3}, str(base / "cluster"))
    for lo in range(0, len(points), 1000):  # several writes, several sequence numbers
        sl = slice(lo, lo + 1000)
        cc.upsert_batch(ids[sl], {"cos": points[sl], "l2": points[sl]}, payloads(1000, lo))
    yield single, cc
    cc.close(drop=True)
    single.close()


def _same(got, want):
    assert [h.id for h in got] == [h.id for h in want]
    np.testing.assert_allclose([h.score for h in got], [h.score for h in want], rtol=1e-6)


def test_points_spread_over_shards(pair):
    _, cc = pair
    counts = [s.read("count", None) for s in cc.shards]
    assert sum(counts) == 3000 and min(counts) > 800
    assert cc.count() == 3000
    assert cc.count(FILTER) == pair[0].count(FILTER)


@pytest.mark.parametrize("using", ["cos", "l2"])
def test_exact_search_equals_single_node(pair, glove, using):
    single, cc = pair
    _, queries = glove
    bodies = [
        {
            "vector": {"name": using, "vector": q.tolist()},
            "limit": 10,
            "params": {"exact": True},
            "with_payload": True,
        }
        for q in queries
    ]
    for got, want in zip(cc.search_batch(bodies), single.search_batch(bodies), strict=True):
        _same(got, want)
        assert [h.payload for h in got] == [h.payload for h in want]
    filtered = [{**b, "filter": FILTER, "offset": 7, "limit": 15} for b in bodies]
    for got, want in zip(cc.search_batch(filtered), single.search_batch(filtered), strict=True):
        _same(got, want)
        assert all(h.payload["g"] in (1, 3, 4) for h in got)


def test_query_api_with_offset_and_threshold(pair, glove):
    single, cc = pair
    _, queries = glove
    bodies = [
        {"query": q.tolist(), "using": "l2", "limit": 8, "offset": 30, "params": {"exact": True}}
        for q in queries[:10]
    ]
    for got, want in zip(cc.query_batch(bodies), single.query_batch(bodies), strict=True):
        _same(got, want)
    q = {
        "query": {"nearest": queries[0].tolist()},
        "using": "cos",
        "limit": 50,
        "score_threshold": 0.8,
        "params": {"exact": True},
    }
    _same(cc.query(q), single.query(q))
    # the full per-shard k gives the same answers
    cc.per_shard_k = "full"
    try:
        for got, want in zip(cc.query_batch(bodies), single.query_batch(bodies), strict=True):
            _same(got, want)
    finally:
        cc.per_shard_k = "optimistic"


def test_scroll_retrieve_and_refusals(pair):
    single, cc = pair
    for flt in (None, FILTER):
        pages, offset = [], None
        while True:
            recs, offset = cc.scroll(flt, limit=700, offset=offset, with_payload=False)
            pages.extend(r.id for r in recs)
            if offset is None:
                break
        want, _ = single.scroll(flt, limit=5000, with_payload=False)
        assert pages == [r.id for r in want]
    ids = [2999, 5, 10_000, 17, 5]
    got = cc.retrieve(ids, with_vector=["l2"])
    want = single.retrieve(ids, with_vector=["l2"])
    assert [r.id for r in got] == [2999, 5, 17] == [r.id for r in want]
    np.testing.assert_array_equal(got[0].vector["l2"], want[0].vector["l2"])
    with pytest.raises(ClusterUnsupportedError, match="not supported across shards"):
        cc.query({"query": {"recommend": {"positive": [5]}}, "using": "cos"})
    from vecsearch.errors import ValidationError

    with pytest.raises(ValidationError) as err:  # an engine refusal arrives as itself
        cc.search_batch([{"vector": {"name": "nope", "vector": [0.0] * 50}, "limit": 3}])
    assert err.value.field.startswith("searches[0]")


def test_reopen_after_the_driver_lets_go(ray_cluster, glove, tmp_path):
    """Close the cluster collection (actors end, data stays) and open it from its record:
    same answers, and writes continue after the replicas' sequence numbers."""
    points, queries = glove
    ids = list(range(300))
    body = {**BODY, "shard_number": 2}
    cc = ClusterCollection.create("again", body, str(tmp_path))
    cc.upsert_batch(ids, {"cos": points[:300], "l2": points[:300]}, payloads(300))
    cc.delete(points=[7, 8])
    bodies = [{"vector": {"name": "cos", "vector": queries[0].tolist()}, "limit": 20}]
    before = [(h.id, h.score) for h in cc.search_batch(bodies)[0]]
    seqs = [s.seq for s in cc.shards]
    cc.close()
    cc = ClusterCollection.open("again", tmp_path)
    try:
        assert [s.seq for s in cc.shards] == seqs
        assert all(r.state == "live" for s in cc.shards for r in s.replicas)
        assert [(h.id, h.score) for h in cc.search_batch(bodies)[0]] == before
        assert cc.count() == 298
        cc.upsert([{"id": 7, "vector": {"cos": points[7].tolist(), "l2": points[7].tolist()}}])
        assert cc.count() == 298 + 1 and [r.id for r in cc.retrieve([7, 8])] == [7]
    finally:
        cc.close(drop=True)
    assert not (tmp_path / "again.cluster.json").exists()


def test_query_by_point_id(pair):
    """A by-id query (the point lives on one shard) answers as on one node: the point's
    vector from its shard, the point itself left out."""
    single, cc = pair
    bodies = [
        {"query": 17, "using": "cos", "limit": 10, "params": {"exact": True}},
        {
            "query": {"nearest": 2999},
            "using": "l2",
            "limit": 6,
            "offset": 3,
            "params": {"exact": True},
            "filter": FILTER,
        },
    ]
    for got, want in zip(cc.query_batch(bodies), single.query_batch(bodies), strict=True):
        _same(got, want)
    assert 17 not in [h.id for h in cc.query(bodies[0])]
    from vecsearch.errors import PointNotFoundError

    with pytest.raises(PointNotFoundError):
        cc.query({"query": 123_456, "using": "cos"})
