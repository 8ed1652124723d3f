"""Search and the Query API.

Routes are ``async`` and hand the search to :class:`service.dispatch.SearchDispatcher`: in
FastAPI's thread pool under concurrent load (the Numba kernels release the GIL, so searches
run in parallel), inline on the event loop when the server is otherwise idle and the search is
known to be quick (saving the thread hand-off, the largest fixed cost measured).

Query API subset (Qdrant's shapes):

* ``query``: a vector, a point id, or ``{"nearest": vector | id}``; a point id searches with
  that point's vector and leaves the point itself out of the results, as Qdrant does;
* ``prefetch`` (one or a list, nested to any depth): each prefetch is a sub-request with its
  own ``query``, ``filter``, ``params``, ``score_threshold`` and ``limit`` (default 10); the
  request's ``filter`` is combined (AND) with every prefetch's. Over the prefetch results the
  query is either a fusion, ``{"fusion": "rrf"}`` or ``{"rrf": {"k": 2, "weights": [...]}}``
  (reciprocal rank fusion with Qdrant's formula: a point at 0-based position ``p`` of
  prefetch ``i`` adds ``1 / ((p + 1) / w_i + k - 1)``, so ``1 / (p + k)`` with weight 1;
  default ``k`` 2), or a nearest query that re-scores the union of the prefetched points
  exactly with its vector;
* ``filter``, ``score_threshold`` (on raw, fused or re-scored scores), ``relevance_threshold``
  (vecsearch: calibrated relevance, on plain nearest queries), ``limit`` / ``offset``
  (the top level only), ``with_payload`` / ``with_vector``, ``params`` (``hnsw_ef``,
  ``exact``, ``quantization``, and the vecsearch index parameters).

Rejected with 400 naming the field: other query kinds (``recommend``, ``discover``,
``context``, ``order_by``, ``formula``, ``sample``, ``fusion: "dbsf"``, ``nearest.mmr``),
``using`` a named vector, ``lookup_from`` and ``shard_key``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.deps import Consistency, SearchCtx, Timeout
from service.responses import ok
from service.routers.points import reject_set
from service.schemas import (
    Envelope,
    Prefetch,
    QueryRequest,
    QueryRequestBatch,
    QueryResponse,
    ScoredPoint,
    SearchParams,
    SearchRequest,
    SearchRequestBatch,
)
from service.security import ReadAccess
from vecsearch import models as engine
from vecsearch.collection import Collection
from vecsearch.errors import PointNotFoundError, ValidationError
from vecsearch.filters import Filter, HasId, parse_filter
from vecsearch.ids import PointId, parse_point_id
from vecsearch.validate import check_int, check_threshold

router = APIRouter(prefix="/collections/{collection_name}/points", tags=["search"])


def _params(params: SearchParams | None) -> dict[str, Any] | None:
    return params.to_engine() if params is not None else None


def _prefix(field: str) -> str:
    return f"{field}." if field else ""


def search_request(body: SearchRequest, field: str = "") -> engine.SearchRequest:
    """The engine's request for a Qdrant search body (errors name ``field``'s members)."""
    pre = _prefix(field)
    reject_set(f"{pre}shard_key", body.shard_key)
    return engine.SearchRequest(
        vector=body.vector,
        limit=body.limit,
        offset=body.offset or 0,
        filter=parse_filter(body.filter, f"{pre}filter"),
        params=_params(body.params),
        score_threshold=body.score_threshold,
        relevance_threshold=body.relevance_threshold,
        with_payload=engine.PayloadSelector.parse(body.with_payload, f"{pre}with_payload"),
        with_vector=engine.parse_with_vector(body.with_vector, f"{pre}with_vector"),
    )


_KINDS = "vecsearch answers nearest (vector or point id) and rrf fusion queries"
#: Qdrant's default ``k`` of reciprocal rank fusion.
DEFAULT_RRF_K = 2


@dataclass
class _Target:
    """A parsed ``query``: nearest (``vector``, ``self_id`` for a point-id query) or rrf."""

    kind: str
    vector: np.ndarray | None = None
    self_id: PointId | None = None
    rrf_k: int = DEFAULT_RRF_K
    weights: list[float] | None = None


def _nearest_target(coll: Collection, value: Any, fld: str) -> _Target:
    if isinstance(value, int | str) and not isinstance(value, bool):
        pid = parse_point_id(value, fld)
        found = coll.retrieve([pid], with_payload=False, with_vector=True)
        if not found:
            raise PointNotFoundError(f"{fld}: no point with id {pid} in {coll.name!r}")
        return _Target("nearest", np.asarray(found[0].vector, dtype=np.float32), pid)
    if isinstance(value, Mapping) or value is None or isinstance(value, bool | float):
        raise ValidationError(fld, "expected a vector or a point id")
    return _Target("nearest", coll.check_query_vector(value, fld))


def _rrf_target(value: Any, fld: str) -> _Target:
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise ValidationError(fld, "expected an object {k, weights}")
    unknown = sorted(set(value) - {"k", "weights"})
    if unknown:
        raise ValidationError(f"{fld}.{unknown[0]}", "unknown field")
    k = value.get("k")
    k = DEFAULT_RRF_K if k is None else check_int(k, f"{fld}.k", minimum=1)
    weights = value.get("weights")
    if weights is not None:
        if isinstance(weights, str | bytes) or not isinstance(weights, Sequence):
            raise ValidationError(f"{fld}.weights", "expected a list of positive numbers")
        for i, w in enumerate(weights):
            ok_number = isinstance(w, int | float) and not isinstance(w, bool)
            if not ok_number or not np.isfinite(w) or w <= 0:
                raise ValidationError(
                    f"{fld}.weights[{i}]", f"expected a positive number, got {w!r}"
                )
        weights = [float(w) for w in weights]
    return _Target("rrf", rrf_k=k, weights=weights)


def parse_target(coll: Collection, target: Any, fld: str) -> _Target | None:
    """The parsed ``query`` (None when absent); unsupported kinds are a 400 naming them."""
    if target is None:
        return None
    if not isinstance(target, Mapping):
        return _nearest_target(coll, target, fld)
    if not target:
        raise ValidationError(fld, "empty query object")
    if "nearest" in target:
        for key, value in target.items():
            if key != "nearest" and value is not None:
                raise ValidationError(f"{fld}.{key}", f"is not supported: {_KINDS}")
        return _nearest_target(coll, target["nearest"], f"{fld}.nearest")
    if len(target) > 1:
        raise ValidationError(fld, f"expected one query kind, got {sorted(target)}")
    ((kind, value),) = target.items()
    if kind == "fusion":
        if value == "rrf":
            return _Target("rrf")
        raise ValidationError(f"{fld}.fusion", f"fusion {value!r} is not supported (only 'rrf')")
    if kind == "rrf":
        return _rrf_target(value, f"{fld}.rrf")
    raise ValidationError(f"{fld}.{kind}", f"query kind is not supported: {_KINDS}")


@dataclass
class Stage:
    """One level of a staged query: a nearest search (no prefetch), a fusion of the
    prefetches, or an exact re-scoring of their union."""

    where: str
    target: _Target
    filter: Filter | None
    params: dict[str, Any] | None
    threshold: float | None
    limit: int
    prefetch: list[Stage] = field(default_factory=list)


def _and(a: Filter | None, b: Filter | None) -> Filter | None:
    if a is None or b is None:
        return a if b is None else b
    return Filter(must=(a, b))


#: Deepest nesting of prefetches accepted (Qdrant does not document one; this keeps a
#: hostile body from exhausting the stack).
MAX_PREFETCH_DEPTH = 16


def build_stage(
    coll: Collection,
    node: QueryRequest | Prefetch,
    fld: str,
    outer: Filter | None,
    depth: int = 0,
) -> Stage:
    """Parse and check a query (or prefetch) and its prefetches before anything runs."""
    pre = _prefix(fld)
    if depth > MAX_PREFETCH_DEPTH:
        raise ValidationError(fld, f"prefetch nested deeper than {MAX_PREFETCH_DEPTH} levels")
    reject_set(f"{pre}lookup_from", node.lookup_from)
    if node.using not in (None, ""):
        raise ValidationError(f"{pre}using", "named vectors are not supported (one vector)")
    flt = _and(outer, parse_filter(node.filter, f"{pre}filter"))
    params = _params(node.params)
    coll.itype.search_params(params, f"{pre}params")  # checked now, used by the search
    raw = node.prefetch
    nodes = [] if raw is None else (raw if isinstance(raw, list) else [raw])
    stages = [
        build_stage(coll, p, f"{pre}prefetch[{i}]", flt, depth + 1) for i, p in enumerate(nodes)
    ]
    target = parse_target(coll, node.query, f"{pre}query")
    if target is None:
        what = (
            "a fusion ({fusion: 'rrf'}) or a nearest query"
            if stages
            else "a vector, a point id or {nearest: ...}"
        )
        raise ValidationError(f"{pre}query", f"missing: give {what}")
    if target.kind == "rrf":
        if not stages:
            raise ValidationError(f"{pre}query", "fusion needs prefetch (the lists to fuse)")
        if target.weights is not None and len(target.weights) != len(stages):
            raise ValidationError(
                f"{pre}query.rrf.weights",
                f"expected {len(stages)} weights (one per prefetch), got {len(target.weights)}",
            )
    limit = 10 if node.limit is None else check_int(node.limit, f"{pre}limit", minimum=1)
    threshold = check_threshold(node.score_threshold, f"{pre}score_threshold")
    return Stage(fld, target, flt, params, threshold, limit, stages)


def run_stage(coll: Collection, st: Stage, offset: int = 0) -> list[tuple[PointId, float]]:
    """``(id, score)`` best first: ``st.limit`` results after skipping ``offset``."""
    t = st.target
    if not st.prefetch:
        flt = st.filter
        if t.self_id is not None:
            flt = Filter(
                must=(flt,) if flt is not None else None, must_not=(HasId(frozenset([t.self_id])),)
            )
        hits = coll.search(
            t.vector,
            limit=st.limit,
            offset=offset,
            filter=flt,
            params=st.params,
            score_threshold=st.threshold,
        )
        return [(h.id, h.score) for h in hits]
    lists = [run_stage(coll, p) for p in st.prefetch]
    if t.kind == "rrf":
        fused: dict[PointId, float] = {}
        for i, hits in enumerate(lists):
            w = 1.0 if t.weights is None else t.weights[i]
            for pos, (pid, _score) in enumerate(hits):
                fused[pid] = fused.get(pid, 0.0) + 1.0 / ((pos + 1) / w + t.rrf_k - 1)
        ranked = sorted(fused.items(), key=lambda kv: -kv[1])  # stable: first seen wins ties
        if st.threshold is not None:
            ranked = [(p, sc) for p, sc in ranked if sc >= st.threshold]
    else:  # exact re-scoring of the prefetched points
        ids = list(dict.fromkeys(pid for hits in lists for pid, _ in hits if pid != t.self_id))
        ranked = coll.score_points(t.vector, ids, f"{_prefix(st.where)}query")
        if st.threshold is not None:
            better = coll.config.distance.higher_is_better
            ranked = [
                (p, sc)
                for p, sc in ranked
                if (sc >= st.threshold if better else sc <= st.threshold)
            ]
    return ranked[offset : offset + st.limit]


def query_request(coll: Collection, body: QueryRequest, field: str = "") -> engine.SearchRequest:
    """The engine's request for a Qdrant query body without prefetch: resolves point-id
    queries and checks the query vector (errors name ``query``)."""
    pre = _prefix(field)
    reject_set(f"{pre}lookup_from", body.lookup_from)
    reject_set(f"{pre}shard_key", body.shard_key)
    if body.using not in (None, ""):
        raise ValidationError(f"{pre}using", "named vectors are not supported (one vector)")
    target = parse_target(coll, body.query, f"{pre}query")
    if target is None:
        raise ValidationError(f"{pre}query", "missing: give a vector, a point id or {nearest: ...}")
    if target.kind != "nearest":
        raise ValidationError(f"{pre}query", "fusion needs prefetch (the lists to fuse)")
    flt = parse_filter(body.filter, f"{pre}filter")
    if target.self_id is not None:
        exclude = HasId(frozenset([target.self_id]))
        flt = Filter(must=(flt,) if flt is not None else None, must_not=(exclude,))
    return engine.SearchRequest(
        vector=target.vector,
        limit=10 if body.limit is None else body.limit,
        offset=body.offset or 0,
        filter=flt,
        params=_params(body.params),
        score_threshold=body.score_threshold,
        relevance_threshold=body.relevance_threshold,
        with_payload=engine.PayloadSelector.parse(body.with_payload, f"{pre}with_payload"),
        with_vector=engine.parse_with_vector(body.with_vector, f"{pre}with_vector"),
    )


class _Staged:
    """A checked staged query (with prefetch), ready to run."""

    def __init__(self, coll: Collection, body: QueryRequest, fld: str) -> None:
        pre = _prefix(fld)
        reject_set(f"{pre}shard_key", body.shard_key)
        if body.relevance_threshold is not None:
            raise ValidationError(
                f"{pre}relevance_threshold",
                "applies to plain nearest queries, not to prefetch / fusion queries",
            )
        self.stage = build_stage(coll, body, fld, None)
        self.offset = (
            0 if body.offset is None else check_int(body.offset, f"{pre}offset", minimum=0)
        )
        self.with_payload = engine.PayloadSelector.parse(body.with_payload, f"{pre}with_payload")
        self.with_vector = engine.parse_with_vector(body.with_vector, f"{pre}with_vector")

    def run(self, coll: Collection) -> list[dict[str, Any]]:
        hits = run_stage(coll, self.stage, self.offset)
        points = coll.scored_points(hits, self.with_payload, self.with_vector)
        return [p.to_dict() for p in points]


def run_queries(
    coll: Collection, bodies: Sequence[QueryRequest], batch: bool
) -> list[list[dict[str, Any]]]:
    """Every query checked before any runs; plain ones as one engine batch."""
    fld = (lambda i: f"searches[{i}]") if batch else (lambda i: "")
    parsed: list[_Staged | engine.SearchRequest] = [
        _Staged(coll, b, fld(i)) if b.prefetch is not None else query_request(coll, b, fld(i))
        for i, b in enumerate(bodies)
    ]
    plain = [p for p in parsed if isinstance(p, engine.SearchRequest)]
    plain_out = iter(_run_batch(coll, plain) if plain else [])
    return [p.run(coll) if isinstance(p, _Staged) else next(plain_out) for p in parsed]


def _run_one(coll: Collection, req: engine.SearchRequest) -> list[dict[str, Any]]:
    hits = coll.search(
        req.vector,
        limit=req.limit,
        offset=req.offset,
        filter=req.filter,
        params=req.params,
        score_threshold=req.score_threshold,
        with_payload=req.with_payload,
        with_vector=req.with_vector,
        relevance_threshold=req.relevance_threshold,
    )
    return [h.to_dict() for h in hits]


def _run_batch(coll: Collection, reqs: list[engine.SearchRequest]) -> list[list[dict[str, Any]]]:
    return [[h.to_dict() for h in hits] for hits in coll.search_batch(reqs)]


def _kind(coll: Collection, bodies: list[SearchRequest] | list[QueryRequest]) -> tuple[str, str]:
    """The dispatcher's key: searches of one kind take similar times (see service.dispatch)."""
    exact = any(b.params is not None and b.params.exact for b in bodies)
    filtered = any(b.filter is not None for b in bodies)
    staged = any(getattr(b, "prefetch", None) is not None for b in bodies)
    kind = ("exact" if exact else "index") + ("+filter" if filtered else "")
    return coll.name, kind + ("+prefetch" if staged else "")


