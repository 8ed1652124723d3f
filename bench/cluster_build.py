"""The distributed bulk build against the single-node one (issue 20).

    python -m bench cluster --build [--dataset glove-50-angular] [--indexes ivf_pq,hnsw]
                                    [--shards 1,2,4] [--nodes 2] [--queries 1000]

In one process run, for each index type: ``vecsearch build`` of the dataset's train vectors
(one ``.npy``) into one collection (wall and CPU seconds), then ``vecsearch build --cluster
--shards S`` of the same vectors as two ``.npy`` splits on a ``ray.cluster_utils.Cluster`` of
``--nodes`` raylets on this machine (replication factor 1), for each ``S``: wall seconds, the
shared model's training seconds, every shard task's wall and CPU seconds; then recall@10 of
every built collection, queries one at a time at a fixed search effort (IVF-PQ ``nprobe``
32, HNSW ``hnsw_ef`` 64) against the exact ground truth.

The projection (a model, not a measurement): on ``S`` machines like this one, one shard
each, the shard tasks run side by side without sharing cores, so the build takes the
measured time outside the shard tasks (probes, training, the record, opening) plus the
largest shard task's CPU seconds divided by the cores a single-node build keeps busy (its
CPU / wall ratio here). Every raylet here shares 2 cores, so the measured cluster build
time is that of one box.

Note: the single-node build trains IVF-PQ on its first chunk (10,000 rows); the distributed
build trains once on the sample the single-node rebuild uses (100,000 rows), so the two
IVF-PQ models differ (recall is reported for both).

Writes ``bench/results/cluster/<dataset>-k10-build.{json,md,png}``; nothing is asserted.
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
NODE = {"num_cpus": 1, "object_store_memory": 400 * 2**20}
PARAMS = {"ivf_pq": {"nlist": 1024}, "hnsw": {"M": 16, "ef_construction": 100}}
SEARCH = {"ivf_pq": {"nprobe": 32}, "hnsw": {"hnsw_ef": 64}}


def _recall(coll: Any, qs: np.ndarray, truth: np.ndarray, params: dict) -> dict[str, float]:
    found, lat = [], []
    for q in qs:
        t0 = time.perf_counter()
        hits = coll.search(q, limit=K, params=params)
        lat.append(time.perf_counter() - t0)
        found.append({h.id for h in hits})
    rec = float(np.mean([len(f & set(t)) / K for f, t in zip(found, truth, strict=True)]))
    return {"recall": rec, "p50_ms": float(np.percentile(lat, 50) * 1e3)}


def run(args: argparse.Namespace, base: Path) -> dict[str, Any]:
    from vecsearch.build import build_collection
    from vecsearch.cluster.build import build_cluster_collection
    from vecsearch.cluster.database import ClusterDatabase
    from vecsearch.database import Database
    from vecsearch.datasets import load_dataset
    from vecsearch.datasets.groundtruth import compute_ground_truth, ground_truth

    ds = load_dataset(args.dataset)
    n = args.n or len(ds.train)
    x = np.ascontiguousarray(ds.train[:n], dtype=np.float32)
    qs = np.ascontiguousarray(ds.test[: args.queries], dtype=np.float32)
    if n == len(ds.train):
        truth = ground_truth(ds, K)[0][: len(qs)]
    else:
        truth = compute_ground_truth(x, qs, ds.metric, K)[0]
    distance = {"angular": "Cosine", "euclidean": "Euclid"}.get(ds.metric, "Cosine")
    whole, half = base / "all.npy", len(x) // 2
    np.save(whole, x)
    np.save(base / "a.npy", x[:half])
    np.save(base / "b.npy", x[half:])
    out: dict[str, Any] = {"dataset": args.dataset, "n": len(x), "queries": len(qs), "runs": []}
    for itype in args.indexes:
        t0, c0 = time.perf_counter(), time.process_time()
        build_collection(
            whole, base / f"single-{itype}", "one", distance=distance, index=itype,
            index_params=PARAMS[itype], progress=False,
        )  # fmt: skip
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        with Database(base / f"single-{itype}") as db:
            quality = _recall(db.get_collection("one"), qs, truth, SEARCH[itype])
        row: dict[str, Any] = {
            "index": itype,
            "single": {"seconds": wall, "cpu_seconds": cpu, **quality},
            "cluster": [],
        }
        print(f"{itype} one node: {json.dumps(row['single'])}", flush=True)
        cores = max(cpu / wall, 1.0)
        for s in args.shards:
            rep = build_cluster_collection(
                [str(base / "a.npy"), str(base / "b.npy")], base / "db", f"{itype}-s{s}",
                shards=s, distance=distance, index=itype, index_params=PARAMS[itype],
                progress=False,
            )  # fmt: skip
            with ClusterDatabase(base / "db") as cdb:
                coll = cdb.get_collection(f"{itype}-s{s}")
                quality = _recall(coll.cc, qs, truth, SEARCH[itype])
                cdb.delete_collection(f"{itype}-s{s}")
            outside = rep.seconds - max(rep.shard_seconds)
            c = {
                "shards": s,
                "seconds": rep.seconds,
                "train_seconds": rep.train_seconds,
                "shard_seconds": list(rep.shard_seconds),
                "shard_cpu_seconds": list(rep.shard_cpu_seconds),
                "shard_points": list(rep.shard_points),
                "outside_shards_seconds": outside,
                "projected_seconds": outside + max(rep.shard_cpu_seconds) / cores,
                **quality,
            }
            row["cluster"].append(c)
            print(f"{itype} {s} shards: {json.dumps(c)}", flush=True)
        out["runs"].append(row)
    return out


def render(res: dict[str, Any]) -> str:
    m = res["machine"]
    lines = [
        "# Distributed bulk build against one node",
        "",
        f"Command: `{res['command']}`. {m['cpu_count']} cores, Ray {res['ray']}, {res['nodes']}"
        f" raylets on this machine; load average {m['loadavg_1m']:.1f} at the start."
        f" {res['dataset']} ({res['n']:,} points, 2 .npy splits for the cluster builds),"
        f" recall@{K} over {res['queries']:,} queries one at a time against exact ground truth.",
        "",
        "| index | setup | build s (this box) | shared model s | shard tasks s (wall / CPU)"
        " | projected s, S machines | recall@10 | p50 ms |",
        "|---|---|---:|---:|---|---:|---:|---:|",
    ]
    for r in res["runs"]:
        one = r["single"]
        lines.append(
            f"| {r['index']} | one node | {one['seconds']:.1f} | - |"
            f" - (CPU {one['cpu_seconds']:.1f}) | - | {one['recall']:.4f} | {one['p50_ms']:.2f} |"
        )
        for c in r["cluster"]:
            tasks = ", ".join(
                f"{w:.1f}/{u:.1f}"
                for w, u in zip(c["shard_seconds"], c["shard_cpu_seconds"], strict=True)
            )
            lines.append(
                f"| {r['index']} | {c['shards']} shards | {c['seconds']:.1f} |"
                f" {c['train_seconds']:.1f} | {tasks} | {c['projected_seconds']:.1f} |"
                f" {c['recall']:.4f} | {c['p50_ms']:.2f} |"
            )
    lines += [
        "",
        "Build s (this box): every raylet shares the same 2 cores. Projected: on S machines"
        " like this one, one shard each, the time outside the shard tasks plus the largest"
        " shard task's CPU seconds over the cores a single-node build keeps busy (a model from"
        " the measured parts, see bench/cluster_build.py). The single-node IVF-PQ trains on its"
        " first 10,000 rows, the distributed build on a 100,000-row sample.",
        "",
    ]
    return "\n".join(lines)


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in res["runs"]:
        s = [c["shards"] for c in r["cluster"]]
        ax.plot(s, [c["seconds"] for c in r["cluster"]], marker="o", label=f"{r['index']} here")
        ax.plot(
            s, [c["projected_seconds"] for c in r["cluster"]], marker="x", linestyle="--",
            label=f"{r['index']} projected, S machines",
        )  # fmt: skip
        ax.axhline(r["single"]["seconds"], linestyle=":", color="grey")
    ax.set_xlabel("shards")
    ax.set_ylabel("build seconds")
    ax.set_title(f"{res['dataset']}: distributed build (dotted: one node)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    argv = list(argv or [])
    p = argparse.ArgumentParser(prog="python -m bench cluster --build", description=__doc__)
    p.add_argument("--dataset", default="glove-50-angular")
    p.add_argument("--indexes", default="ivf_pq,hnsw")
    p.add_argument("--shards", default="1,2,4")
    p.add_argument("--nodes", type=int, default=2)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--n", type=int, default=0, help="first N train rows (0: all)")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = p.parse_args(argv)
    args.indexes = args.indexes.split(",")
    args.shards = [int(s) for s in args.shards.split(",")]
    import ray

    res: dict[str, Any] = {
        "command": " ".join(["python -m bench cluster --build", *argv]),
        "machine": machine(),
        "nodes": args.nodes,
    }
    cluster = start_local_cluster(args.nodes, NODE)
    res["ray"] = ray.__version__
    try:
        with tempfile.TemporaryDirectory(prefix="vecsearch-cluster-build-") as tmp:
            res.update(run(args, Path(tmp)))
    finally:
        stop_local_cluster(cluster)
    paths = result_paths("cluster", args.dataset, K, variant="build", root=args.results_dir)
    paths["json"].write_text(json.dumps(res, indent=2) + "\n")
    paths["md"].write_text(render(res))
    plot(res, paths["png"])
    print(render(res))
    return 0
