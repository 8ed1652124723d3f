"""Failover under load (issue 20): reads failed and writes lost while a node is killed and a
replacement joins, and how long the replacement takes to catch up.

    python -m bench cluster --failover [--n 20000] [--phase 8] [--readers 3]

A real local Ray cluster (``ray.cluster_utils.Cluster``: a head and two raylets, failure
detection after about 1.5 s) holds a collection of ``--n`` GloVe points, 2 shards x 2
replicas, ``write_consistency_factor`` 1, HNSW. One writer thread upserts single points
(new ids) and ``--readers`` threads search (limit 10) without pause, through four phases of
``--phase`` seconds: *before*; *outage* (the raylet holding most replicas killed, not
gracefully, at its start); *rejoin* (a new raylet added, then ``recover()`` replaces the
dead replicas on it and catches them up by snapshot or by the write log: its duration is
the catch-up time); *after*. Every phase reports reads (completed, failed), writes
(acknowledged, failed) and read / write latency p50 / p99; at the end every acknowledged
write is read back (``lost`` must be 0) and every replica is compared with its shard's
others. The load generator shares the machine's 2 cores with the raylets.

Writes ``bench/results/cluster/glove-50-angular-k10-failover.{json,md,png}``; nothing is
asserted.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.http_server import machine
from bench.result_paths import RESULTS_DIR, result_paths

K = 10
NODE = {"num_cpus": 1, "object_store_memory": 200 * 2**20}
SYSTEM = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 500,
    "health_check_failure_threshold": 3,
}
PHASES = ("before", "outage", "rejoin", "after")
BODY = {
    "vectors": {"size": 50, "distance": "Cosine"},
    "index": {"type": "hnsw", "params": {"M": 16, "ef_construction": 100}},
    "shard_number": 2,
    "replication_factor": 2,
    "write_consistency_factor": 1,
}


def _pct(a: list[float]) -> dict[str, float]:
    if not a:
        return {"n": 0}
    x = np.asarray(a) * 1e3
    return {
        "n": len(a),
        "p50_ms": float(np.percentile(x, 50)),
        "p99_ms": float(np.percentile(x, 99)),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    import ray

    from bench.ray_local import start_local_cluster, stop_local_cluster
    from vecsearch.cluster.collection import ClusterCollection
    from vecsearch.datasets import load_dataset

    ds = load_dataset("glove-50-angular")
    x = np.ascontiguousarray(ds.train, dtype=np.float32)
    qs = np.ascontiguousarray(ds.test[:1000], dtype=np.float32)
    cluster = start_local_cluster(3, NODE, SYSTEM)
    phase = [0]
    stats = {p: {"read": [], "write": [], "read_err": 0, "write_err": 0} for p in PHASES}
    errors: list[str] = []
    acked: list[int] = []
    stop = threading.Event()
    out: dict[str, Any] = {"n": args.n, "readers": args.readers, "phase_s": args.phase}
    try:
        with tempfile.TemporaryDirectory(prefix="vecsearch-failover-") as tmp:
            cc = ClusterCollection.create("ha", BODY, str(Path(tmp) / "cluster"))
            for s in range(0, args.n, 5000):
                cc.upsert_batch(list(range(s, min(s + 5000, args.n))), x[s : min(s + 5000, args.n)])

            def writer() -> None:
                i = args.n
                while not stop.is_set() and i < len(x):
                    st = stats[PHASES[phase[0]]]
                    t0 = time.perf_counter()
                    try:
                        cc.upsert([{"id": i, "vector": x[i].tolist()}])
                        st["write"].append(time.perf_counter() - t0)
                        acked.append(i)
                    except Exception as exc:
                        st["write_err"] += 1
                        errors.append(f"write: {exc!r}"[:300])
                    i += 1

            def reader(r: int) -> None:
                j = r
                while not stop.is_set():
                    st = stats[PHASES[phase[0]]]
                    t0 = time.perf_counter()
                    try:
                        hits = cc.search(qs[j % len(qs)], limit=K, params={"hnsw_ef": 64})
                        if len(hits) != K:
                            raise RuntimeError(f"{len(hits)} hits")
                        st["read"].append(time.perf_counter() - t0)
                    except Exception as exc:
                        st["read_err"] += 1
                        errors.append(f"read: {exc!r}"[:300])
                    j += args.readers

            threads = [threading.Thread(target=writer)]
            threads += [threading.Thread(target=reader, args=(r,)) for r in range(args.readers)]
            for t in threads:
                t.start()
            time.sleep(args.phase)
            head = cluster.head_node.node_id
            holders = [r.node_id for s in cc.shards for r in s.replicas]
            victim = max(
                (nd for nd in cluster.worker_nodes if nd.node_id != head),
                key=lambda nd: holders.count(nd.node_id),
            )
            phase[0] = 1
            t_kill = time.perf_counter()
            cluster.remove_node(victim, allow_graceful=False)
            time.sleep(args.phase)
            phase[0] = 2
            cluster.add_node(**NODE)
            cluster.wait_for_nodes()
            t0 = time.perf_counter()
            reports = cc.recover()
            out["catch_up_s"] = time.perf_counter() - t0
            out["recover"] = reports
            out["kill_to_recovered_s"] = time.perf_counter() - t_kill
            time.sleep(max(0.0, args.phase - (time.perf_counter() - t0)))
            phase[0] = 3
            time.sleep(args.phase)
            stop.set()
            for t in threads:
                t.join(timeout=120)
            cc.drain()
            got = set()
            for s in range(0, len(acked), 1000):
                got |= {r.id for r in cc.retrieve(acked[s : s + 1000], with_payload=False)}
            out["acknowledged_writes"] = len(acked)
            out["lost_writes"] = len(acked) - len(got)
            out["count"] = cc.count()
            out["replica_states"] = [[r.state for r in s.replicas] for s in cc.shards]
            counts = []
            from vecsearch.cluster.wire import unwrap

            for s in cc.shards:
                counts.append(
                    [
                        unwrap(ray.get(r.actor.read.remote("count", (None,), {}), timeout=60))
                        for r in s.replicas
                    ]
                )
            out["replica_counts"] = counts
            out["replicas_agree"] = all(len(set(c)) == 1 for c in counts)
            cc.close(drop=True)
    finally:
        stop_local_cluster(cluster)
    out["phases"] = {
        p: {
            "reads": _pct(st["read"]),
            "read_errors": st["read_err"],
            "writes": _pct(st["write"]),
            "write_errors": st["write_err"],
        }
        for p, st in stats.items()
    }
    out["errors_sample"] = errors[:10]
    return out


def render(res: dict[str, Any]) -> str:
    r = res["result"]
    lines = [
        "# Failover under load: GloVe, 2 shards x 2 replicas, a node killed and replaced",
        "",
        f"Command: `{res['command']}`. {res['machine']['cpu_count']} cores, Ray {res['ray']},"
        f" 3 raylets on this machine, load average {res['machine']['loadavg_1m']:.1f} at the"
        f" start. {r['n']:,} points, 1 writer (single-point upserts) and {r['readers']} readers"
        f" (search, limit 10), {r['phase_s']:.0f} s per phase.",
        "",
        "| phase | reads | failed reads | read p50 / p99 ms | writes acked | failed writes"
        " | write p50 / p99 ms |",
        "|---|---:|---:|---|---:|---:|---|",
    ]
    for p, ph in r["phases"].items():
        rd, wr = ph["reads"], ph["writes"]
        rl = f"{rd['p50_ms']:.1f} / {rd['p99_ms']:.1f}" if rd["n"] else "-"
        wl = f"{wr['p50_ms']:.1f} / {wr['p99_ms']:.1f}" if wr["n"] else "-"
        lines.append(
            f"| {p} | {rd['n']:,} | {ph['read_errors']} | {rl} | {wr['n']:,} |"
            f" {ph['write_errors']} | {wl} |"
        )
    methods = sorted({x.get("method", "?") for x in r["recover"]})
    lines += [
        "",
        f"Lost acknowledged writes: **{r['lost_writes']}** of {r['acknowledged_writes']:,}."
        f" Catch-up (`recover()`, {len(r['recover'])} replicas by {', '.join(methods)}):"
        f" **{r['catch_up_s']:.2f} s**; kill to fully replicated again:"
        f" {r['kill_to_recovered_s']:.1f} s. Replicas agree after: {r['replicas_agree']}"
        f" (counts {r['replica_counts']}); states {r['replica_states']}.",
        "",
    ]
    if r["errors_sample"]:
        lines += ["First errors:", ""] + [f"- `{e}`" for e in r["errors_sample"]] + [""]
    return "\n".join(lines)


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = res["result"]["phases"]
    fig, ax = plt.subplots(figsize=(7, 4))
    xs = np.arange(len(PHASES))
    for j, kind in enumerate(("reads", "writes")):
        p99 = [r[p][kind].get("p99_ms", 0) for p in PHASES]
        p50 = [r[p][kind].get("p50_ms", 0) for p in PHASES]
        ax.bar(xs + j * 0.4, p99, 0.4, label=f"{kind} p99", alpha=0.5)
        ax.bar(xs + j * 0.4, p50, 0.4, label=f"{kind} p50")
    ax.set_xticks(xs + 0.2, PHASES)
    ax.set_ylabel("latency ms")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.set_title("Failover under load (failed reads / lost writes in the record)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench cluster --failover", description=__doc__)
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--phase", type=float, default=8.0, help="seconds per phase")
    p.add_argument("--readers", type=int, default=3)
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = p.parse_args(argv)
    import ray

    res = {
        "command": " ".join(["python -m bench cluster --failover", *(argv or [])]),
        "machine": machine(),
        "ray": ray.__version__,
        "result": run(args),
    }
    paths = result_paths(
        "cluster", "glove-50-angular", K, variant="failover", root=args.results_dir
    )
    paths["json"].write_text(json.dumps(res, indent=2, default=str) + "\n")
    paths["md"].write_text(render(res))
    plot(res, paths["png"])
    print(render(res))
    return 0
