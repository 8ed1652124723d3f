"""Relevance filtering on real judgements: ``python -m bench relevance``.

For Vaswani and Cranfield (MiniLM embeddings, exact cosine search) every query's top
``depth`` documents are the candidates; a filter returns a subset of them. Cross-validation
over queries (``folds`` folds, repeated for several seeds): everything that is learnt or chosen
(the calibrated model, every global threshold) comes from the training folds only, and the
returned sets of the held-out fold are scored.

Methods, all in the same run:

* ``top-k`` (k = 5, 10, 20): the first k candidates, nothing learnt;
* ``raw threshold``: one global cosine threshold, the best-F1 one on the training folds;
* ``normalised``: score / the query's top score, one global threshold chosen likewise;
* ``calibrated``: :mod:`vecsearch.relevance` (query embedding + score-list features ->
  logistic map of cosine), one global threshold on relevance chosen likewise; ablations
  ``calibrated (score stats only)`` (no embedding components) and ``calibrated (no
  features)`` (one map for all queries after standardising each query's score list);
* ``oracle per-query cutoff``: the best prefix of each query given its own labels, an upper
  bound for any per-query monotone filter (uses test labels; not a method).

Measures over the pooled held-out queries: micro precision / recall / F1 of the returned sets
(recall against the relevant candidates; ``recall_all`` against every judged relevant
document), macro F1, PR-AUC (average precision of the pooled global-threshold curve) and the
best precision at 90% / 95% recall. Judgements: Vaswani is binary; Cranfield grades 1
(complete answer), 2 (high relevance), 3 (useful background) count as relevant by default,
4 (minimum interest) and -1 (no interest) do not (``--cranfield-grades`` changes that).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np

from bench.machine import machine_info
from bench.result_paths import RESULTS_DIR, result_paths
from vecsearch import relevance as R
from vecsearch.datasets import load_collection

TOPK = (5, 10, 20)
CURVES = ("raw threshold", "normalised", "calibrated")
VARIANTS = {
    "calibrated": {"n_components": R.DEFAULT_COMPONENTS, "score_features": True},
    "calibrated (score stats only)": {"n_components": 0, "score_features": True},
    "calibrated (no features)": {"n_components": 0, "score_features": False},
}
#: What else was tried (``--extra``): other numbers of embedding components, and choosing the
#: global threshold on inner-CV held-out predictions instead of in-sample ones.
EXTRA_VARIANTS = {
    "calibrated (4 PCs)": {"n_components": 4, "score_features": True},
    "calibrated (16 PCs)": {"n_components": 16, "score_features": True},
    "calibrated (32 PCs)": {"n_components": 32, "score_features": True},
    "calibrated (held-out threshold)": {
        "n_components": R.DEFAULT_COMPONENTS,
        "score_features": True,
        "threshold": "inner-cv",
    },
}


def _log(msg: str) -> None:
    print(msg, flush=True)


def candidates(name: str, depth: int, grades: set[int]) -> tuple[R.TrainingSet, dict[str, Any]]:
    """Each query's top-``depth`` documents by exact cosine with 0/1 labels."""
    c = load_collection(name)
    docs = c.doc_embeddings / np.linalg.norm(c.doc_embeddings, axis=1, keepdims=True)
    qs = c.query_embeddings / np.linalg.norm(c.query_embeddings, axis=1, keepdims=True)
    pos = {int(d): i for i, d in enumerate(c.doc_ids)}
    sims = qs.astype(np.float64) @ docs.astype(np.float64).T
    order = np.argsort(-sims, axis=1, kind="stable")[:, :depth]
    scores, labels, n_rel = [], [], []
    for i, qid in enumerate(c.query_ids.tolist()):
        rel = {
            pos[d]
            for d, g in c.qrels.get(int(qid), {}).items()
            if (g in grades if name == "cranfield" else g > 0) and d in pos
        }
        scores.append(sims[i, order[i]])
        labels.append(np.isin(order[i], list(rel)).astype(np.float64))
        n_rel.append(len(rel))
    data = R.TrainingSet(qs.astype(np.float64), scores, labels, np.asarray(n_rel, float))
    info = {
        "documents": len(c.doc_ids),
        "queries": len(c.query_ids),
        "queries_with_relevant": int(np.sum(np.asarray(n_rel) > 0)),
        "relevant_per_query": float(np.mean(n_rel)),
        "relevant_in_candidates_per_query": float(np.mean([y.sum() for y in labels])),
        "candidate_recall": float(sum(y.sum() for y in labels) / max(sum(n_rel), 1)),
        "relevant_grades": sorted(grades) if name == "cranfield" else [1],
    }
    return data, info


