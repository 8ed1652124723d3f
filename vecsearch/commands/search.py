"""``vecsearch search --data-dir DIR --collection NAME (--vector V | --query-file F --row R)``.

Prints the hits as JSON (Qdrant's ScoredPoint objects).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from vecsearch.commands.build import parse_params
from vecsearch.database import Database
from vecsearch.errors import ValidationError
from vecsearch.jsonout import dumps


def query_vector(args: argparse.Namespace) -> Any:
    """The query from ``--vector`` (JSON list or comma-separated) or a row of a file."""
    if args.vector is not None:
        text = args.vector.strip()
        try:
            return json.loads(text) if text.startswith("[") else [float(v) for v in text.split(",")]
        except ValueError as exc:
            raise ValidationError("--vector", f"not a list of numbers: {exc}") from None
    if args.query_file is not None:
        from vecsearch.readers import open_reader

        reader = open_reader(args.query_file, dataset=args.dataset)
        try:
            for chunk in reader.chunks(max(1, args.row + 1)):
                if chunk.start <= args.row < chunk.start + len(chunk.vectors):
                    return np.asarray(chunk.vectors[args.row - chunk.start], dtype=np.float64)
        finally:
            reader.close()
        raise ValidationError("--row", f"row {args.row} is past the end of {args.query_file}")
    raise ValidationError("--vector", "give --vector or --query-file")


def run(args: argparse.Namespace) -> int:
    """Run one search and print the hits."""
    params = parse_params(args.param)
    if args.exact:
        params["exact"] = True
    flt = json.loads(args.filter) if args.filter else None
    with Database(args.data_dir) as db:
        coll = db.get_collection(args.collection)
        hits = coll.search(
            query_vector(args),
            limit=args.limit,
            filter=flt,
            params=params or None,
            score_threshold=args.score_threshold,
            with_payload=args.with_payload,
            relevance_threshold=args.relevance_threshold,
            using=args.using,
        )
    sys.stdout.write(dumps([h.to_dict() for h in hits], indent=True).decode() + "\n")
    return 0


def register(sub: Any) -> None:
    """Add the ``search`` parser."""
    p = sub.add_parser("search", help="search a collection")
    p.add_argument("--data-dir", required=True, help="database directory")
    p.add_argument("--collection", required=True)
    p.add_argument("--using", help="vector name (default: the unnamed vector)")
    p.add_argument(
        "--vector",
        help='query: JSON "[0.1, -0.2]" or "0.1,-0.2" (use --vector=-0.1,... for a leading -)',
    )
    p.add_argument("--query-file", help="take the query from this vector file ...")
    p.add_argument("--row", type=int, default=0, help="... at this row (default 0)")
    p.add_argument("--dataset", default="test", help="hdf5 query dataset (default test)")
    p.add_argument("-k", "--limit", type=int, default=10, help="number of hits (default 10)")
    p.add_argument("--filter", help="Qdrant filter as JSON")
    p.add_argument(
        "-p",
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="search parameter, e.g. -p hnsw_ef=128",
    )
    p.add_argument("--exact", action="store_true", help="exact search")
    p.add_argument("--score-threshold", type=float)
    p.add_argument(
        "--relevance-threshold",
        type=float,
        help="keep hits with calibrated relevance >= this (needs `vecsearch relevance fit`)",
    )
    p.add_argument("--with-payload", action="store_true")
    p.set_defaults(func=run)
