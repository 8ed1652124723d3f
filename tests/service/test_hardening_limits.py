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

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from starlette.requests import Request

from service.dispatch import INLINE_MAX_POINTS, SearchDispatcher
from service.metrics import Metrics
from tests.service.conftest import create, free_port, upsert
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


def test_large_searches_never_run_inline():
    """The dispatcher's rule: a search of a kind known to be quick runs inline on an idle
    server only when it asks for at most INLINE_MAX_POINTS points (a large limit is slow
    whatever the kind's recent times; issue 19's /healthz waited 2.15 s behind one)."""
    metrics = Metrics(dict, lambda: True)
    d = SearchDispatcher(metrics, inline_max_ms=2.0)
    key = ("c", "index")
    d.seconds[key] = 1e-6
    metrics.in_flight = 1

    async def never() -> dict:
        await asyncio.Event().wait()
        return {}

    request = Request({"type": "http", "method": "POST", "headers": []}, never)

    async def where(points: int) -> str:
        loop_thread = threading.get_ident()
        r = await d.respond(
            request, key, "flat", lambda ctl: threading.get_ident(), time.perf_counter(), 1, points
        )
        return "inline" if json.loads(r.body)["result"] == loop_thread else "pool"

    assert asyncio.run(where(10)) == "inline"
    assert asyncio.run(where(INLINE_MAX_POINTS)) == "inline"
    assert asyncio.run(where(INLINE_MAX_POINTS + 1)) == "pool"
    assert asyncio.run(where(100_000)) == "pool"


# --------------------------------------------------------------------------------------------
# A real server process: memory, the event loop, abandoned requests
# --------------------------------------------------------------------------------------------

BIG_POINTS = 50_000
BIG_DIM = 8
#: The stated bound: a request the limits let through raises the server's peak RSS by less
#: than this (measured: about 110 MB for 100,000 hits with 200-byte payloads, 28 MB of JSON;
#: the issue's 20 searches of limit 100,000 took 1.9 GB before the limits).
RSS_BOUND_MB = 400
GUARD_S = 120.0


class ServerProcess:
    """``vecsearch serve`` in a process of its own (its memory is its own to measure)."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [
            sys.executable,
            "-m",
            "vecsearch.cli",
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            str(self.port),
            "--no-warmup",
            "--log-level",
            "warning",
        ]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(cmd, env=env)
        deadline = time.monotonic() + 180
        while True:
            assert self.proc.poll() is None, "the server exited"
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server not ready"
            time.sleep(0.1)
        self.http = httpx.Client(base_url=self.url, timeout=GUARD_S)

    def stop(self) -> None:
        self.http.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def status_mb(self, key: str) -> float:
        """``VmRSS`` or ``VmHWM`` (peak RSS) of the server, in MB."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        m = re.search(rf"^{key}:\s+(\d+) kB", status, re.M)
        assert m, status
        return int(m.group(1)) / 1024

    def reset_peak(self) -> None:
        """Reset the server's ``VmHWM`` to its current RSS (Linux ``clear_refs``)."""
        try:
            Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")
        except OSError as exc:
            pytest.skip(f"cannot reset the peak RSS here: {exc}")

    def metric(self, name: str) -> float:
        text = self.http.get("/metrics").text
        m = re.search("^" + re.escape(name) + r" (\S+)$", text, re.M)
        return float(m.group(1)) if m else 0.0

    def raw_request(self, path: str, body: Any) -> socket.socket:
        """Send a POST on a socket of its own and return the socket, unread."""
        data = json.dumps(body).encode()
        s = socket.create_connection(("127.0.0.1", self.port))
        s.settimeout(GUARD_S)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            f"content-length: {len(data)}\r\n\r\n"
        ).encode()
        s.sendall(head + data)
        return s


ANSWERED = 'vecsearch_searches_total{outcome="answered"}'
SKIPPED = 'vecsearch_searches_total{outcome="skipped"}'
CANCELLED = "vecsearch_requests_cancelled_total"
IN_FLIGHT = "vecsearch_http_requests_in_flight"
Q = [1.0] * BIG_DIM
BATCH = "/collections/big/points/search/batch"


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[ServerProcess]:
    """A server process with collection ``big``: 50,000 points (flat, Dot, dimension 8)
    with a 200-character payload each."""
    srv = ServerProcess(tmp_path_factory.mktemp("served") / "data")
    try:
        body = {"vectors": {"size": BIG_DIM, "distance": "Dot"}, "index": {"type": "flat"}}
        assert srv.http.put("/collections/big", json=body).status_code == 200
        x = np.random.default_rng(11).standard_normal((BIG_POINTS, BIG_DIM)).round(4)
        for start in range(0, BIG_POINTS, 25_000):
            ids = list(range(start, start + 25_000))
            batch = {
                "ids": ids,
                "vectors": x[start : start + 25_000].tolist(),
                "payloads": [{"text": "p" * 200, "n": i} for i in ids],
            }
            r = srv.http.put("/collections/big/points", json={"batch": batch})
            assert r.status_code == 200, r.text
        yield srv
    finally:
        srv.stop()


def _searches(n: int, limit: int) -> dict:
    return {"searches": [{"vector": Q, "limit": limit, "with_payload": True}] * n}


