"""Hybrid search on real test collections: quality of BM25, dense and fused rankings, and
their latency over HTTP.

    python -m bench.hybrid [--rounds 5] [--no-http]

Collections: Vaswani (11,429 abstracts, 93 queries, binary judgements) and Cranfield (1,400
abstracts, 225 queries, graded judgements), each built exactly as ``vecsearch serve --demo``
builds Vaswani (:func:`service.demo.ensure_demo_collection`): the MiniLM embedding as the
unnamed vector (Cosine, HNSW) and the text as the server-side BM25 sparse vector ``bm25``
(``modifier: idf``; Qdrant's tokenizer, stop words, Snowball stemmer, k1 = 1.2, b = 0.75,
true average length).

**Quality** (in process, through the engine's query module): per query, the top 100 of

* ``bm25``: ``{"query": {"text", "model": "qdrant/bm25"}, "using": "bm25"}``;
* ``dense``: the query's MiniLM embedding, exact search (``params.exact``), so the figure is
  the model's, not the index's;
* ``rrf`` / ``dbsf``: both prefetched (100 each) and fused.

nDCG@10 and recall@100 come from ``ir-measures`` (pytrec_eval underneath), not from our
code. Vaswani's judgements are binary. Cranfield's grades 1 (complete answer) .. 4 (minimum
interest) become gains 4 .. 1 for nDCG (grade -1, "no interest", is 0); recall@100 counts
grades 1-3 as relevant (``R(rel=2)@100``), as ``bench.relevance_eval`` does.

**Latency over HTTP** (Vaswani only, unless ``--no-http``): a real ``vecsearch serve`` in a
child process over the same data directory, one client (``http.client``, keep-alive), the
93 queries of each kind per round, interleaved, ``--rounds`` rounds; p50 / p95 wall ms of
``POST /points/query`` with ``limit`` 10 (dense with the HNSW index and default ``ef``, as
a user would query it), and the in-process time of the same bodies.

Writes ``bench/results/hybrid/<collection>-k10.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.machine import machine_info
from bench.result_paths import result_paths

K = 10
DEPTH = 100
KINDS = ("bm25", "dense", "rrf", "dbsf")


def bodies(text: str, vector: np.ndarray, limit: int, exact: bool) -> dict[str, dict]:
    """The query bodies of each kind for one query."""
    doc = {"text": text, "model": "qdrant/bm25"}
    dense: dict[str, Any] = {"query": vector.tolist(), "limit": limit}
    if exact:
        dense["params"] = {"exact": True}
    bm25 = {"query": doc, "using": "bm25", "limit": limit}
    pre = [{**bm25, "limit": DEPTH}, {**dense, "limit": DEPTH}]
    return {
        "bm25": bm25,
        "dense": dense,
        "rrf": {"prefetch": pre, "query": {"fusion": "rrf"}, "limit": limit},
        "dbsf": {"prefetch": pre, "query": {"fusion": "dbsf"}, "limit": limit},
    }


def _qrels(data: Any) -> list[Any]:
    import ir_measures

    out = []
    for qid, docs in data.qrels.items():
        for doc, grade in docs.items():
            if data.name == "cranfield":
                rel = 5 - grade if 1 <= grade <= 4 else 0
            else:
                rel = int(grade > 0)
            out.append(ir_measures.Qrel(str(qid), str(doc), rel))
    return out


def quality(coll: Any, data: Any) -> dict[str, dict[str, float]]:
    """nDCG@10 and recall@100 of every kind, by ir-measures."""
    import ir_measures
    from ir_measures import R, nDCG

    rel = 2 if data.name == "cranfield" else 1
    measures = [nDCG @ 10, R(rel=rel) @ DEPTH]
    qrels = _qrels(data)
    runs: dict[str, list[Any]] = {k: [] for k in KINDS}
    for qid, text, vec in zip(data.query_ids, data.query_texts, data.query_embeddings, strict=True):
        for kind, body in bodies(text, vec, DEPTH, exact=True).items():
            for h in coll.query(body):
                runs[kind].append(ir_measures.ScoredDoc(str(qid), str(h.id), float(h.score)))
    out = {}
    for kind, run in runs.items():
        agg = ir_measures.calc_aggregate(measures, qrels, run)
        out[kind] = {"ndcg@10": float(agg[measures[0]]), "recall@100": float(agg[measures[1]])}
    return out


def latency(data_dir: Path, coll: Any, data: Any, name: str, rounds: int) -> dict[str, Any]:
    """p50 / p95 ms per kind over HTTP (a real server) and in process."""
    from bench.http_bench import Server, _Conn

    per_kind = {
        kind: [bodies(t, v, K, exact=False)[kind] for t, v in
               zip(data.query_texts, data.query_embeddings, strict=True)]
        for kind in KINDS
    }  # fmt: skip
    inproc: dict[str, list[float]] = {k: [] for k in KINDS}
    for _ in range(rounds):
        for kind, items in per_kind.items():
            for body in items:
                t0 = time.perf_counter()
                coll.query(body)
                inproc[kind].append(time.perf_counter() - t0)
    coll_name = coll.name
    coll.close()
    server = Server(data_dir)
    http: dict[str, list[float]] = {k: [] for k in KINDS}
    try:
        server.wait_ready()
        conn = _Conn(server.url)
        path = f"/collections/{coll_name}/points/query"
        encoded = {k: [json.dumps(b).encode() for b in v] for k, v in per_kind.items()}
        for body in encoded["rrf"][:10] + encoded["dbsf"][:10]:  # warm the server
            assert conn.post(path, body) == 200
        for _ in range(rounds):
            for kind, items in encoded.items():
                for body in items:
                    t0 = time.perf_counter()
                    status = conn.post(path, body)
                    http[kind].append(time.perf_counter() - t0)
                    if status != 200:
                        raise RuntimeError(f"{kind}: HTTP {status}")
        conn.close()
    finally:
        server.stop()

    def stats(xs: list[float]) -> dict[str, float]:
        a = np.asarray(xs) * 1e3
        return {"p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95))}

    return {
        "http": {k: stats(v) for k, v in http.items()},
        "in_process": {k: stats(v) for k, v in inproc.items()},
        "requests_per_kind": rounds * len(data.query_ids),
    }


def markdown(r: dict[str, Any]) -> str:
    lines = [
        f"# Hybrid search on {r['collection']} ({r['documents']:,} documents, "
        f"{r['queries']} queries)",
        "",
        f"Command: `{r['command']}` · commit {r['machine'].get('git_commit')} · "
        f"load {r['load_before']} -> {r['load_after']} · {r['machine'].get('cpu_model')}",
        "",
        "## Quality (ir-measures; dense exact, prefetch 100 each)",
        "",
        "| ranking | nDCG@10 | recall@100 |",
        "|---|---:|---:|",
    ]
    for kind, m in r["quality"].items():
        lines.append(f"| {kind} | {m['ndcg@10']:.4f} | {m['recall@100']:.4f} |")
    best = max(r["quality"]["bm25"]["ndcg@10"], r["quality"]["dense"]["ndcg@10"])
    lines += [
        "",
        f"Better of the two alone (nDCG@10): {best:.4f}; RRF "
        f"{r['quality']['rrf']['ndcg@10'] / best:.3f}x, DBSF "
        f"{r['quality']['dbsf']['ndcg@10'] / best:.3f}x of it.",
        "",
        r["judgements"],
    ]
    if r.get("latency"):
        lat = r["latency"]
        lines += [
            "",
            f"## Latency, limit {K}, one client, {lat['requests_per_kind']} requests per kind",
            "",
            "| query | HTTP p50 ms | HTTP p95 ms | in-process p50 ms | in-process p95 ms |",
            "|---|---:|---:|---:|---:|",
        ]
        for kind in KINDS:
            h, p = lat["http"][kind], lat["in_process"][kind]
            lines.append(
                f"| {kind} | {h['p50_ms']:.2f} | {h['p95_ms']:.2f} | {p['p50_ms']:.2f} | "
                f"{p['p95_ms']:.2f} |"
            )
    return "\n".join(lines) + "\n"


def plot(r: dict[str, Any], path: Path) -> None:
    from bench.report import paired_bars

    q = r["quality"]
    paired_bars(
        path,
        list(KINDS),
        {
            "nDCG@10": [q[k]["ndcg@10"] for k in KINDS],
            "recall@100": [q[k]["recall@100"] for k in KINDS],
        },
        "score",
        f"{r['collection']}: BM25, MiniLM and fused (ir-measures)",
    )


def run_collection(name: str, rounds: int, http: bool) -> dict[str, Any]:
    from service.demo import ensure_demo_collection
    from vecsearch.database import Database
    from vecsearch.datasets import load_collection

    data = load_collection(name)
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="vecsearch-hybrid-") as tmp:
        db = Database(Path(tmp))
        t0 = time.perf_counter()
        ensure_demo_collection(db, name=name, dataset=name)
        build_s = time.perf_counter() - t0
        coll = db.get_collection(name)
        result: dict[str, Any] = {
            "collection": name,
            "documents": len(data.doc_ids),
            "queries": len(data.query_ids),
            "build_seconds": build_s,
            "quality": quality(coll, data),
            "judgements": (
                "Cranfield: grades 1..4 -> gains 4..1 for nDCG, grades 1-3 relevant for recall."
                if name == "cranfield"
                else "Vaswani: binary judgements."
            ),
        }
        if http:
            result["latency"] = latency(Path(tmp), coll, data, name, rounds)
        db.close()
    result["load_before"] = load_before
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    result["machine"] = machine_info()
    result["command"] = "python -m bench.hybrid " + " ".join(sys.argv[1:])
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.hybrid", description=__doc__)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--no-http", action="store_true", help="skip the HTTP latency part")
    p.add_argument("--collections", default="vaswani,cranfield")
    args = p.parse_args(argv)
    for name in args.collections.split(","):
        r = run_collection(name, args.rounds, http=not args.no_http and name == "vaswani")
        paths = result_paths("hybrid", name, K)
        paths["json"].write_text(json.dumps(r, indent=2) + "\n")
        paths["md"].write_text(markdown(r))
        plot(r, paths["png"])
        print(markdown(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
