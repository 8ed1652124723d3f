"""The legacy example-based routes and the groups routes: ``/points/recommend`` (and
``/batch``), ``/points/discover`` (and ``/batch``), ``/points/search/groups``,
``/points/query/groups``, ``/points/recommend/groups``.

Each body is handed to the engine's query module as it is (the recommend and discover bodies
become the equivalent Query API requests there); routes only translate, as in
:mod:`service.routers.search`, and run through the same search dispatcher.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from service.deps import Consistency, SearchCtx, Timeout
from service.responses import ok
from service.routers.search import engine_body, kind_of, points_json, resolver
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


async def _one(ctx: SearchCtx, body: RecommendRequest | DiscoverRequest, kind: str) -> Response:
    coll, request, resolve = ctx.coll, engine_body(body), resolver(ctx)
    key, index_type = kind_of(coll, [body])
    hits = await ctx.state.dispatcher.run(
        key,
        index_type,
        lambda: points_json(coll.query_batch([request], "", resolve, kind)[0]),
    )
    return ok(hits, ctx.t0)


async def _batch(
    ctx: SearchCtx, body: RecommendRequestBatch | DiscoverRequestBatch, kind: str
) -> Response:
    coll, resolve = ctx.coll, resolver(ctx)
    requests = [engine_body(b) for b in body.searches]
    key, index_type = kind_of(coll, body.searches)
    results = await ctx.state.dispatcher.run(
        key,
        index_type,
        lambda: [points_json(h) for h in coll.query_batch(requests, "searches", resolve, kind)],
        n=len(requests),
    )
    return ok(results, ctx.t0)


async def _groups(
    ctx: SearchCtx,
    body: SearchGroupsRequest | QueryGroupsRequest | RecommendGroupsRequest,
    kind: str,
) -> Response:
    coll, request, resolve = ctx.coll, engine_body(body), resolver(ctx)
    key, index_type = kind_of(coll, [body])
    groups = await ctx.state.dispatcher.run(
        (key[0], key[1] + "+groups"),
        index_type,
        lambda: coll.query_groups(request, resolve, kind),
    )
    return ok({"groups": groups}, ctx.t0)


@router.post(
    "/recommend",
    response_model=Envelope[list[ScoredPoint]],
    dependencies=[ReadAccess],
    summary="Recommend points (like positive, unlike negative examples)",
)
async def recommend_points(
    ctx: SearchCtx,
    body: RecommendRequest,
    consistency: Consistency = None,
    timeout: Timeout = None,
) -> Response:
    """Qdrant's recommendation: strategy ``average_vector`` (a nearest search to the
    combined vector), ``best_score`` or ``sum_scores`` (an exact scan); examples given by id
    are left out of the results."""
    return await _one(ctx, body, "recommend")


@router.post(
    "/recommend/batch",
    response_model=Envelope[list[list[ScoredPoint]]],
    dependencies=[ReadAccess],
    summary="Recommend batch",
)
async def recommend_batch(
    ctx: SearchCtx,
    body: RecommendRequestBatch,
    consistency: Consistency = None,
    timeout: Timeout = None,
) -> Response:
    """Several recommendations; every one is validated before any runs."""
    return await _batch(ctx, body, "recommend")


@router.post(
    "/recommend/groups",
    response_model=Envelope[GroupsResult],
    dependencies=[ReadAccess],
    summary="Recommend, grouped by a payload value",
)
async def recommend_groups(
    ctx: SearchCtx,
    body: RecommendGroupsRequest,
    consistency: Consistency = None,
    timeout: Timeout = None,
) -> Response:
    """Recommendations grouped by ``group_by``: ``limit`` groups of up to ``group_size``."""
    return await _groups(ctx, body, "recommend")


@router.post(
    "/discover",
    response_model=Envelope[list[ScoredPoint]],
    dependencies=[ReadAccess],
    summary="Discover points (near a target, within a context)",
)
async def discover_points(
    ctx: SearchCtx,
    body: DiscoverRequest,
    consistency: Consistency = None,
    timeout: Timeout = None,
) -> Response:
    """Qdrant's discovery search (exact scan): points satisfying more context pairs first,
    then nearer the target."""
    return await _one(ctx, body, "discover")


@router.post(
    "/discover/batch",
    response_model=Envelope[list[list[ScoredPoint]]],
    dependencies=[ReadAccess],
    summary="Discover batch",
)
async def discover_batch(
    ctx: SearchCtx,
    body: DiscoverRequestBatch,
    consistency: Consistency = None,
    timeout: Timeout = None,
) -> Response:
    """Several discovery searches; every one is validated before any runs."""
    return await _batch(ctx, body, "discover")


@router.post(
    "/search/groups",
    response_model=Envelope[GroupsResult],
    dependencies=[ReadAccess],
    summary="Search, grouped by a payload value",
)
async def search_groups(
    ctx: SearchCtx,
    body: SearchGroupsRequest,
    consistency: Consistency = None,
    timeout: Timeout = None,
) -> Response:
    """Nearest points grouped by ``group_by``: ``limit`` groups of up to ``group_size``
    hits, groups ranked by their best hit."""
    return await _groups(ctx, body, "search")


@router.post(
    "/query/groups",
    response_model=Envelope[GroupsResult],
    dependencies=[ReadAccess],
    summary="Query, grouped by a payload value",
)
async def query_groups(
    ctx: SearchCtx,
    body: QueryGroupsRequest,
    consistency: Consistency = None,
    timeout: Timeout = None,
) -> Response:
    """Any Query API query grouped by ``group_by`` (``with_lookup`` adds each group's point
    from another collection)."""
    return await _groups(ctx, body, "query")
