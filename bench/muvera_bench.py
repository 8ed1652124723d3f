"""MUVERA on Vaswani: multi-vector (per-token MiniLM) retrieval through FDEs vs exact MaxSim.

``python -m bench.muvera_bench`` measures, in one process run (records in
``bench/results/muvera/vaswani-tokens-k10.*``):

* exact brute-force MaxSim (one BLAS product per query against all 571k document tokens, then
  a Numba segment max/sum; :func:`indexes.muvera.maxsim_scores`) for the 93 queries: ground
  truth (top-10 and top-100) and latency;
* the MUVERA pipeline (:class:`indexes.muvera.MultiVectorIndex`: document FDEs in HNSW, then
  exact MaxSim re-ranking of ``candidates`` documents): recall@10 against the exact top-10 and
  latency per candidate count; the exact pass is timed again after it (best of 2 per query);
* candidates needed for recall@10 >= 0.9: FDE candidates (top by exact FDE inner product)
  against the single-vector heuristic of the paper (each query token's nearest document
  tokens, found exactly, give their documents as candidates), both re-ranked exactly;
* retrieval quality on the qrels: nDCG@10 and recall@100 of single-vector MiniLM (exact
  cosine over ``docs.f16.npy``), exact MaxSim, and MUVERA;
* a sweep of (k_sim, d_proj, r_reps): recall@10 at fixed candidate counts (exact FDE scores,
  no HNSW) and candidates needed for 0.9 against the FDE dimension.

Latency is wall time per query with one thread (BLAS and Numba), on a shared machine: every
system runs in this same process run, so ratios matter more than absolute times.
Document tokens come from :func:`vecsearch.datasets.load_vaswani_doc_tokens` (built once by
``scripts/build_vaswani_tokens.py``, cached outside the repo).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numba
import numpy as np

from bench.machine import machine_info
from bench.result_paths import RESULTS_DIR, result_paths
from indexes._kernels.dispatch import for_rows
from indexes._kernels.multivector import maxsim_candidates
from indexes.hnsw import HNSWParams
from indexes.muvera import FDEConfig, FDEEncoder, MultiVectorIndex, MultiVectorParams, maxsim_scores
from vecsearch.datasets import load_vaswani, load_vaswani_doc_tokens

DIM = 384
MAIN = FDEConfig(r_reps=20, k_sim=5, d_proj=16)  # the paper's defaults
HNSW_OPTIONS = {"M": 16, "ef_construction": 100}
CANDIDATES = (10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000, 2000)
SV_TOKENS = (1, 2, 3, 5, 8, 12, 20, 30, 50, 80, 120, 200)
SWEEP = [
    (k, d, r)
    for k, d, r in [
        (4, 8, 10),
        (4, 8, 20),
        (5, 8, 20),
        (3, 16, 20),
        (4, 16, 20),
        (5, 16, 20),
        (5, 16, 40),
        (6, 16, 20),
    ]
]
TARGET = 0.9


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


def recall_at(got: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of each truth row found in the matching result row."""
    k = truth.shape[1]
    return float(
        np.mean(
            [len(set(g.tolist()) & set(t.tolist())) / k for g, t in zip(got, truth, strict=True)]
        )
    )


def ndcg_at(ranked: list[list[int]], qrels: list[dict[int, int]], k: int) -> float:
    """Mean nDCG@k (gain = relevance grade, log2 discount); queries without judgements skip."""
    out = []
    for docs, rel in zip(ranked, qrels, strict=True):
        if not rel:
            continue
        dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(docs[:k]))
        ideal = sorted(rel.values(), reverse=True)[:k]
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
        out.append(dcg / idcg if idcg > 0 else 0.0)
    return float(np.mean(out))


def recall_qrels(ranked: list[list[int]], qrels: list[dict[int, int]], k: int) -> float:
    """Mean fraction of the relevant documents in the top ``k``."""
    out = []
    for docs, rel in zip(ranked, qrels, strict=True):
        relevant = {d for d, g in rel.items() if g > 0}
        if relevant:
            out.append(len(relevant & set(docs[:k])) / len(relevant))
    return float(np.mean(out))


