"""Parsing Qdrant's query kinds other than plain nearest and fusion: ``recommend``,
``discover``, ``context``, ``order_by``, ``sample`` and ``nearest`` with ``mmr``, and the
examples they take (vectors, or point ids resolved here, from this collection or from
``lookup_from``).

* ``{"recommend": {"positive": [...], "negative": [...], "strategy"}}``: strategy
  ``average_vector`` (default; needs a positive example) is a nearest query to
  ``avg(pos) + (avg(pos) - avg(neg))`` (multi-vectors: the positives' vectors and the
  negated negatives' vectors together; sparse: the same on the union of terms);
  ``best_score`` and ``sum_scores`` (need any example) score every allowed point exactly
  (see :class:`vecsearch.query.model.Examples`).
* ``{"discover": {"target": ex, "context": pair | [pairs]}}``, ``{"context": pair |
  [pairs]}`` with pairs ``{"positive": ex, "negative": ex}``.
* ``{"order_by": key | {"key", "direction": "asc" | "desc", "start_from"}}``,
  ``{"sample": "random"}``, ``{"nearest": ex, "mmr": {"diversity", "candidates_limit"}}``.

Examples given by id are left out of the results when they are points of this collection
(not when they come from ``lookup_from``), as Qdrant does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vecsearch.errors import ValidationError
from vecsearch.ids import parse_point_id
from vecsearch.payload_path import parse_path
from vecsearch.query.model import Examples, Mmr, Nearest, OrderBy, Sample
from vecsearch.query.order import parse_start
from vecsearch.space import VectorSpace
from vecsearch.sparse_space import SparseSpace
from vecsearch.text.bm25 import is_inference_object, parse_document, query_vector
from vecsearch.validate import check_int, unwrap_vector

AnySpace = VectorSpace | SparseSpace
#: Most MMR candidates (each chosen point is compared with all of them).
MAX_MMR_CANDIDATES = 16_384
STRATEGIES = ("average_vector", "best_score", "sum_scores")


@dataclass(frozen=True)
class IdVectors:
    """Where by-id examples are read: this collection (``src``, space ``using``), or
    ``lookup_from`` another collection's vector ``vector``."""

    src: Any
    using: str
    other: Any = None
    vector: str | None = None

    def read(self, pid: Any, field: str) -> tuple[int | None, np.ndarray]:
        """``(label to exclude or None, stored vector)`` of point ``pid``."""
        if self.other is None:
            return self.src.point_vector(pid, self.using, field)
        name = self.vector if self.vector is not None else self.using
        return None, self.other.point_vector(pid, name, field)[1]


