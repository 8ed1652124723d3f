"""Command line: ``python -m bench <command>`` (also reachable as ``vecsearch bench``).

Commands: ``run`` (recall/QPS benchmark), ``lid`` (intrinsic dimensionality of a dataset),
``lid-order`` (insertion order vs recall for a graph index), ``list`` (datasets and systems),
``report`` (re-render Markdown/PNG from a result JSON), ``http`` (HTTP service load),
``relevance`` (relevance filtering on Vaswani / Cranfield, bench/relevance_eval.py),
``spann`` (the SPANN disk-index benchmark, :mod:`bench.spann_bench`) and ``first-start``
(seconds to ready on a fresh clone, :mod:`bench.first_start`).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench.adapters import ADAPTERS, AdapterUnavailable, adapter_class
from bench.config import algorithm_specs, load_config
from bench.machine import machine_info
from bench.result_paths import RESULTS_DIR, result_paths
from bench.threads import available_threads
from vecsearch.datasets import (
    DatasetMissingError,
    UnknownDatasetError,
    cache_dir,
    dataset_names,
    load_dataset,
)

DEFAULT_ALGORITHMS = "flat,faiss-flat,hnswlib,faiss-hnsw"


def _log(msg: str) -> None:
    print(msg, flush=True)


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(t) for t in _csv(text))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="benchmark systems on one dataset")
    r.add_argument("--dataset", required=True, help="dataset name (see `list`)")
    r.add_argument("--algorithms", default=DEFAULT_ALGORITHMS, help="comma-separated systems")
    r.add_argument("--config", help="TOML config (default: bench/configs/default.toml)")
    r.add_argument("--k", type=int, help="neighbours per query (default 10)")
    r.add_argument("--queries", type=int, help="seeded random query subset size (0 = all)")
    r.add_argument("--runs", type=int, help="repetitions per point; the best is kept")
    r.add_argument("--threads", type=int, help="threads for builds and batch mode")
    r.add_argument("--modes", default="latency,batch", help="latency,batch or one of them")
    r.add_argument(
        "--insertion-order", default="data", choices=["data", "random", "lid-asc", "lid-desc"]
    )
    r.add_argument(
        "--interleave",
        action="store_true",
        help="build everything first, then alternate systems pass by pass (fairer on a "
        "shared machine; keeps all indexes in memory)",
    )
    r.add_argument("--reference", help="system the summary's ratios refer to (default hnswlib)")
    r.add_argument("--recall-epsilon", type=float, help="relative tie tolerance (default 1e-6)")
    r.add_argument(
        "--study", default="run", help="records go to <results-dir>/<study>/ (default: run)"
    )
    r.add_argument("--results-dir", default=str(RESULTS_DIR), help="root of the records")
    r.add_argument("--tag", default="", help="variant suffix of the output file names")

    lid = sub.add_parser("lid", help="local intrinsic dimensionality (MLE) of a dataset")
    lid.add_argument("--dataset", required=True)
    lid.add_argument("--lid-k", type=int, default=20, help="neighbours per estimate")
    lid.add_argument("--sample", type=int, help="estimate for a seeded sample of points only")
    lid.add_argument(
        "--save",
        action="store_true",
        help="write per-point LIDs (.npy) and the summary (.json) to <results-dir>/lid/",
    )
    lid.add_argument("--results-dir", default=str(RESULTS_DIR), help="root of the records")

    lo = sub.add_parser("lid-order", help="insertion order (random / LID asc / desc) vs recall")
    lo.add_argument("--dataset", required=True)
    lo.add_argument("--algorithm", default="hnswlib", help="a graph system (hnswlib, hnsw, ...)")
    lo.add_argument("--M", type=int, default=16)
    lo.add_argument("--ef-construction", type=int, default=200)
    lo.add_argument("--ef", default="10,20,40,80,160", help="comma-separated ef sweep")
    lo.add_argument("--random-seeds", default="0,1,2", help="seeds of the random orders")
    lo.add_argument("--k", type=int, default=10)
    lo.add_argument("--lid-k", type=int, default=20)
    lo.add_argument("--queries", type=int, default=1000)
    lo.add_argument("--max-train", type=int, help="seeded subset of the train rows")
    lo.add_argument("--build-threads", type=int, default=1, help="1 keeps the order exact")
    lo.add_argument("--threads", type=int, help="query threads (default: all)")
    lo.add_argument("--results-dir", default=str(RESULTS_DIR), help="root of the records")
    lo.add_argument("--tag", default="", help="variant suffix of the output file names")

    sub.add_parser("list", help="datasets and systems")

    http = sub.add_parser(
        "http",
        help="HTTP service load: closed-loop clients vs in-process (bench/http_bench.py)",
        add_help=False,
    )
    http.add_argument("http_args", nargs=argparse.REMAINDER)

    spann = sub.add_parser(
        "spann",
        help="SPANN disk index vs in-memory peers: RAM, pages/query, warm/cold latency",
        add_help=False,
    )
    spann.add_argument("spann_args", nargs=argparse.REMAINDER)

    rel = sub.add_parser(
        "relevance",
        help="relevance filtering: calibrated vs raw thresholds (bench/relevance_eval.py)",
        add_help=False,
    )
    rel.add_argument("relevance_args", nargs=argparse.REMAINDER)

    clu = sub.add_parser(
        "cluster",
        help="cluster mode vs one node: recall, latency, projection (bench/cluster_bench.py)",
        add_help=False,
    )
    clu.add_argument("cluster_args", nargs=argparse.REMAINDER)

    first = sub.add_parser(
        "first-start",
        help="seconds to /readyz on a fresh clone, cold vs warm kernel cache (first_start.py)",
        add_help=False,
    )
    first.add_argument("first_start_args", nargs=argparse.REMAINDER)

    rep = sub.add_parser("report", help="re-render Markdown and PNG from a result JSON")
    rep.add_argument("json", help="result file written by `run` or `lid-order`")
    rep.add_argument("--reference", help="system the summary's ratios refer to")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the harness CLI; returns the process exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["http"]:  # its own parser (argparse's REMAINDER drops leading flags)
        from bench.http_bench import main as http_main

        return http_main(args_list[1:])
    if args_list[:1] == ["spann"]:
        from bench.spann_bench import main as spann_main

        return spann_main(args_list[1:])
    if args_list[:1] == ["relevance"]:
        from bench.relevance_eval import main as relevance_main

        return relevance_main(args_list[1:])
    if args_list[:1] == ["cluster"]:
        from bench.cluster_bench import main as cluster_main

        return cluster_main(args_list[1:])
    if args_list[:1] == ["first-start"]:
        from bench.first_start import main as first_start_main

        return first_start_main(args_list[1:])
    args = build_parser().parse_args(args_list)
    command = "python -m bench " + shlex.join(args_list)
    try:
        if args.command == "run":
            return _cmd_run(args, command)
        if args.command == "lid":
            return _cmd_lid(args)
        if args.command == "lid-order":
            return _cmd_lid_order(args, command)
        if args.command == "list":
            return _cmd_list()
        if args.command == "report":
            return _cmd_report(args)
    except (DatasetMissingError, UnknownDatasetError, AdapterUnavailable, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 2  # pragma: no cover - argparse enforces a known command


def _cmd_run(args: argparse.Namespace, command: str) -> int:
    from bench.report import summarize, write_reports
    from bench.runner import RunSettings, run_benchmark

    config = load_config(args.config)
    defaults: dict[str, Any] = config.get("run", {})

    def pick(name: str, fallback: Any) -> Any:
        value = getattr(args, name)
        return value if value is not None else defaults.get(name, fallback)

    queries = pick("queries", 1000)
    settings = RunSettings(
        k=int(pick("k", 10)),
        queries=None if queries in (0, None) else int(queries),
        runs=int(pick("runs", 3)),
        threads=int(pick("threads", available_threads())),
        modes=tuple(_csv(args.modes)),
        insertion_order=args.insertion_order,
        epsilon=float(args.recall_epsilon) if args.recall_epsilon is not None else 1e-6,
        interleave=bool(args.interleave or defaults.get("interleave", False)),
    )
    names = _csv(args.algorithms)
    if len(set(names)) != len(names):
        raise ValueError(f"--algorithms lists a system twice: {names}")
    dataset = load_dataset(args.dataset)
    specs = algorithm_specs(config, names, dataset.name)
    result = run_benchmark(dataset, specs, settings, log=_log)
    result["command"] = command
    result["machine"] = machine_info()
    result["summary"] = summarize(result, args.reference)
    paths = result_paths(
        args.study, dataset.name, settings.k, variant=args.tag, root=args.results_dir
    )
    write_reports(result, paths)
    _log("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _cmd_lid(args: argparse.Namespace) -> int:
    from bench import lid as lidmod

    dataset = load_dataset(args.dataset)
    n = dataset.train.shape[0]
    if args.sample and args.sample < n:
        rows = np.sort(np.random.default_rng(0).choice(n, size=args.sample, replace=False))
        dists = lidmod.knn_self_distances(dataset.train, dataset.metric, args.lid_k, rows=rows)
        lids = lidmod.mle_lid(dists)
    else:
        lids = lidmod.point_lids(
            dataset.train,
            dataset.metric,
            args.lid_k,
            cache_key=f"{dataset.name}-{dataset.fingerprint()[:24]}",
            cache_dir=cache_dir(),
            progress=lambda d, t: _log(f"  k-NN {d:,}/{t:,}"),
        )
    summary = {
        "dataset": dataset.name,
        "lid_k": args.lid_k,
        "points": int(lids.size),
        "estimator": "levina-bickel",
        **lidmod.dataset_lid(lids),
        "percentiles": {
            str(p): float(v)
            for p, v in zip(
                (5, 25, 50, 75, 95), np.nanpercentile(lids, [5, 25, 50, 75, 95]), strict=True
            )
        },
    }
    print(json.dumps(summary, indent=1))
    if args.save:
        paths = result_paths(
            "lid", dataset.name, args.lid_k, root=args.results_dir, exts=("npy", "json")
        )
        np.save(paths["npy"], lids)
        paths["json"].write_text(json.dumps(summary, indent=1) + "\n")
        _log(f"wrote {paths['npy']} and {paths['json']}")
    return 0


def _cmd_lid_order(args: argparse.Namespace, command: str) -> int:
    from bench import lid_order

    dataset = lid_order.subsample(load_dataset(args.dataset), args.max_train)
    result = lid_order.run_lid_order(
        dataset,
        algorithm=args.algorithm,
        build={"M": args.M, "ef_construction": args.ef_construction},
        efs=_ints(args.ef),
        random_seeds=_ints(args.random_seeds),
        k=args.k,
        lid_k=args.lid_k,
        queries=args.queries or None,
        build_threads=args.build_threads,
        query_threads=args.threads,
        log=_log,
    )
    result["command"] = command
    result["machine"] = machine_info()
    variant = args.algorithm + (f"-{args.tag}" if args.tag else "")
    paths = result_paths("lid-order", dataset.name, args.k, variant=variant, root=args.results_dir)
    paths["json"].write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    paths["md"].write_text(lid_order.markdown(result), encoding="utf-8")
    lid_order.plot(result, str(paths["png"]))
    _log("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _cmd_list() -> int:
    print("datasets:")
    for name in dataset_names():
        print(f"  {name}")
    print("  synthetic-<l2|ip|cosine>-<n>x<dim>[-id<d>][-q<nq>][-s<seed>]")
    print("systems:")
    for name in ADAPTERS:
        try:
            cls = adapter_class(name)
            cls("l2", 8)
            status = "ok"
        except AdapterUnavailable as exc:
            status = f"unavailable: {exc}"
        print(f"  {name:<20} {status}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from bench.report import summarize, write_reports

    path = Path(args.json)
    result = json.loads(path.read_text(encoding="utf-8"))
    if result.get("schema", "").startswith("vecsearch-lid-order"):
        from bench import lid_order

        path.with_suffix(".md").write_text(lid_order.markdown(result), encoding="utf-8")
        lid_order.plot(result, str(path.with_suffix(".png")))
        _log(f"re-rendered {path.with_suffix('.md')} and {path.with_suffix('.png')}")
        return 0
    result["summary"] = summarize(result, args.reference or result["summary"]["reference"])
    write_reports(result, {ext: path.with_suffix(f".{ext}") for ext in ("json", "md", "png")})
    _log(f"re-rendered {path.with_suffix('.md')} and {path.with_suffix('.png')}")
    return 0