def _fit_variant(train: R.TrainingSet, depth: int, seed: int, spec: dict) -> R.RelevanceModel:
    return R.fit(
        train,
        depth=depth,
        n_components=spec["n_components"],
        score_stats=spec["score_features"],
        seed=seed,
        report=False,
    )


def _oracle(labels: list[np.ndarray]) -> list[np.ndarray]:
    """Per query, the prefix with the best F1 (empty when the query has no relevant one)."""
    out = []
    for y in labels:
        if y.sum() == 0:
            out.append(np.zeros(len(y), bool))
            continue
        tp = np.cumsum(y)
        k = np.arange(1, len(y) + 1)
        f1 = 2 * tp / (k + y.sum())
        out.append(np.arange(len(y)) <= int(f1.argmax()))
    return out


def _inner_cv_predictions(
    tr: R.TrainingSet, model: R.RelevanceModel, depth: int, folds: int, seed: int, spec: dict
) -> list[np.ndarray]:
    """Relevance of the training queries, each predicted by a model that did not see it."""
    pred: list[np.ndarray] = [np.zeros(0)] * len(tr.queries)
    for part in R.query_folds(len(tr.queries), folds, seed + 1):
        rest = np.setdiff1d(np.arange(len(tr.queries)), part)
        m = R.fit(
            tr.subset(rest),
            depth=depth,
            n_components=spec["n_components"],
            score_stats=spec["score_features"],
            ridge=model.ridge,
            report=False,
        )
        held = tr.subset(part)
        for i, r in zip(
            part.tolist(), m.relevance(held.queries, held.scores, held.scores), strict=True
        ):
            pred[i] = r
    return pred


def cross_validate(
    data: R.TrainingSet, depth: int, folds: int, seed: int, extra: bool = False
) -> dict[str, Any]:
    """Held-out returned sets and scores of every method for one seeded CV split."""
    n = len(data.queries)
    keep: dict[str, list[np.ndarray | None]] = {}
    curve: dict[str, list[np.ndarray | None]] = {}
    thresholds: dict[str, list[float]] = {}

    def put(name: str, idx: np.ndarray, masks: list[np.ndarray], score=None) -> None:
        keep.setdefault(name, [None] * n)
        for i, m in zip(idx.tolist(), masks, strict=True):
            keep[name][i] = m
        if score is not None:
            curve.setdefault(name, [None] * n)
            for i, s in zip(idx.tolist(), score, strict=True):
                curve[name][i] = s

    for test in R.query_folds(n, folds, seed):
        train_idx = np.setdiff1d(np.arange(n), test)
        tr, te = data.subset(train_idx), data.subset(test)
        for k in TOPK:
            put(f"top-{k}", test, [np.arange(len(s)) < k for s in te.scores])
        scorers = {
            "raw threshold": lambda d, _m=None: [np.asarray(s) for s in d.scores],
            "normalised": lambda d, _m=None: [np.asarray(s) / s[0] for s in d.scores],
        }
        inner: dict[str, list[np.ndarray]] = {}
        for name, spec in {**VARIANTS, **(EXTRA_VARIANTS if extra else {})}.items():
            model = _fit_variant(tr, depth, seed, spec)
            scorers[name] = lambda d, _m=model: _m.relevance(d.queries, d.scores, d.scores)
            if spec.get("threshold") == "inner-cv":
                inner[name] = _inner_cv_predictions(tr, model, depth, folds, seed, spec)
        for name, fn in scorers.items():
            train_scores = inner[name] if name in inner else fn(tr)
            thr, _ = R.best_f1_threshold(np.concatenate(train_scores), np.concatenate(tr.labels))
            s = fn(te)
            thresholds.setdefault(name, []).append(thr)
            put(name, test, [x >= thr for x in s], s)
    put("oracle per-query cutoff", np.arange(n), _oracle(data.labels))
    return {"keep": keep, "curve": curve, "thresholds": thresholds}


def measures(cv: dict[str, Any], data: R.TrainingSet) -> dict[str, dict[str, Any]]:
    """Set and curve measures of every method over the pooled held-out queries."""
    out: dict[str, dict[str, Any]] = {}
    y = np.concatenate(data.labels)
    for name, masks in cv["keep"].items():
        m: dict[str, Any] = R.set_quality(
            [k.astype(float) for k in masks], data.labels, data.n_relevant
        )
        if name in cv["curve"]:
            _, p, r = R.pr_curve(np.concatenate(cv["curve"][name]), y)
            m["pr_auc"] = R.average_precision(p, r)
            m["precision_at_recall_0.9"] = R.precision_at_recall(p, r, 0.9)
            m["precision_at_recall_0.95"] = R.precision_at_recall(p, r, 0.95)
            m["thresholds"] = cv["thresholds"][name]
        out[name] = m
    # the top-k family as a curve: one global k for every query
    ranks = np.concatenate([-np.arange(len(s), dtype=float) for s in data.scores])
    _, p, r = R.pr_curve(ranks, y)
    out["top-k sweep"] = {
        "pr_auc": R.average_precision(p, r),
        "precision_at_recall_0.9": R.precision_at_recall(p, r, 0.9),
        "precision_at_recall_0.95": R.precision_at_recall(p, r, 0.95),
    }
    return out


