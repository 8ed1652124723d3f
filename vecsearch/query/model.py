"""Parsed queries: what :mod:`vecsearch.query.parse` makes of a request and
:mod:`vecsearch.query.execute` runs. Frozen, checked values, nothing left to validate.

A :class:`Query` is a tree of :class:`Stage` objects. A stage without prefetches is a
nearest search in one vector space; a stage with prefetches either fuses their results
(:class:`Fusion`) or re-scores their union exactly with its own query vector
(:class:`Nearest`), possibly in another space (re-ranking candidates found with one vector
by another, e.g. multi-vector MaxSim over single-vector hits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vecsearch.filters import Filter
from vecsearch.models import PayloadSelector, VectorSelector

#: Qdrant's default ``k`` of reciprocal rank fusion.
DEFAULT_RRF_K = 2


@dataclass(frozen=True)
class Nearest:
    """Nearest to ``vector`` (checked for the stage's space: a float array, or for a sparse
    space a pair ``(indices, values)``); ``exclude`` is the label of the point a by-id query
    came from, left out of the results as Qdrant does."""

    vector: Any
    exclude: int | None = None


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


@dataclass(frozen=True)
class Stage:
    """One level of a query (see module docstring)."""

    #: Where the stage is in the request, for error messages (``prefetch[1]``).
    field: str
    #: The vector space searched or re-scored in (``""``: the unnamed vector).
    using: str
    target: Nearest | Fusion
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