def needed(curve: list[dict[str, Any]], key: str = "candidates") -> float | None:
    """Smallest measured ``key`` whose recall@10 reaches :data:`TARGET`."""
    ok = [p[key] for p in curve if p["recall10"] >= TARGET]
    return float(min(ok)) if ok else None


# --------------------------------------------------------------------------------------------
# The systems
# --------------------------------------------------------------------------------------------


def exact_pass(
    q: tuple[np.ndarray, np.ndarray], d: tuple[np.ndarray, np.ndarray], k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact MaxSim top-``k`` per query (ties by lower row), scores, per-query seconds."""
    nq = q[1].shape[0] - 1
    top = np.empty((nq, k), np.int64)
    scores = np.empty((nq, k))
    lat = np.empty(nq)
    for i in range(nq):
        one = (q[0][q[1][i] : q[1][i + 1]], np.array([0, q[1][i + 1] - q[1][i]]))
        t = time.perf_counter()
        s = maxsim_scores(one, d)[0]
        part = np.argpartition(-s, k)[:k]
        order = part[np.lexsort((part, -s[part]))]
        lat[i] = time.perf_counter() - t
        top[i], scores[i] = order, s[order]
    return top, scores, lat


def muvera_pass(
    index: MultiVectorIndex, q: tuple[np.ndarray, np.ndarray], k: int, candidates: int
) -> tuple[np.ndarray, np.ndarray]:
    """One query at a time through the pipeline: ids (nq, k), per-query seconds."""
    nq = q[1].shape[0] - 1
    params = MultiVectorParams(
        candidates=candidates, n_threads=1, inner=HNSWParams(ef=max(candidates, 64), n_threads=1)
    )
    ids = np.empty((nq, k), np.int64)
    lat = np.empty(nq)
    for i in range(nq):
        one = (q[0][q[1][i] : q[1][i + 1]], np.array([0, q[1][i + 1] - q[1][i]]))
        t = time.perf_counter()
        got, _ = index.search(one, k, params)
        lat[i] = time.perf_counter() - t
        ids[i] = got[0]
    return ids, lat


def rerank(
    q: tuple[np.ndarray, np.ndarray],
    d: tuple[np.ndarray, np.ndarray],
    cand: list[np.ndarray],
    k: int,
) -> np.ndarray:
    """Exact MaxSim top-``k`` among each query's candidate rows (padded with -1)."""
    width = max(max(len(c) for c in cand), k)
    slots = np.full((len(cand), width), -1, np.int64)
    for i, c in enumerate(cand):
        slots[i, : len(c)] = c
    scores = for_rows(maxsim_candidates, len(cand))(q[0], q[1], d[0], d[1], slots)
    scores = np.where(slots >= 0, scores, -np.inf)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(slots, order, axis=1)


def fde_curve(
    q_fde: np.ndarray, d_fde: np.ndarray, q, d, truth10: np.ndarray, grid=CANDIDATES
) -> list[dict[str, Any]]:
    """Recall@10 after exact re-ranking of the top-C documents by exact FDE inner product."""
    fde_scores = q_fde @ d_fde.T
    ranked = np.argsort(-fde_scores, axis=1, kind="stable")
    out = []
    for c in grid:
        top = rerank(q, d, list(ranked[:, :c]), 10)
        out.append({"candidates": c, "recall10": recall_at(top, truth10)})
    return out


def sv_curve(q, d, truth10: np.ndarray, token_doc: np.ndarray) -> list[dict[str, Any]]:
    """The single-vector heuristic: each query token's ``t`` nearest document tokens (exact
    inner product) -> their documents are the candidates; re-ranked by exact MaxSim."""
    nq = q[1].shape[0] - 1
    tmax = max(SV_TOKENS)
    nearest = []  # per query: (m_q, tmax) token rows, best first
    for i in range(nq):
        s = q[0][q[1][i] : q[1][i + 1]] @ d[0].T
        part = np.argpartition(-s, tmax, axis=1)[:, :tmax]
        order = np.take_along_axis(part, np.argsort(-np.take_along_axis(s, part, 1), 1), 1)
        nearest.append(order)
    out = []
    for t in SV_TOKENS:
        cand = [np.unique(token_doc[n[:, :t]]) for n in nearest]
        top = rerank(q, d, cand, 10)
        out.append(
            {
                "tokens_per_query_token": t,
                "candidates": float(np.mean([len(c) for c in cand])),
                "recall10": recall_at(top, truth10),
            }
        )
    return out


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


def run(quick: bool = False) -> dict[str, Any]:
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    from threadpoolctl import threadpool_limits

    coll = load_vaswani()
    tok, off = load_vaswani_doc_tokens()
    n_docs = off.shape[0] - 1
    if quick:
        n_docs = 1500
        off = off[: n_docs + 1]
    docs = (np.ascontiguousarray(tok[: off[-1]], dtype=np.float32), off.astype(np.int64))
    queries = (coll.token_query_embeddings, coll.token_query_offsets)
    nq = queries[1].shape[0] - 1
    token_doc = np.repeat(np.arange(n_docs), np.diff(docs[1]))
    qrels = [coll.qrels.get(int(qid), {}) for qid in coll.query_ids]
    docno = coll.doc_ids[:n_docs]
    _log(f"{n_docs} docs, {docs[0].shape[0]} tokens; {nq} queries, {queries[0].shape[0]} tokens")
    result: dict[str, Any] = {
        "dataset": "vaswani per-token all-MiniLM-L6-v2 (384-d, not normalised)",
        "n_docs": n_docs,
        "n_doc_tokens": int(docs[0].shape[0]),
        "n_queries": nq,
        "n_query_tokens": int(queries[0].shape[0]),
        "machine_before": machine_info(),
    }

    # exact MaxSim: ground truth and latency, pass 1 (one thread)
    with threadpool_limits(1):
        numba.set_num_threads(1)
        top100, _scores100, lat_exact1 = exact_pass(queries, docs, 100)
    truth10 = top100[:, :10]
    _log(f"exact MaxSim pass 1: mean {lat_exact1.mean() * 1e3:.1f} ms/query")

    # MUVERA pipeline (main config): build, then the candidates sweep (one thread)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    index = MultiVectorIndex(DIM, MAIN, inner="hnsw", inner_options=HNSW_OPTIONS)
    t0, c0 = time.perf_counter(), time.process_time()
    index.add(docs, np.arange(n_docs))
    build = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}
    _log(f"MUVERA build ({index.encoder.out_dim}-d FDEs, HNSW): {build['wall_s']:.1f} s")
    pipeline = []
    with threadpool_limits(1):
        numba.set_num_threads(1)
        muvera_pass(index, queries, 10, 100)  # warm-up (compilation, caches)
        for c in CANDIDATES:
            ids, lat = muvera_pass(index, queries, 10, c)
            pipeline.append(
                {
                    "candidates": c,
                    "recall10": recall_at(ids, truth10),
                    "mean_ms": float(lat.mean() * 1e3),
                    "p50_ms": float(np.median(lat) * 1e3),
                    "p95_ms": float(np.percentile(lat, 95) * 1e3),
                    "lat": lat,
                }
            )
            _log(
                f"  candidates {c}: recall@10 {pipeline[-1]['recall10']:.3f}, "
                f"{lat.mean() * 1e3:.2f} ms"
            )
        _, _, lat_exact2 = exact_pass(queries, docs, 100)  # pass 2, interleaved after MUVERA
        mv100, lat_mv100 = muvera_pass(index, queries, 100, 500)
    lat_exact = np.minimum(lat_exact1, lat_exact2)
    _log(f"exact MaxSim pass 2: mean {lat_exact2.mean() * 1e3:.1f} ms/query")
    ex_mean, ex_p50 = float(lat_exact.mean() * 1e3), float(np.median(lat_exact) * 1e3)
    for p in pipeline:
        p["speedup_mean"] = ex_mean / p["mean_ms"]
        p["speedup_p50"] = ex_p50 / p["p50_ms"]
        del p["lat"]
    op = next((p for p in pipeline if p["recall10"] >= TARGET), None)
    result["exact_maxsim"] = {
        "mean_ms": ex_mean,
        "p50_ms": ex_p50,
        "p95_ms": float(np.percentile(lat_exact, 95) * 1e3),
        "pass1_mean_ms": float(lat_exact1.mean() * 1e3),
        "pass2_mean_ms": float(lat_exact2.mean() * 1e3),
    }
    result["muvera"] = {
        "fde": _cfg(MAIN),
        "fde_dim": index.encoder.out_dim,
        "inner": {"type": "hnsw", **HNSW_OPTIONS, "ef": "max(candidates, 64)"},
        "build": build,
        "memory_bytes": index.memory_bytes(),
        "fde_bytes": int(n_docs * index.encoder.out_dim * 4),
        "curve": pipeline,
        "operating_point": op,
    }

    # candidates needed: exact FDE top-C vs the single-vector heuristic
    d_fde = index.encoder.encode_documents(docs)
    q_fde = index.encoder.encode_queries(queries)
    fde_c = fde_curve(q_fde, d_fde, queries, docs, truth10)
    sv_c = sv_curve(queries, docs, truth10, token_doc)
    n_fde, n_sv = needed(fde_c), needed(sv_c)
    result["candidates"] = {
        "target_recall10": TARGET,
        "fde_exact": fde_c,
        "single_vector_heuristic": sv_c,
        "fde_needed": n_fde,
        "sv_needed": n_sv,
        "sv_over_fde": (n_sv / n_fde) if n_fde and n_sv else None,
        "note": "needed = smallest measured candidate count with recall@10 >= target (grid "
        "points, not interpolated); SV candidates are the mean number of distinct documents",
    }
    _log(f"candidates for {TARGET}: FDE {n_fde}, SV heuristic {n_sv}")

    # quality on the relevance judgements
    dense = coll.doc_embeddings[:n_docs] @ coll.query_embeddings.T
    sv_rank = np.argsort(-dense.T, axis=1, kind="stable")[:, :100]
    ranks = {
        "single_vector_minilm": sv_rank,
        "exact_maxsim": top100,
        "muvera": mv100,
    }
    quality = {}
    for name, r in ranks.items():
        lists = [[int(docno[j]) for j in row if j >= 0] for row in r]
        quality[name] = {
            "ndcg10": ndcg_at(lists, qrels, 10),
            "recall100": recall_qrels(lists, qrels, 100),
        }
    quality["muvera"]["setting"] = "k=100, candidates=500"
    quality["muvera"]["mean_ms"] = float(lat_mv100.mean() * 1e3)
    quality["muvera"]["recall100_vs_exact_maxsim"] = recall_at(mv100, top100)
    result["quality"] = quality
    _log(f"quality: {json.dumps(quality)}")

    # sweep of (k_sim, d_proj, r_reps) with exact FDE scores
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    sweep = []
    for k_sim, d_proj, r_reps in SWEEP:
        enc = FDEEncoder(DIM, FDEConfig(r_reps=r_reps, k_sim=k_sim, d_proj=d_proj))
        t = time.process_time()
        dd = enc.encode_documents(docs)
        enc_cpu = time.process_time() - t
        curve = fde_curve(enc.encode_queries(queries), dd, queries, docs, truth10)
        at = {p["candidates"]: p["recall10"] for p in curve}
        sweep.append(
            {
                "k_sim": k_sim,
                "d_proj": d_proj,
                "r_reps": r_reps,
                "fde_dim": enc.out_dim,
                "fde_mib": n_docs * enc.out_dim * 4 / 2**20,
                "encode_docs_cpu_s": enc_cpu,
                "recall10_at_50": at[50],
                "recall10_at_100": at[100],
                "recall10_at_200": at[200],
                "candidates_for_0.9": needed(curve),
                "curve": curve,
            }
        )
        _log(
            f"sweep k_sim={k_sim} d_proj={d_proj} r_reps={r_reps}: "
            f"recall@10 {sweep[-1]['recall10_at_100']:.3f} at 100 candidates"
        )
    result["sweep"] = sweep
    result["machine_after"] = {"load_average_1_5_15min": list(__import__("os").getloadavg())}
    return result


