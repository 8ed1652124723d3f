"""Insertion order vs recall for graph indexes, after "The Impacts of Data, Ordering, and
Intrinsic Dimensionality on Recall in Hierarchical Navigable Small Worlds".

The same graph index is built several times over the same points, changing only the order of
insertion: seeded random permutations, ascending local intrinsic dimensionality (LID) and
descending LID. Recall@k is then measured over an ``ef`` sweep on the same queries, overall
and by quartile of the queries' own LID. Builds default to one thread so the order given is
the order used (multi-threaded inserts interleave).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench import lid as lidmod
from bench.adapters import adapter_class
from bench.metrics import recall_per_query
from bench.runner import select_queries
from bench.threads import available_threads, limit_threads
from vecsearch.datasets import Dataset, cache_dir, ground_truth


def subsample(dataset: Dataset, max_train: int | None, seed: int = 0) -> Dataset:
    """The dataset with a seeded random subset of ``max_train`` train rows (data order kept)."""
    n = dataset.train.shape[0]
    if max_train is None or max_train >= n:
        return dataset
    rows = np.sort(np.random.default_rng(seed).choice(n, size=max_train, replace=False))
    return Dataset(
        name=f"{dataset.name}-sub{max_train}-s{seed}",
        metric=dataset.metric,
        train=dataset.train[rows],
        test=dataset.test,
        train_keys=rows,
        meta={**dataset.meta, "subsample_of": dataset.name, "subsample_seed": seed},
    )


def run_lid_order(
    dataset: Dataset,
    *,
    algorithm: str = "hnswlib",
    build: dict[str, Any] | None = None,
    efs: tuple[int, ...] = (10, 20, 40, 80, 160),
    random_seeds: tuple[int, ...] = (0, 1, 2),
    k: int = 10,
    lid_k: int = 20,
    queries: int | None = 1000,
    query_seed: int = 0,
    build_threads: int = 1,
    query_threads: int | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Build ``algorithm`` once per insertion order and sweep ``ef``; JSON-ready result."""
    query_threads = query_threads or available_threads()
    cls = adapter_class(algorithm)
    if not cls.is_graph:
        raise ValueError(f"{algorithm} is not a graph index; insertion order does not apply")
    rows = select_queries(dataset.test.shape[0], queries, query_seed)
    q = np.ascontiguousarray(dataset.test[rows])
    log(f"{dataset.name}: exact ground truth (k={max(k, lid_k)}) ...")
    gt_ids, gt_d = ground_truth(dataset, max(k, lid_k))
    gt_ids, gt_d = gt_ids[rows], gt_d[rows]
    log(f"{dataset.name}: per-point LID of {dataset.train.shape[0]:,} points (k={lid_k}) ...")
    t0 = time.perf_counter()
    lids = lidmod.point_lids(
        dataset.train,
        dataset.metric,
        lid_k,
        cache_key=f"{dataset.name}-{dataset.fingerprint()[:24]}",
        cache_dir=cache_dir(),
        progress=lambda done, total: log(f"  LID k-NN {done:,}/{total:,}"),
    )
    lid_s = time.perf_counter() - t0
    qlids = lidmod.query_lids(gt_d, dataset.metric, lid_k)
    quart_edges = np.nanpercentile(qlids, [25, 50, 75])
    quart = np.searchsorted(quart_edges, qlids, side="right")  # 0..3
    log(f"  dataset LID: {lidmod.dataset_lid(lids)}; queries: {lidmod.dataset_lid(qlids)}")

    orders = [(f"random-s{s}", lidmod.lid_order(lids, "random", seed=s)) for s in random_seeds]
    orders += [(o, lidmod.lid_order(lids, o)) for o in ("lid-asc", "lid-desc")]
    builds = []
    for label, order in orders:
        adapter = cls(dataset.metric, dataset.dim, **(build or {}))
        with limit_threads(build_threads):
            adapter.set_threads(build_threads)
            t0 = time.perf_counter()
            adapter.fit(dataset.train, order)
            build_s = time.perf_counter() - t0
        first = order[: max(1, order.size // 10)]
        sweep = []
        with limit_threads(query_threads):
            adapter.set_threads(query_threads)
            for ef in efs:
                adapter.set_query_params(ef=int(ef))
                t0 = time.perf_counter()
                ids = adapter.batch_query(q, k)
                secs = time.perf_counter() - t0
                rec = recall_per_query(dataset.train, q, ids, gt_ids, k, dataset.metric)
                sweep.append(
                    {
                        "ef": int(ef),
                        "recall": float(rec.mean()),
                        "recall_by_query_lid_quartile": [
                            float(rec[quart == i].mean()) for i in range(4)
                        ],
                        "batch_qps": float(q.shape[0] / secs),
                    }
                )
        log(
            f"  {label:<10} built in {build_s:6.1f} s; recall@{k} by ef: "
            + "  ".join(f"{s['ef']}:{s['recall']:.4f}" for s in sweep)
        )
        builds.append(
            {
                "order": label,
                "build_time_s": build_s,
                "mean_lid_first_10pct": float(np.nanmean(lids[first])),
                "sweep": sweep,
            }
        )
        del adapter
    return {
        "schema": "vecsearch-lid-order/1",
        "dataset": {
            "name": dataset.name,
            "metric": dataset.metric,
            "dim": dataset.dim,
            "n_train": int(dataset.train.shape[0]),
            "n_queries": int(rows.size),
            "query_seed": query_seed,
            "fingerprint": dataset.fingerprint(),
        },
        "algorithm": algorithm,
        "build_params": {**cls.build_defaults, **(build or {})},
        "k": k,
        "lid_k": lid_k,
        "build_threads": build_threads,
        "query_threads": query_threads,
        "lid_seconds": lid_s,
        "dataset_lid": lidmod.dataset_lid(lids),
        "query_lid": lidmod.dataset_lid(qlids),
        "query_lid_quartile_edges": [float(x) for x in quart_edges],
        "builds": builds,
        "effect": order_effect(builds),
    }


def order_effect(builds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per ef: recall of each order, random mean/spread, and desc - asc / desc - random."""
    out = []
    for i, s in enumerate(builds[0]["sweep"]):
        rec = {b["order"]: b["sweep"][i]["recall"] for b in builds}
        rnd = [v for o, v in rec.items() if o.startswith("random")]
        row: dict[str, Any] = {"ef": s["ef"], "recall": rec}
        if rnd:
            row["random_mean"] = float(np.mean(rnd))
            row["random_spread"] = float(max(rnd) - min(rnd))
        if "lid-asc" in rec and "lid-desc" in rec:
            row["desc_minus_asc"] = rec["lid-desc"] - rec["lid-asc"]
            if rnd:
                row["desc_minus_random"] = rec["lid-desc"] - row["random_mean"]
                row["asc_minus_random"] = rec["lid-asc"] - row["random_mean"]
        out.append(row)
    return out


def markdown(result: dict[str, Any]) -> str:
    """Markdown report of one LID/insertion-order experiment."""
    d, m = result["dataset"], result["machine"]
    dl, ql = result["dataset_lid"], result["query_lid"]
    bp = ",".join(f"{k}={v}" for k, v in result["build_params"].items())
    k = result["k"]
    lines = [
        f"# Insertion order vs recall: {result['algorithm']} on {d['name']}",
        "",
        f"- data: {d['n_train']:,} x {d['dim']} ({d['metric']}), {d['n_queries']:,} queries "
        f"(seed {d['query_seed']}); {result['algorithm']} {bp}; "
        f"{result['build_threads']} build thread(s)",
        f"- LID (Levina–Bickel MLE, k={result['lid_k']}): data mean {dl['mean']:.2f}, median "
        f"{dl['median']:.2f}, pooled {dl['pooled']:.2f}; queries mean {ql['mean']:.2f}, median "
        f"{ql['median']:.2f}",
        f"- machine: {m['cpu_model']}, commit {m['git_commit']}, {m['timestamp']}",
        f"- command: `{result.get('command', '')}`",
        "",
        f"## recall@{k} by insertion order",
        "",
    ]
    orders = [b["order"] for b in result["builds"]]
    lines += [
        "| ef | " + " | ".join(orders) + " | random min–max | desc − asc | desc − random mean |",
        "|---:|" + "---:|" * (len(orders) + 3),
    ]
    for row in result["effect"]:
        cells = [f"{row['recall'][o]:.4f}" for o in orders]
        rnd = [v for o, v in row["recall"].items() if o.startswith("random")]
        span = f"{min(rnd):.4f}–{max(rnd):.4f}" if rnd else ""
        da = row.get("desc_minus_asc")
        dr = row.get("desc_minus_random")
        lines.append(
            f"| {row['ef']} | "
            + " | ".join(cells)
            + f" | {span}"
            + f" | {'' if da is None else f'{100 * da:+.2f} pts'}"
            + f" | {'' if dr is None else f'{100 * dr:+.2f} pts'} |"
        )
    rows = [r for r in result["effect"] if "desc_minus_asc" in r and "random_spread" in r]
    if rows:
        top = max(rows, key=lambda r: abs(r["desc_minus_asc"]))
        lines += [
            "",
            f"Largest LID-order effect: desc − asc = {100 * top['desc_minus_asc']:+.2f} points "
            f"of recall at ef={top['ef']}, where the {len(result['builds']) - 2} random orders "
            f"span {100 * top['random_spread']:.2f} points.",
        ]
    lines += [
        "",
        "## Build time and the LID of the first 10% inserted",
        "",
        "| order | build s | mean LID of first 10% |",
        "|---|---:|---:|",
    ]
    for b in result["builds"]:
        lines.append(
            f"| {b['order']} | {b['build_time_s']:.1f} | {b['mean_lid_first_10pct']:.2f} |"
        )
    edges = ", ".join(f"{e:.2f}" for e in result["query_lid_quartile_edges"])
    lines += [
        "",
        f"## recall@{k} by query-LID quartile (edges {edges}), lowest ef",
        "",
        "| order | Q1 (low LID) | Q2 | Q3 | Q4 (high LID) |",
        "|---|---:|---:|---:|---:|",
    ]
    for b in result["builds"]:
        r = b["sweep"][0]["recall_by_query_lid_quartile"]
        lines.append(f"| {b['order']} | " + " | ".join(f"{x:.4f}" for x in r) + " |")
    lines.append("")
    return "\n".join(lines)


def plot(result: dict[str, Any], path: str) -> None:
    """Recall vs ef per order (log ef) and recall by query-LID quartile at the lowest ef."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 5.5))
    styles = {"lid-asc": ("tab:blue", "-", "o"), "lid-desc": ("tab:red", "-", "s")}
    for b in result["builds"]:
        ef = [s["ef"] for s in b["sweep"]]
        rec = [s["recall"] for s in b["sweep"]]
        color, ls, mk = styles.get(b["order"], ("0.45", "--", "."))
        a1.plot(ef, rec, color=color, ls=ls, marker=mk, label=b["order"])
        a2.plot(
            range(1, 5),
            b["sweep"][0]["recall_by_query_lid_quartile"],
            color=color,
            ls=ls,
            marker=mk,
            label=b["order"],
        )
    a1.set_xscale("log")
    a1.set_xlabel("ef (search)")
    a1.set_ylabel(f"recall@{result['k']}")
    a1.set_title("recall vs ef by insertion order")
    a2.set_xticks(range(1, 5), ["Q1\nlow LID", "Q2", "Q3", "Q4\nhigh LID"])
    a2.set_ylabel(f"recall@{result['k']} at ef={result['builds'][0]['sweep'][0]['ef']}")
    a2.set_title("by quartile of the query's LID")
    for a in (a1, a2):
        a.grid(True, alpha=0.3)
        a.legend(fontsize=9)
    d = result["dataset"]
    fig.suptitle(
        f"{result['algorithm']} on {d['name']} ({d['n_train']:,} x {d['dim']}), "
        f"{d['n_queries']:,} queries: insertion order vs recall",
        fontsize=12,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
