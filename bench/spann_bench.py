"""SPANN disk index vs in-memory peers: recall@k, RAM, disk, pages read, warm/cold latency.

``python -m bench spann --dataset glove-50-angular [--queries 1000]`` (records in
``bench/results/spann/<dataset>-k10.*``)

One process builds, in order, ``spann`` (ours, postings on disk), ``hnsw`` and ``ivfpq``
(ours, in memory) and ``faiss-ivfflat`` (peer, in memory) through the harness adapters, then
sweeps each one's query parameter. Every point is measured in latency mode (one query per
call, one thread): a warm-up pass, then a timed warm pass; for SPANN also a cold pass run right
after ``posix_fadvise(POSIX_FADV_DONTNEED)`` on the postings file, so every posting it reads
comes from the device (the VM's virtual disk; a host-side cache, if any, is not under our
control). Recall is recomputed by the harness (:func:`bench.metrics.recall_per_query`).

Memory: each adapter's ``memory_bytes`` (for SPANN: heads + head graph + offsets table +
per-slot flags, see :meth:`indexes.spann.SPANNIndex.memory_report`), compared with the float
vectors' size ``n * dim * 4``. The projection to 100M / 1B vectors scales the measured
per-vector RAM and disk costs linearly and keeps the measured pages per query at the
recall-0.90 point; that assumes the head ratio and the posting lengths stay fixed and recall at
a fixed number of probes does not degrade with N, which this run cannot verify.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.adapters import adapter_class
from bench.machine import machine_info
from bench.metrics import recall_per_query
from bench.result_paths import RESULTS_DIR, result_paths
from bench.runner import select_queries
from vecsearch.datasets import ground_truth, load_dataset

K = 10

#: Build parameters and query sweeps per dataset (IVF-PQ's m must divide the dimension).
SYSTEMS: dict[str, dict[str, tuple[dict[str, Any], str, list[Any]]]] = {
    "glove-50-angular": {
        "spann": (
            {"head_ratio": 0.02, "posting_vector_limit": 256},
            "n_probe",
            [8, 16, 32, 64, 96, 128, 192, 256],
        ),
        "hnsw": ({"M": 16, "ef_construction": 200}, "ef", [16, 32, 64, 128, 256]),
        "ivfpq": ({"nlist": 1024, "m": 25, "nbits": 8}, "nprobe", [4, 8, 16, 32, 64, 128]),
        "faiss-ivfflat": ({"nlist": 1024}, "nprobe", [4, 8, 16, 32, 64, 128]),
    },
    "fashion-mnist-784-euclidean": {
        "spann": (
            {"head_ratio": 0.03, "posting_vector_limit": 256},
            "n_probe",
            [2, 4, 8, 12, 16, 24, 32, 48],
        ),
        "hnsw": ({"M": 16, "ef_construction": 200}, "ef", [16, 32, 64, 128, 256]),
        "ivfpq": ({"nlist": 256, "m": 28, "nbits": 8}, "nprobe", [2, 4, 8, 16, 32, 64]),
        "faiss-ivfflat": ({"nlist": 256}, "nprobe", [2, 4, 8, 16, 32, 64]),
    },
}


def _log(msg: str) -> None:
    print(msg, flush=True)


def _timed_pass(adapter: Any, q: np.ndarray, stats: bool) -> dict[str, Any]:
    """One query per call; wall and thread-CPU latency per query, ids, I/O statistics."""
    n = q.shape[0]
    ids = np.full((n, K), -1, dtype=np.int64)
    wall = np.empty(n)
    cpu = np.empty(n)
    pages = np.zeros(n, dtype=np.int64)
    nbytes = np.zeros(n, dtype=np.int64)
    postings = np.zeros(n, dtype=np.int64)
    for i in range(n):
        t0, c0 = time.perf_counter(), time.thread_time()
        if stats:
            row, st = adapter.query_with_stats(q[i], K)
            pages[i], nbytes[i], postings[i] = st.pages[0], st.bytes[0], st.postings[0]
        else:
            row = adapter.query(q[i], K)
        cpu[i] = time.thread_time() - c0
        wall[i] = time.perf_counter() - t0
        ids[i, : len(row)] = row[:K]
    return {"ids": ids, "wall": wall, "cpu": cpu, "pages": pages, "bytes": nbytes, "post": postings}


def rss_probe(index_dir: str, q: np.ndarray, metric: str, n_probe: int) -> dict[str, int]:
    """Resident memory of a loaded SPANN index, measured in a fresh process.

    The child warms the Numba kernels on a tiny SPANN index first, records its RSS, loads the
    saved index with ``mmap=True``, answers every query in ``q`` with ``n_probe``, and
    records its RSS again: the difference is what the index keeps resident (heads, graph,
    offsets, per-slot flags, touched pages of the mapped slot table, search buffers). Pages of
    the postings file read with ``preadv`` live in the kernel's page cache, not in the RSS.
    """
    with tempfile.TemporaryDirectory(prefix="spann-rss-") as tmp:
        qpath = os.path.join(tmp, "q.npy")
        np.save(qpath, q)
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.spann_bench",
                "--rss-probe",
                index_dir,
                qpath,
                metric,
                str(n_probe),
            ],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _rss_child(index_dir: str, qpath: str, metric: str, n_probe: int) -> None:
    import gc

    from bench.memory import rss_bytes
    from indexes.spann import SPANNIndex, SPANNParams

    q = np.load(qpath)
    params = SPANNParams(n_probe=n_probe)
    tiny = SPANNIndex(q.shape[1], metric, head_ratio=0.05, posting_vector_limit=64)
    tiny.build(q)
    tiny.search(q[:5], K, params)
    tiny.search_with_stats(q[0], K, params)
    gc.collect()
    base = rss_bytes()
    idx = SPANNIndex.load(index_dir, mmap=True)
    for row in q:
        idx.search(row, K, params)
    gc.collect()
    after = rss_bytes()
    print(json.dumps({"rss_before": base, "rss_after": after, "rss_delta": after - base}))


def _summary(p: dict[str, Any]) -> dict[str, float]:
    w = p["wall"] * 1e3
    return {
        "mean_ms": float(w.mean()),
        "p50_ms": float(np.percentile(w, 50)),
        "p99_ms": float(np.percentile(w, 99)),
        "cpu_mean_ms": float(p["cpu"].mean() * 1e3),
        "qps": float(1e3 / w.mean()),
    }


def run(dataset_name: str, n_queries: int, log: Any = _log) -> dict[str, Any]:
    """Build every system of ``SYSTEMS[dataset_name]`` and sweep it; returns the result."""
    ds = load_dataset(dataset_name)
    gt_ids, _ = ground_truth(ds, K)
    rows = select_queries(ds.test.shape[0], n_queries, 0)
    q = np.ascontiguousarray(ds.test[rows])
    gt = gt_ids[rows]
    n, dim = ds.train.shape
    float_bytes = n * dim * 4
    result: dict[str, Any] = {
        "dataset": ds.name,
        "n": n,
        "dim": dim,
        "metric": ds.metric,
        "k": K,
        "queries": int(q.shape[0]),
        "float_vectors_bytes": float_bytes,
        "load_average_start": list(os.getloadavg()),
        "systems": {},
    }
    for name, (build, knob, sweep) in SYSTEMS[dataset_name].items():
        cls = adapter_class(name)
        adapter = cls(ds.metric, dim, **build)
        adapter.set_threads(1)
        log(f"[{ds.name}] build {name} {build}")
        t0 = time.perf_counter()
        adapter.fit(ds.train)
        build_s = time.perf_counter() - t0
        is_spann = name == "spann"
        entry: dict[str, Any] = {
            "build": build,
            "build_s": build_s,
            "memory_bytes": int(adapter.memory_bytes()),
            "memory_method": cls.memory_method,
            "memory_ratio": adapter.memory_bytes() / float_bytes,
            "points": [],
        }
        if is_spann:
            idx = adapter.index
            entry["disk_bytes"] = int(adapter.disk_bytes())
            entry["postings_file_bytes"] = int(idx.disk_bytes())
            entry["memory_report"] = idx.memory_report()
            entry["n_heads"] = int(idx.n_heads)
            lens = idx.posting_lengths()
            entry["posting_length_mean"] = float(lens.mean())
            entry["posting_length_max"] = int(lens.max())
            entry["replicas_mean"] = float(np.asarray(idx._nrep[: idx.n_slots]).mean())
            entry["record_bytes"] = int(idx.record_bytes)
        for value in sweep:
            adapter.set_query_params(**{knob: value})
            _timed_pass(adapter, q, is_spann)  # warm-up
            warm = _timed_pass(adapter, q, is_spann)
            rec = recall_per_query(ds.train, q, warm["ids"], gt, K, ds.metric)
            point: dict[str, Any] = {"param": f"{knob}={value}", "recall": float(rec.mean())}
            point["warm"] = _summary(warm)
            if is_spann:
                point["pages_per_query"] = float(warm["pages"].mean())
                point["bytes_per_query"] = float(warm["bytes"].mean())
                point["postings_per_query"] = float(warm["post"].mean())
                adapter.index.drop_page_cache()
                cold = _timed_pass(adapter, q, True)
                if not np.array_equal(cold["ids"], warm["ids"]):
                    raise RuntimeError("cold and warm passes returned different results")
                point["cold"] = _summary(cold)
            log(f"  {name} {point['param']}: " + json.dumps(point, default=float))
            entry["points"].append(point)
        if is_spann:  # at the cheapest point with recall >= 0.90 (else the largest n_probe)
            good = [v for v, p in zip(sweep, entry["points"], strict=True) if p["recall"] >= 0.9]
            at = min(good) if good else max(sweep)
            entry["rss"] = rss_probe(f"{adapter._dir}/index", q, ds.metric, at)
            entry["rss"]["n_probe"] = at
            entry["rss_ratio"] = entry["rss"]["rss_delta"] / float_bytes
            log(f"  spann resident memory: {entry['rss']}")
        result["systems"][name] = entry
        del adapter
    result["load_average_end"] = list(os.getloadavg())
    result["projection"] = projection(result)
    return result


def projection(result: dict[str, Any]) -> dict[str, Any]:
    """Per-vector RAM/disk and pages per query at recall >= 0.90, scaled to 100M and 1B."""
    sp = result["systems"].get("spann")
    if sp is None:
        return {}
    n = result["n"]
    ok = [p for p in sp["points"] if p["recall"] >= 0.90]
    at = min(ok, key=lambda p: p["pages_per_query"]) if ok else None
    rep = sp["memory_report"]
    per_head = (rep.get("heads", 0) + rep["head_index"] + rep["offsets"]) / sp["n_heads"]
    # what a search needs resident: heads, graph, offsets, and a dead flag per vector
    ram_per_vec = per_head * sp["n_heads"] / n + 1.0
    out: dict[str, Any] = {
        "ram_bytes_per_vector": ram_per_vec,
        "ram_bytes_per_head": per_head,
        "heads_per_vector": sp["n_heads"] / n,
        "postings_bytes_per_vector": sp["postings_file_bytes"] / n,
        "slot_table_bytes_per_vector": 9.0,
        "operating_point": at,
        "scaled": {},
    }
    for label, big in (("100M", 10**8), ("1B", 10**9)):
        out["scaled"][label] = {
            "ram_bytes": ram_per_vec * big,
            "disk_bytes": (sp["postings_file_bytes"] / n + 9.0) * big,
            "float_vectors_bytes": big * result["dim"] * 4,
            "pages_per_query": None if at is None else at["pages_per_query"],
            "bytes_per_query": None if at is None else at["bytes_per_query"],
        }
    return out


def _gib(b: float) -> str:
    return f"{b / 2**30:,.2f} GiB"


def markdown(result: dict[str, Any], machine: dict[str, Any], command: str) -> str:
    """The Markdown report of one dataset's run."""
    r = result
    lines = [
        f"# {r['dataset']}: SPANN (disk) vs in-memory indexes, recall@{r['k']}",
        "",
        f"- data: {r['n']:,} x {r['dim']} ({r['metric']}), {r['queries']:,} queries (seed 0); "
        f"float vectors {_gib(r['float_vectors_bytes'])}",
        f"- machine: {machine.get('cpu_model')}, {machine.get('usable_cpus')} usable CPUs, "
        f"commit {str(machine.get('git_commit'))[:12]}, {machine.get('timestamp')}",
        "- load average (1/5/15 min) at start "
        + "/".join(f"{v:.1f}" for v in r["load_average_start"])
        + ", at end "
        + "/".join(f"{v:.1f}" for v in r["load_average_end"])
        + ": the CPUs are shared; compare systems within this run",
        f"- command: `{command}`",
        "- latency mode: one query per call, one thread; mean wall ms (mean thread CPU ms in "
        "brackets), wall p50 / p99. Cold = after `posix_fadvise(DONTNEED)` on the postings "
        "file. Wall means and p99 carry the shared machine's scheduling stalls; p50 and CPU "
        "time are the steadier figures.",
        "",
        "## Systems",
        "",
        "| system | build | build s | RAM MiB | RAM / float vectors | disk MiB |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, s in r["systems"].items():
        disk = f"{s['disk_bytes'] / 2**20:,.1f}" if "disk_bytes" in s else "-"
        build = ",".join(f"{k}={v}" for k, v in s["build"].items())
        lines.append(
            f"| {name} | {build} | {s['build_s']:.1f} | {s['memory_bytes'] / 2**20:,.1f} | "
            f"{100 * s['memory_ratio']:.1f}% | {disk} |"
        )
    sp = r["systems"].get("spann")
    if sp:
        rep = sp["memory_report"]
        lines += [
            "",
            f"SPANN: {sp['n_heads']:,} heads, posting length mean {sp['posting_length_mean']:.1f}"
            f" / max {sp['posting_length_max']}, replicas per vector mean "
            f"{sp['replicas_mean']:.2f}, record {sp['record_bytes']} B. RAM parts (bytes): "
            + ", ".join(f"{k} {v:,}" for k, v in rep.items())
            + " (`mapped` = slot -> id table and replica counts, memory-mapped, not read by "
            "searches).",
            "",
            f"Resident memory measured in a fresh process (RSS after loading the index and "
            f"answering all queries at n_probe={sp['rss']['n_probe']}, minus RSS before "
            f"loading, kernels already compiled): {sp['rss']['rss_delta'] / 2**20:,.2f} MiB = "
            f"{100 * sp['rss_ratio']:.1f}% of the float vectors.",
        ]
    lines += [
        "",
        "## Points",
        "",
        "| system | param | recall | warm ms | warm p50 / p99 ms | cold ms | cold p50 / p99 ms | "
        "postings/q | pages/q | KiB/q |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in r["systems"].items():
        for p in s["points"]:
            w = p["warm"]
            c = p.get("cold")
            cold = f"{c['mean_ms']:.3f} ({c['cpu_mean_ms']:.3f})" if c else "-"
            cold99 = f"{c['p50_ms']:.3f} / {c['p99_ms']:.2f}" if c else "-"
            io = (
                f"{p['postings_per_query']:.1f} | {p['pages_per_query']:.1f} | "
                f"{p['bytes_per_query'] / 1024:,.1f}"
                if "pages_per_query" in p
                else "- | - | -"
            )
            lines.append(
                f"| {name} | {p['param']} | {p['recall']:.4f} | "
                f"{w['mean_ms']:.3f} ({w['cpu_mean_ms']:.3f}) | {w['p50_ms']:.3f} / "
                f"{w['p99_ms']:.2f} | {cold} | "
                f"{cold99} | {io} |"
            )
    pr = r.get("projection") or {}
    if pr:
        at = pr["operating_point"]
        lines += [
            "",
            "## Projection to 100M and 1B vectors (from this run's per-vector costs)",
            "",
            f"Measured: RAM {pr['ram_bytes_per_vector']:.2f} B/vector "
            f"({pr['ram_bytes_per_head']:,.0f} B per head x {pr['heads_per_vector']:.4f} heads "
            f"per vector, plus a 1 B dead flag per vector), postings "
            f"{pr['postings_bytes_per_vector']:.1f} B/vector on disk, slot -> id table and "
            "replica counts 9 B/vector on disk (read by updates and filters, not searches). "
            + (
                f"Cheapest point with recall >= 0.90: {at['pages_per_query']:.1f} pages "
                f"({at['bytes_per_query'] / 1024:,.1f} KiB) per query."
                if at
                else "No point reached recall 0.90."
            ),
            "",
            "| vectors | RAM | disk | float vectors | pages/query |",
            "|---|---:|---:|---:|---:|",
        ]
        for label, s in pr["scaled"].items():
            pages = "-" if s["pages_per_query"] is None else f"{s['pages_per_query']:.0f}"
            lines.append(
                f"| {label} | {_gib(s['ram_bytes'])} | {_gib(s['disk_bytes'])} | "
                f"{_gib(s['float_vectors_bytes'])} | {pages} |"
            )
        lines += [
            "",
            "Assumptions: the head ratio and posting lengths stay as measured (so RAM and disk "
            "grow linearly), and the probes needed for recall 0.90 do not grow with N (SPANN "
            "reports slow growth; not verified here). Reads per query then stay at the pages "
            "above, about one random 4 KiB read per page unless a posting's pages are read "
            "together (they are contiguous: one `preadv` per posting).",
        ]
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path) -> None:
    """Recall vs mean latency (warm; SPANN also cold) and SPANN recall vs pages per query."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, s in result["systems"].items():
        rec = [p["recall"] for p in s["points"]]
        a.plot(rec, [p["warm"]["mean_ms"] for p in s["points"]], "o-", label=f"{name} (warm)")
        if s["points"] and "cold" in s["points"][0]:
            a.plot(rec, [p["cold"]["mean_ms"] for p in s["points"]], "s--", label=f"{name} (cold)")
            b.plot(rec, [p["pages_per_query"] for p in s["points"]], "o-", label=name)
    a.set_yscale("log")
    a.set_xlabel(f"recall@{result['k']}")
    a.set_ylabel("mean latency per query, ms (1 thread)")
    a.axvline(0.9, color="grey", lw=0.5)
    a.legend(fontsize=8)
    a.set_title(result["dataset"])
    b.set_xlabel(f"recall@{result['k']}")
    b.set_ylabel("4 KiB pages read per query")
    b.axvline(0.9, color="grey", lw=0.5)
    b.legend(fontsize=8)
    b.set_title("SPANN reads per query")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render(json_path: str | os.PathLike[str]) -> None:
    """Re-write the Markdown and PNG next to a result JSON written by :func:`main`."""
    path = Path(json_path)
    result = json.loads(path.read_text(encoding="utf-8"))
    md = markdown(result, result["machine"], result["command"])
    path.with_suffix(".md").write_text(md, encoding="utf-8")
    plot(result, path.with_suffix(".png"))


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bench spann`` (``--render JSON`` re-renders a report)."""
    if argv and argv[0] == "--rss-probe":
        _rss_child(argv[1], argv[2], argv[3], int(argv[4]))
        return 0
    if argv and argv[0] == "--render":
        render(argv[1])
        return 0
    p = argparse.ArgumentParser(prog="python -m bench spann", description=__doc__.split("\n")[0])
    p.add_argument("--dataset", required=True, choices=sorted(SYSTEMS))
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--results-dir", default=str(RESULTS_DIR), help="root of the records")
    args = p.parse_args(argv)
    command = "python -m bench spann " + " ".join(argv or [])
    result = run(args.dataset, args.queries)
    machine = machine_info()
    result["machine"] = machine
    result["command"] = command
    paths = result_paths("spann", args.dataset, K, root=args.results_dir)
    with open(paths["json"], "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=1, default=float)
    paths["md"].write_text(markdown(result, machine, command), encoding="utf-8")
    plot(result, paths["png"])
    _log("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
