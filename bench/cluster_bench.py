"""Cluster mode against one node (issue 20): recall@10, latency and throughput of sharded
collections on a real local Ray cluster, and a stated projection to real machines.

    python -m bench cluster [--datasets glove-50-angular,fashion-mnist-784-euclidean]
                            [--n 0] [--queries 1000] [--shards 1,2,4] [--nodes 2] [--ef 64]
    python -m bench cluster --failover ...   (bench/cluster_failover.py)
    python -m bench cluster --build ...      (bench/cluster_build.py)

For each dataset, in one process run:

1. **One node**: a single-node collection (HNSW, ``M`` / ``ef_construct`` below) built with
   ``upsert_batch`` in chunks; the test queries one at a time with ``hnsw_ef = --ef``:
   recall@10 against the dataset's exact ground truth, p50 / p99 latency, QPS.
2. **Sharded**: a :class:`~vecsearch.cluster.collection.ClusterCollection` with ``S`` shards
   (replication factor 1) on a ``ray.cluster_utils.Cluster`` of ``--nodes`` raylets on this
   machine, built the same way through the cluster, same index parameters and ``hnsw_ef``;
   the same queries through the cluster's scatter-gather (optimistic per-shard k with
   re-query): recall@10, the recall difference to one node (goal: within 0.5 point),
   latency, QPS, and the share of queries that needed a re-query.
3. **Parts of a sharded query**, for the projection: a shard's search timed by calling its
   replica actor directly, minus a no-op call to the same actor (``t_shard``: the compute
   of one shard of ``n / S`` points), the no-op round trip itself (``t_rpc``), and the rest
   of the end-to-end latency (``t_driver``: routing, fan-out, merge).

The projection (a model, not a measurement): with ``S`` machines of this machine's speed,
one shard each, one query at a time, latency ≈ ``t_shard(S) + t_rpc + t_driver``; under a
closed-loop load throughput is bounded by every machine's shard work and by the driver,
``QPS_S ≈ cores / max(t_shard(S), t_rpc + t_driver)`` per query stream, so it grows with
``S`` only as long as the driver is not the bottleneck (``t_shard`` shrinks slowly with
``n / S`` for a graph index: its search cost grows about with ``log n``). Here every node
shares 2 cores, so the measured sharded QPS is that of one box, not of S machines.

Writes ``bench/results/cluster/<dataset>-k10.{json,md,png}``; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.http_server import machine
from bench.ray_local import start_local_cluster, stop_local_cluster
from bench.result_paths import RESULTS_DIR, result_paths

K = 10
M, EF_CONSTRUCT = 16, 100
CHUNK = 5_000
NODE = {"num_cpus": 1, "object_store_memory": 300 * 2**20}


def _body(dim: int, distance: str) -> dict[str, Any]:
    return {
        "vectors": {"size": dim, "distance": distance},
        "index": {"type": "hnsw", "params": {"M": M, "ef_construction": EF_CONSTRUCT}},
    }


def _distance(metric: str) -> str:
    return {"angular": "Cosine", "cosine": "Cosine", "euclidean": "Euclid", "l2": "Euclid"}[metric]


def _load(coll: Any, x: np.ndarray) -> float:
    t0 = time.perf_counter()
    for s in range(0, len(x), CHUNK):
        coll.upsert_batch(list(range(s, min(s + CHUNK, len(x)))), x[s : s + CHUNK])
    return time.perf_counter() - t0


def _queries(coll: Any, qs: np.ndarray, ef: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids (n x K, -1 padded) and per-query latency (s)."""
    ids = np.full((len(qs), K), -1, dtype=np.int64)
    lat = np.zeros(len(qs))
    for i, q in enumerate(qs):
        t0 = time.perf_counter()
        hits = coll.search(q, limit=K, params={"hnsw_ef": ef})
        lat[i] = time.perf_counter() - t0
        ids[i, : len(hits)] = [h.id for h in hits]
    return ids, lat


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)]))


def _lat(lat: np.ndarray) -> dict[str, float]:
    return {
        "p50_ms": float(np.percentile(lat, 50) * 1e3),
        "p99_ms": float(np.percentile(lat, 99) * 1e3),
        "mean_ms": float(lat.mean() * 1e3),
        "qps": float(len(lat) / lat.sum()),
    }


