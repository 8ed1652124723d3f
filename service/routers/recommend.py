"""The legacy example-based routes and the groups routes: ``/points/recommend`` (and
``/batch``), ``/points/discover`` (and ``/batch``), ``/points/search/groups``,
``/points/query/groups``, ``/points/recommend/groups``.

Each body is handed to the engine's query module as it is (the recommend and discover bodies
become the equivalent Query API requests there); routes only translate, as in
:mod:`service.routers.search`, and run through the same search dispatcher.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.deps import Consistency, SearchCtx, Timeout
from service.routers.search import engine_body, kind_of, points_json, request_limits, resolver
from service.schemas import Envelope, ScoredPoint
from service.schemas.examples import (
    DiscoverRequest,
    DiscoverRequestBatch,
    QueryGroupsRequest,
    RecommendGroupsRequest,
    RecommendRequest,
    RecommendRequestBatch,
    SearchGroupsRequest,
)
from service.schemas.responses import GroupsResult
from service.security import ReadAccess

router = APIRouter(prefix="/collections/{collection_name}/points", tags=["search"])


async def _one(
    ctx: SearchCtx, http: Request, body: RecommendRequest | DiscoverRequest, kind: str
) -> Response:
    coll, request, resolve = ctx.coll, engine_body(body), resolver(ctx)
    points = request_limits(ctx).check_searches([request], "", coll.point_count)
    key, index_type = kind_of(coll, [body])
    return await ctx.state.dispatcher.respond(
        http,
        key,
        index_type,
        lambda ctl: points_json(coll.query_batch([request], "", resolve, kind, ctl)[0]),
        ctx.t0,
        points=points,
    )


async def _batch(
    ctx: SearchCtx, http: Request, body: RecommendRequestBatch | DiscoverRequestBatch, kind: str
) -> Response:
    coll, resolve = ctx.coll, resolver(ctx)
    requests = [engine_body(b) for b in body.searches]
    points = request_limits(ctx).check_searches(requests, "searches", coll.point_count)
    key, index_type = kind_of(coll, body.searches)
    return await ctx.state.dispatcher.respond(
        http,
        key,
        index_type,
        lambda ctl: [
            points_json(h) for h in coll.query_batch(requests, "searches", resolve, kind, ctl)
        ],
        ctx.t0,
        n=len(requests),
        points=points,
    )


async def _groups(
    ctx: SearchCtx,
    http: Request,
    body: SearchGroupsRequest | QueryGroupsRequest | RecommendGroupsRequest,
    kind: str,
) -> Response:
    coll, request, resolve = ctx.coll, engine_body(body), resolver(ctx)
    points = request_limits(ctx).check_groups(request, coll.point_count)
    key, index_type = kind_of(coll, [body])
    return await ctx.state.dispatcher.respond(
        http,
        (key[0], key[1] + "+groups"),
        index_type,
        lambda ctl: {"groups": coll.query_groups(request, resolve, kind, ctl)},
        ctx.t0,
        points=points,
    )


@router.post(
    "/recommend",
    response_model=Envelope[list[ScoredPoint]],
    dependencies=[ReadAccess],
    summary="Recommend points (like positive, unlike negative examples)",
)
async def recommend_points(
    ctx: SearchCtx,
    body: RecommendRequest,
    http: Request,
    consistency: Consistency = None,
    timeout: Timeout = None,
) -> Response:
    """Qdrant's recommendation: strategy ``average_vector`` (a nearest search to the
    combined vector), ``best_score`` or ``sum_scores`` (an exact scan); examples given by id
    are left out of the results."""
    return await _one(ctx, http, body, "recommend")


@router.post(
    "/recommend/batch",
    response_model=Envelope[list[list[ScoredPoint]]],
    dependencies=[ReadAccess],
    summary="Recommend batch",
)
async def recommend_batch(
    ctx: SearchCtx,
    body: RecommendRequestBatch,
    http: Request,
    consistency: Consistency = None,
    timeout: Timeout = None,
) -> Response:
    """Several recommendations; every one is validated before any runs."""
    return await _batch(ctx, http, body, "recommend")


@router.post(
    "/recommend/groups",
    response_model=Envelope[GroupsResult],
    dependencies=[ReadAccess],
    summary="Recommend, grouped by a payload value",
)
async def recommend_groups(
    ctx: SearchCtx,
    body: RecommendGroupsRequest,
    http: Request,
    consistency: Consistency = None,
    timeout: Timeout = None,
) -> Response:
    """Recommendations grouped by ``group_by``: ``limit`` groups of up to ``group_size``."""
    return await _groups(ctx, http, body, "recommend")


@router.post(
    "/discover",
    response_model=Envelope[list[ScoredPoint]],
    dependencies=[ReadAccess],
    summary="Discover points (near a target, within a context)",
)
async def discover_points(
    ctx: SearchCtx,
    body: DiscoverRequest,
    http: Request,
    consistency: Consistency = None,
    timeout: Timeout = None,
) -> Response:
    """Qdrant's discovery search (exact scan): points satisfying more context pairs first,
    then nearer the target."""
    return await _one(ctx, http, body, "discover")


@router.post(
    "/discover/batch",
    response_model=Envelope[list[list[ScoredPoint]]],
    dependencies=[ReadAccess],
    summary="Discover batch",
)
async def discover_batch(
    ctx: SearchCtx,
    body: DiscoverRequestBatch,
    http: Request,
    consistency: Consistency = None,
    timeout: Timeout = None,
) -> Response:
    """Several discovery searches; every one is validated before any runs."""
    return await _batch(ctx, http, body, "discover")


@router.post(
    "/search/groups",
    response_model=Envelope[GroupsResult],
    dependencies=[ReadAccess],
    summary="Search, grouped by a payload value",
)
async def search_groups(
    ctx: SearchCtx,
    body: SearchGroupsRequest,
    http: Request,
    consistency: Consistency = None,
    timeout: Timeout = None,
) -> Response:
    """Nearest points grouped by ``group_by``: ``limit`` groups of up to ``group_size``
    hits, groups ranked by their best hit."""
    return await _groups(ctx, http, body, "search")


@router.post(
    "/query/groups",
    response_model=Envelope[GroupsResult],
    dependencies=[ReadAccess],
    summary="Query, grouped by a payload value",
)
async def query_groups(
    ctx: SearchCtx,
    body: QueryGroupsRequest,
    http: Request,
    consistency: Consistency = None,
    timeout: Timeout = None,
) -> Response:
    """Any Query API query grouped by ``group_by`` (``with_lookup`` adds each group's point
    from another collection)."""
    return await _groups(ctx, http, body, "query")
