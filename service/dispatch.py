"""Where a search runs: inline on the event loop when that is cheap and safe, else in the
thread pool; and stopping searches whose client has gone.

Handing a search to FastAPI's thread pool and back costs two thread wake-ups per request.
On an idle machine that is about 0.1 ms; on a loaded one each wake-up waits for a core and
the GIL, and it was measured as the largest part of the per-request overhead (a 10k-point
collection served by uvicorn, one keep-alive client, load average 16 on 2 cores: p50
3-5 ms with the hand-off, under 1 ms inline; see ``python -m bench.http_overhead``).

Running every search inline would serialise concurrent searches on the event-loop thread
and lose the parallelism of the nogil kernels, so a search runs inline only when

* no other HTTP request is in flight (``Metrics.in_flight`` counts them; the route first
  yields to the loop once, so that requests which arrived together have registered),
* it asks for at most :data:`INLINE_MAX_POINTS` points (``offset + limit`` summed over a
  batch): the time estimate below does not see the limit, and one large-limit search run
  inline kept ``/healthz`` waiting 2.15 s in issue 19, and
* the collection's recent searches of the same kind took at most ``inline_search_ms`` of
  CPU time (a moving average per collection and kind: exact or not, filtered or not, staged
  with prefetch or not); a kind never seen yet runs in the pool.

Anything else (concurrent load, slow, large or unknown searches) runs in the thread pool,
where the nogil kernels run in parallel, and the response body is rendered there too, so a
large answer never stalls the event loop. While it runs, a watcher awaits the request's next
ASGI message: ``http.disconnect`` (the client closed its connection) cancels the batch's
:class:`~vecsearch.query.execute.Control`, which the engine checks between the searches of
a batch and between prefetch stages; the request then ends with 499 (nobody reads it) and
the metrics count it (``vecsearch_requests_cancelled_total``,
``vecsearch_searches_total{outcome="skipped"}``). ``inline_search_ms = 0`` turns inlining
off.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive

from service.metrics import Metrics
from service.responses import envelope_bytes, error, ok, rendered
from vecsearch.query.execute import Cancelled, Control

T = TypeVar("T")

#: Weight of the newest observation in the moving average of search time.
EMA_WEIGHT = 0.2
#: Largest number of points (offset + limit, summed over a batch) a search may ask for and
#: still run inline on the event loop.
INLINE_MAX_POINTS = 1_000


async def watch_disconnect(receive: Receive, control: Control) -> None:
    """Cancel ``control`` when the client disconnects (the body has been read already, so
    the next ASGI message is ``http.disconnect``)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            control.cancel()
            return


class SearchDispatcher:
    """Runs search callables inline or in the thread pool and times them (see module docs)."""

    def __init__(self, metrics: Metrics, inline_max_ms: float) -> None:
        self.metrics = metrics
        self.inline_max_s = inline_max_ms / 1000.0
        #: Moving average of engine CPU seconds per query, by (collection, kind).
        self.seconds: dict[tuple[str, str], float] = {}
        self._inline = metrics.dispatched.labels("inline")
        self._pool = metrics.dispatched.labels("pool")
        self._answered = metrics.searches.labels("answered")
        self._skipped = metrics.searches.labels("skipped")

    def control(self) -> Control:
        """A new control whose progress goes to the metrics."""
        return Control(on_done=self._answered.inc, on_skip=self._skipped.inc)

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

    def _inline_ok(self, key: tuple[str, str], n: int, points: int) -> bool:
        estimate = self.seconds.get(key)
        return (
            self.inline_max_s > 0
            and points <= INLINE_MAX_POINTS
            and estimate is not None
            and estimate * n <= self.inline_max_s
        )

    async def run(
        self, key: tuple[str, str], index_type: str, fn: Callable[[], T], n: int = 1
    ) -> T:
        """``fn()`` for ``n`` queries of kind ``key``; engine time goes to the metrics (no
        cancellation, result returned as is: for callers that are not HTTP routes)."""
        if self._inline_ok(key, n, 0):
            await asyncio.sleep(0)  # requests that arrived with this one register first
            if self.metrics.in_flight <= 1:
                self._inline.inc()
                return self._timed(key, index_type, n, fn)
        self._pool.inc()
        return await run_in_threadpool(self._timed, key, index_type, n, fn)

    async def respond(
        self,
        request: Request,
        key: tuple[str, str],
        index_type: str,
        work: Callable[[Control], Any],
        t0: float,
        n: int = 1,
        points: int = 0,
    ) -> Response:
        """The success envelope around ``work(control)`` for ``n`` searches of kind ``key``
        asking for ``points`` points: run inline when small and quick, else in the pool with
        the body rendered there and the search stopped if the client goes (module docs)."""
        control = self.control()
        if self._inline_ok(key, n, points):
            await asyncio.sleep(0)  # requests that arrived with this one register first
            if self.metrics.in_flight <= 1:
                self._inline.inc()
                return ok(self._timed(key, index_type, n, lambda: work(control)), t0)
        self._pool.inc()
        watcher = asyncio.ensure_future(watch_disconnect(request.receive, control))
        try:
            body = await run_in_threadpool(self._render, key, index_type, n, work, control, t0)
        except Cancelled:
            self.metrics.cancelled.inc()
            return error(499, "Client closed request: the search was stopped", t0, "cancelled")
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        return rendered(body)

    def _render(
        self,
        key: tuple[str, str],
        index_type: str,
        n: int,
        work: Callable[[Control], Any],
        control: Control,
        t0: float,
    ) -> bytes:
        result = self._timed(key, index_type, n, lambda: work(control))
        control.check(0)  # gone meanwhile: do not render an answer nobody reads
        return envelope_bytes(result, t0)
