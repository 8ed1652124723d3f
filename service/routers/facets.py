"""Facets and distance matrices: ``POST /collections/{name}/facet``,
``/points/search/matrix/pairs`` and ``/points/search/matrix/offsets``.

The engine does the work (:mod:`vecsearch.facets`, :mod:`vecsearch.matrix`); the routes
translate Qdrant's bodies and answers. Plain ``def`` routes: they run in the thread pool.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.deps import CollectionDep, ReadOptions, Started
from service.limits import limits_of
from service.responses import ok
from service.schemas import Envelope
from service.schemas.facets import (
    FacetRequest,
    FacetResponse,
    SearchMatrixOffsetsResponse,
    SearchMatrixPairsResponse,
    SearchMatrixRequest,
)
from service.security import ReadAccess
from vecsearch.errors import ValidationError
from vecsearch.matrix import DistanceMatrix, distance_matrix

router = APIRouter(prefix="/collections/{collection_name}", tags=["points"])


def _no_shard_key(value: object) -> None:
    if value is not None:
        raise ValidationError("shard_key", "is not supported by vecsearch")


@router.post(
    "/facet",
    response_model=Envelope[FacetResponse],
    dependencies=[ReadAccess, ReadOptions],
    summary="Facet counts",
)
def facet_counts(coll: CollectionDep, body: FacetRequest, t0: Started) -> JSONResponse:
    """How many points (passing ``filter``) hold each value of payload ``key``, by count
    then value; the key needs a keyword, integer, bool or uuid payload index (as on Qdrant's
    server; qdrant-client's local mode needs none). Counts are always exact."""
    _no_shard_key(body.shard_key)
    hits = coll.facet(body.key, body.filter, body.limit, body.exact)
    return ok({"hits": [h.to_dict() for h in hits]}, t0)


def _matrix(coll: CollectionDep, body: SearchMatrixRequest, http: Request) -> DistanceMatrix:
    _no_shard_key(body.shard_key)
    # sample x limit pairs come back (and sample x sample scores are computed)
    limits_of(http.app.state.service.settings).check_matrix(
        body.sample, body.limit, coll.point_count
    )
    return distance_matrix(coll, body.sample, body.limit, body.filter, body.using)


@router.post(
    "/points/search/matrix/pairs",
    response_model=Envelope[SearchMatrixPairsResponse],
    dependencies=[ReadAccess, ReadOptions],
    summary="Distance matrix as pairs",
)
def matrix_pairs(
    coll: CollectionDep, body: SearchMatrixRequest, t0: Started, http: Request
) -> JSONResponse:
    """Sample ``sample`` points (passing ``filter``, with vector ``using``) and give, for
    each, its ``limit`` nearest sampled points with their scores."""
    return ok(_matrix(coll, body, http).pairs(), t0)


@router.post(
    "/points/search/matrix/offsets",
    response_model=Envelope[SearchMatrixOffsetsResponse],
    dependencies=[ReadAccess, ReadOptions],
    summary="Distance matrix as offsets",
)
def matrix_offsets(
    coll: CollectionDep, body: SearchMatrixRequest, t0: Started, http: Request
) -> JSONResponse:
    """The same matrix in coordinate form (offsets into ``ids``)."""
    return ok(_matrix(coll, body, http).offsets(), t0)
