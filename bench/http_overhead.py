"""Fixed per-request cost of ``POST /collections/{name}/points/query``, before vs after.

    PYTHONPATH=. python -m bench.http_overhead [--tree LABEL=DIR ...] [--n 10000]
                                               [--rounds 10] [--per-round 100]

A small collection (``--n`` random points, dim 50, Cosine, the default index) makes the
fixed costs visible. Each ``--tree`` is a source tree (for example an ``git archive`` of an
older commit) whose ``vecsearch serve`` is started in a child process over its own copy of
the data (``--env LABEL:VAR=VALUE`` sets a variable for one of them, for example
``VECSEARCH_INLINE_SEARCH_MS=0``); with none, the current tree is measured alone. Then,
interleaved round by round so that machine load hits every variant alike:

* in-process: ``Collection.search`` in this process (the engine time, the baseline);
* per server, one client at a time with a keep-alive connection, two clients: the standard
  library's ``http.client`` (cheap) and ``httpx`` (what ``qdrant-client`` uses);
* the server's CPU time per request (from ``/proc/PID/stat``) and its voluntary context
  switches per request (each one a thread going to sleep and waiting to be woken, which on a
  loaded machine means waiting for a core): both far steadier under load than wall time.

Prints a table (p50 / p90 wall ms, server CPU ms and wake-ups per request, p50 minus the
in-process p50) and how many searches each server ran inline / in its thread pool.
Nothing is written or asserted: commit messages quote its output.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.http_bench import Server

ROOT = Path(__file__).resolve().parents[1]


def _cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (all threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _switches(pid: int) -> int:
    """Voluntary context switches of all threads of ``pid`` (each is a sleep and a wake-up)."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            text = status.read_text()
        except OSError:  # a thread that just ended
            continue
        for line in text.splitlines():
            if line.startswith("voluntary_ctxt_switches"):
                total += int(line.split()[1])
    return total


