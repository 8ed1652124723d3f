"""The official qdrant-client (REST, default arguments) against a real uvicorn server on a
free localhost port: every call parses our responses, results match exact search."""

from __future__ import annotations

import numpy as np
import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse

from tests.service.test_routes import check_fused, exact_top, rrf_scores

DIM = 16
N = 400
EXACT = models.SearchParams(exact=True)


def test_version_check_reached_the_server(qclient, server):
    import httpx

    text = httpx.get(server.url + "/metrics").text
    assert 'vecsearch_http_requests_total{method="GET",route="/",status="200"} 1.0' in text


def test_qdrant_client_end_to_end(qclient, rng):
    x = rng.standard_normal((N, DIM)).astype(np.float32)
    groups = [i % 4 for i in range(N)]

    assert qclient.create_collection(
        "docs", vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE)
    )
    assert qclient.collection_exists("docs")
    assert [c.name for c in qclient.get_collections().collections] == ["docs"]
    with pytest.raises(UnexpectedResponse) as exc:
        qclient.create_collection(
            "docs", vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE)
        )
    assert exc.value.status_code == 400  # as Qdrant (BadInput)

    half = N // 2
    res = qclient.upsert(
        "docs",
        points=[
            models.PointStruct(id=i, vector=x[i].tolist(), payload={"g": groups[i], "n": i})
            for i in range(half)
        ],
    )
    assert res.status == models.UpdateStatus.COMPLETED
    res = qclient.upsert(
        "docs",
        points=models.Batch(
            ids=list(range(half, N)),
            vectors=x[half:].tolist(),
            payloads=[{"g": groups[i], "n": i} for i in range(half, N)],
        ),
    )
    assert res.status == models.UpdateStatus.COMPLETED
    info = qclient.get_collection("docs")
    assert info.points_count == N and info.config.params.vectors.size == DIM

    # the collection's own index (hnsw when this build has it) against exact search
    qs = rng.standard_normal((20, DIM)).astype(np.float32)
    found = 0
    for qq in qs:
        hits = qclient.query_points("docs", query=qq.tolist(), limit=10).points
        found += len({p.id for p in hits} & set(exact_top(x, qq, 10, "Cosine")[0]))
    assert found / 200 >= 0.9

    # query with a filter and a score threshold, against exact search over the allowed points
    q = rng.standard_normal(DIM).astype(np.float32)
    flt = models.Filter(must=[models.FieldCondition(key="g", match=models.MatchValue(value=1))])
    allowed = np.flatnonzero(np.asarray(groups) == 1)
    ids, scores = exact_top(x[allowed], q, 20, "Cosine")
    thr = float((scores[7] + scores[8]) / 2)
    got = qclient.query_points(
        "docs", query=q.tolist(), query_filter=flt, score_threshold=thr, limit=20
    ).points
    assert [p.id for p in got] == allowed[ids[:8]].tolist()
    np.testing.assert_allclose([p.score for p in got], scores[:8], rtol=1e-4, atol=1e-5)
    assert all(p.payload["g"] == 1 for p in got)  # the client asks for payloads by default

    # a numpy query, a point id as the query, a batch
    got = qclient.query_points("docs", query=x[5], limit=3, with_payload=False).points
    assert got[0].id == 5 and got[0].payload is None
    ids_self, _ = exact_top(x, x[5], 4, "Cosine")
    got = qclient.query_points("docs", query=5, limit=3, search_params=EXACT).points
    assert [p.id for p in got] == [i for i in ids_self if i != 5][:3]
    batch = qclient.query_batch_points(
        "docs",
        requests=[
            models.QueryRequest(query=q.tolist(), limit=2, params=EXACT),
            models.QueryRequest(query=q.tolist(), limit=2, offset=2, filter=flt),
        ],
    )
    assert [p.id for p in batch[0].points] == exact_top(x, q, 2, "Cosine")[0]
    assert [p.id for p in batch[1].points] == allowed[ids[2:4]].tolist()

    # staged queries: reciprocal rank fusion of two prefetches, and exact re-scoring of a
    # filtered prefetch (prefetches search exactly so that the expected lists are exact)
    q2 = rng.standard_normal(DIM).astype(np.float32)
    a, b = exact_top(x, q, 30, "Cosine")[0], exact_top(x, q2, 30, "Cosine")[0]
    prefetch = [
        models.Prefetch(query=q.tolist(), limit=30, params=EXACT),
        models.Prefetch(query=q2.tolist(), limit=30, params=EXACT),
    ]
    for query, k, w in (
        (models.FusionQuery(fusion=models.Fusion.RRF), 2, None),
        (models.RrfQuery(rrf=models.Rrf(k=10, weights=[2.0, 1.0])), 10, [2.0, 1.0]),
    ):
        got = qclient.query_points("docs", prefetch=prefetch, query=query, limit=10).points
        check_fused([p.model_dump() for p in got], rrf_scores([a, b], k, w), 10)
    cand = allowed[exact_top(x[allowed], q, 25, "Cosine")[0]]
    order, scores = exact_top(x[cand], q2, 5, "Cosine")
    got = qclient.query_points(
        "docs",
        prefetch=models.Prefetch(query=q.tolist(), filter=flt, limit=25, params=EXACT),
        query=q2.tolist(),
        limit=5,
    ).points
    assert [p.id for p in got] == cand[order].tolist()
    np.testing.assert_allclose([p.score for p in got], scores, rtol=1e-4, atol=1e-5)
    # nearest by id through a prefetch: the point's own vector, the point left out
    got = qclient.query_points(
        "docs", prefetch=models.Prefetch(query=5, limit=20, params=EXACT), query=5, limit=3
    ).points
    assert [p.id for p in got] == [i for i in ids_self if i != 5][:3]
    with pytest.raises(UnexpectedResponse) as exc:
        qclient.query_points(
            "docs", query=models.RecommendQuery(recommend=models.RecommendInput(negative=[1]))
        )
    assert exc.value.status_code == 400 and b"query.recommend.positive" in exc.value.content

    # retrieve, scroll, count
    recs = qclient.retrieve("docs", ids=[3, 1, 9999], with_vectors=True)
    assert [r.id for r in recs] == [3, 1]
    np.testing.assert_allclose(recs[0].vector, x[3] / np.linalg.norm(x[3]), rtol=1e-5)
    seen, offset = [], None
    while True:
        page, offset = qclient.scroll("docs", limit=150, offset=offset, scroll_filter=flt)
        seen += [r.id for r in page]
        if offset is None:
            break
    assert seen == allowed.tolist()
    assert qclient.count("docs").count == N
    assert qclient.count("docs", count_filter=flt).count == len(allowed)

    # payload updates and a payload index
    qclient.set_payload("docs", payload={"tag": "x"}, points=[0, 1, 2])
    qclient.create_payload_index("docs", "tag", field_schema=models.PayloadSchemaType.KEYWORD)
    tagged = models.Filter(
        must=[models.FieldCondition(key="tag", match=models.MatchValue(value="x"))]
    )
    assert qclient.count("docs", count_filter=tagged).count == 3
    assert qclient.get_collection("docs").payload_schema["tag"].points == 3

    # deletes by ids and by filter
    qclient.delete("docs", points_selector=models.PointIdsList(points=[0, 1]))
    assert qclient.count("docs").count == N - 2
    qclient.delete("docs", points_selector=models.FilterSelector(filter=flt))
    assert qclient.count("docs").count == N - len({0, 1} | set(allowed.tolist()))
    assert qclient.count("docs", count_filter=flt).count == 0
    remaining = [i for i in range(2, N) if groups[i] != 1]
    ids_left, _ = exact_top(x[remaining], q, 5, "Cosine")
    got = qclient.query_points("docs", query=q.tolist(), limit=5, search_params=EXACT).points
    assert [p.id for p in got] == [remaining[i] for i in ids_left]

    # snapshots
    snap = qclient.create_snapshot("docs")
    assert snap is not None and snap.size > 0 and snap.checksum
    assert [s.name for s in qclient.list_snapshots("docs")] == [snap.name]

    # errors surface as UnexpectedResponse with our status and message
    with pytest.raises(UnexpectedResponse) as exc:
        qclient.query_points("docs", query=[1.0, 2.0])
    assert exc.value.status_code == 400 and b"expected dimension 16" in exc.value.content
    with pytest.raises(UnexpectedResponse) as exc:
        qclient.get_collection("missing")
    assert exc.value.status_code == 404

    assert qclient.delete_collection("docs")
    assert not qclient.collection_exists("docs")
