"""Bounded work per request (issue 19): huge integers in every integer field of a read
(never a 500; a clear 4xx or the right answer), the per-request limits ``max_result_points``
and ``max_searches_per_request`` (400 naming the setting), a batch of large-limit searches
under a stated RSS, large answers that do not stall the event loop, and abandoned requests
that stop.

The first tests drive the app through TestClient; the last ones run ``vecsearch serve`` as a
real server process and talk to it over real sockets. None asserts a duration: the memory
test reads the server's peak RSS (``VmHWM``), the event-loop and cancellation tests read the
server's own counters (``/metrics``) at moments the test controls.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.service.conftest import create, upsert
from vecsearch.jsonout import dumps
from vecsearch.query.execute import Cancelled, Control

REPO = Path(__file__).resolve().parents[2]
DIM = 4
N = 20
BIG_INTS = [2**63, 10**30, 2**64, -1]


def raw_post(client, path: str, body: str):
    """POST a body given as JSON text (so 2**63 and 1e30 reach the server as written)."""
    return client.post(path, content=body, headers={"content-type": "application/json"})


def everything(client, name: str = "c") -> Any:
    """Every stored point with payload and vector, read from the engine (to check that a
    refused request changed nothing; the HTTP scroll itself is limited)."""
    coll = client.app.state.service.db.get_collection(name)
    records, _ = coll.scroll(limit=10**6, with_payload=True, with_vector=True)
    return json.loads(dumps([r.to_dict() for r in records]))


@pytest.fixture
def small(client):
    """Collection ``c`` (flat, Cosine) of 20 points; payload ``g`` = id % 3 (integer index)
    and ``n`` = id (integer index)."""
    create(client, "c", DIM, index={"type": "flat"})
    x = np.random.default_rng(7).standard_normal((N, DIM)).astype(np.float32)
    upsert(client, "c", x, [{"g": i % 3, "n": i} for i in range(N)])
    for key in ("g", "n"):
        r = client.put("/collections/c/index", json={"field_name": key, "field_schema": "integer"})
        assert r.status_code == 200, r.text
    return client


# --------------------------------------------------------------------------------------------
# Item 3: scroll with limit 2**63 or 10**30, and every other integer field
# --------------------------------------------------------------------------------------------


def test_scroll_with_limit_2_63_or_10_30_returns_every_point(small):
    """Issue 19 item 3: these were 500 OverflowError in the store. As JSON integers they
    are a page of every point (Qdrant's answer: its limit is an unsigned 64-bit integer);
    as JSON floats the field is refused, naming it; stored data is unchanged."""
    before = everything(small)
    path = "/collections/c/points/scroll"
    flt = '"filter": {"must": [{"key": "g", "match": {"value": 1}}]}'
    for big in ("9223372036854775808", "1000000000000000000000000000000"):
        for extra, n in (("", N), (', "order_by": "n"', N), (", " + flt, 7)):
            r = raw_post(small, path, '{"limit": ' + big + extra + "}")
            assert r.status_code == 200, (big, extra, r.text)
            page = r.json()["result"]
            assert len(page["points"]) == n and page["next_page_offset"] is None
    for big in ("9.223372036854775808e18", "1e30", "1e+30"):
        r = raw_post(small, path, '{"limit": ' + big + "}")
        assert r.status_code == 422, r.text
        assert "limit: Input should be a valid integer" in r.json()["status"]["error"]
    r = raw_post(small, path, '{"limit": -1}')
    assert r.status_code == 400 and "limit: expected an integer >= 1" in r.text
    assert everything(small) == before


def test_scroll_page_larger_than_max_result_points_is_refused(make_client):
    client = make_client(max_result_points=10)
    create(client, "c", DIM, index={"type": "flat"})
    upsert(client, "c", np.ones((N, DIM), np.float32))
    r = raw_post(client, "/collections/c/points/scroll", '{"limit": 9223372036854775808}')
    assert r.status_code == 400, r.text
    assert r.json()["status"]["error"] == (
        "limit: limit would return up to 20 points, more than the 10 one request may return "
        "(setting max_result_points)"
    )
    r = raw_post(client, "/collections/c/points/scroll", '{"limit": 10}')
    assert r.status_code == 200 and len(r.json()["result"]["points"]) == 10


V = "[1, 0.5, 0.25, 0]"
#: (case, route, body with X for the value, field the 4xx must name): every integer field
#: of the read routes
INT_FIELDS = [
    ("search.limit", "points/search", '{"vector": V, "limit": X}', "limit"),
    ("search.offset", "points/search", '{"vector": V, "offset": X}', "offset"),
    ("search.hnsw_ef", "points/search", '{"vector": V, "params": {"hnsw_ef": X}}', "hnsw_ef"),
    ("search.threads", "points/search", '{"vector": V, "params": {"n_threads": X}}', "n_threads"),
    ("batch.limit", "points/search/batch", '{"searches": [{"vector": V, "limit": X}]}', "limit"),
    ("query.limit", "points/query", '{"query": V, "limit": X}', "limit"),
    ("query.offset", "points/query", '{"query": V, "offset": X}', "offset"),
    (
        "query.prefetch",
        "points/query",
        '{"prefetch": {"query": V, "limit": X}, "query": V}',
        "limit",
    ),
    ("query.order_by", "points/query", '{"query": {"order_by": "n"}, "limit": X}', "limit"),
    ("query.sample", "points/query", '{"query": {"sample": "random"}, "limit": X}', "limit"),
    ("query.rrf_k", "points/query", '{"prefetch": {"query": V}, "query": {"rrf": {"k": X}}}', "k"),
    ("qbatch.limit", "points/query/batch", '{"searches": [{"query": V, "limit": X}]}', "limit"),
    ("groups.limit", "points/query/groups", '{"query": V, "group_by": "g", "limit": X}', "limit"),
    (
        "groups.size",
        "points/query/groups",
        '{"query": V, "group_by": "g", "group_size": X}',
        "group_size",
    ),
    (
        "sgroups.limit",
        "points/search/groups",
        '{"vector": V, "group_by": "g", "limit": X}',
        "limit",
    ),
    ("recommend.limit", "points/recommend", '{"positive": [1], "limit": X}', "limit"),
    ("recommend.offset", "points/recommend", '{"positive": [1], "offset": X}', "offset"),
    (
        "discover.limit",
        "points/discover",
        '{"target": 1, "context": [{"positive": 2, "negative": 3}], "limit": X}',
        "limit",
    ),
    ("facet.limit", "facet", '{"key": "g", "limit": X}', "limit"),
    ("matrix.sample", "points/search/matrix/pairs", '{"sample": X, "limit": 2}', "sample"),
    ("matrix.limit", "points/search/matrix/offsets", '{"sample": 5, "limit": X}', "limit"),
]


@pytest.mark.parametrize("name, path, template, field", INT_FIELDS, ids=[c[0] for c in INT_FIELDS])
def test_huge_or_negative_integers_never_give_a_500(small, name, path, template, field):
    """2**63, 10**30, 2**64 and -1 as JSON integers, 1e30 as a float, in every integer
    field of the read routes: a 4xx naming the field, or an answer bounded by the 20
    points (never more hits than points); stored data unchanged."""
    before = everything(small)
    for x in [*BIG_INTS, "1e30"]:
        body = template.replace("V", V).replace("X", str(x))
        r = raw_post(small, f"/collections/c/{path}", body)
        assert r.status_code < 500, (name, x, r.text)
        if r.status_code >= 400:
            msg = r.json()["status"]["error"]
            assert field in msg, (name, x, msg)
            continue
        result = r.json()["result"]
        hits = json.dumps(result).count('"id"')
        assert hits <= N * N, (name, x)  # a matrix pairs each point with up to 19 others
    r = small.post(
        "/collections/c/points/search?timeout=9223372036854775808", json={"vector": [1] * DIM}
    )
    assert r.status_code == 200, r.text
    assert everything(small) == before


# --------------------------------------------------------------------------------------------
# max_result_points and max_searches_per_request
# --------------------------------------------------------------------------------------------


@pytest.fixture
def limited(make_client):
    """200 points under max_result_points=100 and max_searches_per_request=5."""
    client = make_client(max_result_points=100, max_searches_per_request=5)
    create(client, "c", DIM, index={"type": "flat"})
    x = np.random.default_rng(3).standard_normal((200, DIM)).astype(np.float32)
    upsert(client, "c", x, [{"g": i % 4} for i in range(200)])
    return client


def _refused(r, message: str) -> None:
    assert r.status_code == 400, r.text
    assert r.json()["status"]["error"] == message


def test_requests_past_the_limits_are_refused_naming_the_setting(limited):
    before = everything(limited)
    v = [1.0, 0.5, 0.25, 0.0]
    base = "/collections/c/points"
    limit = "more than the 100 one request may return (setting max_result_points)"
    _refused(
        limited.post(f"{base}/search", json={"vector": v, "limit": 150}),
        f"limit: limit would return up to 150 points, {limit}",
    )
    # offset skips points: 150 after an offset of 120 is at most the 80 left
    r = limited.post(f"{base}/search", json={"vector": v, "limit": 150, "offset": 120})
    assert r.status_code == 200 and len(r.json()["result"]) == 80
    batch = {"searches": [{"vector": v, "limit": 40}] * 3}
    _refused(
        limited.post(f"{base}/search/batch", json=batch),
        f"searches: the 3 requests would return up to 120 points, {limit}",
    )
    batch = {"searches": [{"query": v, "limit": 40}] * 3}
    _refused(
        limited.post(f"{base}/query/batch", json=batch),
        f"searches: the 3 requests would return up to 120 points, {limit}",
    )
    _refused(
        limited.post(f"{base}/recommend", json={"positive": [1], "limit": 101}),
        f"limit: limit would return up to 101 points, {limit}",
    )
    body = {"query": v, "group_by": "g", "limit": 4, "group_size": 30}
    _refused(
        limited.post(f"{base}/query/groups", json=body),
        f"limit: limit x group_size would return up to 120 points, {limit}",
    )
    _refused(
        limited.post(f"{base}/search/matrix/pairs", json={"sample": 20, "limit": 10}),
        f"limit: sample x limit would return up to 200 points, {limit}",
    )
    _refused(
        limited.post(f"{base}/scroll", json={"limit": 101}),
        f"limit: limit would return up to 101 points, {limit}",
    )
    searches = (
        "the request runs 6 or more searches (batch entries and their prefetch stages), "
        "more than the 5 one request may run (setting max_searches_per_request)"
    )
    batch = {"searches": [{"vector": v, "limit": 1}] * 6}
    _refused(limited.post(f"{base}/search/batch", json=batch), f"searches: {searches}")
    body = {"prefetch": [{"query": v, "limit": 5}] * 5, "query": {"fusion": "rrf"}}
    _refused(limited.post(f"{base}/query", json=body), f"prefetch: {searches}")
    # at the limits: answered
    batch = {"searches": [{"vector": v, "limit": 20}] * 5}
    r = limited.post(f"{base}/search/batch", json=batch)
    assert r.status_code == 200 and [len(h) for h in r.json()["result"]] == [20] * 5
    body = {"prefetch": [{"query": v, "limit": 5}] * 4, "query": {"fusion": "rrf"}, "limit": 100}
    assert limited.post(f"{base}/query", json=body).status_code == 200
    assert everything(limited) == before


def test_control_stops_a_batch_between_searches(small):
    """The engine's side of cancellation: a control cancelled after the second search
    stops the batch there, counting the searches answered and skipped."""
    coll = small.app.state.service.db.get_collection("c")
    answered: list[int] = []
    skipped: list[int] = []
    control = Control(on_done=answered.append, on_skip=skipped.append)
    requests = [{"vector": [1.0, 0.0, 0.0, 0.0], "limit": 3}] * 10

    def done(n: int) -> None:
        answered.append(n)
        if len(answered) == 2:
            control.cancel()

    control.on_done = done
    with pytest.raises(Cancelled):
        coll.search_batch(requests, control=control)
    assert (len(answered), skipped) == (2, [8])
    # not cancelled: the whole batch
    assert len(coll.search_batch(requests, control=Control())) == 10
    # between prefetch stages too
    staged = Control()
    staged.cancel()
    body = {"prefetch": [{"query": [1.0, 0, 0, 0]}] * 3, "query": {"fusion": "rrf"}}
    with pytest.raises(Cancelled):
        coll.query_batch([body], control=staged)
