"""Parsed queries: what :mod:`vecsearch.query.parse` makes of a request and
:mod:`vecsearch.query.execute` runs. Frozen, checked values, nothing left to validate.

A :class:`Query` is a tree of :class:`Stage` objects. A stage's target is one of Qdrant's
query kinds: :class:`Nearest` (a vector, possibly with MMR diversification), :class:`Examples`
(recommend by best or summed scores, discover, context: scored by an exact scan),
:class:`OrderBy` (payload order), :class:`Sample` (random points), :class:`Scan` (no query:
points in id order) or, over prefetches, :class:`Fusion`. A stage without prefetches runs
over the whole collection (filtered); a stage with prefetches runs its target over the union
of their results only (re-scoring, possibly in another space: e.g. multi-vector MaxSim over
single-vector hits), except a fusion, which combines their ranked lists.

Example vectors and point-id queries are resolved while parsing (ids become vectors, read
from this collection or from ``lookup_from``); ``exclude`` holds the labels of the points
of this collection that a query named by id, which Qdrant leaves out of the results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vecsearch.filters import Filter
from vecsearch.models import PayloadSelector, VectorSelector

#: Qdrant's default ``k`` of reciprocal rank fusion.
DEFAULT_RRF_K = 2


@dataclass(frozen=True)
class Mmr:
    """Maximal marginal relevance: re-rank the ``candidates`` nearest points (default: the
    limit, at most :data:`vecsearch.query.kinds.MAX_MMR_CANDIDATES`) greedily by
    ``(1 - diversity) * sim(query, p) - diversity * max sim(p, chosen)``."""

    diversity: float = 0.5
    candidates: int | None = None


@dataclass(frozen=True)
class Nearest:
    """Nearest to ``vector`` (checked for the stage's space: a float array, or for a sparse
    space a pair ``(indices, values)``); ``exclude``: labels left out of the results (the
    points a by-id query or a recommendation named). An ``average_vector`` recommendation
    is a nearest query to its combined vector."""

    vector: Any
    exclude: tuple[int, ...] = ()
    mmr: Mmr | None = None


@dataclass(frozen=True)
class Examples:
    """A query scored against example vectors by an exact scan of the allowed points
    (Qdrant's formulas, on raw similarities ``s``: cosine, dot, ``-squared distance`` for
    Euclid, MaxSim for multi-vectors, dot for sparse; ``sigma(x) = 0.5 (x / (1 + |x|) + 1)``):

    * ``best_score``: ``sigma(max s(pos))`` if the best positive beats the best negative,
      else ``-sigma(max s(neg))``;
    * ``sum_scores``: ``sum s(pos) - sum s(neg)``;
    * ``discover``: ``rank + sigma(s(target))`` with ``rank`` the number of pairs whose
      positive is closer minus those whose negative is;
    * ``context``: ``sum over pairs of min(s(pos) - s(neg) - eps, 0) / (1 + |...|)``.
    """

    kind: str
    positive: tuple[Any, ...] = ()
    negative: tuple[Any, ...] = ()
    target: Any = None
    pairs: tuple[tuple[Any, Any], ...] = ()
    exclude: tuple[int, ...] = ()


@dataclass(frozen=True)
class OrderBy:
    """Points ordered by the payload values at ``key`` (numbers, or RFC 3339 date-times as
    microseconds), one hit per distinct value of a point, from ``start_from`` on."""

    key: str
    descending: bool = False
    start_from: float | int | None = None


@dataclass(frozen=True)
class Sample:
    """Random points (Qdrant's ``{"sample": "random"}``)."""


@dataclass(frozen=True)
class Scan:
    """No query: the points passing the filter in id order (Qdrant gives them score 1)."""


@dataclass(frozen=True)
class Fusion:
    """A fusion of the prefetches' ranked lists.

    ``rrf`` (reciprocal rank fusion): a point at 0-based position ``p`` of prefetch ``i``
    adds ``1 / ((p + 1) / w_i + k - 1)``, i.e. ``1 / (p + k)`` at weight 1.

    ``dbsf`` (distribution-based score fusion): each list's scores are mapped linearly so
    that ``mean - 3 std`` becomes 0 and ``mean + 3 std`` becomes 1 (sample std; a list of
    one point, or of equal scores, gets 0.5), and a point's fused score is the sum over the
    lists it is in (Qdrant's definition)."""

    k: int = DEFAULT_RRF_K
    weights: tuple[float, ...] | None = None
    method: str = "rrf"


Target = Nearest | Examples | OrderBy | Sample | Scan | Fusion


@dataclass(frozen=True)
class Stage:
    """One level of a query (see module docstring)."""

    #: Where the stage is in the request, for error messages (``prefetch[1]``).
    field: str
    #: The vector space searched or re-scored in (``""``: the unnamed vector).
    using: str
    target: Target
    filter: Filter | None
    #: The space's index search parameters (an ``indexes`` params object) and ``exact``.
    params: Any
    exact: bool
    threshold: float | None
    limit: int
    prefetch: tuple[Stage, ...] = ()


@dataclass(frozen=True)
class Query:
    """A whole request: the top stage and what to return."""

    stage: Stage
    offset: int
    with_payload: PayloadSelector
    with_vector: VectorSelector
    #: vecsearch: keep hits whose calibrated relevance is at least this (plain nearest only).
    relevance_threshold: float | None = None
    #: Group the hits by a payload value (the groups routes); ``stage.limit`` is then the
    #: number of groups.
    groups: Groups | None = None


@dataclass(frozen=True)
class Lookup:
    """``with_lookup``: for each group, the point of ``collection`` whose id is the group's
    value, with this payload and vector selection."""

    collection: str
    with_payload: PayloadSelector
    with_vector: VectorSelector


@dataclass(frozen=True)
class Groups:
    """Qdrant's grouping: hits in rank order join the groups of their distinct values at
    ``key`` (strings and integers; a point with a value of another type joins none), at most
    ``size`` hits per group; groups are ranked by their best hit."""

    key: str
    size: int
    lookup: Lookup | None = None