def parse_lookup_from(
    value: Any, field: str, resolve: Callable[[str], Any] | None
) -> tuple[Any, str | None] | None:
    """``(collection, vector name)`` of a ``lookup_from`` object, or None."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or not isinstance(value.get("collection"), str):
        raise ValidationError(field, "expected {collection, vector}")
    extra = sorted(set(value) - {"collection", "vector"})
    if extra:
        raise ValidationError(f"{field}.{extra[0]}", "unknown field")
    vector = value.get("vector")
    if vector is not None and not isinstance(vector, str):
        raise ValidationError(f"{field}.vector", f"expected a vector name, got {vector!r}")
    if resolve is None:
        raise ValidationError(field, "is not available here (no database to look up in)")
    return resolve(value["collection"]), vector


def example(
    space: AnySpace, ids: IdVectors, value: Any, field: str, *, raw: bool = False
) -> tuple[Any, int | None]:
    """A checked example vector of ``space`` and the label it excludes (by-id examples of
    this collection). ``raw``: a given dense vector as given (checked, not normalised), as
    Qdrant averages recommendation examples before normalising the average."""
    if isinstance(value, int | str) and not isinstance(value, bool):
        label, vec = ids.read(parse_point_id(value, field), field)
        return space.check_query(vec, field), label
    if raw and isinstance(space, VectorSpace) and not space.multi:
        space.check_query(value, field)
        return np.asarray(unwrap_vector(value, field), dtype=np.float32), None
    if isinstance(space, SparseSpace):
        if is_inference_object(value):
            return query_vector(parse_document(value, field).tokens()), None
        if not isinstance(value, Mapping):
            raise ValidationError(
                field, f"{space.name!r} is a sparse vector: expected {{indices, values}} or an id"
            )
        return space.check_query(value, field), None
    if value is None or isinstance(value, bool | float | Mapping):
        raise ValidationError(field, "expected a vector or a point id")
    return space.check_query(value, field), None


def _examples(
    space: AnySpace, ids: IdVectors, values: Any, field: str, raw: bool = False
) -> tuple[list[Any], list[int]]:
    if values is None:
        return [], []
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Sequence):
        raise ValidationError(field, "expected a list of vectors or point ids")
    vecs, labels = [], []
    for i, v in enumerate(values):
        vec, label = example(space, ids, v, f"{field}[{i}]", raw=raw)
        vecs.append(vec)
        if label is not None:
            labels.append(label)
    return vecs, labels


def _only(body: Any, known: set[str], field: str, what: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ValidationError(field, f"expected an object ({what})")
    extra = sorted(set(body) - known)
    if extra:
        raise ValidationError(f"{field}.{extra[0]}", f"unknown {what} field")
    return body


def parse_recommend(space: AnySpace, ids: IdVectors, body: Any, field: str) -> Nearest | Examples:
    """``{"positive", "negative", "strategy"}`` as a nearest query (``average_vector``) or
    an exact example-scored query."""
    body = _only(body, {"positive", "negative", "strategy"}, field, "recommend")
    strategy = body.get("strategy") or "average_vector"
    if strategy not in STRATEGIES:
        raise ValidationError(
            f"{field}.strategy", f"unknown strategy {strategy!r}; expected one of {STRATEGIES}"
        )
    avg = strategy == "average_vector"
    pos, pl = _examples(space, ids, body.get("positive"), f"{field}.positive", avg)
    neg, nl = _examples(space, ids, body.get("negative"), f"{field}.negative", avg)
    exclude = tuple(dict.fromkeys(pl + nl))
    if avg:
        if not pos:
            raise ValidationError(
                f"{field}.positive", "the average_vector strategy needs at least one positive"
            )
        return Nearest(space.check_query(_average(space, pos, neg), field), exclude)
    if not pos and not neg:
        raise ValidationError(field, f"the {strategy} strategy needs at least one example")
    return Examples(strategy, tuple(pos), tuple(neg), exclude=exclude)


def _average(space: AnySpace, pos: list[Any], neg: list[Any]) -> Any:
    """Qdrant's combined vector: ``avg(pos) + (avg(pos) - avg(neg))``."""
    if isinstance(space, SparseSpace):
        p = _sparse_mean(pos)
        if not neg:
            return {"indices": p[0].tolist(), "values": p[1].tolist()}
        n = _sparse_mean(neg)
        idx = np.concatenate([p[0], p[0], n[0]])
        val = np.concatenate([p[1], p[1], -n[1]])
        terms, inv = np.unique(idx, return_inverse=True)
        out = np.bincount(inv, weights=val, minlength=terms.size)
        return {"indices": terms.tolist(), "values": out.tolist()}
    if space.multi:  # the positives' vectors, and the negatives' negated
        return np.concatenate([*pos, *(-v for v in neg)]).tolist()
    avg = np.mean(np.stack(pos).astype(np.float64), axis=0)
    if neg:
        avg = avg + avg - np.mean(np.stack(neg).astype(np.float64), axis=0)
    return avg.astype(np.float32)


