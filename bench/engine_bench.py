"""Engine measures of issue 7: bulk build vs hnswlib, upsert throughput, filtered search.

    python -m bench.engine_bench [--dataset glove-50-angular] [--index hnsw] [--limit N]

1. ``vecsearch build`` (a subprocess, as a user runs it) of the dataset's train split, from
   a Parquet file with a payload column ``r`` (uniform 0..999): end-to-end seconds (read +
   store + index + save) and the child's peak RSS; for ``--index hnsw``, hnswlib's
   ``add_items`` alone with the same M / ef_construction, and the ratio.
2. Upsert throughput through the Python API in batches of 1 / 100 / 10,000 points (into a
   fresh collection of the same index type; every batch is one durable commit). Batches of
   100 and 10,000 insert the same number of points, so they grow graphs of the same size
   (an HNSW insert costs more in a larger graph), after a warm-up collection has loaded the
   compiled kernels (their first load would otherwise be charged to one batch size).
3. Search without a filter, then filtered search at selectivities 50 / 10 / 1 / 0.1 %
   (``range r < ...`` with an integer payload index): QPS of sequential single-query calls
   (best of ``--repeats`` passes) and CPU milliseconds per query of the calling thread,
   recall@10 against exact search over the allowed points (computed here with numpy), and
   the planner's choice.

Writes ``bench/results/engine/<dataset>-k10-<index>[-<limit>].json`` and ``.md``. Timings on a
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

from bench.result_paths import RESULTS_DIR, result_paths
from vecsearch.database import Database
from vecsearch.datasets import load_dataset

ROOT = Path(__file__).resolve().parents[1]
SELECTIVITIES = (0.5, 0.1, 0.01, 0.001)
K = 10  # neighbours per search (recall@10)


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


UPSERT_RUNS = ((1, 200), (100, 200), (10_000, 2))  # (batch size, batches)


def upsert_throughput(data_dir: Path, x: np.ndarray, metric: str, index: str, params: dict) -> dict:
    distance = {"cosine": "Cosine", "ip": "Dot", "l2": "Euclid"}[metric]
    out = {}
    with Database(data_dir) as db:
        warm = db.create_collection(
            "warmup",
            {
                "vectors": {"size": x.shape[1], "distance": distance},
                "index": {"type": index, "params": params},
            },
        )
        for s in range(0, 3000, 300):  # batches of 1 and 300: loads every insert kernel
            warm.upsert_batch([s], x[s : s + 1], [{"r": 0}])
            warm.upsert_batch(list(range(s + 1, s + 300)), x[s + 1 : s + 300], [{"r": 0}] * 299)
        db.delete_collection("warmup")
        for batch, n_batches in UPSERT_RUNS:
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


def _truth(base: np.ndarray, qn: np.ndarray, allowed: np.ndarray, metric: str, k: int):
    rows = []
    for s in range(0, len(qn), 50):  # bounded memory: 50 queries x allowed points at a time
        q = qn[s : s + 50]
        if metric == "l2":
            b = base[allowed].astype(np.float64)
            d = (b**2).sum(1)[None, :] - 2 * q.astype(np.float64) @ b.T
        else:
            d = -(q @ base[allowed].T)
        kk = min(k, len(allowed))
        part = np.argpartition(d, kk - 1, axis=1)[:, :kk]
        order = np.take_along_axis(d, part, axis=1).argsort(axis=1)
        rows.append(allowed[np.take_along_axis(part, order, axis=1)])
    return np.concatenate(rows)


def filtered_search(
    data_dir: Path,
    x: np.ndarray,
    r: np.ndarray,
    queries: np.ndarray,
    metric: str,
    k: int = K,
    repeats: int = 3,
) -> dict:
    """Unfiltered and filtered search QPS (best of ``repeats`` passes), CPU ms per query of
    the calling thread, recall@k and the planner's choices."""
    out = {}
    with Database(data_dir) as db:
        coll = db.get_collection("bench")
        coll.create_payload_index("r", "integer")
        if metric == "cosine":
            base = x / np.linalg.norm(x, axis=1, keepdims=True)
            qn = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        else:
            base, qn = x, queries
        for q in queries[:20]:  # warm-up: first calls load compiled kernels
            coll.search(q, limit=k)
        for sel in (None, *SELECTIVITIES):
            if sel is None:
                flt, allowed = None, np.arange(len(x))
            else:
                bound = round(sel * 1000)
                flt = {"must": [{"key": "r", "range": {"lt": bound}}]}
                allowed = np.flatnonzero(r < bound)
            truth = _truth(base, qn, allowed, metric, k)
            best_secs = best_cpu = float("inf")
            for _ in range(repeats):
                plans: dict[str, int] = {}
                got = []
                t0, c0 = time.perf_counter(), time.thread_time()
                for q in queries:
                    got.append([h.id for h in coll.search(q, limit=k, filter=flt)])
                    plans[coll.last_plan] = plans.get(coll.last_plan, 0) + 1
                best_secs = min(best_secs, time.perf_counter() - t0)
                best_cpu = min(best_cpu, time.thread_time() - c0)
            want = min(k, len(allowed))
            rec = np.mean(
                [len(set(g) & set(t.tolist())) / want for g, t in zip(got, truth, strict=True)]
            )
            out["none" if sel is None else f"{sel:.1%}"] = {
                "allowed": len(allowed),
                "qps": len(queries) / best_secs,
                "cpu_ms_per_query": 1e3 * best_cpu / len(queries),
                "recall@10": float(rec),
                "plans": plans,
            }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="glove-50-angular")
    ap.add_argument("--index", default="hnsw")
    ap.add_argument("--limit", type=int, help="use only the first N train points")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3, help="search passes; the best is kept")
    ap.add_argument("--results-dir", default=str(RESULTS_DIR), help="root of the records")
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
            "load_average_at_start": list(os.getloadavg()),
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
        result["filtered_search"] = filtered_search(
            tmp / "db", x, r, queries, ds.metric, repeats=args.repeats
        )
        result["machine"]["load_average_at_end"] = list(os.getloadavg())

    variant = args.index + (f"-{args.limit}" if args.limit else "")
    paths = result_paths(
        "engine", args.dataset, K, variant=variant, root=args.results_dir, exts=("json", "md")
    )
    paths["json"].write_text(json.dumps(result, indent=2))
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
    m = result["machine"]
    lines += [
        "",
        f"Search: {len(queries)} sequential single queries, best of {args.repeats} passes; CPU ms "
        "= CPU time of the calling thread per query. Load average (1/5/15 min) at start "
        f"{m['load_average_at_start']}, at end {m['load_average_at_end']} (2 cores).",
        "",
        "| filter | allowed | QPS | CPU ms/query | recall@10 | plans |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for sel, f in result["filtered_search"].items():
        lines.append(
            f"| {sel} | {f['allowed']:,} | {f['qps']:,.0f} | {f['cpu_ms_per_query']:.2f} "
            f"| {f['recall@10']:.3f} | {f['plans']} |"
        )
    paths["md"].write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