def _parts(cc: Any, qs: np.ndarray, ef: int, n_probe: int = 200) -> dict[str, float]:
    """Mean shard compute (direct actor read minus a no-op call) and the no-op round trip."""
    import ray

    shard_t, rpc_t = [], []
    for q in qs[:n_probe]:
        for shard in cc.shards:
            actor = shard.replicas[0].actor
            t0 = time.perf_counter()
            ray.get(actor.applied_seq.remote())
            t1 = time.perf_counter()
            body = {"vector": q.tolist(), "limit": K, "params": {"hnsw_ef": ef}}
            ray.get(actor.read.remote("search_batch", ([body], "searches"), {}))
            t2 = time.perf_counter()
            rpc_t.append(t1 - t0)
            shard_t.append(max((t2 - t1) - (t1 - t0), 0.0))
    return {"t_shard_ms": float(np.mean(shard_t) * 1e3), "t_rpc_ms": float(np.mean(rpc_t) * 1e3)}


def run_dataset(name: str, args: argparse.Namespace, base: Path) -> dict[str, Any]:
    from vecsearch.cluster.collection import ClusterCollection
    from vecsearch.database import Database
    from vecsearch.datasets import load_dataset
    from vecsearch.datasets.groundtruth import compute_ground_truth, ground_truth

    ds = load_dataset(name)
    n = args.n or len(ds.train)
    x = np.ascontiguousarray(ds.train[:n], dtype=np.float32)
    qs = np.ascontiguousarray(ds.test[: args.queries], dtype=np.float32)
    if n == len(ds.train):
        truth = ground_truth(ds, K)[0][: len(qs)]
    else:
        truth = compute_ground_truth(x, qs, ds.metric, K)[0]
    body = _body(x.shape[1], _distance(ds.metric))
    out: dict[str, Any] = {"dataset": name, "n": n, "queries": len(qs), "dim": x.shape[1]}

    db = Database(base / f"{name}-single")
    try:
        coll = db.create_collection("one", body)
        build = _load(coll, x)
        ids, lat = _queries(coll, qs, args.ef)
        out["single"] = {"build_s": build, "recall": _recall(ids, truth), **_lat(lat)}
        print(f"{name} one node: {json.dumps(out['single'])}", flush=True)
    finally:
        db.close()

    out["sharded"] = []
    for s in args.shards:
        cc = ClusterCollection.create(
            f"s{s}", body, base / f"{name}-s{s}", shard_number=s, replication_factor=1
        )
        try:
            build = _load(cc, x)
            ids, lat = _queries(cc, qs, args.ef)
            requeried = 0
            for q in qs[:200]:
                cc.search(q, limit=K, params={"hnsw_ef": args.ef})
                requeried += bool(cc.last_requeried)
            row = {
                "shards": s,
                "build_s": build,
                "recall": _recall(ids, truth),
                **_lat(lat),
                "requery_share": requeried / min(200, len(qs)),
                **_parts(cc, qs, args.ef),
            }
            row["recall_diff_points"] = (row["recall"] - out["single"]["recall"]) * 100
            row["t_driver_ms"] = max(row["mean_ms"] - row["t_shard_ms"] - row["t_rpc_ms"], 0.0)
            out["sharded"].append(row)
            print(f"{name} {s} shards: {json.dumps(row)}", flush=True)
        finally:
            cc.close(drop=True)
    return out


def projection(row: dict[str, Any], single: dict[str, Any], cores: int = 1) -> dict[str, float]:
    """The model of the module docs for ``row['shards']`` machines (one shard each)."""
    t_shard, t_over = row["t_shard_ms"], row["t_rpc_ms"] + row["t_driver_ms"]
    return {
        "latency_ms": t_shard + t_over,
        "qps_bound": cores * 1e3 / max(t_shard, t_over),
        "single_qps": single["qps"],
    }