def evaluate(
    name: str, depth: int, folds: int, seeds: list[int], grades: set[int], extra: bool = False
) -> dict[str, Any]:
    """Every method on one collection, CV repeated over ``seeds``."""
    data, info = candidates(name, depth, grades)
    runs = []
    curves: dict[str, Any] = {}
    for seed in seeds:
        t0 = time.perf_counter()
        cv = cross_validate(data, depth, folds, seed, extra)
        runs.append(measures(cv, data))
        _log(f"  {name} seed {seed}: {time.perf_counter() - t0:.1f} s")
        if seed == seeds[0]:
            y = np.concatenate(data.labels)
            for m in CURVES:
                _, p, r = R.pr_curve(np.concatenate(cv["curve"][m]), y)
                step = max(1, len(p) // 400)
                curves[m] = {"precision": p[::step].tolist(), "recall": r[::step].tolist()}
            ranks = np.concatenate([-np.arange(len(s), dtype=float) for s in data.scores])
            _, p, r = R.pr_curve(ranks, y)
            curves["top-k sweep"] = {"precision": p.tolist(), "recall": r.tolist()}
    summary: dict[str, Any] = {}
    for method in runs[0]:
        keys = [k for k, v in runs[0][method].items() if isinstance(v, int | float)]
        summary[method] = {
            k: {
                "mean": float(np.mean([r[method][k] for r in runs])),
                "std": float(np.std([r[method][k] for r in runs])),
            }
            for k in keys
        }
    f1 = {m: [r[m]["f1"] for r in runs] for m in ("calibrated", "raw threshold")}
    gaps = [100 * (c - b) for c, b in zip(f1["calibrated"], f1["raw threshold"], strict=True)]
    return {
        "collection": name,
        "info": info,
        "depth": depth,
        "folds": folds,
        "seeds": seeds,
        "summary": summary,
        "per_seed": runs,
        "f1_gap_points_vs_raw": {"per_seed": gaps, "mean": float(np.mean(gaps))},
        "curves_seed0": curves,
    }


ORDER = [
    "top-5",
    "top-10",
    "top-20",
    "raw threshold",
    "normalised",
    "calibrated (no features)",
    "calibrated (score stats only)",
    "calibrated",
    *EXTRA_VARIANTS,
    "oracle per-query cutoff",
    "top-k sweep",
]


def _fmt(s: dict[str, Any], key: str) -> str:
    if key not in s:
        return ""
    v = s[key]
    return f"{v['mean']:.3f} ± {v['std']:.3f}" if v["std"] > 0.0005 else f"{v['mean']:.3f}"


def markdown(result: dict[str, Any]) -> str:
    """The result as Markdown tables."""
    lines = [
        "# Relevance filtering: calibrated relevance vs raw thresholds",
        "",
        f"Command: `{result['command']}`",
        "",
        f"Candidates: each query's top {result['depth']} documents by exact cosine (MiniLM "
        f"all-MiniLM-L6-v2, 384-d). {result['folds']}-fold cross-validation over queries, "
        f"repeated for seeds {result['seeds']} (mean ± std over the repeats). Thresholds and "
        "models come from the training folds only; the held-out folds are pooled. Recall is "
        "against the relevant candidates (recall_all: against every judged relevant document).",
        "",
    ]
    for r in result["collections"]:
        info = r["info"]
        gap = r["f1_gap_points_vs_raw"]
        lines += [
            f"## {r['collection']}",
            "",
            f"{info['documents']:,} documents, {info['queries']} queries "
            f"({info['queries_with_relevant']} with a relevant document), "
            f"{info['relevant_per_query']:.1f} relevant per query, "
            f"{info['relevant_in_candidates_per_query']:.1f} of them among the candidates "
            f"(candidate recall {info['candidate_recall']:.3f}); relevant grades "
            f"{info['relevant_grades']}.",
            "",
            f"**F1 gain of the calibrated filter over the best raw global threshold: "
            f"{gap['mean']:+.1f} points** (per seed: "
            + ", ".join(f"{g:+.1f}" for g in gap["per_seed"])
            + ").",
            "",
            "| method | precision | recall | F1 | macro F1 | recall_all | returned/query "
            "| empty | PR-AUC | P@R0.9 | P@R0.95 |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for m in ORDER:
            s = r["summary"].get(m)
            if s is None:
                continue
            cells = [
                _fmt(s, k)
                for k in (
                    "precision",
                    "recall",
                    "f1",
                    "macro_f1",
                    "recall_all",
                    "mean_returned",
                    "empty_fraction",
                    "pr_auc",
                    "precision_at_recall_0.9",
                    "precision_at_recall_0.95",
                )
            ]
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines.append("")
    mi = result["machine"]
    lines += [
        "## Machine",
        "",
        f"{mi['cpu_model']}, {mi['logical_cpus']} logical CPUs, load average "
        f"{mi['load_average_1_5_15min']}, commit {mi['git_commit']}, {mi['timestamp']}. "
        f"Run time {result['seconds']:.0f} s.",
        "",
    ]
    return "\n".join(lines)


def plot(result: dict[str, Any], path: str) -> None:
    """PR curves of the threshold methods (seed 0, pooled held-out queries), one panel per
    collection, with the top-k operating points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = result["collections"]
    fig, axes = plt.subplots(1, len(cols), figsize=(6 * len(cols), 4.8), squeeze=False)
    for ax, r in zip(axes[0], cols, strict=True):
        for m, style in (
            ("raw threshold", "-"),
            ("normalised", "--"),
            ("calibrated", "-"),
            ("top-k sweep", ":"),
        ):
            c = r["curves_seed0"][m]
            lw = 2.2 if m == "calibrated" else 1.3
            ax.plot(c["recall"], c["precision"], style, lw=lw, label=m)
        for m, marker in (
            ("raw threshold", "o"),
            ("normalised", "s"),
            ("calibrated", "*"),
            ("top-5", "v"),
            ("top-10", "^"),
            ("top-20", "D"),
        ):
            s = r["summary"][m]
            ax.plot(
                s["recall"]["mean"],
                s["precision"]["mean"],
                marker,
                ms=9 if marker == "*" else 6,
                color="k",
                label=f"{m} (CV F1 {s['f1']['mean']:.3f})",
            )
        ax.set_xlabel("recall (of relevant candidates)")
        ax.set_ylabel("precision")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(f"{r['collection']}: held-out PR curves, top {r['depth']} candidates")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    """Options of ``python -m bench relevance``."""
    p = argparse.ArgumentParser(
        prog="python -m bench relevance", description=__doc__.split("\n")[0]
    )
    p.add_argument("--collections", default="vaswani,cranfield")
    p.add_argument("--depth", type=int, default=R.DEFAULT_DEPTH, help="candidates per query")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seeds", default="0,1,2", help="CV repeats (fold shuffles)")
    p.add_argument(
        "--cranfield-grades", default="1,2,3", help="Cranfield grades that count as relevant"
    )
    p.add_argument("--results-dir", default=str(RESULTS_DIR), help="root of the records")
    p.add_argument("--tag", default="", help="variant suffix of the output file names")
    p.add_argument(
        "--extra",
        action="store_true",
        help="also run the variants that were tried (4/16/32 PCs, held-out threshold choice)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation and write JSON, Markdown and PNG."""
    args = build_parser().parse_args(argv)
    try:
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(1, user_api="blas")  # small products: threads only contend
    except ImportError:  # pragma: no cover
        limit = None
    t0 = time.perf_counter()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    grades = {int(g) for g in args.cranfield_grades.split(",") if g.strip()}
    results = []
    names = [c.strip() for c in args.collections.split(",") if c.strip()]
    for name in names:
        _log(f"{name}: depth {args.depth}, {args.folds} folds, seeds {seeds}")
        results.append(evaluate(name, args.depth, args.folds, seeds, grades, args.extra))
        g = results[-1]["f1_gap_points_vs_raw"]["mean"]
        s = results[-1]["summary"]
        _log(
            f"  F1 calibrated {s['calibrated']['f1']['mean']:.3f} vs raw threshold "
            f"{s['raw threshold']['f1']['mean']:.3f}: {g:+.1f} points"
        )
    if limit is not None:
        limit.restore_original_limits()
    result = {
        "schema": "vecsearch-relevance-eval/1",
        "command": "python -m bench relevance " + " ".join(argv or []),
        "depth": args.depth,
        "folds": args.folds,
        "seeds": seeds,
        "collections": results,
        "machine": machine_info(),
        "seconds": time.perf_counter() - t0,
    }
    # one record per set of collections, k = the candidates per query (each query's top depth)
    paths = result_paths(
        "relevance", "-".join(names), args.depth, variant=args.tag, root=args.results_dir
    )
    paths["json"].write_text(json.dumps(result, indent=1), encoding="utf-8")
    paths["md"].write_text(markdown(result), encoding="utf-8")
    plot(result, str(paths["png"]))
    _log("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(os.sys.argv[1:]))
