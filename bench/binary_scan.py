"""Hamming scan alone: BinaryIndex against faiss ``IndexBinaryFlat`` on the same 1-bit codes.

``python -m bench.binary_scan --dataset vaswani-minilm-384-cosine`` builds a 1-bit
:class:`~indexes.binary.BinaryIndex`, hands faiss the very same packed codes (its first
stage, as bytes), and times top-k by Hamming distance with no rescoring, interleaved, best of
``--runs``:

* single query (latency mode): one call per query on 1 thread, measured as CPU time of the
  calling thread (``time.thread_time``, robust to other processes on a shared machine) and as
  wall time; ours includes encoding the float query (faiss gets the query codes precomputed);
* batch: all queries in one call on ``--threads`` threads (wall time).

It checks that both return the same Hamming distances, and writes JSON + Markdown + PNG to
``bench/results/binary/scan-<dataset>.*``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.datasets import load_dataset
from bench.machine import machine_info
from bench.threads import limit_threads
from indexes.binary import BinaryIndex, BinaryParams

RESULTS = Path(__file__).resolve().parent / "results" / "binary"


def _single(fn, queries: np.ndarray) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one call per query, in order."""
    c0, w0 = time.thread_time(), time.perf_counter()
    for q in queries:
        fn(q)
    return time.thread_time() - c0, time.perf_counter() - w0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="vaswani-minilm-384-cosine")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    import faiss

    ds = load_dataset(args.dataset)
    k = args.k
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(ds.test.shape[0], min(args.queries, ds.test.shape[0]), False))
    queries = np.ascontiguousarray(ds.test[rows], dtype=np.float32)
    index = BinaryIndex(ds.dim, ds.metric, bits=1, scoring="hamming")
    index.train(ds.train)
    index.add(ds.train, np.arange(ds.train.shape[0]))
    codes = np.ascontiguousarray(index._rows["codes"][:, 0])  # (n, n_words) uint64
    fi = faiss.IndexBinaryFlat(codes.shape[1] * 64)
    fi.add(codes.view(np.uint8))
    qcodes = np.ascontiguousarray(index.encode(queries)[0][:, 0]).view(np.uint8)
    params = BinaryParams(scoring="hamming", rescore=False, n_threads=1)
    batch_params = BinaryParams(scoring="hamming", rescore=False, n_threads=args.threads)

    def ours_one(q: np.ndarray) -> Any:
        return index.search(q, k, params)

    def faiss_one(qc: np.ndarray) -> Any:
        return fi.search(qc[None, :], k)

    # same answers: identical Hamming distances (ids may differ among ties)
    ours_d = index.search(queries, k, batch_params)[1]
    faiss_d = fi.search(qcodes, k)[0]
    same_distances = bool(np.array_equal(ours_d.astype(np.int64), faiss_d.astype(np.int64)))

    cpu: dict[str, list[float]] = {"ours": [], "faiss": []}
    wall: dict[str, list[float]] = {"ours": [], "faiss": []}
    batch: dict[str, list[float]] = {"ours": [], "faiss": []}
    load_start = list(os.getloadavg())
    for r in range(args.runs + 1):  # pass 0 warms up (JIT, caches) and is dropped
        with limit_threads(1):
            c_o, w_o = _single(ours_one, queries)
            c_f, w_f = _single(faiss_one, qcodes)
        with limit_threads(args.threads):
            t0 = time.perf_counter()
            index.search(queries, k, batch_params)
            t1 = time.perf_counter()
            fi.search(qcodes, k)
            t2 = time.perf_counter()
        if r:
            cpu["ours"].append(c_o)
            cpu["faiss"].append(c_f)
            wall["ours"].append(w_o)
            wall["faiss"].append(w_f)
            batch["ours"].append(t1 - t0)
            batch["faiss"].append(t2 - t1)
    nq = queries.shape[0]
    us = {s: {m: 1e6 * min(v[s]) / nq for m, v in (("cpu", cpu), ("wall", wall))} for s in cpu}
    bqps = {s: nq / min(v) for s, v in batch.items()}
    record = {
        "dataset": ds.name,
        "n_train": int(ds.train.shape[0]),
        "dim": ds.dim,
        "code_bytes_per_row": int(codes.shape[1] * 8),
        "n_queries": int(nq),
        "k": k,
        "runs": args.runs,
        "threads_batch": args.threads,
        "same_hamming_distances": same_distances,
        "single_query_us_best": us,
        "single_query_cpu_ratio_faiss_over_ours": us["faiss"]["cpu"] / us["ours"]["cpu"],
        "single_query_wall_ratio_faiss_over_ours": us["faiss"]["wall"] / us["ours"]["wall"],
        "batch_qps_best": bqps,
        "batch_ratio_ours_over_faiss": bqps["ours"] / bqps["faiss"],
        "seconds_all": {"single_cpu": cpu, "single_wall": wall, "batch": batch},
        "load_average": {"start": load_start, "end": list(os.getloadavg())},
        "machine": machine_info(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"scan-{ds.name}-k{k}"
    stem.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    m = record["machine"]
    lines = [
        f"# Hamming scan alone on {ds.name}: BinaryIndex vs faiss IndexBinaryFlat",
        "",
        f"- {ds.train.shape[0]:,} codes of {codes.shape[1] * 8} bytes (1 bit per dimension, "
        f"the same codes in both), {nq:,} queries, k={k}, no rescoring, best of {args.runs} "
        "interleaved passes",
        f"- machine: {m['cpu_model']}, {m['usable_cpus']} usable CPUs; numba "
        f"{m['versions'].get('numba')}, faiss {m['versions'].get('faiss')}; commit "
        f"{m['git_commit']}; {m['timestamp']}",
        f"- load average (1/5/15 min) at start {'/'.join(f'{v:.1f}' for v in load_start)}, at "
        f"end {'/'.join(f'{v:.1f}' for v in record['load_average']['end'])}: the machine is "
        "shared, so the CPU-time column is the one to compare",
        f"- same Hamming distances returned by both: {same_distances}",
        "",
        "| mode | ours | faiss | faiss / ours |",
        "|---|---:|---:|---:|",
        f"| single query, CPU us per call (1 thread) | {us['ours']['cpu']:.1f} | "
        f"{us['faiss']['cpu']:.1f} | {record['single_query_cpu_ratio_faiss_over_ours']:.2f}x |",
        f"| single query, wall us per call (1 thread) | {us['ours']['wall']:.1f} | "
        f"{us['faiss']['wall']:.1f} | {record['single_query_wall_ratio_faiss_over_ours']:.2f}x |",
        f"| batch QPS ({args.threads} threads, wall) | {bqps['ours']:,.0f} | "
        f"{bqps['faiss']:,.0f} | {1 / record['batch_ratio_ours_over_faiss']:.2f}x |",
        "",
        "Ours includes encoding each float query (normalise, subtract the centre, take signs) "
        "and the per-call Python entry; faiss is given the query codes. A ratio above 1 means "
        "ours is faster (for batch QPS the last column is faiss QPS / ours, so below 1 means "
        "ours is faster).",
    ]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    _plot(record, stem.with_suffix(".png"))
    print("\n".join(lines))
    return 0


def _plot(record: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    us, bq = record["single_query_us_best"], record["batch_qps_best"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    names = ["ours", "faiss"]
    axes[0].bar(names, [us[n]["cpu"] for n in names], color=["C0", "C1"])
    axes[0].set_ylabel("CPU us per single-query call")
    axes[1].bar(names, [bq[n] for n in names], color=["C0", "C1"])
    axes[1].set_ylabel(f"batch QPS ({record['threads_batch']} threads)")
    fig.suptitle(
        f"Hamming scan, {record['dataset']} ({record['n_train']:,} codes), k={record['k']}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
