"""Sparse search speed: :class:`indexes.sparse.SparseIndex` against ``bm25s`` on the same
BM25 weights, one process, interleaved runs.

    python -m bench.sparse_vs_bm25s [--runs 5]

Vaswani's 11,429 abstracts and 93 queries, lower-cased words (no stemming, no stop words).
``bm25s`` (k1 = 1.2, b = 0.75, Lucene's IDF) indexes the tokens; its precomputed document-term
score matrix becomes our index's sparse rows, so both rank by the same numbers and the
results must agree (checked: same top-10 ids up to score ties). A query is its distinct
known words with weight 1 (what bm25s sums). Timed per system, best of ``--runs``:

* one query per call, one thread (ours: ``search([(ids, ones)], 10)``, validation
  included; bm25s: ``retrieve([tokens], k=10, n_threads=1)``), both of its backends;
* all queries in one call (ours: 2 Numba threads; bm25s: ``n_threads=2``).

Writes ``bench/results/sparse/vaswani-k10-bm25s.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

from bench.machine import machine_info
from bench.result_paths import result_paths

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "vaswani"
K = 10


def _texts(name: str, tag: str) -> list[list[str]]:
    raw = re.findall(rf"<{tag}>(.*?)</{tag}>", (DATA / name).read_text(), flags=re.S)
    return [re.findall(r"[a-z0-9]+", t.lower()) for t in raw]


def _rows_from_csc(scores: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """bm25s's term-major score matrix as document rows (CSR: indptr, term ids, scores)."""
    indptr = np.asarray(scores["indptr"], dtype=np.int64)
    docs = np.asarray(scores["indices"], dtype=np.int64)
    terms = np.repeat(np.arange(indptr.shape[0] - 1, dtype=np.int64), np.diff(indptr))
    order = np.lexsort((terms, docs))
    counts = np.bincount(docs, minlength=int(scores["num_docs"]))
    row_ptr = np.concatenate(([0], np.cumsum(counts)))
    return row_ptr, terms[order], np.asarray(scores["data"], dtype=np.float32)[order]


def _above(ids: np.ndarray, scores: np.ndarray, cut: float) -> set[int]:
    """The ids scoring clearly above ``cut`` (the k-th score): the part of a top-k that ties
    at the k-th place cannot reorder."""
    return {int(i) for i, s in zip(ids, scores, strict=True) if s > cut * (1 + 1e-4)}