def render(res: dict[str, Any]) -> str:
    lines = [
        "# Cluster mode against one node",
        "",
        f"Command: `{res['command']}`. {res['machine']['cpu_count']} cores, Ray {res['ray']},"
        f" {res['nodes']} raylets on this machine; load average {res['machine']['loadavg_1m']:.1f}"
        f" at the start. HNSW M={M}, ef_construct={EF_CONSTRUCT}, queries one at a time with"
        f" hnsw_ef={res['ef']}, recall@{K} against exact ground truth.",
        "",
    ]
    for d in res["datasets"]:
        one = d["single"]
        lines += [
            f"## {d['dataset']} ({d['n']:,} points, {d['queries']:,} queries)",
            "",
            "| setup | recall@10 | vs one node (points) | p50 / p99 ms | QPS (this box) | build s"
            " | re-queried | t_shard / t_rpc / t_driver ms | projected latency ms / QPS bound |",
            "|---|---:|---:|---|---:|---:|---:|---|---|",
            f"| one node | {one['recall']:.4f} | - | {one['p50_ms']:.2f} / {one['p99_ms']:.2f} |"
            f" {one['qps']:,.0f} | {one['build_s']:.0f} | - | - | - |",
        ]
        for r in d["sharded"]:
            p = projection(r, one)
            lines.append(
                f"| {r['shards']} shards | {r['recall']:.4f} | {r['recall_diff_points']:+.2f} |"
                f" {r['p50_ms']:.2f} / {r['p99_ms']:.2f} | {r['qps']:,.0f} | {r['build_s']:.0f} |"
                f" {r['requery_share']:.0%} | {r['t_shard_ms']:.2f} / {r['t_rpc_ms']:.2f} /"
                f" {r['t_driver_ms']:.2f} | {p['latency_ms']:.2f} / {p['qps_bound']:,.0f} |"
            )
        lines.append("")
    lines += [
        "QPS (this box): every raylet shares the same 2 cores, so sharding here adds Ray round"
        " trips without adding cores. Projection: S machines like this one (one core per"
        " query stream), latency t_shard + t_rpc + t_driver, throughput bounded by"
        " max(t_shard, t_rpc + t_driver) per query (see bench/cluster_bench.py); a model from"
        " the measured parts, not a measurement of S machines.",
        "",
    ]
    return "\n".join(lines)


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for d in res["datasets"]:
        s = [1] + [r["shards"] for r in d["sharded"]]
        axes[0].plot(
            ["one node"] + [f"{r['shards']} sh" for r in d["sharded"]],
            [d["single"]["recall"]] + [r["recall"] for r in d["sharded"]],
            marker="o",
            label=d["dataset"],
        )
        axes[1].plot(
            s[1:], [projection(r, d["single"])["latency_ms"] for r in d["sharded"]], marker="o",
            label=f"{d['dataset']} (projected)",
        )  # fmt: skip
    axes[0].set_ylabel(f"recall@{K}")
    axes[0].legend(fontsize=7)
    axes[1].set_xlabel("shards (one machine each, projected)")
    axes[1].set_ylabel("latency ms")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    argv = list(argv or [])
    if "--failover" in argv:  # the failover study (bench/cluster_failover.py)
        from bench.cluster_failover import main as failover_main

        return failover_main([a for a in argv if a != "--failover"])
    if "--build" in argv:  # the distributed bulk build (bench/cluster_build.py)
        from bench.cluster_build import main as build_main

        return build_main([a for a in argv if a != "--build"])
    p = argparse.ArgumentParser(prog="python -m bench cluster", description=__doc__)
    p.add_argument("--datasets", default="glove-50-angular,fashion-mnist-784-euclidean")
    p.add_argument("--n", type=int, default=0, help="first N train rows (0: all)")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--shards", default="1,2,4")
    p.add_argument("--nodes", type=int, default=2)
    p.add_argument("--ef", type=int, default=64)
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = p.parse_args(argv)
    args.shards = [int(s) for s in args.shards.split(",")]
    import ray

    cluster = start_local_cluster(args.nodes, NODE)
    res: dict[str, Any] = {
        "command": " ".join(["python -m bench cluster", *(argv or [])]),
        "machine": machine(),
        "ray": ray.__version__,
        "nodes": args.nodes,
        "ef": args.ef,
        "datasets": [],
    }
    try:
        with tempfile.TemporaryDirectory(prefix="vecsearch-cluster-bench-") as tmp:
            for name in args.datasets.split(","):
                res["datasets"].append(run_dataset(name, args, Path(tmp)))
    finally:
        stop_local_cluster(cluster)
    for d in res["datasets"]:
        one = {**res, "datasets": [d]}
        paths = result_paths("cluster", d["dataset"], K, root=args.results_dir)
        paths["json"].write_text(json.dumps(one, indent=2) + "\n")
        paths["md"].write_text(render(one))
        plot(one, paths["png"])
    print(render(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
