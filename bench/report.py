"""Reports of a run: JSON (every point + machine), Markdown tables and a recall-vs-QPS plot.

The summary takes each system's Pareto frontier (recall vs QPS, across all its build and
query settings) and reads off the best QPS that reaches recall 0.90 / 0.95 / 0.99, with the
ratio to a reference system's QPS at the same recall.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from bench.metrics import pareto_frontier, qps_at_recall

TARGETS = (0.90, 0.95, 0.99)
MODE_TITLES = {
    "latency": "latency mode (one query per call, 1 thread)",
    "batch": "batch mode (all queries in one call, {threads} threads)",
}


def systems(result: dict[str, Any]) -> list[str]:
    """System names in the order they were run."""
    seen: list[str] = []
    for p in result["points"]:
        if p["system"] not in seen:
            seen.append(p["system"])
    return seen


def modes(result: dict[str, Any]) -> list[str]:
    """Modes present in the result's points."""
    return [m for m in ("latency", "batch") if any(m in p for p in result["points"])]


def _curve(result: dict[str, Any], system: str, mode: str) -> tuple[np.ndarray, np.ndarray]:
    pts = [p[mode] for p in result["points"] if p["system"] == system and mode in p]
    return np.array([p["recall"] for p in pts]), np.array([p["qps"] for p in pts])


def summarize(
    result: dict[str, Any], reference: str | None = None, targets: tuple[float, ...] = TARGETS
) -> dict[str, Any]:
    """Per mode and system: QPS at each target recall and its ratio to ``reference``."""
    names = systems(result)
    if reference is None or reference not in names:
        reference = "hnswlib" if "hnswlib" in names else (names[0] if names else None)
    out: dict[str, Any] = {"reference": reference, "targets": list(targets), "modes": {}}
    for mode in modes(result):
        table: dict[str, Any] = {}
        ref_recall, ref_qps = _curve(result, reference, mode) if reference else ([], [])
        for name in names:
            recall, qps = _curve(result, name, mode)
            row: dict[str, Any] = {"max_recall": float(recall.max()) if recall.size else None}
            for t in targets:
                q = qps_at_recall(recall, qps, t)
                rq = qps_at_recall(np.asarray(ref_recall), np.asarray(ref_qps), t)
                row[f"{t:.2f}"] = {
                    "qps": q,
                    "ratio": (q / rq) if (q is not None and rq) else None,
                }
            table[name] = row
        out["modes"][mode] = table
    return out


def _fmt_qps(v: float | None) -> str:
    return "—" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:.1f}")


def _fmt_ratio(v: float | None) -> str:
    return "" if v is None else f" ({v:.2f}x)"


def _mib(b: int | None) -> str:
    return "—" if b is None else f"{b / 2**20:,.1f}"


def _load(result: dict[str, Any], when: str) -> str:
    la = (result.get("load_average") or {}).get(when)
    if la is None and when == "end":
        la = result.get("machine", {}).get("load_average_1_5_15min")
    return "n/a" if not la else "/".join(f"{x:.1f}" for x in la)