def _best(fn, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.sparse_vs_bm25s", description=__doc__)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args(argv)
    import bm25s

    from indexes.sparse import SparseIndex, SparseParams

    load_start = list(os.getloadavg())
    docs = _texts("doc-text.trec", "DOC")
    queries = _texts("query-text.trec", "title")
    peers = {}
    for backend in ("numba", "numpy"):
        r = bm25s.BM25(k1=1.2, b=0.75, method="lucene", backend=backend)
        r.index(docs, show_progress=False)
        peers[f"bm25s-{backend}"] = r
    ref = peers["bm25s-numba"]
    q_tokens = [list(dict.fromkeys(w for w in q if w in ref.vocab_dict)) for q in queries]
    q_sparse = [
        (np.array([ref.vocab_dict[w] for w in q], dtype=np.int64), np.ones(len(q), np.float32))
        for q in q_tokens
    ]
    ours = SparseIndex()
    t0 = time.perf_counter()
    ours.add(_rows_from_csc(ref.scores), np.arange(len(docs)))
    build_s = time.perf_counter() - t0

    # agreement: same top-10 ids up to ties (scores within 1e-4 relative)
    got_ids, got_d = ours.search(q_sparse, K)
    want_ids, want_s = ref.retrieve(q_tokens, k=K, show_progress=False, n_threads=1)
    same = 0
    max_diff = 0.0
    for r in range(len(queries)):
        n = int(np.count_nonzero(got_ids[r] >= 0))
        w = want_s[r][:n]
        max_diff = max(max_diff, float(np.max(np.abs(-got_d[r][:n] - w), initial=0.0)))
        cut = w[-1] if n else 0.0
        same += _above(got_ids[r][:n], -got_d[r][:n], cut) == _above(want_ids[r][:n], w, cut)

    one = SparseParams(n_threads=1)
    systems = {
        "vecsearch-sparse": (
            lambda: [ours.search([q], K, one) for q in q_sparse],
            lambda: ours.search(q_sparse, K, SparseParams(n_threads=2)),
        ),
    }
    for name, r in peers.items():
        systems[name] = (
            lambda r=r: [r.retrieve([q], k=K, show_progress=False, n_threads=1) for q in q_tokens],
            lambda r=r: r.retrieve(q_tokens, k=K, show_progress=False, n_threads=2),
        )
    for single, batch in systems.values():  # warm (compilation, caches)
        single()
        batch()
    times: dict[str, dict[str, float]] = {
        name: {"single": np.inf, "batch": np.inf} for name in systems
    }
    for _ in range(args.runs):  # interleaved: load hits every system alike
        for name, (single, batch) in systems.items():
            times[name]["single"] = min(times[name]["single"], _best(single, 1))
            times[name]["batch"] = min(times[name]["batch"], _best(batch, 1))
    nq = len(queries)
    rows = [
        {
            "system": name,
            "qps_single": nq / t["single"],
            "us_per_query_single": t["single"] / nq * 1e6,
            "qps_batch": nq / t["batch"],
        }
        for name, t in times.items()
    ]
    base = next(r for r in rows if r["system"] == "bm25s-numba")
    for r in rows:
        r["ratio_single"] = r["qps_single"] / base["qps_single"]
        r["ratio_batch"] = r["qps_batch"] / base["qps_batch"]
    result = {
        "dataset": "vaswani",
        "n_docs": len(docs),
        "n_queries": nq,
        "k": K,
        "runs": args.runs,
        "vocabulary": len(ref.vocab_dict),
        "bm25s_version": bm25s.__version__,
        "postings": int(ours.memory_bytes()),
        "our_build_s_from_scores": build_s,
        "agreement": {"queries_same_top10": same, "max_score_diff": max_diff},
        "rows": rows,
        "load_average": {"start": load_start, "end": list(os.getloadavg())},
        "machine": machine_info(),
        "command": " ".join(["python -m bench.sparse_vs_bm25s", *(argv or sys.argv[1:])]),
    }
    paths = result_paths("sparse", "vaswani", K, variant="bm25s")
    paths["json"].write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    paths["md"].write_text(_markdown(result), encoding="utf-8")
    _plot(result, paths["png"])
    print(_markdown(result))
    return 0


def _markdown(result: dict) -> str:
    m, la = result["machine"], result["load_average"]
    ag = result["agreement"]
    lines = [
        "# Sparse search vs bm25s: Vaswani, BM25 weights, k=10",
        "",
        f"- {result['n_docs']:,} documents, {result['n_queries']} queries, vocabulary"
        f" {result['vocabulary']:,}; best of {result['runs']} interleaved runs; bm25s"
        f" {result['bm25s_version']}",
        f"- machine: {m.get('cpu_model')}, {m.get('usable_cpus')} usable CPUs; commit"
        f" {m.get('git_commit')}; {m.get('timestamp')}; versions {m.get('versions')}",
        "- load average at start " + "/".join(f"{x:.1f}" for x in la["start"])
        + ", at end " + "/".join(f"{x:.1f}" for x in la["end"]),
        f"- command: `{result['command']}`",
        f"- agreement with bm25s: {ag['queries_same_top10']}/{result['n_queries']} queries with"
        f" the same top-10 ids (up to ties), max score difference {ag['max_score_diff']:.2e}",
        "",
        "| system | one query per call, 1 thread: QPS | µs / query | vs bm25s-numba |"
        " all queries in one call, 2 threads: QPS | vs bm25s-numba |",
        "|---|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for r in result["rows"]:
        lines.append(
            f"| {r['system']} | {r['qps_single']:,.0f} | {r['us_per_query_single']:.1f} |"
            f" {r['ratio_single']:.2f}x | {r['qps_batch']:,.0f} | {r['ratio_batch']:.2f}x |"
        )
    return "\n".join(lines) + "\n"


def _plot(result: dict, path: Path) -> None:
    """QPS per system, one query per call and batch, as bars."""
    from bench.report import paired_bars

    rows = result["rows"]
    paired_bars(
        path,
        [r["system"] for r in rows],
        {
            "one query per call, 1 thread": [r["qps_single"] for r in rows],
            "batch, 2 threads": [r["qps_batch"] for r in rows],
        },
        "queries per second",
        f"Vaswani BM25, k=10 (load {result['load_average']['start'][0]:.1f})",
    )


if __name__ == "__main__":
    raise SystemExit(main())
