"""The only cluster-specific step of a read: merging the shards' ranked lists.

Pure (no Ray). Every shard runs the engine's own query module on its part of the data and
returns its best hits, best first; :func:`merge_hits` merges them by score (descending for
similarities, ascending for distances: the engine's ``Euclid`` scores are distances, lower is
better; see :func:`vecsearch.config.Distance.higher_is_better`) with ties broken by the point's
storage key (ids are unique across shards, so the order is total and deterministic), then
applies ``offset`` / ``limit``. ``order_by`` reads (query and scroll) merge by order value
instead, ties by id ascending in both directions, as the engine orders them
(:func:`order_sorted`); they ask every shard for the full ``offset + limit``.

How many hits each shard must return (the per-shard ``k``):

* exact rule (:func:`full_k`): ``offset + limit`` from every shard. The merge then equals the
  single-collection result whenever each shard's list is its true top-k (exact search, or an
  index whose top-k' is the prefix of its top-k).
* optimistic rule (:func:`optimistic_k`, :func:`optimistic_merge`), as Lucene's per-segment
  top-k: ``k' = ceil(K / n * factor) + extra`` with ``K = offset + limit`` and ``n`` shards
  (``extra`` defaults to three standard deviations of the binomial count of the global top-K
  that fall on one shard under hash routing, ``3 * sqrt(K * (1/n) * (1 - 1/n))``). After the
  first merge, a shard is queried again at the full ``K`` when it returned ``k'`` hits and its
  ``k'``-th score is not strictly worse than the merged ``K``-th score (or the merge has fewer
  than ``K`` hits): only then can its unreturned hits still enter the top ``K``. The merged
  ``K``-th score of a subset of candidates is never better than the true one, so a shard that
  is not re-queried holds nothing more that belongs in the answer: the result is the full-k
  merge (tests/cluster/test_merge.py checks this, ties included).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from vecsearch.ids import id_key
from vecsearch.models import Record, ScoredPoint

T = TypeVar("T", ScoredPoint, Record)


def _sort_key(descending: bool) -> Callable[[ScoredPoint], tuple[float, bytes]]:
    if descending:
        return lambda h: (-h.score, id_key(h.id))
    return lambda h: (h.score, id_key(h.id))


def order_sorted(items: Iterable[T], descending: bool) -> list[T]:
    """Hits or records (each with ``order_value``) in ``order_by`` order: by value in that
    direction, ties by point id ascending whatever the direction (as the engine's
    :func:`vecsearch.query.order.ordered`: sorted by id key, then stably by value)."""
    out = sorted(items, key=lambda h: id_key(h.id))
    out.sort(key=lambda h: h.order_value, reverse=descending)
    return out


def rank_sorted(
    hits: Iterable[ScoredPoint], descending: bool, by_order: bool = False
) -> list[ScoredPoint]:
    """Hits best first: by score (ties by id key) or, ``by_order``, by order value."""
    if by_order:
        return order_sorted(hits, descending)
    return sorted(hits, key=_sort_key(descending))


def merge_hits(
    lists: Sequence[Sequence[ScoredPoint]],
    offset: int,
    limit: int,
    *,
    descending: bool,
    by_order: bool = False,
) -> list[ScoredPoint]:
    """The hits of every shard's list merged best first (by score, or ``by_order`` by
    ``order_value``), then ``[offset : offset + limit]``."""
    merged = rank_sorted((h for hits in lists for h in hits), descending, by_order)
    return merged[offset : offset + limit]


def merge_ordered_scroll(
    pages: Sequence[Sequence[Record]], limit: int, *, descending: bool
) -> list[Record]:
    """A scroll with ``order_by``: every shard's first ``limit`` records in that order
    merged, then the first ``limit`` (the engine gives no next offset: page on with
    ``start_from``)."""
    return order_sorted((r for recs in pages for r in recs), descending)[:limit]


def full_k(offset: int, limit: int) -> int:
    """The per-shard k of the exact rule."""
    return offset + limit


def optimistic_k(
    offset: int, limit: int, n_shards: int, factor: float = 1.0, extra: int | None = None
) -> int:
    """Lucene-style optimistic per-shard k (see module docstring), at most ``offset + limit``."""
    k = offset + limit
    if n_shards <= 1 or k == 0:
        return k
    p = 1.0 / n_shards
    if extra is None:
        extra = math.ceil(3.0 * math.sqrt(k * p * (1.0 - p)))
    return min(k, math.ceil(k * p * factor) + extra)


def _worse(a: float, b: float, descending: bool) -> bool:
    """Whether score ``a`` is strictly worse than score ``b``."""
    return a < b if descending else a > b


def needs_requery(
    hits: Sequence[ScoredPoint],
    asked: int,
    merged: Sequence[ScoredPoint],
    k: int,
    *,
    descending: bool,
) -> bool:
    """Whether a shard that returned ``hits`` for ``asked`` may hold more of the top ``k``
    (``merged``: the first merge, best first, at least its first ``k`` hits)."""
    if asked >= k or len(hits) < asked:
        return False  # the shard gave everything it has within the top k
    if len(merged) < k:
        return True
    return not _worse(hits[-1].score, merged[k - 1].score, descending)


def shards_to_requery(
    lists: Sequence[Sequence[ScoredPoint]], asked: int, k: int, *, descending: bool
) -> list[int]:
    """Positions of the shard lists (each the answer to ``asked`` hits) that must be asked
    again for the full ``k`` (see :func:`needs_requery`)."""
    if asked >= k:
        return []
    merged = merge_hits(lists, 0, k, descending=descending)
    return [
        i
        for i, hits in enumerate(lists)
        if needs_requery(hits, asked, merged, k, descending=descending)
    ]


@dataclass
class MergeStats:
    """What :func:`optimistic_merge` did: the first per-shard k and the shards re-queried."""

    first_k: int
    requeried: list[int] = field(default_factory=list)


def optimistic_merge(
    run: Callable[[Sequence[int], int], Sequence[Sequence[ScoredPoint]]],
    shards: Sequence[int],
    offset: int,
    limit: int,
    *,
    descending: bool,
    factor: float = 1.0,
    extra: int | None = None,
) -> tuple[list[ScoredPoint], MergeStats]:
    """Top ``[offset : offset + limit]`` over ``shards`` with the optimistic per-shard k.

    ``run(shards, k)`` returns each named shard's best ``k`` hits (best first), one list per
    shard in order; it is called once for all shards at ``k'`` and at most once more for the
    shards to re-query at the full ``offset + limit``.
    """
    k = offset + limit
    first = optimistic_k(offset, limit, len(shards), factor, extra)
    lists = [list(h) for h in run(shards, first)]
    stats = MergeStats(first)
    again = shards_to_requery(lists, first, k, descending=descending)
    if again:
        stats.requeried = [shards[i] for i in again]
        for i, hits in zip(again, run(stats.requeried, k), strict=True):
            lists[i] = list(hits)
    return merge_hits(lists, offset, limit, descending=descending), stats


def merge_scroll(
    pages: Sequence[tuple[Sequence[Record], object | None]], limit: int
) -> tuple[list[Record], object | None]:
    """Merge the shards' scroll pages (each: up to ``limit`` records in id order from the
    same start, and that shard's next id or None) into the global page and next offset.

    The global page is the ``limit`` smallest ids; the next offset is the smallest id not on
    it: among the records returned beyond the page and the shards' own next ids.
    """
    records = sorted((r for recs, _ in pages for r in recs), key=lambda r: id_key(r.id))
    candidates = [id_key(nxt) for _, nxt in pages if nxt is not None]
    if len(records) > limit:
        candidates.append(id_key(records[limit].id))
    page = records[:limit]
    if not candidates:
        return page, None
    best = min(candidates)
    nxt = next(
        (x for _, x in pages if x is not None and id_key(x) == best),
        None,
    )
    if nxt is None:
        nxt = records[limit].id
    return page, nxt


def merge_facets(lists: Sequence[Sequence[tuple[Any, int]]], limit: int) -> list[tuple[Any, int]]:
    """Facet counts ``(value, count)`` of every shard (each shard's complete list of values)
    summed per value, ordered as the engine orders them (count descending, then value
    ascending), then the first ``limit``. Exact only when every list is complete: a value
    left off one shard's list would be undercounted."""
    total: dict[Any, int] = {}
    for hits in lists:
        for value, n in hits:
            k = (type(value) is bool, value)  # True and 1 are different values
            total[k] = total.get(k, 0) + n
    out = sorted(((k[1], n) for k, n in total.items()), key=lambda vc: (-vc[1], vc[0]))
    return out[:limit]
