"""Search and the Query API (nearest-neighbour subset).

Routes are plain ``def``: FastAPI runs them in its thread pool, and the Numba kernels release
the GIL, so concurrent searches run in parallel.

Query API subset: ``query`` is a vector, a point id, or ``{"nearest": vector | id}``; with
``filter``, ``score_threshold``, ``limit`` / ``offset``, ``with_payload`` / ``with_vector``
and ``params``. A point id as the query searches with that point's vector and leaves the
point itself out of the results, as Qdrant does. Other query kinds (recommend, discover,
context, fusion, order_by, formula, sample), ``prefetch``, ``using`` a named vector and
``lookup_from`` are rejected with 400 naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.deps import CollectionDep, Consistency, MetricsDep, Started, Timeout
from service.responses import ok
from service.routers.points import reject_set
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
from vecsearch import models as engine
from vecsearch.collection import Collection
from vecsearch.config import Distance
from vecsearch.errors import PointNotFoundError, ValidationError
from vecsearch.filters import Filter, HasId, parse_filter
from vecsearch.ids import parse_point_id
from vecsearch.validate import check_query

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
        with_payload=engine.PayloadSelector.parse(body.with_payload, f"{pre}with_payload"),
        with_vector=engine.parse_with_vector(body.with_vector, f"{pre}with_vector"),
    )


def query_request(coll: Collection, body: QueryRequest, field: str = "") -> engine.SearchRequest:
    """The engine's request for a Qdrant query body: resolves point-id queries and checks
    the query vector (errors name ``query``)."""
    pre = _prefix(field)
    unsupported = "is not supported: vecsearch answers nearest-neighbour queries only"
    reject_set(f"{pre}prefetch", body.prefetch, unsupported)
    reject_set(f"{pre}lookup_from", body.lookup_from)
    reject_set(f"{pre}shard_key", body.shard_key)
    if body.using not in (None, ""):
        raise ValidationError(f"{pre}using", "named vectors are not supported (one vector)")
    target, qfield = body.query, f"{pre}query"
    if target is None:
        raise ValidationError(qfield, "missing: give a vector, a point id or {nearest: ...}")
    if isinstance(target, Mapping):
        if "nearest" not in target:
            kind = sorted(target)[0] if target else "{}"
            raise ValidationError(f"{qfield}.{kind}", f"query kind {unsupported}")
        for key, value in target.items():
            if key != "nearest" and value is not None:
                raise ValidationError(f"{qfield}.{key}", "is not supported")
        target, qfield = target["nearest"], f"{qfield}.nearest"
    flt = parse_filter(body.filter, f"{pre}filter")
    cosine = coll.config.distance is Distance.COSINE
    if isinstance(target, int | str):
        pid = parse_point_id(target, qfield)
        found = coll.retrieve([pid], with_payload=False, with_vector=True)
        if not found:
            raise PointNotFoundError(f"{qfield}: no point with id {pid} in {coll.name!r}")
        vector = np.asarray(found[0].vector, dtype=np.float32)
        exclude = HasId(frozenset([pid]))
        flt = Filter(must=(flt,) if flt is not None else None, must_not=(exclude,))
    else:
        vector = check_query(target, coll.config.size, qfield, cosine=cosine)
    return engine.SearchRequest(
        vector=vector,
        limit=10 if body.limit is None else body.limit,
        offset=body.offset or 0,
        filter=flt,
        params=_params(body.params),
        score_threshold=body.score_threshold,
        with_payload=engine.PayloadSelector.parse(body.with_payload, f"{pre}with_payload"),
        with_vector=engine.parse_with_vector(body.with_vector, f"{pre}with_vector"),
    )


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
    )
    return [h.to_dict() for h in hits]


def _run_batch(coll: Collection, reqs: list[engine.SearchRequest]) -> list[list[dict[str, Any]]]:
    return [[h.to_dict() for h in hits] for hits in coll.search_batch(reqs)]


@router.post(
    "/search",
    response_model=Envelope[list[ScoredPoint]],
    dependencies=[ReadAccess],
    summary="Search (nearest points to a vector)",
)
def search_points(
    coll: CollectionDep,
    body: SearchRequest,
    metrics: MetricsDep,
    t0: Started,
    consistency: Consistency = None,
    timeout: Timeout = None,
) -> JSONResponse:
    """The ``limit`` nearest points to ``vector`` that pass ``filter``, best first."""
    req = search_request(body)
    with metrics.time_search(coll.config.index.type):
        hits = _run_one(coll, req)
    return ok(hits, t0)


@router.post(
    "/search/batch",
    response_model=Envelope[list[list[ScoredPoint]]],
    dependencies=[ReadAccess],
    summary="Search batch",
)
def search_batch(
    coll: CollectionDep,
    body: SearchRequestBatch,
    metrics: MetricsDep,
    t0: Started,
    consistency: Consistency = None,
    timeout: Timeout = None,
) -> JSONResponse:
    """Several searches; every one is validated before any runs."""
    reqs = [search_request(s, f"searches[{i}]") for i, s in enumerate(body.searches)]
    with metrics.time_search(coll.config.index.type):
        results = _run_batch(coll, reqs)
    return ok(results, t0)


@router.post(
    "/query",
    response_model=Envelope[QueryResponse],
    dependencies=[ReadAccess],
    summary="Query points (nearest-neighbour subset of the Query API)",
)
def query_points(
    coll: CollectionDep,
    body: QueryRequest,
    metrics: MetricsDep,
    t0: Started,
    consistency: Consistency = None,
    timeout: Timeout = None,
) -> JSONResponse:
    """Nearest points to a vector or to a stored point (see the module notes)."""
    req = query_request(coll, body)
    with metrics.time_search(coll.config.index.type):
        hits = _run_one(coll, req)
    return ok({"points": hits}, t0)


@router.post(
    "/query/batch",
    response_model=Envelope[list[QueryResponse]],
    dependencies=[ReadAccess],
    summary="Query batch",
)
def query_batch(
    coll: CollectionDep,
    body: QueryRequestBatch,
    metrics: MetricsDep,
    t0: Started,
    consistency: Consistency = None,
    timeout: Timeout = None,
) -> JSONResponse:
    """Several queries; every one is validated before any runs."""
    reqs = [query_request(coll, q, f"searches[{i}]") for i, q in enumerate(body.searches)]
    with metrics.time_search(coll.config.index.type):
        results = _run_batch(coll, reqs)
    return ok([{"points": hits} for hits in results], t0)