def test_a_batch_of_large_limit_searches_stays_under_the_stated_rss(served):
    """10 searches of limit 10,000 with payloads (100,000 points: the default
    max_result_points) raise the server's peak RSS by less than RSS_BOUND_MB; the issue's
    20 searches of limit 100,000 are refused before any runs and raise it by almost
    nothing."""
    assert served.http.post(BATCH, json=_searches(10, 100)).status_code == 200  # warm
    before = served.status_mb("VmRSS")
    served.reset_peak()
    r = served.http.post(BATCH, json=_searches(10, 10_000))
    assert r.status_code == 200, r.text[:300]
    assert [len(hits) for hits in r.json()["result"]] == [10_000] * 10
    grew = served.status_mb("VmHWM") - before
    assert grew < RSS_BOUND_MB, f"peak RSS grew by {grew:.0f} MB"

    answered = served.metric(ANSWERED)
    before = served.status_mb("VmRSS")
    served.reset_peak()
    r = served.http.post(BATCH, json=_searches(20, 100_000))
    assert r.status_code == 400, r.text[:300]
    assert r.json()["status"]["error"] == (
        "searches: the 20 requests would return up to 1000000 points, more than the 100000 "
        "one request may return (setting max_result_points)"
    )
    assert served.status_mb("VmHWM") - before < 50
    assert served.metric(ANSWERED) == answered  # no search ran


def test_health_is_answered_while_a_large_answer_is_computed_and_sent(served):
    """While a batch of 40 searches (100,000 hits, about 28 MB of JSON) is computed, the
    server answers /metrics between two of its searches; while its answer is being sent to
    a client that does not read it, the server answers /healthz and /metrics (which shows
    the big request still in flight). Then the big answer arrives whole."""
    n = 40
    assert served.http.post(BATCH, json=_searches(2, 10)).status_code == 200  # a quick kind
    base = served.metric(ANSWERED)
    s = served.raw_request(BATCH, _searches(n, 2_500))
    try:
        seen = set()
        deadline = time.monotonic() + GUARD_S
        while True:  # phase 1: the searches run
            done = served.metric(ANSWERED) - base
            seen.add(done)
            if done >= n or time.monotonic() > deadline:
                break
        midway = sorted(d for d in seen if 0 < d < n)
        assert midway, f"/metrics was never answered between two searches: {sorted(seen)}"
        assert done == n
        # phase 2: the answer is rendered and sent to a client that reads nothing yet
        while served.metric(IN_FLIGHT) < 2 and time.monotonic() < deadline:
            pass
        assert served.metric(IN_FLIGHT) >= 2  # the big request and this one
        assert served.http.get("/healthz").status_code == 200
        assert served.metric(IN_FLIGHT) >= 2  # still being sent: nobody has read it
        answer = b""
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            m = re.search(rb"content-length: (\d+)", head, re.I)
            if m and len(body) >= int(m.group(1)):
                break
    finally:
        s.close()
    assert head.startswith(b"HTTP/1.1 200 "), head
    assert len(body) > 20 * 2**20
    assert [len(hits) for hits in json.loads(body)["result"]] == [2_500] * n


def test_a_large_single_search_runs_off_the_event_loop(served):
    """A single search of limit 50,000 with payloads, of a kind whose recent searches were
    quick: while it computes, the server answers /metrics showing it in flight and not yet
    answered (the dispatcher's rule itself: test_large_searches_never_run_inline)."""
    one = "/collections/big/points/search"
    for _ in range(5):  # the kind's recent searches are quick
        assert served.http.post(one, json={"vector": Q, "limit": 3}).status_code == 200
    base = served.metric(ANSWERED)
    s = served.raw_request(one, {"vector": Q, "limit": 50_000, "with_payload": True})
    try:
        during = False
        deadline = time.monotonic() + GUARD_S
        while time.monotonic() < deadline:
            text = served.http.get("/metrics").text
            values = {
                name: float(re.search("^" + re.escape(name) + r" (\S+)$", text, re.M).group(1))
                for name in (ANSWERED, IN_FLIGHT)
            }
            if values[ANSWERED] > base:
                break
            if values[IN_FLIGHT] >= 2:
                during = True
        assert during, "the event loop answered nothing while the search computed"
    finally:
        s.close()


def test_a_batch_whose_client_disconnects_stops(served):
    """A batch of 200 searches whose client closes its socket after the first answer:
    the server stops it between two searches; its counters say how many ran and how many
    were skipped (together the whole batch), and one request was cancelled. A batch whose
    client waits is answered whole and counts no cancellation."""
    # an earlier test's abandoned request may still be stopping: let it end first
    deadline = time.monotonic() + GUARD_S
    while served.metric(IN_FLIGHT) > 1 and time.monotonic() < deadline:  # 1: this scrape
        time.sleep(0.01)
    cancelled = served.metric(CANCELLED)
    base = served.metric(ANSWERED)
    r = served.http.post(BATCH, json=_searches(20, 500))
    assert r.status_code == 200 and served.metric(ANSWERED) - base == 20
    assert served.metric(CANCELLED) == cancelled

    n = 200
    base, skipped = served.metric(ANSWERED), served.metric(SKIPPED)
    s = served.raw_request(BATCH, _searches(n, 500))
    deadline = time.monotonic() + GUARD_S
    while served.metric(ANSWERED) - base < 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    s.close()
    while served.metric(CANCELLED) == cancelled and time.monotonic() < deadline:
        time.sleep(0.01)
    assert served.metric(CANCELLED) == cancelled + 1
    ran = served.metric(ANSWERED) - base
    left = served.metric(SKIPPED) - skipped
    assert 1 <= ran < n and left >= 1
    assert ran + left == n
    assert served.http.get("/healthz").status_code == 200