def markdown(result: dict[str, Any]) -> str:
    """Markdown report: run description, machine, summary per mode, every point."""
    d, s, m = result["dataset"], result["settings"], result["machine"]
    summ = result["summary"]
    v = m["versions"]
    lines = [
        f"# {d['name']}: recall@{s['k']} vs QPS",
        "",
        f"- data: {d['n_train']:,} x {d['dim']} ({d['metric']}), {d['n_queries']:,} of "
        f"{d['n_test']:,} queries (seed {d['query_seed']}), best of {s['runs']} runs",
        f"- machine: {m['cpu_model']}, {m['usable_cpus']} usable CPUs "
        f"({m['logical_cpus']} logical), python {v['python']}, numpy {v['numpy']}, "
        f"numba {v['numba']}, faiss {v['faiss-cpu']}, hnswlib {v['hnswlib']}, "
        f"usearch {v['usearch']}; commit {m['git_commit']}; {m['timestamp']}",
        f"- insertion order for graph indexes: {s['insertion_order']}",
        f"- machine load (1/5/15-min load average) at start {_load(result, 'start')}, at end "
        f"{_load(result, 'end')}: other processes share these CPUs; compare systems within "
        "this run, not across runs",
        f"- command: `{result.get('command', '')}`",
        "",
    ]
    targets = [f"{t:.2f}" for t in summ["targets"]]
    for mode, table in summ["modes"].items():
        title = MODE_TITLES[mode].format(threads=s["threads"])
        lines += [
            f"## {title[0].upper() + title[1:]}: QPS at recall, ratio to {summ['reference']}",
            "",
            "| system | max recall | " + " | ".join(f"QPS @ {t}" for t in targets) + " |",
            "|---|---:|" + "---:|" * len(targets),
        ]
        for name, row in table.items():
            cells = [_fmt_qps(row[t]["qps"]) + _fmt_ratio(row[t]["ratio"]) for t in targets]
            mr = "—" if row["max_recall"] is None else f"{row['max_recall']:.4f}"
            lines.append(f"| {name} | {mr} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "## All points",
        "",
        "| system | build | query | recall | QPS 1 thr | p50 ms | p95 ms | p99 ms "
        "| batch QPS | batch recall | build s | index MiB | build peak RSS MiB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in result["points"]:
        b = ",".join(f"{k}={v}" for k, v in p["build_params"].items()) or "—"
        q = ",".join(f"{k}={v}" for k, v in p["query_params"].items()) or "—"
        lt, bt = p.get("latency"), p.get("batch")
        lat_cells = (
            [
                f"{lt['recall']:.4f}",
                _fmt_qps(lt["qps"]),
                f"{lt['p50_ms']:.3f}",
                f"{lt['p95_ms']:.3f}",
                f"{lt['p99_ms']:.3f}",
            ]
            if lt
            else ["—"] * 5
        )
        bat_cells = [_fmt_qps(bt["qps"]), f"{bt['recall']:.4f}"] if bt else ["—", "—"]
        lines.append(
            f"| {p['system']} | {b} | {q} | "
            + " | ".join(lat_cells + bat_cells)
            + f" | {p['build_time_s']:.1f} | {_mib(p['index_bytes'])} "
            f"| {_mib(p['build_peak_rss_bytes'])} |"
        )
    if result.get("skipped"):
        lines += [
            "",
            "Skipped: " + "; ".join(f"{x['system']} ({x['reason']})" for x in result["skipped"]),
        ]
    lines += [
        "",
        "Recall is computed by the harness from the vectors (a result counts if its distance "
        f"is within a relative {s['epsilon']:g} of the k-th true distance). Index MiB is what "
        "each system reports (see index_bytes_method in the JSON); build peak RSS is the "
        "sampled process RSS during the build, which includes the dataset and earlier "
        "indexes' leftovers.",
        "",
    ]
    return "\n".join(lines)


def plot(result: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Recall-vs-QPS PNG: one panel per mode, log QPS, Pareto frontier line per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ms = modes(result)
    names = systems(result)
    fig, axes = plt.subplots(1, len(ms), figsize=(7.5 * len(ms), 6.0), squeeze=False)
    cmap = plt.get_cmap("tab10")
    markers = "osD^vP*Xh<>"
    s = result["settings"]
    for ax, mode in zip(axes[0], ms, strict=True):
        lo = 1.0
        for i, name in enumerate(names):
            recall, qps = _curve(result, name, mode)
            if recall.size == 0:
                continue
            lo = min(lo, float(recall.min()))
            color, marker = cmap(i % 10), markers[i % len(markers)]
            ax.scatter(recall, qps, color=color, marker=marker, alpha=0.3, s=18)
            front = pareto_frontier(recall, qps)
            ax.plot(
                recall[front],
                qps[front],
                color=color,
                marker=marker,
                ms=5,
                lw=1.8,
                label=name,
            )
        ax.set_yscale("log")
        ax.set_xlim(max(0.0, lo - 0.02), 1.01)
        ax.set_xlabel(f"recall@{s['k']}")
        ax.set_ylabel("queries per second (log)")
        ax.set_title(MODE_TITLES[mode].format(threads=s["threads"]), fontsize=11)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower left", fontsize=9, framealpha=0.9)
    d = result["dataset"]
    fig.suptitle(
        f"{d['name']} ({d['n_train']:,} x {d['dim']}, {d['metric']}), {d['n_queries']:,} queries"
        f" — {result['machine']['cpu_model']}, {s['threads']} threads; up and right is better",
        fontsize=12,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_reports(result: dict[str, Any], paths: dict[str, Path]) -> dict[str, Path]:
    """Write the record (``paths["json"]``), its report (``"md"``) and plot (``"png"``).

    The paths come from :func:`bench.result_paths.result_paths` (a new run) or sit beside an
    existing record (re-rendering it)."""
    with open(paths["json"], "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=1, default=_json_default)
        fh.write("\n")
    paths["md"].write_text(markdown(result), encoding="utf-8")
    plot(result, paths["png"])
    return paths


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def paired_bars(
    path: str | os.PathLike[str],
    labels: list[str],
    series: dict[str, list[float]],
    ylabel: str,
    title: str,
    rotate: bool = False,
) -> None:
    """A bar chart with one group per label and one bar per series (two series side by
    side): the plot of the small before/after and peer comparison records."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.arange(len(labels))
    width = 0.8 / max(1, len(series))
    fig, ax = plt.subplots(figsize=(8, 4))
    for j, (name, values) in enumerate(series.items()):
        ax.bar(x + (j - (len(series) - 1) / 2) * width, values, width, label=name)
    if rotate:
        ax.set_xticks(x, labels, rotation=20, ha="right")
    else:
        ax.set_xticks(x, labels)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
