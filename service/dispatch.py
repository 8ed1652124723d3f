"""Where a search runs: inline on the event loop when that is cheap and safe, else in the
thread pool.

Handing a search to FastAPI's thread pool and back costs two thread wake-ups per request.
On an idle machine that is about 0.1 ms; on a loaded one each wake-up waits for a core and
the GIL, and it was measured as the largest part of the per-request overhead (a 10k-point
collection served by uvicorn, one keep-alive client, load average 16 on 2 cores: p50
3-5 ms with the hand-off, under 1 ms inline; see ``python -m bench.http_overhead``).

Running every search inline would serialise concurrent searches on the event-loop thread
and lose the parallelism of the nogil kernels, so a search runs inline only when

* no other HTTP request is in flight (``Metrics.in_flight`` counts them; the route first
  yields to the loop once, so that requests which arrived together have registered), and
* the collection's recent searches of the same kind took at most ``inline_search_ms`` of
  CPU time (a moving average per collection and kind: exact or not, filtered or not, staged
  with prefetch or not); a kind never seen yet runs in the pool.

Anything else (concurrent load, slow or unknown searches) runs in the thread pool, where the
nogil kernels run in parallel. ``inline_search_ms = 0`` turns inlining off.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from service.metrics import Metrics

T = TypeVar("T")

#: Weight of the newest observation in the moving average of search time.
EMA_WEIGHT = 0.2


class SearchDispatcher:
    """Runs search callables inline or in the thread pool and times them (see module docs)."""

    def __init__(self, metrics: Metrics, inline_max_ms: float) -> None:
        self.metrics = metrics
        self.inline_max_s = inline_max_ms / 1000.0
        #: Moving average of engine CPU seconds per query, by (collection, kind).
        self.seconds: dict[tuple[str, str], float] = {}
        self._inline = metrics.dispatched.labels("inline")
        self._pool = metrics.dispatched.labels("pool")

    def _timed(self, key: tuple[str, str], index_type: str, n: int, fn: Callable[[], T]) -> T:
        t0, c0 = time.perf_counter(), time.thread_time()
        out = fn()  # a failure (bad input, mostly) is neither observed nor averaged
        self.metrics.search_latency.labels(index_type).observe(time.perf_counter() - t0)
        # CPU time, not wall time: on a loaded machine wall time mostly measures waiting for
        # a core, and the estimate should say how long the search keeps the loop busy
        per_query = (time.thread_time() - c0) / max(n, 1)
        old = self.seconds.get(key)
        self.seconds[key] = per_query if old is None else old + EMA_WEIGHT * (per_query - old)
        return out

    async def run(
        self, key: tuple[str, str], index_type: str, fn: Callable[[], T], n: int = 1
    ) -> T:
        """``fn()`` for ``n`` queries of kind ``key``; engine time goes to the metrics."""
        estimate = self.seconds.get(key)
        if self.inline_max_s > 0 and estimate is not None and estimate * n <= self.inline_max_s:
            await asyncio.sleep(0)  # requests that arrived with this one register first
            if self.metrics.in_flight <= 1:
                self._inline.inc()
                return self._timed(key, index_type, n, fn)
        self._pool.inc()
        return await run_in_threadpool(self._timed, key, index_type, n, fn)