def _cfg(c: FDEConfig) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(c)


# --------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------


def markdown(r: dict[str, Any]) -> str:
    m, ex, cand, q = r["muvera"], r["exact_maxsim"], r["candidates"], r["quality"]
    op = m["operating_point"]
    f = m["fde"]
    lines = [
        "# MUVERA on Vaswani (per-token MiniLM)",
        "",
        f"{r['n_docs']:,} documents ({r['n_doc_tokens']:,} token vectors, 384-d), "
        f"{r['n_queries']} queries ({r['n_query_tokens']} tokens). One thread (BLAS and Numba), "
        "one query at a time, wall time; exact MaxSim timed before and after MUVERA "
        "(best of 2 per query). Load average before: "
        f"{', '.join(f'{x:.1f}' for x in r['machine_before']['load_average_1_5_15min'])}; "
        f"after: {', '.join(f'{x:.1f}' for x in r['machine_after']['load_average_1_5_15min'])}.",
        "",
        "## Recall and latency against exact brute-force MaxSim",
        "",
        f"MUVERA: FDE k_sim={f['k_sim']}, d_proj={f['d_proj']}, r_reps={f['r_reps']} "
        f"({m['fde_dim']}-d), HNSW M={m['inner']['M']} ef_construction="
        f"{m['inner']['ef_construction']} (ef = max(candidates, 64)), exact MaxSim re-rank. "
        f"Build {m['build']['wall_s']:.0f} s wall / {m['build']['cpu_s']:.0f} s CPU.",
        "",
        f"Exact MaxSim: mean {ex['mean_ms']:.1f} ms, p50 {ex['p50_ms']:.1f} ms per query.",
        "",
        "| candidates | recall@10 | mean ms | p50 ms | p95 ms | speed-up (mean) | speed-up (p50) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in m["curve"]:
        lines.append(
            f"| {p['candidates']} | {p['recall10']:.3f} | {p['mean_ms']:.2f} | {p['p50_ms']:.2f} "
            f"| {p['p95_ms']:.2f} | {p['speedup_mean']:.0f}x | {p['speedup_p50']:.0f}x |"
        )
    if op:
        lines += [
            "",
            f"**Operating point: {op['candidates']} candidates, recall@10 {op['recall10']:.3f}, "
            f"{op['speedup_mean']:.0f}x lower mean latency than exact MaxSim "
            f"({op['mean_ms']:.2f} vs {ex['mean_ms']:.1f} ms).**",
        ]
    lines += [
        "",
        "## Candidates needed for recall@10 >= 0.9 (exact re-ranking of the candidates)",
        "",
        "FDE: top-C documents by exact FDE inner product (the main config, no HNSW). "
        "Single-vector heuristic: each query token's t nearest document tokens (exact), their "
        "documents are the candidates (C = mean distinct documents per query).",
        "",
        "| FDE C | FDE recall@10 | | SV t | SV token hits | SV mean C (distinct docs) "
        "| SV recall@10 |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    per_query_tokens = r["n_query_tokens"] / r["n_queries"]
    for a, b in zip(cand["fde_exact"], cand["single_vector_heuristic"], strict=False):
        lines.append(
            f"| {a['candidates']} | {a['recall10']:.3f} | | {b['tokens_per_query_token']} | "
            f"{b['tokens_per_query_token'] * per_query_tokens:.0f} | "
            f"{b['candidates']:.0f} | {b['recall10']:.3f} |"
        )
    ratio = cand["sv_over_fde"]
    t_ok = [b["tokens_per_query_token"] for b in cand["single_vector_heuristic"]]
    t_ok = [t for t, b in zip(t_ok, cand["single_vector_heuristic"], strict=True)
            if b["recall10"] >= cand["target_recall10"]]  # fmt: skip
    hits = min(t_ok) * per_query_tokens if t_ok else None
    fde_n = cand["fde_needed"]
    lines += [
        "",
        f"Needed for recall@10 >= {cand['target_recall10']}: FDE {fde_n:.0f} documents; "
        "single-vector heuristic "
        + (
            f"{cand['sv_needed']:.0f} distinct documents (SV/FDE = {ratio:.2f}), "
            f"{hits:.0f} token hits before de-duplication (SV/FDE = {hits / fde_n:.2f})"
            if ratio and hits and fde_n
            else "not reached"
        )
        + ". The paper reports SV/FDE of 2-5. Grid points, not interpolated; SV token hits = "
        f"t x mean query tokens ({per_query_tokens:.1f}).",
        "",
        "## Retrieval quality on the relevance judgements (93 queries)",
        "",
        "| system | nDCG@10 | recall@100 |",
        "|---|---:|---:|",
    ]
    names = {
        "single_vector_minilm": "single-vector MiniLM (exact cosine)",
        "exact_maxsim": "exact MaxSim (per-token MiniLM)",
        "muvera": f"MUVERA ({q['muvera']['setting']})",
    }
    for key, label in names.items():
        lines.append(f"| {label} | {q[key]['ndcg10']:.4f} | {q[key]['recall100']:.4f} |")
    lines += [
        "",
        f"MUVERA's top-100 holds {q['muvera']['recall100_vs_exact_maxsim']:.3f} of exact "
        f"MaxSim's top-100 ({q['muvera']['mean_ms']:.1f} ms/query).",
        "",
        "## FDE parameter sweep (exact FDE scores, exact re-ranking)",
        "",
        "| k_sim | d_proj | r_reps | FDE dim | FDE MiB | recall@10 C=50 | C=100 | C=200 "
        "| C for 0.9 | encode CPU s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in r["sweep"]:
        lines.append(
            f"| {s['k_sim']} | {s['d_proj']} | {s['r_reps']} | {s['fde_dim']} | "
            f"{s['fde_mib']:.0f} | {s['recall10_at_50']:.3f} | {s['recall10_at_100']:.3f} | "
            f"{s['recall10_at_200']:.3f} | {s['candidates_for_0.9']} | "
            f"{s['encode_docs_cpu_s']:.1f} |"
        )
    mb = r["machine_before"]
    lines += [
        "",
        f"Machine: {mb['cpu_model']}, {mb['logical_cpus']} logical CPUs, git "
        f"{mb.get('git_commit')}, {mb['timestamp']}.",
        "",
    ]
    return "\n".join(lines)


def plot(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(17, 5))
    ax = axes[0]
    c = r["muvera"]["curve"]
    ax.plot([p["mean_ms"] for p in c], [p["recall10"] for p in c], "o-", label="MUVERA (HNSW)")
    for p in c:
        ax.annotate(str(p["candidates"]), (p["mean_ms"], p["recall10"]), fontsize=7)
    ax.axvline(r["exact_maxsim"]["mean_ms"], color="k", ls="--", label="exact MaxSim")
    ax.axhline(TARGET, color="grey", ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("mean latency per query (ms, 1 thread)")
    ax.set_ylabel("recall@10 vs exact MaxSim")
    ax.set_title("MUVERA vs exact MaxSim")
    ax.legend()
    ax = axes[1]
    f, s = r["candidates"]["fde_exact"], r["candidates"]["single_vector_heuristic"]
    ax.plot([p["candidates"] for p in f], [p["recall10"] for p in f], "o-", label="FDE top-C")
    ax.plot([p["candidates"] for p in s], [p["recall10"] for p in s], "s-", label="SV heuristic")
    ax.axhline(TARGET, color="grey", ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("candidate documents re-ranked")
    ax.set_ylabel("recall@10")
    ax.set_title("Candidates needed")
    ax.legend()
    ax = axes[2]
    for s in r["sweep"]:
        ax.scatter(s["fde_dim"], s["recall10_at_100"])
        ax.annotate(
            f"{s['k_sim']},{s['d_proj']},{s['r_reps']}",
            (s["fde_dim"], s["recall10_at_100"]),
            fontsize=7,
        )
    ax.set_xscale("log")
    ax.set_xlabel("FDE dimension")
    ax.set_ylabel("recall@10 with 100 candidates")
    ax.set_title("Sweep (k_sim, d_proj, r_reps)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results-dir", default=str(RESULTS_DIR), help="root of the records")
    ap.add_argument("--quick", action="store_true", help="1,500 documents (smoke test)")
    ap.add_argument("--report", help="re-render the Markdown and PNG of this result JSON")
    args = ap.parse_args(argv)
    if args.report:
        src = Path(args.report)
        result = json.loads(src.read_text())
        src.with_suffix(".md").write_text(markdown(result))
        plot(result, src.with_suffix(".png"))
        return 0
    result = run(quick=args.quick)
    variant = "quick" if args.quick else ""
    paths = result_paths("muvera", "vaswani-tokens", 10, variant=variant, root=args.results_dir)
    paths["json"].write_text(json.dumps(result, indent=2, default=float) + "\n")
    paths["md"].write_text(markdown(result))
    plot(result, paths["png"])
    _log("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
