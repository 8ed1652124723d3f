"""Writes under load over HTTP (issue 19): single-point upserts idle, from 32 upsert-only
clients, and from 32 clients of which 10 % upsert while 90 % run filtered queries on a
payload field that has no payload index; for one or two source trees in the same run.

    python -m bench http --writes [--baseline /tmp/base19] [--n 20000] [--duration 15]

1. Build collection ``bench`` (``vecsearch build``, index ``--index``, default hnsw) from the
   first ``--n`` GloVe-50 train rows, each with payload ``{"group": i % 10, "tag": "t<i % 7>"}``
   and no payload index. One fresh build per tree, so every tree starts from the same data.
2. In-process first (a child process with the tree as its source, the engine alone):
   single-point upserts from 1 and from 32 threads, the filtered search's latency, and
   8 s of 32 threads of which every 10th request upserts while the others search with the
   mixed load's filter (upsert and search p50 / p99). The points it adds are deleted again.
3. Serve it from the tree (``vecsearch serve`` in a child process) and run, one after another:
   ``idle``: 1 client, single-point upserts (new ids), ``--idle-duration`` seconds;
   ``upserts``: 32 clients, single-point upserts only; ``mixed``: 32 clients, every 10th
   request of each client a single-point upsert, the others ``POST /points/query`` (limit 10)
   with the filter ``group == client % 10``. Latency percentiles per kind of request.
4. Afterwards every acknowledged upsert must be retrievable (``lost_writes`` = 0).

``--baseline TREE`` serves the same data from another checkout first (e.g. a
``git worktree`` of the commit before the change; it uses this checkout's virtualenv), so the
"before" and "after" figures come from one run on one machine. Each client has its own
keep-alive ``http.client`` connection; the load generator shares the machine with the server
(see :mod:`bench.http_bench`). Writes ``bench/results/http/glove-50-angular-k10-writes-<n>``
``.json``, ``.md`` and ``.png``; nothing is asserted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.http_server import ROOT, Server, _env, machine
from bench.result_paths import RESULTS_DIR, result_paths
from vecsearch.datasets import load_dataset

K = 10
CLIENTS = 32
PATH = "/collections/bench/points"


class Client:
    """One keep-alive connection; ``send`` returns the status (0: transport error)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def send(self, method: str, path: str, body: Any) -> tuple[int, bytes]:
        try:
            self.conn.request(method, path, json.dumps(body), {"content-type": "application/json"})
            r = self.conn.getresponse()
            return r.status, r.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            return 0, b""

    def close(self) -> None:
        self.conn.close()


def _stats(lat: list[float], elapsed: float) -> dict[str, Any]:
    a = np.asarray(lat) * 1e3
    if a.size == 0:
        return {"requests": 0}
    return {
        "requests": int(a.size),
        "per_s": a.size / elapsed,
        "p50_ms": float(np.percentile(a, 50)),
        "p95_ms": float(np.percentile(a, 95)),
        "p99_ms": float(np.percentile(a, 99)),
        "max_ms": float(a.max()),
    }


def load(
    port: int,
    n_clients: int,
    duration: float,
    write_every: int,
    queries: np.ndarray,
    vecs: np.ndarray,
    first_id: int,
) -> tuple[dict[str, Any], list[int]]:
    """``n_clients`` closed loops; request ``i`` of client ``c`` is an upsert when
    ``(i + c) % write_every == write_every - 1`` (``write_every=1``: upserts only)."""
    stop = threading.Event()
    lat: dict[str, list[list[float]]] = {"upsert": [], "query": []}
    acked: list[list[int]] = [[] for _ in range(n_clients)]
    errors = [0] * n_clients
    clients = [Client(port) for _ in range(n_clients)]
    for k in lat:
        lat[k] = [[] for _ in range(n_clients)]
    barrier = threading.Barrier(n_clients + 1)

    def run(c: int) -> None:
        cl = clients[c]
        flt = {"must": [{"key": "group", "match": {"value": c % 10}}]}
        barrier.wait()
        i = 0
        while not stop.is_set():
            write = (i + c) % write_every == write_every - 1  # spread over clients
            t0 = time.perf_counter()
            if write:
                pid = first_id + c * 1_000_000 + i
                v = vecs[pid % len(vecs)].tolist()
                body = {"points": [{"id": pid, "vector": v, "payload": {"group": pid % 10}}]}
                status, _ = cl.send("PUT", PATH, body)
                if status == 200:
                    acked[c].append(pid)
            else:
                q = queries[(c * 7919 + i) % len(queries)].tolist()
                status, _ = cl.send(
                    "POST", PATH + "/query", {"query": q, "limit": K, "filter": flt}
                )
            lat["upsert" if write else "query"][c].append(time.perf_counter() - t0)
            if status != 200:
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
    for cl in clients:
        cl.close()
    out: dict[str, Any] = {"clients": n_clients, "duration_s": elapsed, "errors": sum(errors)}
    for kind, per in lat.items():
        out[kind] = _stats([x for p in per for x in p], elapsed)
    return out, [p for a in acked for p in a]


