"""Engine measures of issue 7: bulk build vs hnswlib, upsert throughput, filtered search.

    python -m bench.engine_bench [--dataset glove-50-angular] [--index hnsw] [--limit N]

1. ``vecsearch build`` (a subprocess, as a user runs it) of the dataset's train split, from
   a Parquet file with a payload column ``r`` (uniform 0..999): end-to-end seconds (read +
   store + index + save) and the child's peak RSS; for ``--index hnsw``, hnswlib's
   ``add_items`` alone with the same M / ef_construction, and the ratio.
2. Upsert throughput through the Python API in batches of 1 / 100 / 10,000 points (into a
   fresh collection of the same index type; every batch is one durable commit).
3. Filtered search at selectivities 50 / 10 / 1 / 0.1 % (``range r < ...`` with an integer
   payload index): QPS of sequential single-query calls, recall@10 against exact search over
   the allowed points (computed here with numpy), and the planner's choice.

Writes ``bench/results/engine/<dataset>-<index>[-<limit>].json`` and ``.md``. Timings on a
shared 2-core machine are noisy: they are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.datasets import load_dataset
from vecsearch.database import Database

ROOT = Path(__file__).resolve().parents[1]
SELECTIVITIES = (0.5, 0.1, 0.01, 0.001)


def write_parquet(path: Path, x: np.ndarray, r: np.ndarray) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    flat = pa.array(x.reshape(-1), pa.float32())
    vec = pa.FixedSizeListArray.from_arrays(flat, x.shape[1])
    table = pa.table({"id": np.arange(len(x), dtype=np.uint64), "vector": vec, "r": r})
    pq.write_table(table, path, row_group_size=50_000)


def run_build(src: Path, data_dir: Path, metric: str, index: str, params: dict) -> dict:
    distance = {"cosine": "Cosine", "ip": "Dot", "l2": "Euclid"}[metric]
    cmd = [
        sys.executable,
        "-m",
        "vecsearch.cli",
        "build",
        str(src),
        "--collection",
        "bench",
        "--data-dir",
        str(data_dir),
        "--distance",
        distance,
        "--index",
        index,
        "--chunk-size",
        "50000",
        "--no-progress",
    ]
    for k, v in params.items():
        cmd += ["-p", f"{k}={v}"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    out = subprocess.run(
        cmd,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    secs = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"seconds": secs, "peak_rss_mb": max(peak, before) / 1024, "stdout": out.stdout.strip()}


def hnswlib_baseline(x: np.ndarray, metric: str, params: dict) -> float | None:
    try:
        import hnswlib
    except ImportError:
        return None
    space = {"cosine": "cosine", "ip": "ip", "l2": "l2"}[metric]
    idx = hnswlib.Index(space=space, dim=x.shape[1])
    idx.init_index(
        max_elements=len(x),
        M=params.get("M", 16),
        ef_construction=params.get("ef_construction", 200),
        random_seed=0,
    )
    t0 = time.perf_counter()
    idx.add_items(x, np.arange(len(x)), num_threads=os.cpu_count() or 1)
    return time.perf_counter() - t0


def upsert_throughput(data_dir: Path, x: np.ndarray, metric: str, index: str, params: dict) -> dict:
    distance = {"cosine": "Cosine", "ip": "Dot", "l2": "Euclid"}[metric]
    out = {}
    with Database(data_dir) as db:
        for batch, n_batches in ((1, 200), (100, 50), (10_000, 3)):
            name = f"ups{batch}"
            coll = db.create_collection(
                name,
                {
                    "vectors": {"size": x.shape[1], "distance": distance},
                    "index": {"type": index, "params": params},
                },
            )
            n = min(batch * n_batches, len(x))
            t0 = time.perf_counter()
            for s in range(0, n, batch):
                coll.upsert_batch(
                    list(range(s, min(n, s + batch))),
                    x[s : s + batch],
                    [{"r": int(s % 1000)}] * len(x[s : s + batch]),
                )
            secs = time.perf_counter() - t0
            out[str(batch)] = {"points": n, "seconds": secs, "points_per_s": n / secs}
            db.delete_collection(name)
    return out


def filtered_search(
    data_dir: Path, x: np.ndarray, r: np.ndarray, queries: np.ndarray, metric: str, k: int = 10
) -> dict:
    out = {}
    with Database(data_dir) as db:
        coll = db.get_collection("bench")
        coll.create_payload_index("r", "integer")
        if metric == "cosine":
            base = x / np.linalg.norm(x, axis=1, keepdims=True)
            qn = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        else:
            base, qn = x, queries
        for sel in SELECTIVITIES:
            bound = round(sel * 1000)
            flt = {"must": [{"key": "r", "range": {"lt": bound}}]}
            allowed = np.flatnonzero(r < bound)
            if metric == "l2":
                b = base[allowed].astype(np.float64)
                d = (b**2).sum(1)[None, :] - 2 * qn.astype(np.float64) @ b.T
                truth = allowed[np.argsort(d, axis=1)[:, :k]]
            else:
                truth = allowed[np.argsort(-(qn @ base[allowed].T), axis=1)[:, :k]]
            plans = {}
            t0 = time.perf_counter()
            got = []
            for q in queries:
                got.append([h.id for h in coll.search(q, limit=k, filter=flt)])
                plans[coll.last_plan] = plans.get(coll.last_plan, 0) + 1
            secs = time.perf_counter() - t0
            rec = np.mean(
                [len(set(g) & set(t.tolist())) / k for g, t in zip(got, truth, strict=True)]
            )
            out[f"{sel:.1%}"] = {
                "allowed": len(allowed),
                "qps": len(queries) / secs,
                "recall@10": float(rec),
                "plans": plans,
            }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="glove-50-angular")
    ap.add_argument("--index", default="hnsw")
    ap.add_argument("--limit", type=int, help="use only the first N train points")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "engine"))
    args = ap.parse_args(argv)

    ds = load_dataset(args.dataset)
    x = ds.train if args.limit is None else ds.train[: args.limit]
    queries = ds.test[: args.queries]
    r = np.random.default_rng(0).integers(0, 1000, size=len(x))
    params = {"M": 16, "ef_construction": 200} if args.index == "hnsw" else {}
    result: dict = {
        "dataset": args.dataset,
        "index": args.index,
        "points": len(x),
        "queries": len(queries),
        "params": params,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }
    with tempfile.TemporaryDirectory(prefix="engine-bench-") as tmp_s:
        tmp = Path(tmp_s)
        write_parquet(tmp / "train.parquet", x, r)
        result["build"] = run_build(
            tmp / "train.parquet", tmp / "db", ds.metric, args.index, params
        )
        if args.index == "hnsw":
            base = hnswlib_baseline(x, ds.metric, params)
            if base is not None:
                result["build"]["hnswlib_add_items_seconds"] = base
                result["build"]["ratio_vs_hnswlib"] = result["build"]["seconds"] / base
        result["upsert"] = upsert_throughput(tmp / "ups", x, ds.metric, args.index, params)
        result["filtered_search"] = filtered_search(tmp / "db", x, r, queries, ds.metric)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{args.dataset}-{args.index}" + (f"-{args.limit}" if args.limit else "")
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2))
    b = result["build"]
    lines = [
        f"# Engine measures: {args.dataset}, index {args.index}, {len(x):,} points",
        "",
        f"- build (vecsearch build, end to end): {b['seconds']:.1f} s, peak RSS "
        f"{b['peak_rss_mb']:.0f} MB",
    ]
    if "ratio_vs_hnswlib" in b:
        lines.append(
            f"- hnswlib add_items alone: {b['hnswlib_add_items_seconds']:.1f} s "
            f"(ratio {b['ratio_vs_hnswlib']:.2f}x; goal <= 1.5x)"
        )
    lines += ["", "| upsert batch | points | points/s |", "|---:|---:|---:|"]
    for batch, u in result["upsert"].items():
        lines.append(f"| {batch} | {u['points']:,} | {u['points_per_s']:,.0f} |")
    lines += [
        "",
        "| selectivity | allowed | QPS | recall@10 | plans |",
        "|---:|---:|---:|---:|---|",
    ]
    for sel, f in result["filtered_search"].items():
        lines.append(
            f"| {sel} | {f['allowed']:,} | {f['qps']:,.0f} | {f['recall@10']:.3f} | {f['plans']} |"
        )
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
