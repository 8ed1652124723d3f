"""``vecsearch info --data-dir DIR [--collection NAME]``: collections and their state, as JSON."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from vecsearch.database import Database
from vecsearch.jsonout import dumps


def _facts(desc: dict[str, Any]) -> dict[str, Any]:
    return {**desc, "config": desc["config"].to_dict()}


def run(args: argparse.Namespace) -> int:
    """Print the state of one collection, or a summary of all."""
    with Database(args.data_dir) as db:
        if args.collection:
            out: Any = _facts(db.get_collection(args.collection).describe())
        else:
            out = {}
            for name in db.list_collections():
                desc = db.get_collection(name).describe()
                out[name] = {
                    "points_count": desc["points_count"],
                    "vectors": {
                        s.name: {**s.vector_params(), "index": s.index.type}
                        for s in desc["config"].spaces
                    },
                }
    sys.stdout.write(dumps(out, indent=True).decode() + "\n")
    return 0


def register(sub: Any) -> None:
    """Add the ``info`` parser."""
    p = sub.add_parser("info", help="show collections of a data directory")
    p.add_argument("--data-dir", required=True, help="database directory")
    p.add_argument("--collection", help="show this collection in detail")
    p.set_defaults(func=run)