@router.post(
    "/search",
    response_model=Envelope[list[ScoredPoint]],
    dependencies=[ReadAccess],
    summary="Search (nearest points to a vector)",
)
async def search_points(
    ctx: SearchCtx,
    body: SearchRequest,
    consistency: Consistency = None,
    timeout: Timeout = None,
) -> JSONResponse:
    """The ``limit`` nearest points to ``vector`` that pass ``filter``, best first."""
    coll = ctx.coll
    req = search_request(body)
    hits = await ctx.state.dispatcher.run(
        _kind(coll, [body]), coll.config.index.type, lambda: _run_one(coll, req)
    )
    return ok(hits, ctx.t0)


@router.post(
    "/search/batch",
    response_model=Envelope[list[list[ScoredPoint]]],
    dependencies=[ReadAccess],
    summary="Search batch",
)
async def search_batch(
    ctx: SearchCtx,
    body: SearchRequestBatch,
    consistency: Consistency = None,
    timeout: Timeout = None,
) -> JSONResponse:
    """Several searches; every one is validated before any runs."""
    coll = ctx.coll
    reqs = [search_request(s, f"searches[{i}]") for i, s in enumerate(body.searches)]
    results = await ctx.state.dispatcher.run(
        _kind(coll, body.searches),
        coll.config.index.type,
        lambda: _run_batch(coll, reqs),
        n=len(reqs),
    )
    return ok(results, ctx.t0)