def lost(port: int, ids: list[int]) -> int:
    """How many of ``ids`` cannot be retrieved."""
    cl = Client(port)
    found = 0
    for s in range(0, len(ids), 500):
        status, body = cl.send("POST", PATH, {"ids": ids[s : s + 500], "with_payload": False})
        if status == 200:
            found += len(json.loads(body)["result"])
    cl.close()
    return len(ids) - found


def build(data_dir: Path, x: np.ndarray, index: str) -> None:
    import subprocess
    import sys

    src = data_dir.parent / "points.jsonl"
    with open(src, "w") as fh:
        for i, v in enumerate(x):
            payload = {"group": i % 10, "tag": f"t{i % 7}"}
            fh.write(json.dumps({"id": i, "vector": v.tolist(), "payload": payload}) + "\n")
    cmd = [sys.executable, "-m", "vecsearch.cli", "build", str(src), "--collection", "bench"]
    cmd += ["--data-dir", str(data_dir), "--distance", "Cosine", "--index", index]
    subprocess.run([*cmd, "--no-progress"], check=True, env=_env())


#: In-process figures of one tree (run with that tree on ``sys.path``, before the server
#: opens the collection): single-point upserts from 1 and from 32 threads, and filtered
#: searches (the mixed load's filter, no payload index) from 1 thread, then 32 threads of
#: which every 10th request upserts and the others search with that filter, for 8 s.
ENGINE = """
import json, sys, threading, time
import numpy as np
from vecsearch.database import Database
db = Database(sys.argv[1]); c = db.get_collection("bench")
v = np.random.default_rng(2).standard_normal((4096, c.config.spaces[0].size)).astype("float32")
def up(pid):
    c.upsert([{"id": pid, "vector": v[pid % 4096].tolist(), "payload": {"group": pid % 10}}])
base = 50_000_000
t0 = time.perf_counter()
for i in range(200):
    up(base + i)
serial = 200 / (time.perf_counter() - t0)
def worker(t):
    for i in range(50):
        up(base + 1_000_000 * (t + 1) + i)
ts = [threading.Thread(target=worker, args=(t,)) for t in range(32)]
t0 = time.perf_counter()
for t in ts: t.start()
for t in ts: t.join()
threaded = 32 * 50 / (time.perf_counter() - t0)
flt = {"must": [{"key": "group", "match": {"value": 3}}]}
c.search(v[0], filter=flt, limit=10)
t0 = time.perf_counter()
for i in range(50):
    c.search(v[i], filter=flt, limit=10)
search_ms = (time.perf_counter() - t0) / 50 * 1e3
lat = {"upsert": [], "search": []}
stop = threading.Event()
def mixed(t):
    i = 0
    while not stop.is_set():
        t0 = time.perf_counter()
        if (i + t) % 10 == 9:
            up(base + 40_000_000 + 1_000_000 * t + i)
            kind = "upsert"
        else:
            flt_t = {"must": [{"key": "group", "match": {"value": t % 10}}]}
            c.search(v[(t * 7 + i) % 4096], filter=flt_t, limit=10)
            kind = "search"
        lat[kind].append(time.perf_counter() - t0)
        i += 1
ts = [threading.Thread(target=mixed, args=(t,)) for t in range(32)]
for t in ts: t.start()
time.sleep(8)
stop.set()
for t in ts: t.join()
pct = {k: [float(np.percentile(x, q) * 1e3) for q in (50, 99)] if x else None
       for k, x in lat.items()}
c.delete(filter={"must": [{"key": "group", "range": {"gte": 0}}], "must_not": [
    {"key": "tag", "match": {"prefix": "t"}}]})
db.close()
print(json.dumps({"upserts_per_s_1_thread": serial, "upserts_per_s_32_threads": threaded,
                  "filtered_search_ms": search_ms, "mixed_32_threads_p50_p99_ms": pct,
                  "mixed_requests": {k: len(x) for k, x in lat.items()}}))
"""


