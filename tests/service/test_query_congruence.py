"""Qdrant's query kinds through the real ``qdrant-client`` against a real ``vecsearch serve``
and against qdrant-client's local mode (Qdrant's semantics in pure Python): recommend (three
strategies), discover, context, mmr, order_by (query and scroll), sample, filter-only
queries, lookup_from, groups with with_lookup, the legacy recommend / discover routes, and
the refusals. Exact search on our side (``exact=True``), scores to float32 tolerance.

Deliberate differences (see the engine's docstrings): ties in order_by are broken by point
id (local mode keeps insertion order: the tests insert in id order); context scores tie
for every point satisfying all pairs, so context answers are compared as sets of
``(score, id)`` over all points; sample answers are random (compared by their properties).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from service import create_app
from tests.service.conftest import ServerThread, make_settings

pytestmark = [
    pytest.mark.filterwarnings("ignore:Local mode performs exact"),
    pytest.mark.filterwarnings("ignore:Payload indexes have no effect in the local Qdrant"),
]
N = 120
rng = np.random.default_rng(11)
D8 = rng.normal(size=(N, 8)).astype(np.float32)
#: Queries that are no stored point (MMR with a stored point's vector ties every candidate).
Q8 = (D8[:10] + 0.5 * rng.normal(size=(10, 8))).astype(np.float32)
A6 = rng.normal(size=(N, 6)).astype(np.float32)
B4 = rng.normal(size=(N, 4)).astype(np.float32)
MULTI = [rng.normal(size=(int(rng.integers(1, 4)), 4)).astype(np.float32) for _ in range(N)]
EXACT = models.SearchParams(exact=True)


def _sparse(i: int) -> models.SparseVector:
    r = np.random.default_rng(500 + i)
    idx = r.choice(40, size=int(r.integers(1, 6)), replace=False)
    return models.SparseVector(
        indices=idx.tolist(), values=np.round(r.uniform(0.1, 2, idx.size), 3).tolist()
    )


def _payload(i: int) -> dict[str, Any]:
    return {
        "g": i % 4,
        "tag": ["red", "green", "blue"][i % 3],
        "t": float((i * 37) % N) + 0.5,
        "when": f"2024-01-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
        "nums": [i % 10, 100 + i % 7],
    }


def _fill(c: QdrantClient) -> None:
    c.create_collection(
        "d", vectors_config=models.VectorParams(size=8, distance=models.Distance.COSINE)
    )
    c.upsert(
        "d",
        [models.PointStruct(id=i, vector=D8[i].tolist(), payload=_payload(i)) for i in range(N)],
    )
    c.create_collection(
        "e",
        vectors_config={
            "a": models.VectorParams(size=6, distance=models.Distance.EUCLID),
            "b": models.VectorParams(size=4, distance=models.Distance.DOT),
        },
        sparse_vectors_config={"s": models.SparseVectorParams()},
    )
    c.upsert(
        "e",
        [
            models.PointStruct(
                id=i,
                vector={"a": A6[i].tolist(), "b": B4[i].tolist(), "s": _sparse(i)},
                payload=_payload(i),
            )
            for i in range(N)
        ],
    )
    c.create_collection(
        "m",
        vectors_config=models.VectorParams(
            size=4,
            distance=models.Distance.COSINE,
            multivector_config=models.MultiVectorConfig(
                comparator=models.MultiVectorComparator.MAX_SIM
            ),
        ),
    )
    c.upsert(
        "m",
        [
            models.PointStruct(id=i, vector=MULTI[i].tolist(), payload={"v": [i, 100 + i, 200 + i]})
            for i in range(40)
        ],
    )
    # "d" again, with payload indexes that order_by uses (Qdrant's server needs them)
    c.create_collection(
        "di", vectors_config=models.VectorParams(size=8, distance=models.Distance.COSINE)
    )
    for key, schema in (("t", "float"), ("when", "datetime"), ("nums", "integer")):
        c.create_payload_index("di", key, schema)
    c.upsert(
        "di",
        [models.PointStruct(id=i, vector=D8[i].tolist(), payload=_payload(i)) for i in range(N)],
    )
    # the lookup collection: ids are group values of "g", vectors of the same size as "d"
    c.create_collection(
        "lk", vectors_config=models.VectorParams(size=8, distance=models.Distance.COSINE)
    )
    c.upsert(
        "lk",
        [
            models.PointStruct(id=g, vector=D8[50 + g].tolist(), payload={"name": f"group {g}"})
            for g in range(3)
        ],
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[ServerThread]:
    """One real server for the module: the calls below only read."""
    srv = ServerThread(create_app(make_settings(tmp_path_factory.mktemp("qc"))))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def pair(served) -> Iterator[tuple[QdrantClient, QdrantClient]]:
    ours, ref = QdrantClient(url=served.url), QdrantClient(":memory:")
    for c in (ours, ref):
        _fill(c)
    yield ours, ref
    ours.close()


@pytest.fixture
def server(served) -> ServerThread:
    return served


def _hits(res: Any) -> list[tuple[Any, float]]:
    points = res.points if hasattr(res, "points") else res
    return [(p.id, round(p.score, 4)) for p in points]


def _q(c: QdrantClient, coll: str = "d", **kw: Any) -> list[tuple[Any, float]]:
    return _hits(c.query_points(coll, search_params=EXACT, **kw))


def _g(value: int) -> models.Filter:
    return models.Filter(
        must=[models.FieldCondition(key="g", match=models.MatchValue(value=value))]
    )


def _reco(pos: list, neg: list, strategy: str, **kw: Any) -> Callable[[QdrantClient], Any]:
    q = models.RecommendQuery(
        recommend=models.RecommendInput(positive=pos, negative=neg, strategy=strategy)
    )
    return lambda c: _q(c, query=q, **kw)


def _groups(res: models.GroupsResult) -> list[tuple[Any, list, Any]]:
    return [
        (g.id, [(h.id, round(h.score, 4)) for h in g.hits], g.lookup.payload if g.lookup else None)
        for g in res.groups
    ]


PAIR = models.ContextPair(positive=3, negative=7)
CALLS: dict[str, Callable[[QdrantClient], Any]] = {
    "recommend average ids": _reco([1, 2], [3], "average_vector"),
    "recommend average vectors": _reco([D8[4].tolist()], [D8[5].tolist(), 6], "average_vector"),
    "recommend best_score": _reco([1, 2], [3, 9], "best_score"),
    "recommend best_score negatives only": _reco([], [3, 9], "best_score", limit=5),
    "recommend sum_scores": _reco([1, 2, 8], [3], "sum_scores"),
    "recommend filtered offset": _reco(
        [1], [2], "best_score", query_filter=_g(1), offset=3, limit=4
    ),
    "recommend threshold": _reco([1], [], "sum_scores", score_threshold=0.5, limit=50),
    "recommend euclid best": lambda c: _q(
        c,
        "e",
        query=models.RecommendQuery(
            recommend=models.RecommendInput(positive=[1], negative=[2], strategy="best_score")
        ),
        using="a",
    ),
    "recommend dot average": lambda c: _q(
        c,
        "e",
        query=models.RecommendQuery(recommend=models.RecommendInput(positive=[1, 4], negative=[2])),
        using="b",
    ),
    "recommend sparse average": lambda c: _q(
        c,
        "e",
        query=models.RecommendQuery(recommend=models.RecommendInput(positive=[1, 4], negative=[2])),
        using="s",
    ),
    "recommend sparse sum": lambda c: _q(
        c,
        "e",
        query=models.RecommendQuery(
            recommend=models.RecommendInput(positive=[1, 4], negative=[2], strategy="sum_scores")
        ),
        using="s",
        limit=15,
    ),
    "recommend multi average": lambda c: _q(
        c,
        "m",
        query=models.RecommendQuery(recommend=models.RecommendInput(positive=[1, 2], negative=[3])),
    ),
    "recommend multi best": lambda c: _q(
        c,
        "m",
        query=models.RecommendQuery(
            recommend=models.RecommendInput(positive=[1], negative=[3], strategy="best_score")
        ),
    ),
    "discover": lambda c: _q(
        c,
        query=models.DiscoverQuery(
            discover=models.DiscoverInput(
                target=5, context=[PAIR, models.ContextPair(positive=11, negative=12)]
            )
        ),
    ),
    "discover euclid": lambda c: _q(
        c,
        "e",
        query=models.DiscoverQuery(discover=models.DiscoverInput(target=5, context=PAIR)),
        using="a",
    ),
    "discover no context": lambda c: _q(
        c,
        query=models.DiscoverQuery(
            discover=models.DiscoverInput(target=D8[9].tolist(), context=[])
        ),
    ),
    "context (all points)": lambda c: sorted(
        _q(
            c,
            query=models.ContextQuery(context=[PAIR, models.ContextPair(positive=20, negative=21)]),
            limit=N,
        )
    ),
    "mmr": lambda c: _q(
        c,
        query=models.NearestQuery(
            nearest=D8[0].tolist(), mmr=models.Mmr(diversity=0.7, candidates_limit=40)
        ),
    ),
    "mmr default diversity offset": lambda c: _q(
        c,
        query=models.NearestQuery(nearest=Q8[2].tolist(), mmr=models.Mmr(candidates_limit=30)),
        limit=5,
        offset=2,
    ),
    "mmr euclid filtered": lambda c: _q(
        c,
        "e",
        query=models.NearestQuery(
            nearest=A6[0].tolist(), mmr=models.Mmr(diversity=0.3, candidates_limit=25)
        ),
        using="a",
        query_filter=_g(2),
    ),
    "mmr sparse": lambda c: _q(
        c,
        "e",
        query=models.NearestQuery(
            nearest=_sparse(1000), mmr=models.Mmr(diversity=0.5, candidates_limit=20)
        ),
        using="s",
    ),
    "order_by asc": lambda c: [
        (p.id, p.order_value)
        for p in c.query_points("d", query=models.OrderByQuery(order_by="t"), limit=7).points
    ],
    "order_by desc start_from": lambda c: [
        (p.id, p.order_value)
        for p in c.query_points(
            "d",
            query=models.OrderByQuery(
                order_by=models.OrderBy(key="t", direction="desc", start_from=60)
            ),
            limit=6,
            query_filter=_g(3),
        ).points
    ],
    "order_by datetime": lambda c: [
        (p.id, p.order_value)
        for p in c.query_points(
            "d",
            query=models.OrderByQuery(
                order_by=models.OrderBy(key="when", start_from="2024-01-20T00:00:00Z")
            ),
            limit=5,
        ).points
    ],
    "scroll order_by array values": lambda c: [
        (r.id, r.order_value)
        for r in c.scroll("d", order_by=models.OrderBy(key="nums", direction="desc"), limit=12)[0]
    ],
    "scroll order_by filtered": lambda c: [
        (r.id, r.order_value, r.payload["t"])
        for r in c.scroll("d", order_by="t", scroll_filter=_g(0), limit=5)[0]
    ],
    "order_by indexed, each kind": lambda c: [
        [
            (p.id, p.order_value)
            for p in c.query_points(
                "di",
                query=models.OrderByQuery(
                    order_by=models.OrderBy(key=k, direction=d, start_from=s)
                ),
                query_filter=f,
                limit=9,
            ).points
        ]
        for k, d, s, f in [
            ("t", "asc", None, None),
            ("t", "desc", 50.5, _g(1)),
            ("when", "desc", "2024-01-15T00:00:00Z", None),
            ("nums", "asc", 5, None),
            ("nums", "desc", None, _g(2)),
        ]
    ],
    "order_by lists a point once per value, past the point count": lambda c: [
        (p.id, p.order_value)
        for p in c.query_points(
            "m", query=models.OrderByQuery(order_by="v"), limit=100, with_payload=False
        ).points
    ],
    "scroll order_by indexed": lambda c: [
        (r.id, r.order_value) for r in c.scroll("di", order_by="nums", limit=15)[0]
    ],
    "filter only": lambda c: _q(c, query_filter=_g(2), limit=6, offset=2),
    "rescore prefetch by recommend": lambda c: _q(
        c,
        prefetch=models.Prefetch(query=D8[1].tolist(), limit=30),
        query=models.RecommendQuery(
            recommend=models.RecommendInput(positive=[1], negative=[4], strategy="best_score")
        ),
        limit=8,
    ),
    "lookup_from": lambda c: _q(
        c, query=2, lookup_from=models.LookupLocation(collection="lk"), limit=5
    ),
    "lookup_from recommend": lambda c: _q(
        c,
        query=models.RecommendQuery(recommend=models.RecommendInput(positive=[0, 1], negative=[2])),
        lookup_from=models.LookupLocation(collection="lk"),
        limit=5,
    ),
    "query groups": lambda c: _groups(
        c.query_points_groups(
            "d", group_by="g", query=D8[3].tolist(), group_size=2, limit=3, search_params=EXACT
        )
    ),
    "query groups with lookup": lambda c: _groups(
        c.query_points_groups(
            "d",
            group_by="g",
            query=D8[7].tolist(),
            group_size=3,
            limit=4,
            with_lookup="lk",
            search_params=EXACT,
        )
    ),
    "query groups by array value": lambda c: _groups(
        c.query_points_groups(
            "d", group_by="nums", query=D8[8].tolist(), group_size=2, limit=5, search_params=EXACT
        )
    ),
    "query groups by string": lambda c: _groups(
        c.query_points_groups(
            "d",
            group_by="tag",
            query=models.RecommendQuery(recommend=models.RecommendInput(positive=[5])),
            group_size=4,
            limit=2,
            search_params=EXACT,
        )
    ),
    "query groups order_by": lambda c: [
        (g.id, [h.id for h in g.hits])
        for g in c.query_points_groups(
            "d", group_by="g", query=models.OrderByQuery(order_by="t"), group_size=2
        ).groups
    ],
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_same_answers(pair, name):
    ours, ref = pair
    assert CALLS[name](ours) == CALLS[name](ref)


def test_sample_is_random_subset(pair):
    ours, _ = pair
    got = ours.query_points(
        "d", query=models.SampleQuery(sample="random"), limit=10, query_filter=_g(1)
    ).points
    ids = [p.id for p in got]
    assert len(ids) == len(set(ids)) == 10 and all(i % 4 == 1 for i in ids)
    assert all(p.score == 1.0 for p in got)
    many = {
        p.id
        for _ in range(5)
        for p in ours.query_points("d", query=models.SampleQuery(sample="random"), limit=5).points
    }
    assert len(many) > 5  # five draws of five do not all give the same five points
    everything = ours.query_points(
        "d", query=models.SampleQuery(sample="random"), limit=N + 10
    ).points
    assert sorted(p.id for p in everything) == list(range(N))


# -- the legacy routes (qdrant-client 1.20 no longer has methods for them) --------------------
def _local(ref: QdrantClient, name: str) -> Any:
    return ref._client.collections[name]  # local mode's collection: it still has them


def test_legacy_recommend_and_discover(pair, server):
    _, ref = pair
    http = httpx.Client(base_url=server.url)
    exact = {"exact": True}
    body = {"positive": [1, 2], "negative": [3], "limit": 6, "params": exact, "with_payload": True}
    got = http.post("/collections/d/points/recommend", json=body).json()["result"]
    want = _local(ref, "d").recommend(positive=[1, 2], negative=[3], limit=6)
    assert [(p["id"], round(p["score"], 4)) for p in got] == _hits(want)
    assert got[0]["payload"] == want[0].payload
    body = {
        "positive": [1],
        "negative": [2],
        "strategy": "best_score",
        "using": "a",
        "limit": 5,
        "params": exact,
    }
    got = http.post("/collections/e/points/recommend", json=body).json()["result"]
    want = _local(ref, "e").recommend(
        positive=[1], negative=[2], strategy="best_score", using="a", limit=5
    )
    assert [(p["id"], round(p["score"], 4)) for p in got] == _hits(want)
    batch = {
        "searches": [{"positive": [4], "limit": 3}, {"positive": [5], "negative": [6], "limit": 2}]
    }
    got = http.post("/collections/d/points/recommend/batch", json=batch).json()["result"]
    want = [
        _local(ref, "d").recommend(positive=[4], limit=3),
        _local(ref, "d").recommend(positive=[5], negative=[6], limit=2),
    ]
    assert [[p["id"] for p in r] for r in got] == [[p.id for p in r] for r in want]
    ctx = [{"positive": 3, "negative": 7}]
    body = {"target": 5, "context": ctx, "limit": 6, "params": exact}
    got = http.post("/collections/d/points/discover", json=body).json()["result"]
    want = _local(ref, "d").discover(target=5, context=[PAIR], limit=6)
    assert [(p["id"], round(p["score"], 4)) for p in got] == _hits(want)
    batch = {"searches": [body, {**body, "target": 9, "limit": 2}]}
    got = http.post("/collections/d/points/discover/batch", json=batch).json()["result"]
    assert [len(r) for r in got] == [6, 2]
    body = {
        "positive": [1],
        "group_by": "g",
        "group_size": 2,
        "limit": 3,
        "params": exact,
        "with_lookup": "lk",
    }
    got = http.post("/collections/d/points/recommend/groups", json=body).json()["result"]["groups"]
    want = ref.query_points_groups(
        "d",
        group_by="g",
        query=models.RecommendQuery(recommend=models.RecommendInput(positive=[1])),
        group_size=2,
        limit=3,
        with_lookup="lk",
    )
    assert [
        (g["id"], [h["id"] for h in g["hits"]], (g["lookup"] or {}).get("payload")) for g in got
    ] == [
        (g.id, [h.id for h in g.hits], g.lookup.payload if g.lookup else None) for g in want.groups
    ]
    body = {"vector": D8[3].tolist(), "group_by": "g", "group_size": 2, "limit": 3, "params": exact}
    got = http.post("/collections/d/points/search/groups", json=body).json()["result"]["groups"]
    want = _local(ref, "d").search_groups(
        query_vector=D8[3].tolist(), group_by="g", group_size=2, limit=3
    )
    assert [(g["id"], [h["id"] for h in g["hits"]]) for g in got] == [
        (g.id, [h.id for h in g.hits]) for g in want.groups
    ]


def test_with_vectors_spelling(pair, server):
    http = httpx.Client(base_url=server.url)
    got = http.post(
        "/collections/d/points/query",
        json={"query": D8[0].tolist(), "limit": 1, "with_vectors": True},
    ).json()["result"]["points"]
    assert got[0]["id"] == 0 and np.allclose(
        got[0]["vector"], D8[0] / np.linalg.norm(D8[0]), atol=1e-6
    )
    got = http.post(
        "/collections/d/points/search",
        json={"vector": D8[0].tolist(), "limit": 1, "with_vectors": True},
    ).json()["result"]
    assert len(got[0]["vector"]) == 8
    got = http.post("/collections/d/points/scroll", json={"limit": 2, "with_vectors": True}).json()[
        "result"
    ]
    assert [len(p["vector"]) for p in got["points"]] == [8, 8]


REFUSALS: dict[str, Callable[[QdrantClient], Any]] = {
    "average_vector without positive": lambda c: c.query_points(
        "d", query=models.RecommendQuery(recommend=models.RecommendInput(negative=[1]))
    ),
    "recommend by unknown id": lambda c: c.query_points(
        "d", query=models.RecommendQuery(recommend=models.RecommendInput(positive=[12345]))
    ),
    "recommend wrong dimension": lambda c: c.query_points(
        "d", query=models.RecommendQuery(recommend=models.RecommendInput(positive=[[1.0, 2.0]]))
    ),
    "context without pairs": lambda c: c.query_points("d", query=models.ContextQuery(context=[])),
    "mmr diversity above 1": lambda c: c.query_points(
        "d", query=models.NearestQuery(nearest=D8[0].tolist(), mmr=models.Mmr(diversity=1.5))
    ),
    "scroll order_by with offset": lambda c: c.scroll("d", order_by="t", offset=5),
    "prefetch without query": lambda c: c.query_points(
        "d", prefetch=models.Prefetch(query=D8[1].tolist(), limit=15)
    ),
    "lookup_from unknown collection": lambda c: c.query_points(
        "d", query=1, lookup_from=models.LookupLocation(collection="nope")
    ),
    "lookup_from wrong dimension": lambda c: c.query_points(
        "d", query=1, using="", lookup_from=models.LookupLocation(collection="e", vector="a")
    ),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_same_refusals(pair, name):
    """Local mode raises (ValueError and the like); our server answers a 4xx that says
    what was wrong, never a 5xx."""
    ours, ref = pair
    with pytest.raises(Exception):  # noqa: B017 - local mode's errors are plain exceptions
        REFUSALS[name](ref)
    with pytest.raises(UnexpectedResponse) as exc:
        REFUSALS[name](ours)
    assert 400 <= exc.value.status_code < 500, exc.value.content