@router.post(
    "/query",
    response_model=Envelope[QueryResponse],
    dependencies=[ReadAccess],
    summary="Query points (nearest, nearest by id, prefetch with rrf fusion or re-scoring)",
)
async def query_points(
    ctx: SearchCtx,
    body: QueryRequest,
    consistency: Consistency = None,
    timeout: Timeout = None,
) -> JSONResponse:
    """Nearest points to a vector or a stored point, or a staged query (see the module
    notes)."""
    coll = ctx.coll

    def run() -> list[dict[str, Any]]:
        if body.prefetch is None:  # the common case: one engine search
            return _run_one(coll, query_request(coll, body))
        return run_queries(coll, [body], batch=False)[0]

    hits = await ctx.state.dispatcher.run(_kind(coll, [body]), coll.config.index.type, run)
    return ok({"points": hits}, ctx.t0)


@router.post(
    "/query/batch",
    response_model=Envelope[list[QueryResponse]],
    dependencies=[ReadAccess],
    summary="Query batch",
)
async def query_batch(
    ctx: SearchCtx,
    body: QueryRequestBatch,
    consistency: Consistency = None,
    timeout: Timeout = None,
) -> JSONResponse:
    """Several queries; every one is validated before any runs."""
    coll = ctx.coll

    def run() -> list[list[dict[str, Any]]]:
        return run_queries(coll, body.searches, batch=True)

    results = await ctx.state.dispatcher.run(
        _kind(coll, body.searches), coll.config.index.type, run, n=len(body.searches)
    )
    return ok([{"points": hits} for hits in results], ctx.t0)
