"""``vecsearch info --data-dir DIR [--collection NAME]``: collections and their state, as JSON."""

from __future__ import annotations

import argparse
import json
from typing import Any

from vecsearch.database import Database


def run(args: argparse.Namespace) -> int:
    """Print the info of one collection, or a summary of all."""
    with Database(args.data_dir) as db:
        if args.collection:
            out: Any = db.get_collection(args.collection).info()
        else:
            out = {
                name: {
                    "points_count": (c := db.get_collection(name)).count(),
                    "vectors": c.info()["config"]["params"]["vectors"],
                    "index": c.config.index.type,
                }
                for name in db.list_collections()
            }
    print(json.dumps(out, indent=2))
    return 0


def register(sub: Any) -> None:
    """Add the ``info`` parser."""
    p = sub.add_parser("info", help="show collections of a data directory")
    p.add_argument("--data-dir", required=True, help="database directory")
    p.add_argument("--collection", help="show this collection in detail")
    p.set_defaults(func=run)
