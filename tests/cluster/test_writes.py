"""Every cluster write applied to a 2-shard collection leaves it answering as a single-node
collection given the same writes; sparse and multi-vector queries merge as dense ones do;
custom shard keys route writes and reads."""

from __future__ import annotations

import numpy as np
import pytest

from vecsearch.cluster.collection import ClusterCollection
from vecsearch.collection import Collection
from vecsearch.config_qdrant import parse_create
from vecsearch.errors import ValidationError

pytestmark = pytest.mark.cluster

BODY = {
    "vectors": {
        "d": {"size": 50, "distance": "Dot"},
        "m": {"size": 50, "distance": "Cosine", "multivector_config": {"comparator": "max_sim"}},
    },
    "sparse_vectors": {"s": {}},
}
N = 600


def _sparse(i: int) -> dict:
    idx = sorted({(i * 7) % 97, (i * 13) % 97, (i * 31) % 97})
    return {"indices": idx, "values": [1.0 + (i % 5) / 10] * len(idx)}


def _points(vectors: np.ndarray, ids) -> list[dict]:
    return [
        {
            "id": i,
            "vector": {
                "d": vectors[i].tolist(),
                "m": [vectors[i].tolist(), vectors[(i + 1) % N].tolist()],
                "s": _sparse(i),
            },
            "payload": {"g": i % 5, "nested": {"k": i}},
        }
        for i in ids
    ]


def _apply(target, vectors):
    """The same write sequence, for either kind of collection."""
    target.upsert(_points(vectors, range(N)))
    target.create_payload_index("g", "integer")
    target.update_vectors([{"id": 3, "vector": {"d": vectors[500].tolist()}}])
    target.delete_vectors(["d"], points=[10, 11])
    target.set_payload({"tag": "hot"}, filter={"must": [{"key": "g", "match": {"value": 2}}]})
    target.overwrite_payload({"g": 9}, points=[20, 21, 22])
    target.delete_payload(["nested"], points=[30])
    target.clear_payload(points=[31])
    target.delete(filter={"must": [{"key": "g", "match": {"value": 4}}]})
    target.delete(points=[40, 41, 40_000])


@pytest.fixture(scope="module")
def pair(ray_cluster, glove, tmp_path_factory):
    points, _ = glove
    vectors = points[:N]
    base = tmp_path_factory.mktemp("writes")
    single = Collection.create("ref", base / "single", parse_create(BODY))
    cc = ClusterCollection.create("w", {**BODY, "shard_number": 2}, str(base / "cluster"))
    _apply(single, vectors)
    _apply(cc, vectors)
    yield single, cc
    cc.close(drop=True)
    single.close()


def _ids(hits):
    return [h.id for h in hits]


def test_state_after_writes_equals_single_node(pair):
    single, cc = pair
    assert cc.count() == single.count()
    hot = {"must": [{"key": "tag", "match": {"value": "hot"}}]}
    assert cc.count(hot) == single.count(hot) > 0
    for ids in ([3, 10, 20, 30, 31, 40, 4, 2], list(range(0, N, 37))):
        got = cc.retrieve(ids, with_vector=True)
        want = single.retrieve(ids, with_vector=True)
        assert [(r.id, r.payload) for r in got] == [(r.id, r.payload) for r in want]
        for g, w in zip(got, want, strict=True):
            assert set(g.vector) == set(w.vector)
    info = cc.describe()
    assert info["points_count"] == single.count()
    assert info["spaces"]["d"]["vectors_count"] == single.describe()["spaces"]["d"]["vectors_count"]
    assert "g" in info["payload_schema"]
    assert len(info["cluster"]["shards"]) == 2


def test_dense_sparse_and_multivector_queries_merge(pair, glove):
    single, cc = pair
    _, queries = glove
    q = queries[3]
    bodies = [
        {"query": q.tolist(), "using": "d", "limit": 12, "params": {"exact": True}},
        {
            "query": [q.tolist(), queries[4].tolist()],
            "using": "m",
            "limit": 12,
            "params": {"exact": True},
        },
        {"query": _sparse(5), "using": "s", "limit": 12, "offset": 2},
        {
            "query": {"nearest": q.tolist()},
            "using": "d",
            "limit": 5,
            "filter": {"must": [{"key": "g", "match": {"value": 2}}]},
            "params": {"exact": True},
        },
    ]
    for got, want in zip(cc.query_batch(bodies), single.query_batch(bodies), strict=True):
        assert _ids(got) == _ids(want)
        np.testing.assert_allclose([h.score for h in got], [h.score for h in want], rtol=1e-6)


def test_refusals_before_any_shard_writes(pair):
    single, cc = pair
    before = cc.count()
    with pytest.raises(ValidationError):  # one bad vector: nothing is written anywhere
        cc.upsert([{"id": 7000, "vector": {"d": [0.0] * 50}}, {"id": 7001, "vector": {"d": [1]}}])
    assert cc.count() == before and cc.retrieve([7000]) == []
    with pytest.raises(ValidationError):
        cc.set_payload({"a": 1})  # neither points nor filter
    # a by-id write naming a missing point is refused on every shard, as on one node
    from vecsearch.errors import PointNotFoundError

    for target in (single, cc):
        with pytest.raises(PointNotFoundError, match="123456"):
            target.set_payload({"late": 1}, points=[1, 2, 5, 6, 7, 8, 123_456])
    late = {"must": [{"key": "late", "match": {"value": 1}}]}
    assert cc.count(late) == single.count(late) == 0


def test_custom_shard_keys(ray_cluster, glove, tmp_path):
    points, queries = glove
    body = {"vectors": {"size": 50, "distance": "Cosine"}}
    cc = ClusterCollection.create("tenants", body, str(tmp_path), shard_keys={"a": 1, "b": 1})
    try:
        assert cc.router.shard_number == 2
        cc.upsert_batch(list(range(100)), points[:100], shard_key="a")
        cc.upsert_batch(list(range(100, 150)), points[100:150], shard_key="b")
        assert cc.count() == 150
        assert cc.count(shard_key="a") == 100 and cc.count(shard_key="b") == 50
        hits = cc.search(queries[0].tolist(), limit=20, shard_key="b")
        assert len(hits) == 20 and all(100 <= h.id < 150 for h in hits)
        both = cc.search(queries[0].tolist(), limit=20, shard_key=["a", "b"])
        assert _ids(both) == _ids(cc.search(queries[0].tolist(), limit=20))
        assert [r.id for r in cc.retrieve([5, 120])] == [5, 120]
        with pytest.raises(ValidationError, match="needs a shard key"):
            cc.upsert_batch([1], points[:1])
        cc.delete(points=[5], shard_key="a")
        assert cc.count(shard_key="a") == 99
    finally:
        cc.close(drop=True)
