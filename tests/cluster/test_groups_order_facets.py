"""order_by (query and scroll), groups and facets across 3 shards equal a single-node
collection holding the same real GloVe points (the oracle: build both, compare)."""

from __future__ import annotations

import numpy as np
import pytest

from vecsearch.cluster.collection import ClusterCollection
from vecsearch.collection import Collection
from vecsearch.config_qdrant import parse_create
from vecsearch.errors import ValidationError

pytestmark = pytest.mark.cluster

BODY = {"vectors": {"size": 50, "distance": "Cosine"}}
N = 3000
FILTER = {"must_not": [{"key": "g", "match": {"value": 2}}]}


def payload(i: int) -> dict:
    """Keys for every feature: ``g`` (7 ints), ``cat`` (300 strings: 10 points each, so a
    group's hits spread thinly over shards), ``tags`` (lists: a point in two groups),
    ``price`` (ties, some points with two values, some with none), ``odd`` (a float next to
    an int: the point joins no group), ``flag`` (bools)."""
    p = {
        "g": i % 7,
        "cat": f"c{(i * 7919) % 300:03d}",
        "tags": ["t" + str(i % 5)] + (["t" + str((i // 5) % 5)] if i % 3 == 0 else []),
        "i": i,
        "flag": i % 4 == 0,
        "odd": [i % 6, 1.5] if i % 10 == 0 else i % 6,
    }
    if i % 13:
        p["price"] = [(i * 37) % 101, 200 + i % 9] if i % 11 == 0 else (i * 37) % 101
    return p


@pytest.fixture(scope="module")
def pair(ray_cluster, glove, tmp_path_factory):
    """The same 3,000 points in a single-node collection and a 3-shard one, the same payload
    indexes on both; and a small lookup collection with ids 0..6 (``with_lookup``)."""
    points, _ = glove
    base = tmp_path_factory.mktemp("gof")
    single = Collection.create("ref", base / "single", parse_create(BODY))
    ids = list(range(N))
    pays = [payload(i) for i in ids]
    single.upsert_batch(ids, points[:N], pays)
    cc = ClusterCollection.create("gof", {**BODY, "shard_number": 3}, str(base / "cluster"))
    for lo in range(0, N, 1500):
        cc.upsert_batch(ids[lo : lo + 1500], points[lo : lo + 1500], pays[lo : lo + 1500])
    for field, schema in [("tags", "keyword"), ("g", "integer"), ("flag", "bool")]:
        single.create_payload_index(field, schema)
        cc.create_payload_index(field, schema)
    single.create_payload_index("price", "float")
    cc.create_payload_index("price", "float")
    lookup = Collection.create(
        "look", base / "look", parse_create({"vectors": {"size": 2, "distance": "Dot"}})
    )
    lookup.upsert([{"id": g, "vector": [1.0, g], "payload": {"name": f"g{g}"}} for g in range(6)])
    yield single, cc, lookup
    cc.close(drop=True)
    single.close()
    lookup.close()


def _hits(hits):
    return [(h.id, round(h.score, 5), h.order_value, h.payload) for h in hits]


def _groups(groups):
    return [
        (g["id"], [(h["id"], round(h["score"], 5), h.get("order_value")) for h in g["hits"]])
        for g in groups
    ]


ORDER_QUERIES = [
    {"query": {"order_by": "price"}, "limit": 40, "with_payload": ["price"]},
    {"query": {"order_by": {"key": "price", "direction": "desc"}}, "limit": 30, "offset": 25},
    {
        "query": {"order_by": {"key": "price", "direction": "desc", "start_from": 50}},
        "filter": FILTER,
        "limit": 20,
        "offset": 7,
    },
    {"query": {"order_by": {"key": "price", "start_from": 99}}, "limit": 60},  # 2-value points
    {"query": {"order_by": {"key": "i", "direction": "desc"}}, "limit": 15},  # no index
]


def test_order_by_query_equals_single_node(pair):
    single, cc, _ = pair
    got, want = cc.query_batch(ORDER_QUERIES), single.query_batch(ORDER_QUERIES)
    for g, w in zip(got, want, strict=True):
        assert len(w) > 0 and _hits(g) == _hits(w)
    assert [h.order_value for h in want[3]].count(200) >= 1  # a second value ranked
    assert cc.query(ORDER_QUERIES[0]) == got[0]


@pytest.mark.parametrize(
    "order_by, flt, limit",
    [
        ("price", None, 50),
        ({"key": "price", "direction": "desc", "start_from": 60}, FILTER, 33),
        ({"key": "i", "direction": "asc", "start_from": 2990}, None, 100),  # fewer than limit
        (
            {"key": "price", "direction": "desc"},
            {"must": [{"key": "flag", "match": {"value": True}}]},
            70,
        ),
    ],
)
def test_order_by_scroll_equals_single_node(pair, order_by, flt, limit):
    single, cc, _ = pair
    got, nxt = cc.scroll(flt, limit=limit, order_by=order_by, with_payload=["price", "i"])
    want, wnxt = single.scroll(flt, limit=limit, order_by=order_by, with_payload=["price", "i"])
    assert nxt is None and wnxt is None
    assert [(r.id, r.order_value, r.payload) for r in got] == [
        (r.id, r.order_value, r.payload) for r in want
    ]
    assert len(want) == min(limit, len(want)) and len(want) > 0


def test_order_by_refusals_are_the_engines(pair):
    single, cc, _ = pair
    bad = [
        ({"order_by": {"key": "price", "direction": "up"}}, "order_by.direction"),
        ({"order_by": {"key": "price"}, "offset": 5}, "offset"),
        ({"order_by": {"key": "price", "start_from": "soon"}}, "order_by.start_from"),
    ]
    for kwargs, field in bad:
        for coll in (single, cc):
            with pytest.raises(ValidationError) as err:
                coll.scroll(None, limit=5, **kwargs)
            assert err.value.field == field
    body = {"query": {"order_by": {"key": "price", "direction": "up"}}}
    for coll in (single, cc):
        with pytest.raises(ValidationError) as err:
            coll.query(body)
        assert err.value.field == "query.order_by.direction"


def _group_bodies(queries):
    q0, q1 = queries[0].tolist(), queries[1].tolist()
    exact = {"exact": True}
    return [
        # 10 points per cat: a group's hits sit on several shards (the fill step)
        ("query", {"query": q0, "group_by": "cat", "limit": 6, "group_size": 8, "params": exact}),
        (
            "query",
            {
                "query": q1,
                "group_by": "g",
                "limit": 3,
                "group_size": 40,  # more hits than one shard's first list holds per group
                "filter": FILTER,
                "params": exact,
                "with_payload": ["g", "cat"],
            },
        ),
        (
            "query",
            {
                "query": q0,
                "group_by": "tags",
                "limit": 4,
                "group_size": 3,
                "params": exact,
                "with_payload": {"exclude": ["i", "odd"]},
            },
        ),
        ("query", {"query": q1, "group_by": "odd", "limit": 5, "group_size": 6, "params": exact}),
        ("query", {"query": 17, "group_by": "cat", "limit": 4, "group_size": 5, "params": exact}),
        (
            "query",
            {
                "query": {"order_by": {"key": "price", "direction": "desc", "start_from": 70}},
                "group_by": "cat",
                "limit": 5,
                "group_size": 4,
            },
        ),
        (
            "search",
            {
                "vector": q0,
                "group_by": "g",
                "limit": 4,
                "group_size": 5,
                "params": exact,
                "score_threshold": 0.6,
                "with_payload": True,
            },
        ),
    ]


def test_groups_equal_single_node(pair, glove):
    single, cc, _ = pair
    _, queries = glove
    fills = []
    for kind, body in _group_bodies(queries):
        want = single.query_groups(body, kind=kind)
        got = cc.query_groups(body, kind=kind)
        fills.append(cc.last_group_fill)
        assert len(want) > 0, body
        assert _groups(got) == _groups(want), (kind, body)
        assert [[h["payload"] for h in g["hits"]] for g in got] == [
            [h["payload"] for h in g["hits"]] for g in want
        ]
    # the thin groups (cat: 10 points each) are full and needed re-queried shards to fill
    cat = single.query_groups(_group_bodies(queries)[0][1])
    assert all(len(g["hits"]) == 8 for g in cat)
    assert fills[0][0] > 0 and fills[0][-1] == 0


def test_groups_with_lookup_and_refusals(pair, glove):
    single, cc, lookup = pair
    _, queries = glove
    body = {
        "query": queries[2].tolist(),
        "group_by": "g",
        "limit": 7,
        "group_size": 2,
        "params": {"exact": True},
        "with_lookup": {"collection": "look", "with_payload": ["name"]},
    }
    resolve = {"look": lookup}.__getitem__
    got, want = cc.query_groups(body, resolve=resolve), single.query_groups(body, resolve=resolve)
    assert [g.get("lookup") for g in got] == [g.get("lookup") for g in want]
    assert any(g["lookup"] is None for g in want) and any(g["lookup"] for g in want)
    assert _groups(got) == _groups(want)
    bad = [
        ({"query": queries[0].tolist(), "group_by": "g", "offset": 3}, "offset"),
        ({"query": queries[0].tolist()}, "group_by"),
        ({"query": queries[0].tolist(), "group_by": "g", "group_size": 0}, "group_size"),
        ({"query": queries[0].tolist(), "group_by": "g", "groupsize": 4}, "groupsize"),
        ({"query": {"order_by": {"key": "i", "direction": "up"}}, "group_by": "g"}, "query"),
        ({"query": queries[0].tolist(), "group_by": "g", "using": "nope"}, "using"),
    ]
    for b, field in bad:
        errors = []
        for coll in (single, cc):
            with pytest.raises(ValidationError) as err:
                coll.query_groups(b)
            errors.append((err.value.field, str(err.value)))
        assert errors[0] == errors[1] and errors[0][0].split(".")[0] == field, errors


@pytest.mark.parametrize(
    "key, flt, limit",
    [
        ("tags", None, 3),  # 5 values, lists
        ("g", FILTER, 4),
        ("g", {"must": [{"key": "price", "range": {"gte": 30, "lt": 60}}]}, None),
        ("flag", None, 1),
        ("tags", {"must": [{"key": "cat", "match": {"value": "c001"}}]}, 10),
    ],
)
def test_facets_equal_single_node(pair, key, flt, limit):
    from vecsearch.facets import facet

    single, cc, _ = pair
    want = facet(single, key, flt, limit, True)
    got = cc.facet(key, flt, limit, True)
    assert len(want) > 0 and got == want


def test_facet_refusals_are_the_engines(pair):
    from vecsearch.facets import facet

    single, cc, _ = pair
    for args, field in [
        (("cat",), "key"),  # no payload index
        (("price",), "key"),  # a float index cannot facet
        (("g", None, 0), "limit"),
        (("g", {"must": [{"key": "g", "match": 3}]}), "filter"),
    ]:
        errors = []
        for call in (lambda *a: facet(single, *a), cc.facet):
            with pytest.raises(ValidationError) as err:
                call(*args)
            errors.append((err.value.field.split(".")[0], str(err.value)))
        assert errors[0] == errors[1] and errors[0][0] == field


def test_counts_equal_single_node(pair):
    single, cc, _ = pair
    for flt in (None, FILTER, {"must": [{"key": "tags", "match": {"any": ["t1", "t3"]}}]}):
        assert cc.count(flt) == single.count(flt)
    assert np.sum(list(cc.shard_point_counts().values())) == N
