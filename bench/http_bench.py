"""HTTP service measures of issue 8: closed-loop load against ``vecsearch serve`` with the
same collection searched in-process in the same run, and a mixed read/write load.

    python -m bench http [--dataset glove-50-angular] [--index hnsw] [--n 390000]
                         [--clients 1 8 32] [--duration 10] [--mixed-duration 15] [--soak 60]
    python -m bench http --writes [--baseline TREE]   (writes under load: bench/http_writes.py)

1. Build collection ``bench`` from the first ``--n`` train rows (``vecsearch build``).
2. In-process: N threads each call ``Collection.search`` in a closed loop (query rows of the
   test split, limit 10) for ``--duration`` seconds: QPS and p50 / p95 / p99 latency.
3. HTTP: the same collection served by ``vecsearch serve`` in a child process; N client
   threads, each with its own keep-alive connection, POST ``/points/query`` in a closed loop:
   QPS, latency percentiles, errors (any non-200 or transport failure). The overhead is the
   HTTP p50 minus the in-process p50 at the same N, and their ratio.
4. ``--soak S``: 32 HTTP clients for S seconds (errors must be 0).
5. Mixed: 8 clients, 10 % upserts of new points (ids above the built range) and 90 %
   queries; afterwards every acknowledged upsert must be retrievable (lost writes = 0).

The load generator runs in this process (Python threads, GIL-bound) on the same machine as
the server, so at high N both compete for the same cores: the numbers are an end-to-end
picture of one small box, not the server's ceiling. Writes
``bench/results/http/<dataset>-k10-<index>-<n>.json`` and ``.md``; nothing is asserted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.http_server import Server, _env, machine
from bench.result_paths import RESULTS_DIR, result_paths
from vecsearch.datasets import load_dataset

K = 10  # hits per search


def closed_loop(
    n_clients: int, duration: float, make_worker: Callable[[int], Callable[[int], bool]]
) -> dict[str, Any]:
    """Run ``n_clients`` threads; each calls its worker(i) until ``duration`` has passed.

    A worker returns True on success. Returns QPS, latency percentiles (ms) and errors."""
    stop = threading.Event()
    lat: list[list[float]] = [[] for _ in range(n_clients)]
    errors = [0] * n_clients
    workers = [make_worker(c) for c in range(n_clients)]
    barrier = threading.Barrier(n_clients + 1)

    def run(c: int) -> None:
        barrier.wait()
        i = 0
        while not stop.is_set():
            t0 = time.perf_counter()
            ok = workers[c](i)
            lat[c].append(time.perf_counter() - t0)
            if not ok:
                errors[c] += 1
            i += 1

    threads = [threading.Thread(target=run, args=(c,), daemon=True) for c in range(n_clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    time.sleep(duration)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    all_lat = np.concatenate([np.asarray(x) for x in lat]) * 1e3
    return {
        "clients": n_clients,
        "requests": int(all_lat.size),
        "errors": int(sum(errors)),
        "qps": all_lat.size / elapsed,
        "p50_ms": float(np.percentile(all_lat, 50)),
        "p95_ms": float(np.percentile(all_lat, 95)),
        "p99_ms": float(np.percentile(all_lat, 99)),
    }


def build(data_dir: Path, x: np.ndarray, metric: str, index: str) -> float:
    distance = {"cosine": "Cosine", "ip": "Dot", "l2": "Euclid"}[metric]
    src = data_dir.parent / "train.npy"
    np.save(src, x)
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "vecsearch.cli", "build", str(src), "--collection", "bench"]
    cmd += ["--data-dir", str(data_dir), "--distance", distance, "--index", index]
    subprocess.run([*cmd, "--no-progress"], check=True, env=_env())
    return time.perf_counter() - t0


def in_process(data_dir: Path, queries: np.ndarray, levels: list[int], duration: float) -> list:
    from threadpoolctl import threadpool_limits

    from vecsearch.database import Database

    db = Database(data_dir)
    # the server runs with one BLAS thread per search (Settings.blas_threads): same here
    limits = threadpool_limits(1, user_api="blas")
    try:
        coll = db.get_collection("bench")
        for q in queries[:50]:
            coll.search(q, limit=K)  # warm
        out = []
        for n in levels:

            def make(c: int) -> Callable[[int], bool]:
                def work(i: int) -> bool:
                    coll.search(queries[(c * 7919 + i) % len(queries)], limit=K)
                    return True

                return work

            out.append(closed_loop(n, duration, make))
            print(f"in-process {n:3d} clients: {out[-1]}", flush=True)
        return out
    finally:
        db.close()
        limits.restore_original_limits()


class _Conn:
    """One keep-alive HTTP/1.1 connection (standard library ``http.client``).

    The load generator shares the machine's two cores with the server, so its own cost per
    request is part of what the closed loop measures: ``http.client`` spends several times
    less CPU per request than ``httpx`` (measured in ``bench.http_overhead``), which keeps
    the 1-client overhead figure closer to the server's. A failed request reconnects.
    """

    def __init__(self, url: str) -> None:
        from urllib.parse import urlsplit

        u = urlsplit(url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 80
        self.conn = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=30)

    def post(self, path: str, body: bytes) -> int:
        """POST ``body`` (JSON) to ``path``; the status code, or 0 on a transport error."""
        try:
            self.conn.request("POST", path, body, {"content-type": "application/json"})
            r = self.conn.getresponse()
            r.read()
            return r.status
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = self._connect()
            return 0

    def close(self) -> None:
        self.conn.close()


def over_http(url: str, queries: np.ndarray, levels: list[int], duration: float) -> list:
    bodies = [json.dumps({"query": q.tolist(), "limit": K}).encode() for q in queries]
    path = "/collections/bench/points/query"
    out = []
    for n in levels:
        clients = [_Conn(url) for _ in range(n)]

        def make(c: int, clients: list = clients) -> Callable[[int], bool]:
            client = clients[c]

            def work(i: int) -> bool:
                return client.post(path, bodies[(c * 7919 + i) % len(bodies)]) == 200

            return work

        for c in clients:  # open the connections
            c.post(path, bodies[0])
        out.append(closed_loop(n, duration, make))
        print(f"http       {n:3d} clients: {out[-1]}", flush=True)
        for c in clients:
            c.close()
    return out


def mixed(url: str, queries: np.ndarray, dim: int, start_id: int, duration: float) -> dict:
    """8 clients, 10 % upserts; then check every acknowledged upsert is there."""
    import httpx

    path = url + "/collections/bench/points"
    acked: list[list[int]] = [[] for _ in range(8)]
    rng = np.random.default_rng(1)
    new_vecs = rng.standard_normal((4096, dim)).astype(np.float32)
    clients = [httpx.Client(timeout=30) for _ in range(8)]
    counters = {"reads": 0, "writes": 0}
    lock = threading.Lock()

    def make(c: int) -> Callable[[int], bool]:
        client = clients[c]

        def work(i: int) -> bool:
            try:
                if i % 10 == 9:
                    pid = start_id + c * 1_000_000 + i
                    body = {
                        "points": [
                            {
                                "id": pid,
                                "vector": new_vecs[pid % 4096].tolist(),
                                "payload": {"c": c, "i": i},
                            }
                        ]
                    }
                    r = client.put(path, json=body)
                    if r.status_code == 200:
                        acked[c].append(pid)
                    with lock:
                        counters["writes"] += 1
                else:
                    q = queries[(c * 7919 + i) % len(queries)]
                    r = client.post(path + "/query", json={"query": q.tolist(), "limit": K})
                    with lock:
                        counters["reads"] += 1
            except httpx.HTTPError:
                return False
            return r.status_code == 200

        return work

    res = closed_loop(8, duration, make)
    ids = [p for a in acked for p in a]
    found = 0
    for s in range(0, len(ids), 500):
        r = clients[0].post(path, json={"ids": ids[s : s + 500], "with_payload": False})
        found += len(r.json()["result"])
    for c in clients:
        c.close()
    res.update(
        counters, acknowledged_upserts=len(ids), found_after=found, lost_writes=len(ids) - found
    )
    print(f"mixed: {res}", flush=True)
    return res


def render(res: dict[str, Any]) -> str:
    lines = [
        f"# HTTP service: {res['dataset']}, index {res['index']}, {res['n']:,} points",
        "",
        f"- build (vecsearch build): {res['build_s']:.1f} s; {res['duration_s']:.0f} s per level;"
        f" load average at start {res['machine']['loadavg_1m']:.1f} on"
        f" {res['machine']['cpu_count']} cores",
        "",
        "| clients | in-process QPS | p50 / p95 / p99 ms | HTTP QPS | p50 / p95 / p99 ms"
        " | HTTP errors | p50 overhead ms | p50 ratio |",
        "|---:|---:|---|---:|---|---:|---:|---:|",
    ]
    for a, b in zip(res["in_process"], res["http"], strict=True):
        lines.append(
            f"| {a['clients']} | {a['qps']:,.0f} | {a['p50_ms']:.2f} / {a['p95_ms']:.2f} /"
            f" {a['p99_ms']:.2f} | {b['qps']:,.0f} | {b['p50_ms']:.2f} / {b['p95_ms']:.2f} /"
            f" {b['p99_ms']:.2f} | {b['errors']} | {b['p50_ms'] - a['p50_ms']:.2f} |"
            f" {b['p50_ms'] / a['p50_ms']:.2f} |"
        )
    if "soak" in res:
        k = res["soak"]
        lines += [
            "",
            f"Soak: 32 HTTP clients for {k['duration_s']:.0f} s: {k['requests']:,} requests,"
            f" {k['errors']} errors, {k['qps']:,.0f} QPS, p99 {k['p99_ms']:.1f} ms.",
        ]
    m = res["mixed"]
    lines += [
        "",
        f"Mixed (8 clients, 10 % upserts, {res['mixed_duration_s']:.0f} s): {m['qps']:,.0f}"
        f" requests/s, p50 {m['p50_ms']:.2f} ms, p99 {m['p99_ms']:.2f} ms, {m['errors']} errors;"
        f" {m['acknowledged_upserts']} acknowledged upserts, {m['found_after']} found after,"
        f" lost writes: {m['lost_writes']}.",
        "",
        "Reading: load generator and server share the machine's cores (Python client"
        " threads, one keep-alive `http.client` connection each; the mixed load uses httpx),"
        " so HTTP QPS at 8/32 clients is bounded by the client as much as by the"
        " server. In a closed loop, p50 at N clients is mostly queueing (about N / QPS), so"
        " compare QPS there; the per-query HTTP overhead is the 1-client row. With one client"
        " the server runs each quick search on its event loop (service/dispatch.py), so a"
        " request wakes 2 threads (server loop, client) instead of 4; under concurrent load"
        " searches go to the thread pool and run in parallel. On an oversubscribed machine"
        " every wake-up waits for a core: `python -m bench.http_overhead` measures server"
        " CPU and wake-ups per request, which load disturbs far less than wall time.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the measures and write the JSON and Markdown reports (``--writes``: the study of
    writes under load instead, :mod:`bench.http_writes`)."""
    argv = sys.argv[1:] if argv is None else argv
    if "--writes" in argv:
        from bench.http_writes import main as writes_main

        return writes_main([a for a in argv if a != "--writes"])
    p = argparse.ArgumentParser(
        prog="python -m bench http",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dataset", default="glove-50-angular")
    p.add_argument("--index", default="flat")
    p.add_argument("--n", type=int, default=100_000, help="train rows to load")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--duration", type=float, default=10.0, help="seconds per level")
    p.add_argument("--mixed-duration", type=float, default=15.0)
    p.add_argument(
        "--soak", type=float, default=0.0, help="then 32 HTTP clients for this many seconds"
    )
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="root of the records")
    args = p.parse_args(argv)

    ds = load_dataset(args.dataset)
    x = np.ascontiguousarray(ds.train[: args.n])
    queries = np.ascontiguousarray(ds.test[:2000])
    res: dict[str, Any] = {
        "dataset": ds.name,
        "index": args.index,
        "n": len(x),
        "duration_s": args.duration,
        "mixed_duration_s": args.mixed_duration,
        "machine": machine(),
    }
    with tempfile.TemporaryDirectory(prefix="vecsearch-http-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        res["build_s"] = build(data_dir, x, ds.metric, args.index)
        res["in_process"] = in_process(data_dir, queries, args.clients, args.duration)
        server = Server(data_dir)
        try:
            server.wait_ready()
            res["http"] = over_http(server.url, queries, args.clients, args.duration)
            if args.soak:
                res["soak"] = over_http(server.url, queries, [32], args.soak)[0]
                res["soak"]["duration_s"] = args.soak
            res["mixed"] = mixed(server.url, queries, x.shape[1], len(x), args.mixed_duration)
        finally:
            server.stop()
    variant = f"{args.index}-{len(x)}"
    paths = result_paths(
        "http", ds.name, K, variant=variant, root=args.results_dir, exts=("json", "md")
    )
    paths["json"].write_text(json.dumps(res, indent=2) + "\n")
    paths["md"].write_text(render(res))
    print(render(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
