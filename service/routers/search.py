"""Search and the Query API: ``/points/search``, ``/points/search/batch``, ``/points/query``,
``/points/query/batch``.

A route turns the HTTP body into the engine's request (:mod:`vecsearch.query`), runs it, and
turns the hits into Qdrant's JSON; the query language itself (targets, ``using``, prefetch,
fusion, re-scoring, thresholds) is the engine's. Routes are ``async`` and hand the engine
call to :class:`service.dispatch.SearchDispatcher`: in FastAPI's thread pool under concurrent
load (the Numba kernels release the GIL, so searches run in parallel), inline on the event
loop when the server is otherwise idle and the search is known to be quick.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from service.deps import Consistency, SearchContext, SearchCtx, Timeout
from service.limits import RequestLimits, limits_of
from service.schemas import (
    Envelope,
    QueryRequest,
    QueryRequestBatch,
    QueryResponse,
    ScoredPoint,
    SearchParams,
    SearchRequest,
    SearchRequestBatch,
)
from service.security import ReadAccess
from vecsearch.collection import Collection

router = APIRouter(prefix="/collections/{collection_name}/points", tags=["search"])


def engine_body(body: BaseModel) -> dict[str, Any]:
    """The plain mapping the engine parses, from a request model (fields left out are
    absent; nested models become mappings; ``params`` keeps only the fields given)."""
    out: dict[str, Any] = {}
    for name in type(body).model_fields:
        value = getattr(body, name)
        if value is not None:
            out[name] = _engine_value(value)
    return out


def _engine_value(value: Any) -> Any:
    if isinstance(value, SearchParams):
        return value.to_engine()
    if isinstance(value, BaseModel):
        return engine_body(value)
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        return [_engine_value(v) for v in value]
    return value


def _using(body: BaseModel) -> str:
    """The vector name a body searches, for the dispatcher's key only (a malformed name is
    the engine's to refuse: here it must merely not break the key)."""
    v = getattr(body, "vector", None)
    name = (
        getattr(body, "using", None)
        if v is None
        else (v.get("name") if isinstance(v, dict) else "")
    )
    if name is None:
        return ""
    return name if isinstance(name, str) else "?"


def resolver(ctx: SearchContext) -> Callable[[str], Collection]:
    """Collection names (or aliases) to collections, for ``lookup_from`` / ``with_lookup``."""
    db = ctx.state.db
    assert db is not None  # the search context exists only while the database is open
    return db.get_collection


def kind_of(coll: Collection, bodies: Sequence[Any]) -> tuple[tuple[str, str], str]:
    """The dispatcher's key (searches of one kind take similar times, see service.dispatch)
    and the index type the search latency is recorded under."""
    exact = any(b.params is not None and b.params.exact for b in bodies)
    filtered = any(b.filter is not None for b in bodies)
    staged = any(getattr(b, "prefetch", None) is not None for b in bodies)
    using = {_using(b) for b in bodies}
    kind = ("exact" if exact else "index") + ("+filter" if filtered else "")
    kind += "+prefetch" if staged else ""
    space = coll.spaces.get(next(iter(using))) if len(using) == 1 else None
    if len(using) == 1 and next(iter(using)):
        kind += f"@{next(iter(using))}"
    index_type = space.config.index.type if space is not None else "mixed"
    return (coll.name, kind), index_type


def points_json(hits: list) -> list[dict[str, Any]]:
    """Hits as Qdrant's ScoredPoint JSON."""
    return [h.to_dict() for h in hits]


def request_limits(ctx: SearchContext) -> RequestLimits:
    """The service's per-request search limits (settings ``max_result_points``,
    ``max_searches_per_request``; see :mod:`service.limits`)."""
    return limits_of(ctx.state.settings)


@router.post(
    "/search",
    response_model=Envelope[list[ScoredPoint]],
    dependencies=[ReadAccess],
    summary="Search (nearest points to a vector)",
)
async def search_points(
    ctx: SearchCtx,
    body: SearchRequest,
    http: Request,
    consistency: Consistency = None,
    timeout: Timeout = None,
) -> Response:
    """The ``limit`` nearest points to ``vector`` (or ``{name, vector}``) that pass
    ``filter``, best first."""
    coll = ctx.coll
    request = engine_body(body)
    points = request_limits(ctx).check_searches([request], "", coll.point_count)
    key, index_type = kind_of(coll, [body])
    return await ctx.state.dispatcher.respond(
        http,
        key,
        index_type,
        lambda ctl: points_json(coll.search_batch([request], "", ctl)[0]),
        ctx.t0,
        points=points,
    )


@router.post(
    "/search/batch",
    response_model=Envelope[list[list[ScoredPoint]]],
    dependencies=[ReadAccess],
    summary="Search batch",
)
async def search_batch(
    ctx: SearchCtx,
    body: SearchRequestBatch,
    http: Request,
    consistency: Consistency = None,
    timeout: Timeout = None,
) -> Response:
    """Several searches; every one is validated before any runs."""
    coll = ctx.coll
    requests = [engine_body(s) for s in body.searches]
    points = request_limits(ctx).check_searches(requests, "searches", coll.point_count)
    key, index_type = kind_of(coll, body.searches)
    return await ctx.state.dispatcher.respond(
        http,
        key,
        index_type,
        lambda ctl: [points_json(h) for h in coll.search_batch(requests, control=ctl)],
        ctx.t0,
        n=len(requests),
        points=points,
    )


@router.post(
    "/query",
    response_model=Envelope[QueryResponse],
    dependencies=[ReadAccess],
    summary="Query points (nearest, nearest by id, prefetch with rrf fusion or re-scoring)",
)
async def query_points(
    ctx: SearchCtx,
    body: QueryRequest,
    http: Request,
    consistency: Consistency = None,
    timeout: Timeout = None,
) -> Response:
    """Nearest points to a vector or a stored point in the space ``using``, or a staged
    query (see :mod:`vecsearch.query.parse`)."""
    coll = ctx.coll
    request = engine_body(body)
    points = request_limits(ctx).check_searches([request], "", coll.point_count)
    key, index_type = kind_of(coll, [body])
    resolve = resolver(ctx)
    return await ctx.state.dispatcher.respond(
        http,
        key,
        index_type,
        lambda ctl: {
            "points": points_json(coll.query_batch([request], "", resolve, control=ctl)[0])
        },
        ctx.t0,
        points=points,
    )


@router.post(
    "/query/batch",
    response_model=Envelope[list[QueryResponse]],
    dependencies=[ReadAccess],
    summary="Query batch",
)
async def query_batch(
    ctx: SearchCtx,
    body: QueryRequestBatch,
    http: Request,
    consistency: Consistency = None,
    timeout: Timeout = None,
) -> Response:
    """Several queries; every one is validated before any runs."""
    coll = ctx.coll
    requests = [engine_body(q) for q in body.searches]
    points = request_limits(ctx).check_searches(requests, "searches", coll.point_count)
    key, index_type = kind_of(coll, body.searches)
    resolve = resolver(ctx)
    return await ctx.state.dispatcher.respond(
        http,
        key,
        index_type,
        lambda ctl: [
            {"points": points_json(h)}
            for h in coll.query_batch(requests, resolve=resolve, control=ctl)
        ],
        ctx.t0,
        n=len(requests),
        points=points,
    )