def engine(tree: Path, data_dir: Path) -> dict[str, Any]:
    """:data:`ENGINE` run by a child process with ``tree`` as its source."""
    import subprocess
    import sys

    env = {**_env(), "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", ENGINE, str(data_dir)],
        env=env,
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _commit(tree: Path) -> str:
    """The tree's git commit (``+`` when it has uncommitted changes), or ``?``."""
    import subprocess

    def git(*a: str) -> str:
        return subprocess.run(
            ["git", "-C", str(tree), *a], capture_output=True, text=True
        ).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "?"
    return head + ("+" if git("status", "--porcelain", "--untracked-files=no") else "")


def run_tree(tree: Path, x: np.ndarray, queries: np.ndarray, args: argparse.Namespace) -> dict:
    """Every phase against a server from ``tree`` over a fresh build of ``x``."""
    rng = np.random.default_rng(1)
    vecs = rng.standard_normal((4096, x.shape[1])).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="vecsearch-writes-") as tmp:
        data_dir = Path(tmp) / "data"
        build(data_dir, x, args.index)
        in_process = engine(tree, data_dir)
        print(f"{tree.name} in-process: {json.dumps(in_process)}", flush=True)
        server = Server(data_dir, tree=tree)
        try:
            server.wait_ready()
            port = server.port
            base = len(x)
            res: dict[str, Any] = {
                "tree": str(tree),
                "commit": _commit(tree),
                "loadavg_1m_start": machine()["loadavg_1m"],
                "in_process": in_process,
            }
            acked: list[int] = []
            phases = (
                ("idle", 1, args.idle_duration, 1),
                ("upserts", CLIENTS, args.duration, 1),
                ("mixed", CLIENTS, args.duration, 10),
            )
            for j, (name, n, dur, every) in enumerate(phases):
                got, ids = load(port, n, dur, every, queries, vecs, base + j * 100_000_000)
                acked += ids
                res[name] = got
                print(f"{tree.name} {name}: {json.dumps(got)}", flush=True)
            res["acknowledged_upserts"] = len(acked)
            res["lost_writes"] = lost(port, acked)
        finally:
            server.stop()
    return res


def _row(name: str, r: dict[str, Any]) -> list[str]:
    i, u, m = r["idle"]["upsert"], r["upserts"]["upsert"], r["mixed"]
    mu, mq = m["upsert"], m["query"]
    if not all(x.get("requests") for x in (i, u, mu, mq)):
        return [f"| {name} | (a phase completed no request of a kind; see the JSON) |"]
    return [
        f"| {name} | {i['p50_ms']:.1f} / {i['p99_ms']:.1f} | {u['per_s']:,.0f} |"
        f" {u['p50_ms']:.1f} / {u['p99_ms']:.1f} | {mu['p50_ms']:.1f} / {mu['p99_ms']:.1f} |"
        f" {mq['per_s']:,.0f} | {mq['p50_ms']:.1f} / {mq['p99_ms']:.1f} |"
        f" {r['upserts']['errors'] + m['errors']} | {r['lost_writes']} of"
        f" {r['acknowledged_upserts']:,} | {r['loadavg_1m_start']:.1f} |"
    ]


def _pair(e: dict[str, Any], kind: str) -> str:
    got = e.get("mixed_32_threads_p50_p99_ms", {}).get(kind)
    return "-" if not got else f"{got[0]:.1f} / {got[1]:.1f}"


