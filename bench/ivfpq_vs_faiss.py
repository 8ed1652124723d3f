"""IVFPQIndex against faiss ``IVF{nlist},PQ{m}`` (and with an exact ``RFlat``-style refine),
same nlist/m/nbits, same process, interleaved runs.

``python -m bench.ivfpq_vs_faiss --dataset glove-50-angular --nlist 1024 --m 25`` measures:

* train and add time (default thread counts for both: Numba/OpenMP/BLAS all set to
  ``--threads``);
* recall@k at every ``nprobe`` without re-ranking, and with re-ranking of ``k_factor * k``
  candidates (faiss: ``IndexRefine`` over an ``IndexFlatL2`` of the same vectors);
* batch mode: all queries in one call with ``--threads`` threads, best wall time of
  ``--runs``;
* latency mode: ``--latency-queries`` queries one per call, one thread everywhere; mean
  CPU time of the calling thread (``time.thread_time``, robust to other processes on a
  shared machine) and median wall time per query, best run of ``--runs``;
* QPS at recall 0.90 and 0.95 (re-ranked configurations) for both modes, and bytes per
  vector.

Cosine datasets are normalised for faiss and searched with L2 (same ranking as cosine); our
index gets the raw vectors and metric ``cosine``. JSON, Markdown and PNG go to
``bench/results/ivfpq_vs_faiss/<dataset>-k<k>-IVF<nlist>-PQ<m>[-<tag>].*``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numba
import numpy as np

from bench.result_paths import RESULTS_DIR, result_paths
from indexes import IVFPQIndex, IVFPQParams
from vecsearch.datasets import ground_truth, load_dataset

TARGETS = (0.90, 0.95)


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    """Fraction of the true ``k`` neighbours found (ids compared, order ignored)."""
    return float((found[:, :, None] == truth[:, None, :]).any(2).sum() / truth.size)


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def _latency(search, queries: np.ndarray) -> dict[str, float]:
    cpu = np.empty(queries.shape[0])
    wall = np.empty(queries.shape[0])
    for i in range(queries.shape[0]):
        w0, c0 = time.perf_counter(), time.thread_time()
        search(queries[i : i + 1])
        cpu[i], wall[i] = time.thread_time() - c0, time.perf_counter() - w0
    return {
        "cpu_us_mean": float(cpu.mean() * 1e6),
        "wall_us_p50": float(np.median(wall) * 1e6),
        "wall_us_mean": float(wall.mean() * 1e6),
    }


def _best_at(rows: list[dict], system: str, mode: str, key: str, target: float) -> dict | None:
    """The fastest re-ranked configuration of ``system`` reaching ``target`` recall."""
    ok = [r for r in rows if r["k_factor"] > 0 and r[system]["recall"] >= target]
    if not ok:
        return None
    if mode == "latency":
        best = min(ok, key=lambda r: r[system]["latency"][key])
        qps = 1e6 / best[system]["latency"][key]
    else:
        best = min(ok, key=lambda r: r[system]["batch_s"])
        qps = best[system]["batch_qps"]
    return {
        "qps": qps,
        "nprobe": best["nprobe"],
        "k_factor": best["k_factor"],
        "recall": best[system]["recall"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="glove-50-angular")
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--m", type=int, default=25)
    ap.add_argument("--nbits", type=int, default=8)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--nprobe", type=_ints, default=_ints("1,2,4,8,16,32,64,128"))
    ap.add_argument("--k-factor", type=_ints, default=_ints("0,2,4,8"), help="0: no re-rank")
    ap.add_argument("--latency-queries", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="root of the records")
    ap.add_argument("--tag", default="", help="variant suffix of the output file names")
    ap.add_argument("--replot", type=Path, help="only redraw the PNG of a saved JSON run")
    args = ap.parse_args(argv)
    if args.replot:
        plot(json.loads(args.replot.read_text()), args.replot.with_suffix(".png"))
        return 0

    import faiss
    from threadpoolctl import threadpool_limits

    ds = load_dataset(args.dataset)
    truth = ground_truth(ds, args.k)[0]
    xb, xq = ds.train, ds.test
    fb, fq = xb, xq
    if ds.metric == "cosine":
        fb = np.ascontiguousarray(xb / np.linalg.norm(xb, axis=1, keepdims=True), np.float32)
        fq = np.ascontiguousarray(xq / np.linalg.norm(xq, axis=1, keepdims=True), np.float32)
    elif ds.metric != "l2":
        raise SystemExit("written for l2 and cosine datasets")
    dim, n = xb.shape[1], xb.shape[0]
    lat_q = min(args.latency_queries, xq.shape[0])

    def threads(nt: int) -> Any:
        numba.set_num_threads(nt)
        faiss.omp_set_num_threads(nt)
        return threadpool_limits(nt)

    # Warm the Numba kernels (a cold cache would otherwise be timed as training).
    warm = IVFPQIndex(dim, ds.metric, nlist=8, m=args.m, nbits=args.nbits, keep_vectors=True)
    warm.train(xb[:2000])
    warm.add(xb[:2000], np.arange(2000))
    for q in (xq[0], xq[:20]):  # serial (one query) and parallel (batch) kernels
        warm.search(q, args.k)
        warm.search(q, args.k, IVFPQParams(rerank=False))

    build: dict[str, dict[str, float]] = {}
    with threads(args.threads):
        t0 = time.perf_counter()
        ours = IVFPQIndex(
            dim, ds.metric, nlist=args.nlist, m=args.m, nbits=args.nbits, keep_vectors=True,
            seed=args.seed,
        )  # fmt: skip
        ours.train(xb)
        t1 = time.perf_counter()
        ours.add(xb, np.arange(n))
        t2 = time.perf_counter()
        build["ours"] = {"train_s": t1 - t0, "add_s": t2 - t1}
        pq = f"PQ{args.m}" + ("x4" if args.nbits == 4 else "")
        t0 = time.perf_counter()
        fi = faiss.index_factory(dim, f"IVF{args.nlist},{pq}")
        fi.train(fb)
        t1 = time.perf_counter()
        fi.add(fb)
        t2 = time.perf_counter()
        flat = faiss.IndexFlatL2(dim)
        flat.add(fb)
        t3 = time.perf_counter()
        fr = faiss.IndexRefine(fi, flat)
        build["faiss"] = {"train_s": t1 - t0, "add_s": t2 - t1, "refine_add_s": t3 - t2}

    rows: list[dict] = []
    for nprobe in args.nprobe:
        for kf in args.k_factor:
            op = IVFPQParams(nprobe=nprobe, k_factor=max(kf, 1), rerank=kf > 0)
            ivf_p = faiss.SearchParametersIVF(nprobe=nprobe)
            if kf > 0:
                fp: Any = faiss.IndexRefineSearchParameters(k_factor=kf, base_index_params=ivf_p)
                fx = fr
            else:
                fp, fx = ivf_p, fi
            row: dict[str, Any] = {"nprobe": nprobe, "k_factor": kf, "faiss": {}, "ours": {}}
            systems = {
                "faiss": (lambda q, fx=fx, fp=fp: fx.search(q, args.k, params=fp)[1], fq),
                "ours": (lambda q, op=op: ours.search(q, args.k, op)[0], xq),
            }
            for name, (fn, qs) in systems.items():
                row[name] = {"recall": recall_at(fn(qs), truth), "batch_s": np.inf, "latency": {}}
            for _ in range(args.runs):
                for name, (fn, qs) in systems.items():
                    with threads(args.threads):
                        t0 = time.perf_counter()
                        fn(qs)
                        row[name]["batch_s"] = min(row[name]["batch_s"], time.perf_counter() - t0)
                    with threads(1):
                        lat = _latency(fn, qs[:lat_q])
                    old = row[name]["latency"]
                    if not old or lat["cpu_us_mean"] < old["cpu_us_mean"]:
                        row[name]["latency"] = lat
            for name in systems:
                row[name]["batch_qps"] = xq.shape[0] / row[name]["batch_s"]
            rows.append(row)
            print(
                f"nprobe {nprobe:4d} k_factor {kf}: recall faiss {row['faiss']['recall']:.4f} "
                f"ours {row['ours']['recall']:.4f} | batch QPS faiss "
                f"{row['faiss']['batch_qps']:8.0f} ours {row['ours']['batch_qps']:8.0f} | "
                f"latency cpu us faiss {row['faiss']['latency']['cpu_us_mean']:7.1f} ours "
                f"{row['ours']['latency']['cpu_us_mean']:7.1f}",
                flush=True,
            )

    at_target: dict[str, dict[str, dict]] = {}
    for t in TARGETS:
        cell = {
            mode: {s: _best_at(rows, s, mode, "cpu_us_mean", t) for s in ("faiss", "ours")}
            for mode in ("latency", "batch")
        }
        for s in ("faiss", "ours"):
            cell["latency"][f"{s}_wall_p50"] = _best_at(rows, s, "latency", "wall_us_p50", t)
        at_target[f"{t:.2f}"] = cell
    record = {
        "dataset": ds.name,
        "metric": ds.metric,
        "n_train": n,
        "n_queries": int(xq.shape[0]),
        "latency_queries": lat_q,
        "k": args.k,
        "config": f"IVF{args.nlist},PQ{args.m}" + ("x4" if args.nbits == 4 else ""),
        "threads_batch": args.threads,
        "runs": args.runs,
        "build": build,
        "bytes_per_vector": {
            "ours": ours.bytes_per_vector() - 4 * dim,
            "ours_with_vectors": ours.bytes_per_vector(),
            "ours_memory_bytes_per_vector": ours.memory_bytes() / n,
            "faiss": faiss.extract_index_ivf(fi).code_size + 8,
            "faiss_with_refine": faiss.extract_index_ivf(fi).code_size + 8 + 4 * dim,
        },
        "rows": rows,
        "at_recall": at_target,
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "load_avg_at_end": os.getloadavg(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "numba": numba.__version__,
            "faiss": faiss.__version__,
        },
    }
    variant = record["config"].replace(",", "-") + (f"-{args.tag}" if args.tag else "")
    paths = result_paths("ivfpq_vs_faiss", ds.name, args.k, variant=variant, root=args.results_dir)
    paths["json"].write_text(json.dumps(record, indent=2, default=float))
    paths["md"].write_text(markdown(record))
    plot(record, paths["png"])
    print(markdown(record))
    return 0


def _fmt_best(b: dict | None) -> str:
    if b is None:
        return "not reached"
    return f"{b['qps']:,.0f} (nprobe {b['nprobe']}, k_factor {b['k_factor']}, R {b['recall']:.3f})"


def markdown(r: dict) -> str:
    """A Markdown report of one run."""
    b = r["build"]
    out = [
        f"# IVFPQIndex vs faiss {r['config']} on {r['dataset']} (k={r['k']})",
        "",
        f"{r['n_train']:,} vectors, {r['n_queries']:,} queries (latency mode: first "
        f"{r['latency_queries']:,}), best of {r['runs']} interleaved runs, batch mode with "
        f"{r['threads_batch']} threads. Load average at the end: "
        f"{', '.join(f'{v:.1f}' for v in r['machine']['load_avg_at_end'])} on "
        f"{r['machine']['cores']} cores (shared machine: wall times are noisy; CPU time of "
        "the calling thread is the steadier latency figure).",
        "",
        "| build | train s | add s |",
        "|---|---:|---:|",
        f"| ours (vectors kept) | {b['ours']['train_s']:.2f} | {b['ours']['add_s']:.2f} |",
        f"| faiss (+ refine flat add) | {b['faiss']['train_s']:.2f} | "
        f"{b['faiss']['add_s']:.2f} (+{b['faiss']['refine_add_s']:.2f}) |",
        "",
        "Bytes per vector: " + ", ".join(f"{k} {v:.1f}" for k, v in r["bytes_per_vector"].items()),
        "",
        "| nprobe | k_factor | recall faiss | recall ours | batch QPS faiss | batch QPS ours "
        "| latency CPU us faiss | latency CPU us ours | p50 wall us faiss | p50 wall us ours |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in r["rows"]:
        f, o = row["faiss"], row["ours"]
        out.append(
            f"| {row['nprobe']} | {row['k_factor']} | {f['recall']:.4f} | {o['recall']:.4f} | "
            f"{f['batch_qps']:,.0f} | {o['batch_qps']:,.0f} | "
            f"{f['latency']['cpu_us_mean']:.1f} | {o['latency']['cpu_us_mean']:.1f} | "
            f"{f['latency']['wall_us_p50']:.1f} | {o['latency']['wall_us_p50']:.1f} |"
        )
    out += ["", "QPS at recall (re-ranked configurations; latency QPS = 1e6 / mean CPU us):", ""]
    out += ["| recall | mode | faiss | ours |", "|---|---|---|---|"]
    for t, modes in r["at_recall"].items():
        for mode, res in modes.items():
            out.append(f"| {t} | {mode} | {_fmt_best(res['faiss'])} | {_fmt_best(res['ours'])} |")
            if mode == "latency":
                out.append(
                    f"| {t} | latency (p50 wall) | {_fmt_best(res['faiss_wall_p50'])} | "
                    f"{_fmt_best(res['ours_wall_p50'])} |"
                )
    return "\n".join(out) + "\n"


def _frontier(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Pareto frontier (recall up, QPS up) of ``(recall, qps)`` points, by recall."""
    out: list[tuple[float, float]] = []
    for rec, qps in sorted(points, key=lambda p: (-p[0], -p[1])):
        if not out or qps > out[-1][1]:
            out.append((rec, qps))
    return sorted(out)


def plot(r: dict, path: Path) -> None:
    """Recall-vs-QPS frontiers (re-ranked configurations), latency and batch mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    modes = (
        ("latency mode (1 thread, 1e6 / mean CPU us)", lambda x: 1e6 / x["latency"]["cpu_us_mean"]),
        (f"batch mode ({r['threads_batch']} threads)", lambda x: x["batch_qps"]),
    )
    for ax, (title, qps) in zip(axes, modes, strict=True):
        for system, style in (("faiss", "o--"), ("ours", "s-")):
            pts = [
                (row[system]["recall"], qps(row[system])) for row in r["rows"] if row["k_factor"]
            ]
            front = _frontier(pts)
            ax.plot(*zip(*front, strict=True), style, label=system, markersize=4)
        ax.set_yscale("log")
        ax.set_xlabel(f"recall@{r['k']}")
        ax.set_ylabel("queries per second")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(f"{r['dataset']}: IVFPQIndex vs faiss {r['config']} + exact refine", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
