"""Relevance calibration (vecsearch extension): ``/collections/{name}/relevance``.

``PUT`` fits the collection's relevance model from labelled queries (query vectors and their
relevant point ids or graded judgements) and answers with its held-out quality report; ``GET``
reads the model's description and report; ``DELETE`` removes it. While a model exists, search
and query hits carry ``relevance`` and requests accept ``relevance_threshold``.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.deps import CollectionDep, Started, Timeout
from service.responses import ok
from service.schemas import Envelope, RelevanceFit, RelevanceInfo
from service.security import ReadAccess, WriteAccess

router = APIRouter(prefix="/collections/{collection_name}/relevance", tags=["relevance"])


@router.put(
    "",
    response_model=Envelope[RelevanceInfo],
    dependencies=[WriteAccess],
    summary="Fit the relevance model (vecsearch)",
)
def fit_relevance(
    coll: CollectionDep, body: RelevanceFit, t0: Started, timeout: Timeout = None
) -> JSONResponse:
    """Fit from labelled queries, store with the collection, return the held-out report.

    Unknown point ids, an empty relevant set, a wrong vector dimension or a non-Cosine
    collection are 400s naming the field; a failed fit leaves the previous model in place.
    """
    info = coll.fit_relevance(
        body.queries,
        body.relevant,
        min_gain=body.min_gain,
        depth=body.depth,
        n_components=body.n_components,
        ridge=body.ridge,
        folds=body.folds,
        seed=body.seed,
    )
    return ok(info, t0)


@router.get(
    "",
    response_model=Envelope[RelevanceInfo],
    dependencies=[ReadAccess],
    summary="Relevance model and its held-out report (vecsearch)",
)
def get_relevance(coll: CollectionDep, t0: Started) -> JSONResponse:
    """The fitted model's description and report (404 when there is none)."""
    return ok(coll.relevance_info(), t0)


@router.delete(
    "",
    response_model=Envelope[bool],
    dependencies=[WriteAccess],
    summary="Delete the relevance model (vecsearch)",
)
def delete_relevance(coll: CollectionDep, t0: Started, timeout: Timeout = None) -> JSONResponse:
    """Remove the model (404 when there is none); hits stop carrying ``relevance``."""
    coll.delete_relevance()
    return ok(True, t0)
