"""Where searches run (service.dispatch): inline on the event loop only when the server is
otherwise idle and the kind of search is known to be quick; otherwise in the thread pool."""

from __future__ import annotations

import asyncio
import threading

import numpy as np

from service.dispatch import SearchDispatcher
from service.metrics import Metrics
from tests.service.conftest import create, upsert


def _where(d: SearchDispatcher, key: tuple[str, str], n: int = 1) -> str:
    async def go() -> str:
        loop_thread = threading.get_ident()
        ran_in = await d.run(key, "flat", threading.get_ident, n=n)
        return "inline" if ran_in == loop_thread else "pool"

    return asyncio.run(go())


def test_dispatch_rules():
    metrics = Metrics(dict, lambda: True)
    d = SearchDispatcher(metrics, inline_max_ms=2.0)
    key = ("c", "index")
    metrics.in_flight = 1  # this request only
    assert _where(d, key) == "pool"  # never seen: no estimate yet
    assert key in d.seconds and d.seconds[key] < 0.002
    assert _where(d, key) == "inline"
    assert _where(d, ("c", "exact")) == "pool"  # another kind has its own estimate
    assert _where(d, key, n=10**6) == "pool"  # a batch of a million is not quick
    metrics.in_flight = 2  # another request in flight: searches must run in parallel
    assert _where(d, key) == "pool"
    metrics.in_flight = 1
    d.seconds[key] = 0.5  # slow searches never block the loop
    assert _where(d, key) == "pool"
    off = SearchDispatcher(metrics, inline_max_ms=0.0)
    off.seconds[key] = 0.0
    assert _where(off, key) == "pool"


def test_a_failed_search_leaves_the_estimate_alone():
    metrics = Metrics(dict, lambda: True)
    d = SearchDispatcher(metrics, inline_max_ms=2.0)

    def boom() -> None:
        raise ValueError("bad input")

    async def go() -> None:
        try:
            await d.run(("c", "index"), "flat", boom)
        except ValueError:
            return
        raise AssertionError("the error must propagate")

    asyncio.run(go())
    assert d.seconds == {}


def dispatch_counts(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith("vecsearch_search_dispatch_total{"):
            out[line.split('"')[1]] = float(line.split()[-1])
    return out


def test_sequential_queries_run_inline_and_are_counted(make_client, rng, tmp_path):
    x = rng.standard_normal((50, 4)).astype(np.float32)
    for setting in (2.0, 0.0):
        client = make_client(inline_search_ms=setting, data_dir=tmp_path / f"d{setting}")
        create(client, "d", 4, index={"type": "flat"})
        upsert(client, "d", x)
        # the first searches compile kernels (no warm-up in tests) and make the estimate
        # high; it comes down as searches stay quick
        for q in np.resize(x, (60, 4)):
            r = client.post("/collections/d/points/query", json={"query": q.tolist()})
            assert r.status_code == 200 and r.json()["result"]["points"][0]["score"] > 0.99
        text = client.get("/metrics").text
        assert "vecsearch_http_requests_in_flight 1.0" in text  # the scrape itself
        counts = dispatch_counts(text)
        assert counts["inline"] + counts["pool"] == 60
        if setting:
            assert counts["inline"] >= 10, counts
        else:
            assert counts["inline"] == 0, counts
