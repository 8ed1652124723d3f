"""What a ranked read asks of the merge: its order (by score or by ``order_by`` value),
offset and limit, or a clear refusal for the request forms whose cross-shard answer is not a
plain merge (pure, no Ray).

Merged by score: nearest queries with a dense vector (Cosine and Dot descending, Euclid
ascending), a multi-vector (MaxSim, descending) or a sparse vector (descending), with or
without filter, ``score_threshold``, ``offset`` and ``params``. Merged by order value:
``{"order_by": ...}`` queries (ascending or descending, ties by point id ascending, as the
engine's :mod:`vecsearch.query.order`). Refused for now (:class:`ClusterUnsupportedError`,
a 400 naming the field): ``prefetch`` and fusion, formulas, recommend / discover / context,
``sample``, ``mmr``, a query without a vector, and ``lookup_from``; ``group_by`` here (the
groups routes go through :mod:`vecsearch.cluster.reads`, which plans the ungrouped body). A
nearest query by point id reaches this module already rewritten by the cluster collection
into a query by the point's vector that leaves the point out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vecsearch.config import CollectionConfig, SpaceConfig
from vecsearch.errors import ValidationError
from vecsearch.query.kinds import parse_order_by
from vecsearch.validate import check_int


class ClusterUnsupportedError(ValidationError):
    """A request form that cluster mode does not serve yet (named in the message)."""


def unsupported(field: str, what: str) -> ClusterUnsupportedError:
    return ClusterUnsupportedError(field, f"{what} is not supported across shards yet")


def descending(config: CollectionConfig, using: str | None, field: str) -> bool:
    """Whether the scores of space ``using`` rank best first when higher."""
    space = config.any_space(using, field)
    if isinstance(space, SpaceConfig):  # Euclid distances rank ascending, unless MaxSim
        return space.distance.higher_is_better or space.is_multivector
    return True  # sparse: dot products


@dataclass(frozen=True)
class ReadPlan:
    """How the shards' lists of one ranked read merge: best first by score (``descending``
    for similarities) or, with ``by_order``, by ``order_value`` in that direction (ties by
    point id ascending either way), then ``[offset : offset + limit]``."""

    descending: bool
    offset: int
    limit: int
    by_order: bool = False


def plan_read(config: CollectionConfig, body: Any, kind: str, field: str) -> ReadPlan:
    """The :class:`ReadPlan` of a search (``kind="search"``) or query body."""
    pre = f"{field}." if field else ""
    if not isinstance(body, Mapping):
        raise ValidationError(field, "expected an object")
    for key in ("prefetch", "lookup_from", "group_by"):
        if body.get(key) is not None:
            raise unsupported(pre + key, f"{key!r}")
    by_order = False
    if kind == "search":
        vec = body.get("vector")
        using = vec.get("name") if isinstance(vec, Mapping) else None
    else:
        q = body.get("query")
        if isinstance(q, Mapping) and "order_by" in q:
            if set(q) != {"order_by"}:
                extra = sorted(set(q) - {"order_by"})[0]
                raise unsupported(pre + "query", f"query {extra!r} with order_by")
            by_order = True
            desc = parse_order_by(q["order_by"], pre + "query.order_by").descending
        elif isinstance(q, Mapping):
            if set(q) - {"nearest", "indices", "values"}:
                raise unsupported(pre + "query", f"query {sorted(q)[0]!r}")
            q = q.get("nearest", q)
        if not by_order and (q is None or isinstance(q, int | str)):
            raise unsupported(pre + "query", "a query without a vector (by id or none)")
        using = body.get("using")
    offset = check_int(body.get("offset") or 0, pre + "offset", minimum=0)
    limit = check_int(body.get("limit", 10), pre + "limit", minimum=1)
    if by_order:
        return ReadPlan(desc, offset, limit, by_order=True)
    return ReadPlan(descending(config, using, pre + "using"), offset, limit)
