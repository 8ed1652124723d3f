"""The measurement loop: build each configuration, sweep its query parameters, time and score.

For every system, build-grid entry and query-parameter setting the runner records one point:

* **latency mode**: one query per call on one thread (BLAS, OpenMP, Numba and the library's
  own pool limited to 1); QPS = queries / total time of the best of ``runs`` passes, and the
  p50/p95/p99 of that pass's per-query latencies;
* **batch mode**: all queries in one call on ``threads`` threads; QPS of the best pass;
* recall@k of both modes, computed by :mod:`bench.metrics` from the vectors;
* with ``interleave``, every configuration is built first and kept in memory, then pass r
  runs over all of them before pass r + 1, so other processes' load is shared fairly;
* per build: build time (on ``threads`` threads), index bytes as the system reports them, and
  RSS before/after/peak during the build plus the process's peak RSS so far.

All systems run in this one process, one after the other, on the same query subset.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from bench import lid as lidmod
from bench.adapters import Adapter, AdapterUnavailable, adapter_class
from bench.config import AlgorithmSpec
from bench.memory import PeakRSS, max_rss_bytes
from bench.metrics import DEFAULT_EPSILON, latency_percentiles, recall_per_query
from bench.threads import available_threads, limit_threads
from vecsearch.datasets import Dataset, cache_dir, ground_truth

MODES = ("latency", "batch")
ORDERS = ("data", "random", "lid-asc", "lid-desc")


@dataclass
class RunSettings:
    """Options of one benchmark run (see ``python -m bench run --help``)."""

    k: int = 10
    queries: int | None = 1000
    runs: int = 3
    threads: int = field(default_factory=available_threads)
    modes: tuple[str, ...] = MODES
    insertion_order: str = "data"
    order_seed: int = 0
    lid_k: int = 20
    query_seed: int = 0
    epsilon: float = DEFAULT_EPSILON
    interleave: bool = False

    def __post_init__(self) -> None:
        if self.k <= 0 or self.runs <= 0 or self.threads <= 0:
            raise ValueError("k, runs and threads must be positive")
        bad = set(self.modes) - set(MODES)
        if bad or not self.modes:
            raise ValueError(f"modes must be a non-empty subset of {MODES}, got {self.modes}")
        if self.insertion_order not in ORDERS:
            raise ValueError(f"insertion_order must be one of {ORDERS}")


def select_queries(n_test: int, n: int | None, seed: int) -> np.ndarray:
    """Sorted row numbers of a seeded random query subset (all rows if ``n`` is None/large).

    A random subset, not the first rows: GloVe's test rows are in word-frequency order.
    """
    if n is None or n >= n_test:
        return np.arange(n_test, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_test, size=n, replace=False)).astype(np.int64)


def insertion_order(
    dataset: Dataset, settings: RunSettings, log: Callable[[str], None]
) -> np.ndarray | None:
    """The permutation graph indexes insert in (``None`` for data order)."""
    if settings.insertion_order == "data":
        return None
    lids = np.zeros(dataset.train.shape[0])
    if settings.insertion_order.startswith("lid"):
        log(f"estimating per-point LID (k={settings.lid_k}) for the insertion order ...")
        lids = lidmod.point_lids(
            dataset.train,
            dataset.metric,
            settings.lid_k,
            cache_key=f"{dataset.name}-{dataset.fingerprint()[:24]}",
            cache_dir=cache_dir(),
        )
    return lidmod.lid_order(lids, settings.insertion_order, seed=settings.order_seed)


@dataclass
class _Best:
    """Best pass so far of one (build, query setting) in each mode."""

    lat: np.ndarray | None = None
    lat_ids: np.ndarray | None = None
    batch_s: float = float("inf")
    batch_ids: np.ndarray | None = None
    passes: int = 0


def _latency_pass(adapter: Adapter, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """One pass of one-at-a-time queries: (per-query latencies in s, ids (nq, k))."""
    lat = np.empty(q.shape[0], dtype=np.float64)
    ids = np.full((q.shape[0], k), -1, dtype=np.int64)
    for i in range(q.shape[0]):
        qi = q[i]
        t0 = time.perf_counter()
        res = adapter.query(qi, k)
        lat[i] = time.perf_counter() - t0
        m = min(k, len(res))
        ids[i, :m] = res[:m]
    return lat, ids


def _measure_pass(
    adapter: Adapter,
    qp: dict[str, Any],
    queries: np.ndarray,
    settings: RunSettings,
    best: _Best,
) -> None:
    """Time one pass of each mode for query setting ``qp``; keep it in ``best`` if fastest.

    The first pass of a setting is preceded by a warm-up (JIT compilation, caches).
    """
    k = settings.k
    adapter.set_query_params(**qp)
    warm = queries[: min(16, queries.shape[0])] if best.passes == 0 else queries[:0]
    if "latency" in settings.modes:
        with limit_threads(1):
            adapter.set_threads(1)
            for w in warm:
                adapter.query(w, k)
            lat, ids = _latency_pass(adapter, queries, k)
        if best.lat is None or lat.sum() < best.lat.sum():
            best.lat, best.lat_ids = lat, ids
    if "batch" in settings.modes:
        with limit_threads(settings.threads):
            adapter.set_threads(settings.threads)
            if warm.shape[0]:
                adapter.batch_query(warm, k)
            t0 = time.perf_counter()
            ids = adapter.batch_query(queries, k)
            secs = time.perf_counter() - t0
        if secs < best.batch_s:
            best.batch_s, best.batch_ids = secs, ids
    best.passes += 1


def run_benchmark(
    dataset: Dataset,
    specs: list[AlgorithmSpec],
    settings: RunSettings,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Benchmark ``specs`` on ``dataset``; returns a JSON-ready dict of every point."""
    k = settings.k
    rows = select_queries(dataset.test.shape[0], settings.queries, settings.query_seed)
    queries = np.ascontiguousarray(dataset.test[rows])
    log(
        f"{dataset.name}: {dataset.train.shape[0]} x {dataset.dim} ({dataset.metric}), "
        f"{rows.size} queries, k={k}; exact ground truth ..."
    )
    gt_ids = ground_truth(dataset, k)[0][rows]
    order = insertion_order(dataset, settings, log)
    points: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    load_start = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    built: list[tuple[AlgorithmSpec, Adapter, dict[str, Any]]] = []
    for spec in specs:
        for build in spec.build_grid:
            try:
                adapter = adapter_class(spec.adapter)(dataset.metric, dataset.dim, **build)
            except AdapterUnavailable as exc:
                log(f"  skip {spec.name}: {exc}")
                skipped.append({"system": spec.name, "reason": str(exc)})
                break
            info = _build(spec, adapter, dataset, order, settings, log)
            if settings.interleave:
                built.append((spec, adapter, info))
                continue
            for qp in spec.query_grid:  # measure now, then free the index
                best = _Best()
                for _ in range(settings.runs):
                    _measure_pass(adapter, qp, queries, settings, best)
                points.append(
                    _point(info, adapter.params, best, dataset, queries, gt_ids, settings)
                )
                log("    " + _point_line(points[-1]))
            del adapter
            gc.collect()
    if built:
        # interleaved: pass r of every configuration before pass r + 1 of any, so that load
        # from other processes spreads over all systems instead of hitting one of them
        bests = [[_Best() for _ in spec.query_grid] for spec, _, _ in built]
        for r in range(settings.runs):
            log(f"  pass {r + 1}/{settings.runs} over {len(built)} built configurations")
            for (spec, adapter, _), row in zip(built, bests, strict=True):
                for qp, best in zip(spec.query_grid, row, strict=True):
                    _measure_pass(adapter, qp, queries, settings, best)
        for (spec, adapter, info), row in zip(built, bests, strict=True):
            for qp, best in zip(spec.query_grid, row, strict=True):
                adapter.set_query_params(**qp)
                points.append(
                    _point(info, adapter.params, best, dataset, queries, gt_ids, settings)
                )
                log("    " + _point_line(points[-1]))
    return {
        "schema": "vecsearch-bench/1",
        "dataset": {
            "name": dataset.name,
            "metric": dataset.metric,
            "dim": dataset.dim,
            "n_train": int(dataset.train.shape[0]),
            "n_test": int(dataset.test.shape[0]),
            "n_queries": int(rows.size),
            "query_seed": settings.query_seed,
            "fingerprint": dataset.fingerprint(),
        },
        "settings": asdict(settings) | {"modes": list(settings.modes)},
        "algorithms": [asdict(s) for s in specs],
        "points": points,
        "skipped": skipped,
        # other processes on the machine: 1/5/15-minute load averages at start and end
        "load_average": {
            "start": load_start,
            "end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        },
    }


def _build(
    spec: AlgorithmSpec,
    adapter: Adapter,
    dataset: Dataset,
    order: np.ndarray | None,
    settings: RunSettings,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Build one configuration on ``settings.threads`` threads; returns its build record."""
    threads = settings.threads
    use_order = order if adapter.is_graph else None
    with limit_threads(threads), PeakRSS() as mem:
        adapter.set_threads(threads)
        t0 = time.perf_counter()
        adapter.fit(dataset.train, use_order)
        build_s = time.perf_counter() - t0
    index_bytes = adapter.memory_bytes()
    # optional finer split (e.g. RAM vs memory-mapped disk bytes of binary codes)
    detail = getattr(adapter, "memory_detail", None)
    log(
        f"  {spec.name} [{adapter.describe()}] built in {build_s:.1f} s, "
        f"{index_bytes / 2**20:.1f} MiB"
    )
    return {
        "system": spec.name,
        "adapter": adapter.name,
        "family": adapter.family,
        "build_params": dict(adapter.build),
        "insertion_order": settings.insertion_order if use_order is not None else "data",
        "build_time_s": build_s,
        "build_threads": threads,
        "index_bytes": index_bytes,
        "index_bytes_method": adapter.memory_method,
        **({"memory_detail": detail()} if callable(detail) else {}),
        "rss_before_build_bytes": mem.before,
        "rss_after_build_bytes": mem.after,
        "build_peak_rss_bytes": mem.peak,
    }


def _point(
    build_info: dict[str, Any],
    params: dict[str, Any],
    best: _Best,
    dataset: Dataset,
    queries: np.ndarray,
    gt_ids: np.ndarray,
    settings: RunSettings,
) -> dict[str, Any]:
    """The JSON record of one (build, query setting) from its best passes."""
    k, nq = settings.k, queries.shape[0]
    point: dict[str, Any] = {**build_info, "query_params": dict(params), "passes": best.passes}
    if best.lat is not None:
        rec = recall_per_query(
            dataset.train, queries, best.lat_ids, gt_ids, k, dataset.metric, settings.epsilon
        )
        point["latency"] = {
            "qps": float(nq / best.lat.sum()),
            "recall": float(rec.mean()),
            **latency_percentiles(best.lat),
        }
    if best.batch_ids is not None:
        rec = recall_per_query(
            dataset.train, queries, best.batch_ids, gt_ids, k, dataset.metric, settings.epsilon
        )
        point["batch"] = {
            "qps": float(nq / best.batch_s),
            "recall": float(rec.mean()),
            "threads": settings.threads,
            "seconds": best.batch_s,
        }
    point["process_peak_rss_bytes"] = max_rss_bytes()
    return point


def _point_line(p: dict[str, Any]) -> str:
    qp = ",".join(f"{k}={v}" for k, v in p["query_params"].items()) or "-"
    parts = [f"{p['system']:<18} {qp:<22}"]
    if "latency" in p:
        lt = p["latency"]
        parts.append(
            f"recall {lt['recall']:.4f}  1-thread {lt['qps']:9.1f} qps  p99 {lt['p99_ms']:.2f} ms"
        )
    if "batch" in p:
        parts.append(f"batch {p['batch']['qps']:9.1f} qps (recall {p['batch']['recall']:.4f})")
    return "  ".join(parts)
