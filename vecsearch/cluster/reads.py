"""The reads of a :class:`~vecsearch.cluster.collection.ClusterCollection` that are more than
one scatter and a merge: ranked reads (with the optimistic per-shard k and its re-query,
:func:`ranked`; queries by point id first read the point's vector, :func:`by_id_query`),
grouped queries (the groups routes) and facet counts. They answer as a single-node
collection holding the same points does (tests/cluster/test_sharded_search.py and
test_groups_order_facets.py build both and compare).

Groups (``query_groups``; Qdrant's ``/points/query/groups`` and ``/points/search/groups``).
The engine groups the ranked hits of the ungrouped query: hits in rank order join the
group of each distinct string or integer value at ``group_by`` (a point with a value of any
other type joins none), groups are ranked by first appearance (their best hit), each keeps
its first ``group_size`` hits (:meth:`vecsearch.query.execute._Batch.answer_groups`). Here:

1. Every shard runs the ungrouped query (with the whole payload, or only the key when the
   request returns no payload, to read the group values) for ``W = max(64, 4 * limit *
   group_size)`` hits, the engine's first depth; a shard that returned ``W`` hits holding
   fewer than ``limit`` groups is asked again for 4x more until it does or runs out. So
   each shard's list holds its top ``limit`` groups.
2. A group in the global top ``limit`` is in the top ``limit`` of the shard holding its
   best hit (every group ranked above it there ranks above it globally), so its best hit
   is in that shard's list; groups whose best hit is elsewhere only rank lower than they
   should. The candidates (all groups seen) ranked by their best seen hit, cut at
   ``limit``, are the global top ``limit``.
3. Filling: a chosen group's hits on a shard are complete when that shard's list ran out,
   holds ``group_size`` of them, or ends strictly after the group's ``group_size``-th
   merged hit (its unseen hits come later still). The other (shard, group) pairs are
   re-queried with the request's filter AND ``match`` on the group value, for
   ``group_size`` hits (4x more while hits that ``match`` but do not join the group, e.g.
   a point that also holds a float there, leave it short).

Cost: one scatter of ``W`` hits per shard with their payloads (and vectors when asked),
rarely a deeper one, plus at most one filtered query per (shard, chosen group) in one more
scatter (a batch per shard), only for the groups whose hits the first lists leave open.
The ranking is exact for exact search (and indexes whose top-k' is the prefix of their
top-k), as for plain reads; ``order_by`` groups rank by order value. Refused as for plain
reads: prefetch, recommend / discover / context, ``lookup_from``; a groups body of kind
``recommend`` (the legacy route) is refused too. ``with_lookup`` works (the lookup runs
on the driver over the resolved collection).

Facets (``facet``). Exact: every shard gives all its values with their counts, the driver
sums them per value (:func:`vecsearch.cluster.merge.merge_facets`), orders them as the
engine does (count descending, value ascending) and cuts at ``limit``. The replicas' read
operations (:data:`vecsearch.cluster.replica.READ_OPS`) have no facet count, so a shard's
counts are made on the driver: the shard scrolls the points passing the filter, returning
only the payload at the key, and the driver counts them in a payload index of the key's
type with the engine's :func:`vecsearch.facets.facet` (so the values counted are the single
node's). The cost is one pass over the matching points' values (ids and one payload field
per point cross the wire): measured on this 2-core machine with 3 shards, 48 ms for 3,000
points and 0.78 s for 30,000 (one node: 1 ms, it reads its postings' sizes). A facet read
op on the replica (one posting-size list per shard, values x shards numbers) would replace
the scroll and keep the merge; with it, a bounded over-fetch (each shard's top values,
then exact counts of the candidates) would be the next step for keys with many values.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from types import SimpleNamespace
from typing import Any, Protocol

import numpy as np

from vecsearch import facets
from vecsearch.cluster.merge import (
    merge_facets,
    merge_hits,
    optimistic_k,
    rank_sorted,
    shards_to_requery,
)
from vecsearch.cluster.plan import ReadPlan, plan_read, unsupported
from vecsearch.cluster.routing import canonical_ids
from vecsearch.errors import PointNotFoundError, ValidationError
from vecsearch.filters import parse_filter
from vecsearch.ids import id_key
from vecsearch.models import PayloadSelector, ScoredPoint
from vecsearch.payload_index import make_index
from vecsearch.payload_path import iter_leaf_values, parse_path
from vecsearch.query.model import Groups
from vecsearch.query.parse import _QUERY_KEYS, GROUP_KEYS, parse_groups
from vecsearch.query.requests import group_answers
from vecsearch.validate import check_int


class ClusterCollection(Protocol):
    """What these reads need of :class:`vecsearch.cluster.collection.ClusterCollection`
    (a protocol: the collection imports this module, not the other way round)."""

    name: str
    config: Any
    router: Any
    per_shard_k: str
    last_requeried: list[int]
    last_group_fill: Any

    def _scatter(self, calls: Mapping[int, tuple[str, tuple, dict]]) -> dict[int, Any]: ...

    def retrieve(self, *args: Any, **kwargs: Any) -> Any: ...


#: Points a shard returns per scroll page of a facet.
FACET_PAGE = 20_000
#: "No limit" for a shard's facet counts.
ALL = 2**62


# -- ranked reads ------------------------------------------------------------------------------
def ranked(
    cc: ClusterCollection,
    op: str,
    kind: str,
    bodies: Sequence[Mapping[str, Any]],
    field: str,
    shard_key: Any,
) -> list[list[ScoredPoint]]:
    """Ranked reads (search or query bodies, one list of hits each): scattered with the
    optimistic per-shard k (or the full k: ``per_shard_k="full"``, and every ``order_by``
    read), the shards whose lists could still matter re-queried at the full k
    (:func:`vecsearch.cluster.merge.shards_to_requery`), then merged."""
    if isinstance(bodies, Mapping) or not isinstance(bodies, Sequence):
        raise ValidationError(field, "expected a list of requests")
    if kind == "query":
        bodies = [
            by_id_query(cc, b, f"{field}[{i}]" if field else "", shard_key)
            for i, b in enumerate(bodies)
        ]
    plans = [
        plan_read(cc.config, b, kind, f"{field}[{i}]" if field else "")
        for i, b in enumerate(bodies)
    ]
    shards = cc.router.read_shards(shard_key)
    n = len(shards)
    full = [p.offset + p.limit for p in plans]
    first = [  # order_by reads: the full k (order values are no scores to re-query by)
        k if cc.per_shard_k == "full" or p.by_order else optimistic_k(p.offset, p.limit, n)
        for k, p in zip(full, plans, strict=True)
    ]

    def at(ks: Sequence[int], which: Sequence[int]) -> list[dict[str, Any]]:
        return [{**bodies[i], "limit": ks[i], "offset": 0} for i in which]

    every = range(len(bodies))
    got = cc._scatter({s: (op, (at(first, every), field), {}) for s in shards})
    lists = {s: list(got[s]) for s in shards}
    again: dict[int, list[int]] = {}
    for i, p in enumerate(plans):
        per = [lists[s][i] for s in shards]
        for j in shards_to_requery(per, first[i], full[i], descending=p.descending):
            again.setdefault(shards[j], []).append(i)
    if again:
        more = cc._scatter({s: (op, (at(full, which), field), {}) for s, which in again.items()})
        for s, which in again.items():
            for i, hits in zip(which, more[s], strict=True):
                lists[s][i] = hits
    cc.last_requeried = sorted(again)
    return [
        merge_hits(
            [lists[s][i] for s in shards],
            p.offset,
            p.limit,
            descending=p.descending,
            by_order=p.by_order,
        )
        for i, p in enumerate(plans)
    ]


def by_id_query(cc: ClusterCollection, body: Any, field: str, shard_key: Any) -> Any:
    """A nearest query by point id as a query by that point's stored vector that leaves
    the point out (as the engine does): the point lives on one shard only."""
    if not isinstance(body, Mapping):
        return body
    q = body.get("query")
    nested = isinstance(q, Mapping) and set(q) == {"nearest"}
    pid = q["nearest"] if nested else q
    if not isinstance(pid, int | str) or isinstance(pid, bool):
        return body
    pre = f"{field}." if field else ""
    at = pre + ("query.nearest" if nested else "query")
    pid = canonical_ids([pid], at)[0]
    using = body.get("using") or ""
    cc.config.any_space(using, pre + "using")  # an unknown name is refused first
    found = cc.retrieve([pid], with_payload=False, with_vector=True, shard_key=shard_key)
    if not found:
        raise PointNotFoundError(f"{at}: no point with id {pid} in {cc.name!r}")
    vec = found[0].vector
    if isinstance(vec, Mapping) and set(vec) != {"indices", "values"}:
        vec = vec.get(using)  # {name: vector}, not a sparse vector itself
    if vec is None:
        raise ValidationError(at, f"point {pid} has no vector {using!r}")
    plain = (
        {k: np.asarray(v).tolist() for k, v in vec.items()}
        if isinstance(vec, Mapping)
        else np.asarray(vec).tolist()
    )
    flt = body.get("filter")
    not_it = {"must_not": [{"has_id": [pid]}]}
    return {
        **body,
        "query": {"nearest": plain} if nested else plain,
        "filter": {**not_it, "must": [flt]} if flt is not None else not_it,
    }


# -- groups: the pure part -------------------------------------------------------------------
def group_values(payload: Mapping[str, Any] | None, path: Any) -> list[Any]:
    """The groups a hit joins: the distinct string or integer values at ``path``, or none
    when any value there has another type (as :func:`vecsearch.query.execute._group`)."""
    values = list(iter_leaf_values(dict(payload or {}), path))
    if not values or any(type(v) not in (str, int) for v in values):
        return []
    return list(dict.fromkeys(values))


def rank_key(plan: ReadPlan) -> Callable[[ScoredPoint], tuple]:
    """The total order of hits of ``plan`` as a sort key (smaller is better)."""
    if plan.by_order:
        sign = -1 if plan.descending else 1
        return lambda h: (sign * h.order_value, id_key(h.id))
    sign = -1 if plan.descending else 1
    return lambda h: (sign * h.score, id_key(h.id))


def members(hits: Sequence[ScoredPoint], path: Any) -> dict[Any, list[ScoredPoint]]:
    """The hits (in rank order) of each group value, groups in order of first appearance."""
    out: dict[Any, list[ScoredPoint]] = {}
    for h in hits:
        for v in group_values(h.payload, path):
            out.setdefault(v, []).append(h)
    return out


def choose(lists: Sequence[Sequence[ScoredPoint]], path: Any, limit: int, plan: ReadPlan) -> list:
    """The top ``limit`` group values over the shards' ranked lists (see module docstring,
    step 2): by best seen hit, then by the value's place among that hit's values."""
    key = rank_key(plan)
    best: dict[Any, tuple] = {}
    for hits in lists:
        for h in hits:
            for pos, v in enumerate(group_values(h.payload, path)):
                k = (key(h), pos)
                if v not in best or k < best[v]:
                    best[v] = k
    return sorted(best, key=lambda v: best[v])[:limit]


def open_pairs(
    lists: Mapping[int, Sequence[ScoredPoint]],
    asked: Mapping[int, int],
    got: Mapping[Any, Mapping[int, Sequence[ScoredPoint]]],
    size: int,
    plan: ReadPlan,
) -> list[tuple[int, Any]]:
    """The ``(shard, group)`` pairs whose hits may be incomplete (module docstring, step 3):
    ``lists[s]``: shard ``s``'s ranked answer to ``asked[s]`` hits; ``got[v][s]``: the hits
    of group ``v`` known from shard ``s`` (their top ones, in rank order)."""
    key = rank_key(plan)
    out = []
    for v, per in got.items():
        merged = sorted((h for hits in per.values() for h in hits), key=key)
        for s, hits in lists.items():
            if len(hits) < asked[s] or len(per.get(s, ())) >= size:
                continue
            if len(merged) >= size and key(hits[-1]) > key(merged[size - 1]):
                continue
            out.append((s, v))
    return out


def _and_match(flt: Any, key: str, value: Any) -> dict[str, Any]:
    cond = {"key": key, "match": {"value": value}}
    return {"must": [flt, cond]} if flt is not None else {"must": [cond]}


# -- groups: the reads ------------------------------------------------------------------------
def query_groups(
    cc: ClusterCollection,
    body: Mapping[str, Any],
    kind: str = "query",
    resolve: Callable[[str], Any] | None = None,
    shard_key: Any = None,
) -> list[dict[str, Any]]:
    """A grouped read of ``kind`` (``query`` or ``search``) over every shard: Qdrant's
    ``PointGroup`` objects, best group first (see module docstring)."""
    if kind not in ("query", "search"):
        raise unsupported("group_by", f"{kind!r} with group_by")
    if not isinstance(body, Mapping):
        raise ValidationError("", f"expected a {kind} groups request object")
    if "offset" in body:  # groups have no offset
        raise ValidationError("offset", f"unknown {kind} groups request field")
    extra = sorted(set(body) - _QUERY_KEYS - GROUP_KEYS) if kind == "query" else []
    if extra:  # (the shards would name the ungrouped body's kind: "query request")
        raise ValidationError(extra[0], "unknown query groups request field")
    spec = parse_groups(body, "")
    plain = {k: v for k, v in body.items() if k not in GROUP_KEYS}
    if plain.get("relevance_threshold") is not None:
        raise ValidationError("relevance_threshold", "is not supported with groups")
    sel = PayloadSelector.parse(plain.get("with_payload"), "with_payload")
    if kind == "query":
        plain = by_id_query(cc, plain, "", shard_key)
    plan = plan_read(cc.config, plain, kind, "")
    op = "query_batch" if kind == "query" else "search_batch"
    shards = cc.router.read_shards(shard_key)

    def ask(calls: Mapping[int, list[dict[str, Any]]]) -> dict[int, list[list[ScoredPoint]]]:
        got = cc._scatter({s: (op, (bodies, ""), {}) for s, bodies in calls.items()})
        return {s: [list(h) for h in got[s]] for s in calls}

    cc.last_group_fill = []
    # the hits carry the group values: the key alone when no payload is returned
    wanted = True if sel.enabled else [spec.key]
    groups = grouped(ask, {**plain, "with_payload": wanted}, spec, plan, shards, cc.last_group_fill)
    out = [(v, [replace(h, payload=sel.apply(h.payload or {})) for h in hs]) for v, hs in groups]
    return group_answers(out, spec, resolve)


def grouped(
    ask: Callable[[Mapping[int, list[dict[str, Any]]]], Mapping[int, list[list[ScoredPoint]]]],
    body: dict[str, Any],
    spec: Groups,
    plan: ReadPlan,
    shards: Sequence[int],
    fills: list[int] | None = None,
) -> list[tuple[Any, list[ScoredPoint]]]:
    """The groups ``(value, hits)`` best first (module docstring, steps 1-3). ``ask(calls)``
    runs ``{shard: [bodies]}`` (the ungrouped ``body`` with another ``limit`` / ``filter``;
    hits with whole payloads) and returns each shard's hit lists; ``fills`` receives the
    number of (shard, group) pairs re-queried by each fill round."""
    path = parse_path(spec.key, "group_by")
    limit, size = plan.limit, spec.size
    fills = [] if fills is None else fills

    # step 1: each shard's list holds its top ``limit`` groups
    asked = dict.fromkeys(shards, max(64, 4 * limit * size))
    lists: dict[int, list[ScoredPoint]] = {}
    todo = list(shards)
    while todo:
        got = ask({s: [{**body, "limit": asked[s], "offset": 0}] for s in todo})
        lists.update({s: got[s][0] for s in todo})
        todo = [
            s for s in todo if len(lists[s]) == asked[s] and len(members(lists[s], path)) < limit
        ]
        for s in todo:
            asked[s] *= 4
    # step 2: the global top groups
    chosen = choose([lists[s] for s in shards], path, limit, plan)
    per_shard = {s: members(lists[s], path) for s in shards}
    known = {v: {s: per_shard[s].get(v, []) for s in shards} for v in chosen}
    # step 3: fill the groups whose hits the lists leave open
    pending = open_pairs(lists, asked, known, size, plan)
    fills.append(len(pending))
    k = size
    while pending:
        calls: dict[int, list[Any]] = {}
        for s, v in pending:
            calls.setdefault(s, []).append(v)
        got = ask(
            {
                s: [
                    {**body, "filter": _and_match(body.get("filter"), spec.key, v), "limit": k}
                    for v in values
                ]
                for s, values in calls.items()
            }
        )
        again: list[tuple[int, Any]] = []
        for s, values in calls.items():
            for v, hits in zip(values, got[s], strict=True):
                known[v][s] = [h for h in hits if v in group_values(h.payload, path)]
                sub = {s: hits}
                if open_pairs(sub, {s: k}, {v: known[v]}, size, plan):
                    again.append((s, v))
        pending, k = again, 4 * k
        fills.append(len(pending))
    out = []
    for v in chosen:
        hits = (h for hs in known[v].values() for h in hs)
        out.append((v, rank_sorted(hits, plan.descending, plan.by_order)[:size]))
    return out


# -- facets -----------------------------------------------------------------------------------
def facet(
    cc: ClusterCollection,
    key: Any,
    filter: Any = None,
    limit: Any = None,
    exact: Any = None,
    shard_key: Any = None,
) -> list[facets.FacetHit]:
    """The facet of payload ``key`` over the points passing ``filter`` on every shard, as
    :func:`vecsearch.facets.facet` gives it on one node (see module docstring)."""
    parse_path(key, "key")
    parse_filter(filter, "filter")  # refused here, before any shard scrolls
    if limit is not None:
        check_int(limit, "limit", minimum=1)
    if exact is not None and not isinstance(exact, bool):
        raise ValidationError("exact", f"expected a bool, got {exact!r}")
    shards = cc.router.read_shards(shard_key)
    schema = cc._scatter({shards[0]: ("describe", (), {})})[shards[0]]["payload_schema"]
    info = schema.get(key) if isinstance(key, str) else None
    if info is None or info.get("data_type") not in facets.FACET_INDEX_TYPES:
        facets.facet(_Counted(key, None), key, None, limit, exact)  # the engine's refusal
        raise AssertionError("unreachable: the engine refuses a key without a facet index")
    # every shard's values, counted in an index of the key's type as the shard holds them
    indexes = {s: make_index(key, info["data_type"]) for s in shards}
    labels = dict.fromkeys(shards, 0)
    offsets: dict[int, Any] = dict.fromkeys(shards)
    todo = list(shards)
    while todo:
        args = {s: (filter, FACET_PAGE, offsets[s], [key], False) for s in todo}
        got = cc._scatter({s: ("scroll", a, {}) for s, a in args.items()})
        for s in todo:
            records, offsets[s] = got[s]
            for r in records:
                indexes[s].update(labels[s], r.payload or {})
                labels[s] += 1
        todo = [s for s in todo if offsets[s] is not None]
    every = [  # each shard's complete counts (no limit), by the engine's own counting
        [(h.value, h.count) for h in facets.facet(_Counted(key, idx), key, None, ALL, None)]
        for idx in indexes.values()
    ]
    merged = merge_facets(every, 10 if limit is None else int(limit))
    return [facets.FacetHit(v, n) for v, n in merged]


class _Counted:
    """What :func:`vecsearch.facets.facet` reads of a collection, over the driver's index of
    the shards' values (the filter is already applied by the shards)."""

    def __init__(self, key: str, index: Any) -> None:
        self._state = SimpleNamespace(pindexes={} if index is None else {key: index})

    def reading(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def filter_mask(self, flt: Any) -> Any:
        raise AssertionError("the shards applied the filter")
