"""``vecsearch build INPUT --collection NAME --data-dir DIR [--distance] [--index] [-p K=V]
[--text-field FIELD [--text-space NAME]]``, and the distributed build ``vecsearch build
INPUT... --cluster ADDRESS --shards N [--replication-factor R]``
(:mod:`vecsearch.cluster.build`)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from vecsearch.build import build_collection
from vecsearch.readers import FORMATS
from vecsearch.registry import index_types


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """``["M=32", "ef_construction=100"]`` -> ``{"M": 32, "ef_construction": 100}``."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: parameter {item!r} is not KEY=VALUE")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


def run(args: argparse.Namespace) -> int:
    """Build the collection and print a one-line summary."""
    if args.cluster is not None:
        return _run_cluster(args)
    if len(args.input) > 1:
        raise SystemExit("error: several input files need --cluster (a distributed build)")
    for flag in ("shards", "replication_factor", "write_consistency_factor", "split_rows"):
        if getattr(args, flag) is not None:
            raise SystemExit(f"error: --{flag.replace('_', '-')} needs --cluster")
    report = build_collection(
        args.input[0],
        args.data_dir,
        args.collection,
        distance=args.distance,
        index=args.index,
        index_params=parse_params(args.param),
        chunk_size=args.chunk_size,
        vector_column=args.vector_column,
        id_column=args.id_column,
        dataset=args.dataset,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        limit=args.limit,
        text_field=args.text_field,
        text_space=args.text_space,
    )
    print(
        f"built collection {report.collection!r}: {report.points:,} points, dim {report.dim}, "
        f"{report.distance}, index {report.index_type}, {report.seconds:.1f} s "
        f"({report.rate:,.0f} points/s)"
        + (
            f"; BM25 sparse vector {args.text_space!r}: {report.text_docs:,} documents"
            if args.text_field
            else ""
        ),
        file=sys.stdout,
    )
    return 0


def _run_cluster(args: argparse.Namespace) -> int:
    """The distributed build (imports Ray: only in cluster mode)."""
    if args.text_field:
        raise SystemExit("error: --text-field is not supported with --cluster yet")
    from vecsearch.cluster.build import build_cluster_collection

    report = build_cluster_collection(
        args.input,
        args.data_dir,
        args.collection,
        address=args.cluster,
        shards=args.shards if args.shards is not None else 1,
        replication_factor=args.replication_factor or 1,
        write_consistency_factor=args.write_consistency_factor or 1,
        distance=args.distance,
        index=args.index,
        index_params=parse_params(args.param),
        chunk_size=args.chunk_size,
        split_rows=args.split_rows or 100_000,
        vector_column=args.vector_column,
        id_column=args.id_column,
        dataset=args.dataset,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        limit=args.limit,
    )
    trained = f"; shared model trained in {report.train_seconds:.1f} s" if report.model else ""
    print(
        f"built cluster collection {report.collection!r}: {report.points:,} points, "
        f"dim {report.dim}, {report.distance}, index {report.index_type}, "
        f"{report.shards} shards x {report.replication_factor} replicas "
        f"(points per shard {', '.join(f'{n:,}' for n in report.shard_points)}), "
        f"{report.seconds:.1f} s ({report.rate:,.0f} points/s{trained})",
        file=sys.stdout,
    )
    return 0


def register(sub: Any) -> None:
    """Add the ``build`` parser."""
    p = sub.add_parser(
        "build",
        help="bulk-load a vector file into a new collection",
        description=f"Bulk-load INPUT ({', '.join(FORMATS)}) into a new collection.",
    )
    p.add_argument(
        "input", nargs="+", help="input file (several: splits of one collection, with --cluster)"
    )
    p.add_argument("--collection", required=True, help="name of the collection to create")
    p.add_argument("--data-dir", required=True, help="database directory")
    p.add_argument("--distance", default="Cosine", help="Cosine, Dot or Euclid (default Cosine)")
    p.add_argument(
        "--index",
        default=None,
        help=f"{', '.join(index_types())} (default: hnsw if available, else flat)",
    )
    p.add_argument(
        "-p",
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="index build parameter, e.g. -p M=32 -p ef_construction=100",
    )
    p.add_argument("--chunk-size", type=int, default=10_000, help="rows per chunk (default 10000)")
    p.add_argument("--vector-column", help="parquet: the vector column")
    p.add_argument("--id-column", help="parquet: the id column (default 'id' if present)")
    p.add_argument("--dataset", default="train", help="hdf5: dataset to load (default train)")
    p.add_argument(
        "--text-field",
        help="jsonl / parquet: also index this text field into a BM25 sparse vector",
    )
    p.add_argument(
        "--text-space", default="bm25", help="name of the BM25 sparse vector (default bm25)"
    )
    p.add_argument("--limit", type=int, help="load at most this many rows")
    p.add_argument("--overwrite", action="store_true", help="replace an existing collection")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    c = p.add_argument_group(
        "distributed build",
        "Build a sharded collection on a Ray cluster (the directory `vecsearch serve --cluster`"
        " serves); an input IP:PATH is read on the Ray node with that address.",
    )
    c.add_argument("--cluster", metavar="ADDRESS", help="Ray cluster address, or 'auto'")
    c.add_argument("--shards", type=int, help="number of shards (default 1)")
    c.add_argument("--replication-factor", type=int, help="replicas per shard (default 1)")
    c.add_argument("--write-consistency-factor", type=int, help="replicas that acknowledge a write")
    c.add_argument("--split-rows", type=int, help="rows per routing task (default 100000)")
    p.set_defaults(func=run)
