"""``vecsearch relevance fit|show|delete``: calibrated relevance of a collection.

``fit --data-dir D --collection C --qrels FILE --queries FILE.npy [--query-ids FILE]``
reads relevance judgements and query vectors, fits the model (see
:mod:`vecsearch.relevance`), stores it with the collection and prints its held-out report as
JSON.

* qrels: TREC (``qid iter docid grade``) or three columns (``qid docid grade``), blank lines
  skipped; doc ids are point ids (integers or UUIDs).
* ``--relevant-grades 1,2,3``: the grades that count as relevant (Cranfield's scale is
  1 = best .. 4, -1 = of no interest); by default any grade > 0 is relevant.
* query vectors: any vector file ``vecsearch build`` reads; row ``i`` is the query whose id is
  line ``i`` of ``--query-ids`` (default: rows are queries 1, 2, 3, ... as in TREC files).
  Queries without a relevant judgement are left out (and counted on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from vecsearch.database import Database
from vecsearch.errors import InputFileError
from vecsearch.readers import open_reader


def read_qrels(path: str | Path) -> dict[str, dict[str, float]]:
    """``{qid: {docid: grade}}`` from a TREC or three-column qrels file (ids as strings)."""
    out: dict[str, dict[str, float]] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputFileError(str(path), f"cannot read: {exc}") from None
    for row, line in enumerate(lines):
        parts = line.split()
        if not parts:
            continue
        if len(parts) == 4:
            qid, _, doc, grade = parts
        elif len(parts) == 3:
            qid, doc, grade = parts
        else:
            raise InputFileError(
                str(path), "expected 'qid iter docid grade' or 'qid docid grade'", row
            )
        try:
            out.setdefault(qid, {})[doc] = float(grade)
        except ValueError:
            raise InputFileError(str(path), f"grade {grade!r} is not a number", row) from None
    if not out:
        raise InputFileError(str(path), "no judgements")
    return out


def read_vectors(path: str | Path) -> np.ndarray:
    """Every row of a vector file as a float32 matrix."""
    reader = open_reader(str(path))
    try:
        rows = [np.asarray(c.vectors, dtype=np.float32) for c in reader.chunks(100_000)]
    finally:
        reader.close()
    if not rows:
        raise InputFileError(str(path), "no vectors")
    return np.concatenate(rows)


def _point_id(text: str) -> Any:
    return int(text) if text.isdigit() else text


def labelled_queries(
    qrels: dict[str, dict[str, float]],
    vectors: np.ndarray,
    query_ids: list[str],
    grades: set[float] | None,
) -> tuple[np.ndarray, list[list[Any]], list[str]]:
    """Query vectors and relevant point ids of the judged queries; and the skipped qids."""
    row_of = {q: i for i, q in enumerate(query_ids)}
    rows, relevant, skipped = [], [], []
    for qid in sorted(qrels, key=lambda q: (len(q), q)):
        if qid not in row_of:
            raise InputFileError("qrels", f"query {qid!r} has judgements but no vector row")
        ids = [
            _point_id(d)
            for d, g in qrels[qid].items()
            if (g in grades if grades is not None else g > 0)
        ]
        if not ids:
            skipped.append(qid)
            continue
        rows.append(row_of[qid])
        relevant.append(ids)
    return vectors[rows], relevant, skipped


def run_fit(args: argparse.Namespace) -> int:
    """Fit and store the model; print its report."""
    qrels = read_qrels(args.qrels)
    vectors = read_vectors(args.queries)
    if args.query_ids:
        ids = Path(args.query_ids).read_text(encoding="utf-8").split()
        if len(ids) != len(vectors):
            raise InputFileError(
                args.query_ids, f"{len(ids)} query ids for {len(vectors)} query vectors"
            )
    else:
        ids = [str(i + 1) for i in range(len(vectors))]
    grades = (
        {float(g) for g in args.relevant_grades.split(",") if g.strip()}
        if args.relevant_grades
        else None
    )
    queries, relevant, skipped = labelled_queries(qrels, vectors, ids, grades)
    if skipped:
        print(
            f"note: {len(skipped)} judged queries have no relevant document and are left out",
            file=sys.stderr,
        )
    with Database(args.data_dir) as db:
        info = db.get_collection(args.collection).fit_relevance(
            queries,
            relevant,
            depth=args.depth,
            n_components=args.components,
            ridge=args.ridge,
            folds=args.folds,
            seed=args.seed,
        )
    print(json.dumps(info, indent=2))
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Print the stored model's description and report."""
    with Database(args.data_dir) as db:
        print(json.dumps(db.get_collection(args.collection).relevance_info(), indent=2))
    return 0


def run_delete(args: argparse.Namespace) -> int:
    """Remove the stored model."""
    with Database(args.data_dir) as db:
        db.get_collection(args.collection).delete_relevance()
    print(f"relevance model of {args.collection!r} deleted")
    return 0


def register(sub: Any) -> None:
    """Add the ``relevance`` parser and its sub-commands."""
    p = sub.add_parser("relevance", help="calibrated relevance: fit, show or delete the model")
    rsub = p.add_subparsers(dest="relevance_command", required=True)
    for name, func, text in (
        ("fit", run_fit, "fit from qrels and query vectors, store with the collection"),
        ("show", run_show, "print the stored model's held-out report"),
        ("delete", run_delete, "remove the stored model"),
    ):
        c = rsub.add_parser(name, help=text)
        c.add_argument("--data-dir", required=True, help="database directory")
        c.add_argument("--collection", required=True)
        c.set_defaults(func=func)
        if name != "fit":
            continue
        c.add_argument("--qrels", required=True, help="judgements (TREC or qid docid grade)")
        c.add_argument("--queries", required=True, help="query vectors (.npy, .fvecs, ...)")
        c.add_argument("--query-ids", help="query id of each row, one per line (default 1..n)")
        c.add_argument("--relevant-grades", help="grades that count as relevant, e.g. 1,2,3")
        c.add_argument("--depth", type=int, default=100, help="candidates per query (100)")
        c.add_argument("--folds", type=int, default=5, help="cross-validation folds (5)")
        c.add_argument("--seed", type=int, default=0)
        c.add_argument("--components", type=int, default=8, help="query embedding PCs (8)")
        c.add_argument("--ridge", type=float, help="ridge strength (default: inner CV)")
