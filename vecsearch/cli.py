"""The ``vecsearch`` command.

Subcommands so far:

* ``neighbors WORD...``: nearest words over the 400k GloVe 6B 50-d vectors with exact search
  (the end-to-end demo of the index layer on real data);
* ``bench ...``: the recall/latency harness (same as ``python -m bench``);
* ``build INPUT --collection NAME --data-dir DIR``: bulk-load a vector file into a collection;
* ``info --data-dir DIR``: the collections of a data directory;
* ``search --data-dir DIR --collection NAME --vector ...``: one search, hits as JSON;
* ``relevance fit|show|delete --data-dir DIR --collection NAME ...``: calibrated relevance
  (fit from a qrels file and query vectors; see :mod:`vecsearch.commands.relevance`);
* ``serve --data-dir DIR [--port 6333] [--api-key K] [--demo]``: the HTTP service
  (Qdrant-compatible REST API; the service package is imported only by this command).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence

import numpy as np

from indexes import FlatIndex, VecsearchError
from vecsearch import __version__, commands


def _cmd_neighbors(args: argparse.Namespace) -> int:
    """Print the nearest GloVe words of each query word (exact cosine search)."""
    from vecsearch.datasets import DatasetMissingError, load_glove_full

    try:
        vectors, words = load_glove_full()
    except DatasetMissingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    lookup = {w: i for i, w in enumerate(words)}
    missing = [w for w in args.words if w.lower() not in lookup]
    if missing:
        print(f"error: not in the GloVe vocabulary: {', '.join(missing)}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    index = FlatIndex(vectors.shape[1], "cosine")
    index.add(vectors, np.arange(len(words)))
    t1 = time.perf_counter()
    rows = [lookup[w.lower()] for w in args.words]
    ids, dists = index.search(vectors[rows], args.k + 1)
    t2 = time.perf_counter()
    print(
        f"GloVe 6B 50-d: {index.ntotal:,} words, exact cosine search "
        f"(index {1e3 * (t1 - t0):.0f} ms, search {1e3 * (t2 - t1):.1f} ms)"
    )
    for word, row_ids, row_d in zip(args.words, ids, dists, strict=True):
        hits = [(i, d) for i, d in zip(row_ids, row_d, strict=True) if i != lookup[word.lower()]]
        print(f"\n{word}:")
        for rank, (i, d) in enumerate(hits[: args.k], start=1):
            print(f"  {rank:2d}. {words[i]:<20s} cosine {1.0 - d:.4f}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    """Delegate to the harness: ``python -m bench`` with the same arguments and exit code.

    The harness runs in a child process (the same interpreter) rather than being imported:
    the engine sits below the harness and never imports it.
    """
    return subprocess.run([sys.executable, "-m", "bench", *args.bench_args]).returncode


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``vecsearch`` command."""
    parser = argparse.ArgumentParser(
        prog="vecsearch", description="Approximate-nearest-neighbour vector search."
    )
    parser.add_argument("--version", action="version", version=f"vecsearch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("neighbors", help="nearest GloVe words to the given words (exact search)")
    p.add_argument("words", nargs="+", help="query words, e.g. king physics")
    p.add_argument("-k", type=int, default=10, help="neighbours per word (default 10)")
    p.set_defaults(func=_cmd_neighbors)

    for command in (
        commands.build,
        commands.info,
        commands.search,
        commands.relevance,
        commands.serve,
    ):
        command.register(sub)

    p = sub.add_parser("bench", help="the recall/latency harness (python -m bench)", add_help=False)
    p.add_argument("bench_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vecsearch`` console script."""
    args = build_parser().parse_args(argv)
    if getattr(args, "k", 1) <= 0:
        print("error: -k must be a positive integer", file=sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except VecsearchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