def _sparse_mean(vecs: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    idx = np.concatenate([v[0] for v in vecs]).astype(np.int64)
    val = np.concatenate([v[1] for v in vecs]).astype(np.float64)
    terms, inv = np.unique(idx, return_inverse=True)
    return terms, np.bincount(inv, weights=val, minlength=terms.size) / len(vecs)


def _pairs(space: AnySpace, ids: IdVectors, value: Any, field: str) -> tuple[list, list[int]]:
    if value is None:
        return [], []
    items = [value] if isinstance(value, Mapping) else value
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise ValidationError(field, "expected a context pair {positive, negative} or a list")
    pairs, labels = [], []
    for i, pair in enumerate(items):
        f = f"{field}[{i}]" if not isinstance(value, Mapping) else field
        pair = _only(pair, {"positive", "negative"}, f, "context pair")
        got = []
        for side in ("positive", "negative"):
            if pair.get(side) is None:
                raise ValidationError(f"{f}.{side}", "missing")
            vec, label = example(space, ids, pair[side], f"{f}.{side}")
            got.append(vec)
            if label is not None:
                labels.append(label)
        pairs.append((got[0], got[1]))
    return pairs, labels


def parse_discover(space: AnySpace, ids: IdVectors, body: Any, field: str) -> Examples:
    """``{"target", "context"}`` as an exact discovery query."""
    body = _only(body, {"target", "context"}, field, "discover")
    if body.get("target") is None:
        raise ValidationError(f"{field}.target", "missing")
    target, tl = example(space, ids, body["target"], f"{field}.target")
    pairs, labels = _pairs(space, ids, body.get("context"), f"{field}.context")
    exclude = tuple(dict.fromkeys(([tl] if tl is not None else []) + labels))
    return Examples("discover", target=target, pairs=tuple(pairs), exclude=exclude)


def parse_context(space: AnySpace, ids: IdVectors, value: Any, field: str) -> Examples:
    """A context pair or a list of them as an exact context query."""
    pairs, labels = _pairs(space, ids, value, field)
    if not pairs:
        raise ValidationError(field, "needs at least one pair {positive, negative}")
    return Examples("context", pairs=tuple(pairs), exclude=tuple(dict.fromkeys(labels)))


def parse_order_by(value: Any, field: str) -> OrderBy:
    """``key`` or ``{"key", "direction", "start_from"}``."""
    if isinstance(value, str):
        value = {"key": value}
    body = _only(value, {"key", "direction", "start_from"}, field, "order_by")
    key = body.get("key")
    if not isinstance(key, str) or not key:
        raise ValidationError(f"{field}.key", "expected a payload key")
    parse_path(key, f"{field}.key")
    direction = body.get("direction") or "asc"
    if direction not in ("asc", "desc"):
        raise ValidationError(f"{field}.direction", f"expected asc or desc, got {direction!r}")
    start = parse_start(body.get("start_from"), f"{field}.start_from")
    return OrderBy(key, direction == "desc", start)


def parse_sample(value: Any, field: str) -> Sample:
    """``"random"``, the one sampling Qdrant has."""
    if value != "random":
        raise ValidationError(field, f"unknown sample {value!r}; expected 'random'")
    return Sample()


def parse_mmr(value: Any, field: str) -> Mmr:
    """``{"diversity": 0..1 (default 0.5), "candidates_limit": 1..16384}``."""
    body = _only(value, {"diversity", "candidates_limit"}, field, "mmr")
    d = body.get("diversity")
    if d is None:
        d = 0.5
    if isinstance(d, bool) or not isinstance(d, int | float) or not 0.0 <= d <= 1.0:
        raise ValidationError(f"{field}.diversity", f"expected a number in [0, 1], got {d!r}")
    c = body.get("candidates_limit")
    if c is not None:
        c = check_int(c, f"{field}.candidates_limit", minimum=1)
        if c > MAX_MMR_CANDIDATES:
            raise ValidationError(
                f"{field}.candidates_limit", f"at most {MAX_MMR_CANDIDATES}, got {c}"
            )
    return Mmr(float(d), c)