def render(res: dict[str, Any]) -> str:
    lines = [
        f"# Writes under load: {res['dataset']}, {res['n']:,} points, index {res['index']}",
        "",
        f"Command: `{res['command']}`. {res['machine']['cpu_count']} cores; load average at the"
        f" start of each tree's run in the last column ({res['machine']['platform']}).",
        "Trees: "
        + ", ".join(f"{k} = commit {v.get('commit', '?')}" for k, v in res["trees"].items())
        + " (`+`: with uncommitted changes).",
        "",
        f"Phases: idle 1 client {res['idle_duration_s']:.0f} s; 32 clients upserts only and"
        f" 32 clients mixed (10 % upserts, 90 % filtered queries on `group`, no payload"
        f" index) {res['duration_s']:.0f} s each. Latencies in ms (p50 / p99).",
        "",
        "| tree | idle upsert | 32 upsert-only: upserts/s | upsert | mixed: upsert"
        " | queries/s | query | errors | lost writes | load |",
        "|---|---|---:|---|---|---:|---|---:|---|---:|",
    ]
    for name, r in res["trees"].items():
        lines += _row(name, r)
    lines += [
        "",
        "In-process (the engine alone, no HTTP; before the server starts):",
        "",
        "| tree | upserts/s, 1 thread | upserts/s, 32 threads | filtered search ms"
        " | mixed 32 threads (10 % upserts, 8 s): upsert p50 / p99 ms | search p50 / p99 ms |",
        "|---|---:|---:|---:|---|---|",
    ]
    for name, r in res["trees"].items():
        e = r["in_process"]
        lines.append(
            f"| {name} | {e['upserts_per_s_1_thread']:,.0f} | {e['upserts_per_s_32_threads']:,.0f}"
            f" | {e['filtered_search_ms']:.2f} | {_pair(e, 'upsert')} | {_pair(e, 'search')} |"
        )
    lines += [
        "",
        "The load generator (Python threads) and the server share the machine's cores, so"
        " rates are an end-to-end picture of one small box, not the server's ceiling.",
    ]
    return "\n".join(lines) + "\n"


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(res["trees"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    keys = [("idle", "upsert"), ("upserts", "upsert"), ("mixed", "upsert"), ("mixed", "query")]
    labels = ["idle upsert", "32 upsert-only", "mixed upsert", "mixed query"]
    w = 0.8 / max(len(names), 1)
    for j, name in enumerate(names):
        r = res["trees"][name]
        p99 = [r[a][b]["p99_ms"] for a, b in keys]
        axes[0].bar(np.arange(len(keys)) + j * w, p99, w, label=name)
    axes[0].set_yscale("log")
    axes[0].set_xticks(np.arange(len(keys)) + w * (len(names) - 1) / 2, labels, fontsize=8)
    axes[0].set_ylabel("p99 latency (ms, log)")
    axes[0].legend()
    rates = [res["trees"][n]["upserts"]["upsert"]["per_s"] for n in names]
    axes[1].bar(names, rates)
    axes[1].set_ylabel("single-point upserts/s, 32 clients")
    fig.suptitle(f"Writes under load ({res['n']:,} points, {res['index']})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Run the phases for each tree and write the JSON, Markdown and PNG records."""
    p = argparse.ArgumentParser(prog="python -m bench http --writes", description=__doc__)
    p.add_argument("--baseline", type=Path, help="also serve from this source tree, first")
    p.add_argument("--index", default="hnsw")
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--duration", type=float, default=15.0, help="seconds per 32-client phase")
    p.add_argument("--idle-duration", type=float, default=5.0)
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = p.parse_args(argv)
    ds = load_dataset("glove-50-angular")
    x = np.ascontiguousarray(ds.train[: args.n])
    queries = np.ascontiguousarray(ds.test[:2000])
    trees = {"after": ROOT}
    if args.baseline is not None:
        trees = {"before": args.baseline.resolve(), **trees}
    res: dict[str, Any] = {
        "dataset": ds.name,
        "n": len(x),
        "index": args.index,
        "duration_s": args.duration,
        "idle_duration_s": args.idle_duration,
        "command": " ".join(["python -m bench http --writes", *(argv or [])]),
        "machine": machine(),
        "trees": {name: run_tree(tree, x, queries, args) for name, tree in trees.items()},
    }
    paths = result_paths("http", ds.name, K, variant=f"writes-{len(x)}", root=args.results_dir)
    paths["json"].write_text(json.dumps(res, indent=2) + "\n")
    paths["md"].write_text(render(res))
    plot(res, paths["png"])
    print(render(res))
    return 0
