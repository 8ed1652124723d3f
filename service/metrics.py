"""Prometheus metrics (one registry per app) and the middleware that records requests.

* ``vecsearch_http_requests_total{method, route, status}``: requests by route template;
* ``vecsearch_http_request_duration_seconds{method, route}``: latency histogram;
* ``vecsearch_search_dispatch_total{where}``: searches run ``inline`` or in the ``pool``;
* ``vecsearch_search_duration_seconds{index_type}``: engine time of successful searches and
  queries (request validation included);
* ``vecsearch_collection_points{collection}``: points per open collection (read at scrape);
* ``vecsearch_http_requests_in_flight``: HTTP requests being served (read at scrape; the
  search dispatcher reads it too, see :mod:`service.dispatch`);
* ``vecsearch_ready``: 1 once collections are loaded and kernels compiled;
* ``vecsearch_searches_total{outcome}``: searches of the search routes (batch entries, one
  for a single search) ``answered``, and ``skipped`` because the client had gone (prefetch
  stages not run count too; see :mod:`service.dispatch`);
* ``vecsearch_requests_cancelled_total``: search requests stopped because their client
  disconnected.

Cluster mode only (read at scrape from one ask of every live replica, waiting at most
:data:`vecsearch.cluster.shard_snapshots.SCRAPE_TIMEOUT` seconds; a replica that does not
answer is left out, never fails the scrape; single-node output has none of these):

* ``vecsearch_shard_points{collection, shard}``: points of the shard (its most advanced
  answering replica; absent when none answered);
* ``vecsearch_shard_replicas{collection, shard, state}``: replicas per state (``Active``,
  ``Dead``, ``Partial`` as in ``GET /collections/{c}/cluster``);
* ``vecsearch_shard_seq{collection, shard, kind}``: the shard's last ``assigned`` and
  ``acked`` write sequence numbers, and the lowest ``applied`` one among its answering live
  replicas (``acked - applied``: how far the slowest replica lags);
* ``vecsearch_replica_applied_seq{collection, shard, replica}``: each answering live
  replica's last applied write;
* counters since the driver started, ``{collection, shard}``:
  ``vecsearch_shard_writes_total`` (acknowledgements awaited), ``..._write_failures_total``
  (refused, or too few replicas), ``..._write_seconds_total`` (time spent acknowledging),
  ``vecsearch_shard_reads_total`` (answered), ``..._read_failures_total`` (no replica could
  answer), ``..._read_failovers_total`` (retried on another replica).

Routes are labelled by their template (``/collections/{collection_name}/points/query``),
never by the raw path, so the label set stays small; unmatched paths share ``<unmatched>``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.responses import START_KEY

#: Latency buckets (seconds) from 100 µs to 10 s.
BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    10.0,
)


class _StateCollector(Collector):
    """Gauges read when Prometheus scrapes: points per collection, readiness."""

    def __init__(
        self,
        points: Callable[[], dict[str, int]],
        ready: Callable[[], bool],
        in_flight: Callable[[], int],
    ) -> None:
        self._points = points
        self._ready = ready
        self._in_flight = in_flight

    def collect(self) -> Iterator[Metric]:
        g = GaugeMetricFamily(
            "vecsearch_collection_points", "Points in each open collection", labels=["collection"]
        )
        counts = self._points()
        for name, n in sorted(counts.items()):
            g.add_metric([name], n)
        yield g
        # cluster mode: the counts carry the per-shard rows (ClusterDatabase.point_counts)
        shards = getattr(counts, "shards", None)
        if isinstance(shards, dict):
            try:
                families = shard_families(shards)
            except Exception:  # a scrape never fails over the per-shard details
                families = []
            yield from families
        yield GaugeMetricFamily(
            "vecsearch_ready",
            "1 once collections are loaded and kernels compiled",
            value=1.0 if self._ready() else 0.0,
        )
        yield GaugeMetricFamily(
            "vecsearch_http_requests_in_flight",
            "HTTP requests being served",
            value=float(self._in_flight()),
        )


#: Per-shard counters: (row key, metric name, help).
SHARD_COUNTERS = (
    ("writes", "vecsearch_shard_writes", "Writes whose acknowledgement was awaited"),
    ("write_failures", "vecsearch_shard_write_failures", "Writes refused or not acknowledged"),
    ("write_seconds", "vecsearch_shard_write_seconds", "Seconds spent acknowledging writes"),
    ("reads", "vecsearch_shard_reads", "Reads answered by a replica of the shard"),
    ("read_failures", "vecsearch_shard_read_failures", "Reads no replica of the shard answered"),
    ("read_failovers", "vecsearch_shard_read_failovers", "Reads retried on another replica"),
)


def shard_families(stats: dict[str, list[dict[str, Any]]]) -> list[Metric]:
    """The cluster-mode per-shard metrics from ``{collection: [shard row, ...]}`` (rows of
    :func:`vecsearch.cluster.shard_snapshots.shard_stats`)."""
    points = GaugeMetricFamily(
        "vecsearch_shard_points", "Points in each shard", labels=["collection", "shard"]
    )
    replicas = GaugeMetricFamily(
        "vecsearch_shard_replicas",
        "Replicas of each shard by state (Active, Dead, Partial)",
        labels=["collection", "shard", "state"],
    )
    seq = GaugeMetricFamily(
        "vecsearch_shard_seq",
        "Write sequence numbers of each shard: assigned, acked, lowest applied by a live replica",
        labels=["collection", "shard", "kind"],
    )
    applied = GaugeMetricFamily(
        "vecsearch_replica_applied_seq",
        "Last write applied by each answering live replica",
        labels=["collection", "shard", "replica"],
    )
    counters = {
        key: CounterMetricFamily(name, text, labels=["collection", "shard"])
        for key, name, text in SHARD_COUNTERS
    }
    for coll, rows in sorted(stats.items()):
        for row in rows:
            sid = str(row["shard"])
            if row["points"] is not None:
                points.add_metric([coll, sid], row["points"])
            for state, n in sorted(row["states"].items()):
                replicas.add_metric([coll, sid, state], n)
            seq.add_metric([coll, sid, "assigned"], row["seq"])
            seq.add_metric([coll, sid, "acked"], row["acked"])
            if row["replicas"]:
                seq.add_metric([coll, sid, "applied"], min(row["replicas"].values()))
            for slot, at in sorted(row["replicas"].items()):
                applied.add_metric([coll, sid, str(slot)], at)
            for key, fam in counters.items():
                fam.add_metric([coll, sid], row["counters"].get(key, 0))
    return [points, replicas, seq, applied, *counters.values()]


class Metrics:
    """The app's metrics, in a registry of its own (several apps may live in one process)."""

    def __init__(self, points: Callable[[], dict[str, int]], ready: Callable[[], bool]) -> None:
        self.registry = CollectorRegistry()
        #: HTTP requests being served; changed by the middleware on the event loop only.
        self.in_flight = 0
        self.requests = Counter(
            "vecsearch_http_requests",
            "HTTP requests by route template, method and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "vecsearch_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.search_latency = Histogram(
            "vecsearch_search_duration_seconds",
            "Engine time of successful searches and queries, by index type",
            ["index_type"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.dispatched = Counter(
            "vecsearch_search_dispatch",
            "Searches run inline on the event loop or in the thread pool (service.dispatch)",
            ["where"],
            registry=self.registry,
        )
        self.searches = Counter(
            "vecsearch_searches",
            "Searches answered, and skipped because the client had disconnected",
            ["outcome"],
            registry=self.registry,
        )
        self.cancelled = Counter(
            "vecsearch_requests_cancelled",
            "Search requests stopped because their client disconnected",
            registry=self.registry,
        )
        self.registry.register(_StateCollector(points, ready, lambda: self.in_flight))


class MetricsMiddleware:
    """Pure ASGI middleware: stamps the start time, counts and times every HTTP request and
    keeps ``Metrics.in_flight``."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        scope[START_KEY] = t0
        status = 500
        metrics = self.metrics
        metrics.in_flight += 1

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            metrics.in_flight -= 1
            route: Any = scope.get("route")
            label = getattr(route, "path", None) or "<unmatched>"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, label, str(status)).inc()
            self.metrics.latency.labels(method, label).observe(time.perf_counter() - t0)