def _dispatch_counts(port: int) -> str:
    """The server's inline / pool dispatch counters (absent before this commit: "-")."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    found = {}
    for line in text.splitlines():
        if line.startswith("vecsearch_search_dispatch_total"):
            found[line.split('"')[1]] = int(float(line.split()[-1]))
    return f"{found.get('inline', 0)}/{found.get('pool', 0)}" if found else "-"


def _build(data_dir: Path, n: int, dim: int) -> np.ndarray:
    from vecsearch.database import Database

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    db = Database(data_dir)
    try:
        coll = db.create_collection("bench", {"vectors": {"size": dim, "distance": "Cosine"}})
        for s in range(0, n, 5000):
            coll.upsert_batch(list(range(s, min(n, s + 5000))), x[s : s + 5000])
    finally:
        db.close()
    return rng.standard_normal((200, dim)).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.http_overhead", description=__doc__)
    p.add_argument("--tree", action="append", default=[], help="LABEL=DIR of a source tree")
    p.add_argument(
        "--env",
        action="append",
        default=[],
        help="LABEL:VAR=VALUE, an environment variable for one server (e.g. settings)",
    )
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--dim", type=int, default=50)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--per-round", type=int, default=100)
    args = p.parse_args(argv)
    trees = dict(t.split("=", 1) for t in args.tree) or {"current": str(ROOT)}
    envs: dict[str, dict[str, str]] = {label: {} for label in trees}
    for e in args.env:
        label, assignment = e.split(":", 1)
        var, value = assignment.split("=", 1)
        envs[label][var] = value

    import httpx
    from threadpoolctl import threadpool_limits

    from vecsearch.database import Database

    threadpool_limits(1, user_api="blas")  # as vecsearch serve does
    with tempfile.TemporaryDirectory(prefix="vecsearch-overhead-") as tmp:
        base = Path(tmp) / "base"
        queries = _build(base, args.n, args.dim)
        bodies = [json.dumps({"query": q.tolist(), "limit": 10}).encode() for q in queries]
        servers: dict[str, Server] = {}
        for label, tree in trees.items():
            shutil.copytree(base, Path(tmp) / label)
            servers[label] = Server(Path(tmp) / label, Path(tree).resolve(), envs[label])
        local = Path(tmp) / "local"
        shutil.copytree(base, local)
        db = Database(local)
        try:
            for s in servers.values():
                s.wait_ready()
            coll = db.get_collection("bench")
            path = "/collections/bench/points/query"
            headers = {"content-type": "application/json"}
            conns = {k: http.client.HTTPConnection("127.0.0.1", s.port) for k, s in servers.items()}
            hx = {
                k: httpx.Client(base_url=f"http://127.0.0.1:{s.port}") for k, s in servers.items()
            }

            def via_http_client(label: str, body: bytes) -> None:
                c = conns[label]
                c.request("POST", path, body=body, headers=headers)
                r = c.getresponse()
                data = r.read()
                assert r.status == 200, data

            def via_httpx(label: str, body: bytes) -> None:
                r = hx[label].post(path, content=body, headers=headers)
                assert r.status_code == 200, r.text

            lat: dict[str, list[float]] = {}
            cpu: dict[str, float] = {}
            sw: dict[str, int] = {}
            count: dict[str, int] = {}
            variants = [("in-process", None, None)]
            for label in servers:
                variants += [
                    (f"{label} http.client", label, via_http_client),
                    (f"{label} httpx", label, via_httpx),
                ]
            for _name, label, fn in variants:  # warm
                for i in range(50):
                    if fn is None:
                        coll.search(queries[i % 200], limit=10)
                    else:
                        fn(label, bodies[i % 200])
            for _r in range(args.rounds):
                for name, label, fn in variants:
                    ts = lat.setdefault(name, [])
                    if label:  # fresh connections: uvicorn drops idle ones after 5 s
                        conns[label].close()
                        hx[label].close()
                        conns[label] = http.client.HTTPConnection("127.0.0.1", servers[label].port)
                        hx[label] = httpx.Client(base_url=f"http://127.0.0.1:{servers[label].port}")
                        fn(label, bodies[0])
                    c0 = _cpu_seconds(servers[label].proc.pid) if label else 0.0
                    s0 = _switches(servers[label].proc.pid) if label else 0
                    for i in range(args.per_round):
                        t0 = time.perf_counter()
                        if fn is None:
                            coll.search(queries[i % 200], limit=10)
                        else:
                            fn(label, bodies[i % 200])
                        ts.append(time.perf_counter() - t0)
                    if label:
                        cpu[name] = cpu.get(name, 0.0) + _cpu_seconds(servers[label].proc.pid) - c0
                        sw[name] = sw.get(name, 0) + _switches(servers[label].proc.pid) - s0
                        count[name] = count.get(name, 0) + args.per_round
            dispatch_counts = {label: _dispatch_counts(s.port) for label, s in servers.items()}
            for c in conns.values():
                c.close()
            for h in hx.values():
                h.close()
        finally:
            db.close()
            for s in servers.values():
                s.stop()
    dispatch = dispatch_counts
    base_p50 = float(np.median(lat["in-process"])) * 1e3
    load = os.getloadavg()[0]
    print(f"{args.n} points, dim {args.dim}; load average {load:.1f} on {os.cpu_count()} cores")
    print(
        f"{'variant':24s} {'p50 ms':>7s} {'p90 ms':>7s} {'srv CPU ms/req':>14s}"
        f" {'srv wake-ups/req':>16s} {'p50-eng':>8s}"
    )
    for name, ts in lat.items():
        a = np.asarray(ts) * 1e3
        p50 = float(np.median(a))
        srv = f"{cpu[name] / count[name] * 1e3:.3f}" if name in cpu else "-"
        wk = f"{sw[name] / count[name]:.2f}" if name in sw else "-"
        print(
            f"{name:24s} {p50:7.3f} {np.percentile(a, 90):7.3f} {srv:>14s} {wk:>16s}"
            f" {p50 - base_p50:8.3f}"
        )
    print("searches inline/pool per server:", dispatch)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
