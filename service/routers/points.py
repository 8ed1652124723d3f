"""Points: upsert, retrieve, delete, vector and payload updates, count, scroll.

Every write is validated completely before anything is stored (a bad point in a batch
changes nothing), is durable when acknowledged, and is visible to every search that starts
after the response. ``?wait=false`` answers 202 ``acknowledged`` (Qdrant's shape) but the
write is still performed before the answer. ``POST /points/batch`` applies a list of these
operations in order and atomically (:mod:`vecsearch.batch_update`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from service.deps import CollectionDep, ReadOptions, Started, WaitFlag
from service.limits import limits_of
from service.responses import ok, update_result
from service.schemas import (
    CountRequest,
    CountResult,
    DeletePayload,
    DeleteVectors,
    Envelope,
    PointRequest,
    PointsSelector,
    Record,
    ScrollRequest,
    ScrollResult,
    SetPayload,
    UpdateOperations,
    UpdateResult,
    UpdateVectors,
    UpsertPoints,
)
from service.security import ReadAccess, WriteAccess
from vecsearch.errors import PointNotFoundError, ValidationError
from vecsearch.ids import parse_point_id
from vecsearch.query.parse import with_vector_of

router = APIRouter(prefix="/collections/{collection_name}", tags=["points"])


def reject_set(field: str, value: Any, what: str = "is not supported by vecsearch") -> None:
    """400 naming ``field`` when an unsupported Qdrant option is given a value."""
    if value is not None:
        raise ValidationError(field, what)


def _default(value: Any, default: Any) -> Any:
    return default if value is None else value


@router.put(
    "/points",
    response_model=Envelope[UpdateResult],
    dependencies=[WriteAccess],
    summary="Upsert points",
)
def upsert_points(
    coll: CollectionDep,
    body: UpsertPoints,
    t0: Started,
    wait: WaitFlag,
) -> JSONResponse:
    """Insert or replace points, in the list form (``points``) or the column form
    (``batch``). A point id that repeats within the request: the last one wins."""
    reject_set("shard_key", body.shard_key)
    reject_set("update_filter", body.update_filter)
    if body.update_mode not in (None, "upsert"):
        raise ValidationError("update_mode", "only 'upsert' is supported")
    if body.points is not None:
        points = [{"id": p.id, "vector": p.vector, "payload": p.payload} for p in body.points]
        result = coll.upsert(points)
    else:
        assert body.batch is not None
        b = body.batch
        result = coll.upsert_batch(b.ids, b.vectors, b.payloads)
    return update_result(result.to_dict(), t0, wait)


@router.post(
    "/points/batch",
    response_model=Envelope[list[UpdateResult]],
    dependencies=[WriteAccess],
    summary="Batch update points",
)
def batch_update(
    coll: CollectionDep,
    body: UpdateOperations,
    t0: Started,
    wait: WaitFlag,
) -> JSONResponse:
    """Apply ``operations`` (upsert, delete, set/overwrite/delete/clear payload, update and
    delete vectors) in order and atomically: all are validated first, each sees the earlier
    ones, and if one fails (e.g. 404 on a missing id) nothing of the request is written.
    One ``UpdateResult`` per operation."""
    results = coll.batch_update(body.operations)
    return update_result([r.to_dict() for r in results], t0, wait)


@router.post(
    "/points",
    response_model=Envelope[list[Record]],
    dependencies=[ReadAccess, ReadOptions],
    summary="Retrieve points by id",
)
def get_points(
    coll: CollectionDep,
    body: PointRequest,
    t0: Started,
) -> JSONResponse:
    """The points with these ids, in request order (missing ids are skipped)."""
    reject_set("shard_key", body.shard_key)
    wv, _ = with_vector_of(body.model_dump(include={"with_vector", "with_vectors"}), "")
    records = coll.retrieve(body.ids, _default(body.with_payload, True), _default(wv, False))
    return ok([r.to_dict() for r in records], t0)


@router.get(
    "/points/{id}",
    response_model=Envelope[Record],
    dependencies=[ReadAccess, ReadOptions],
    summary="Retrieve one point",
)
def get_point(
    coll: CollectionDep,
    id: Annotated[str, PathParam(description="Point id: unsigned integer or UUID.")],
    t0: Started,
) -> JSONResponse:
    """One point with its payload and vector (404 if it does not exist)."""
    pid = parse_point_id(int(id) if id.isascii() and id.isdigit() else id, "id")
    records = coll.retrieve([pid], with_payload=True, with_vector=True)
    if not records:
        raise PointNotFoundError(f"no point with id {id} in collection {coll.name!r}")
    return ok(records[0].to_dict(), t0)


@router.post(
    "/points/delete",
    response_model=Envelope[UpdateResult],
    dependencies=[WriteAccess],
    summary="Delete points",
)
def delete_points(
    coll: CollectionDep,
    body: PointsSelector,
    t0: Started,
    wait: WaitFlag,
) -> JSONResponse:
    """Delete points by ids (``points``; missing ids are ignored) or by ``filter``."""
    reject_set("shard_key", body.shard_key)
    return update_result(coll.delete(points=body.points, filter=body.filter).to_dict(), t0, wait)


@router.put(
    "/points/vectors",
    response_model=Envelope[UpdateResult],
    dependencies=[WriteAccess],
    summary="Update vectors",
)
def update_vectors(
    coll: CollectionDep,
    body: UpdateVectors,
    t0: Started,
    wait: WaitFlag,
) -> JSONResponse:
    """Set the given (named) vectors of existing points; their other vectors and payloads
    are untouched. 404 if a point does not exist."""
    reject_set("shard_key", body.shard_key)
    reject_set("update_filter", body.update_filter)
    points = [{"id": p.id, "vector": p.vector} for p in body.points]
    return update_result(coll.update_vectors(points).to_dict(), t0, wait)


@router.post(
    "/points/vectors/delete",
    response_model=Envelope[UpdateResult],
    dependencies=[WriteAccess],
    summary="Delete vectors",
)
def delete_vectors(
    coll: CollectionDep,
    body: DeleteVectors,
    t0: Started,
    wait: WaitFlag,
) -> JSONResponse:
    """Remove the named vectors (``vector``) from the points chosen by ids or filter; the
    points and their other vectors stay."""
    reject_set("shard_key", body.shard_key)
    result = coll.delete_vectors(body.vector, points=body.points, filter=body.filter)
    return update_result(result.to_dict(), t0, wait)


@router.post(
    "/points/payload",
    response_model=Envelope[UpdateResult],
    dependencies=[WriteAccess],
    summary="Set payload (merge)",
)
def set_payload(
    coll: CollectionDep,
    body: SetPayload,
    t0: Started,
    wait: WaitFlag,
) -> JSONResponse:
    """Merge ``payload`` into the payload of the points (at ``key`` if given); 404 if an
    id does not exist."""
    reject_set("shard_key", body.shard_key)
    result = coll.set_payload(body.payload, points=body.points, filter=body.filter, key=body.key)
    return update_result(result.to_dict(), t0, wait)


@router.put(
    "/points/payload",
    response_model=Envelope[UpdateResult],
    dependencies=[WriteAccess],
    summary="Overwrite payload",
)
def overwrite_payload(
    coll: CollectionDep,
    body: SetPayload,
    t0: Started,
    wait: WaitFlag,
) -> JSONResponse:
    """Replace the payload of the points with ``payload``."""
    reject_set("shard_key", body.shard_key)
    reject_set("key", body.key, "is not supported when overwriting payloads")
    result = coll.overwrite_payload(body.payload, points=body.points, filter=body.filter)
    return update_result(result.to_dict(), t0, wait)


@router.post(
    "/points/payload/delete",
    response_model=Envelope[UpdateResult],
    dependencies=[WriteAccess],
    summary="Delete payload keys",
)
def delete_payload(
    coll: CollectionDep,
    body: DeletePayload,
    t0: Started,
    wait: WaitFlag,
) -> JSONResponse:
    """Remove ``keys`` (paths allowed) from the payload of the points."""
    reject_set("shard_key", body.shard_key)
    result = coll.delete_payload(body.keys, points=body.points, filter=body.filter)
    return update_result(result.to_dict(), t0, wait)


@router.post(
    "/points/payload/clear",
    response_model=Envelope[UpdateResult],
    dependencies=[WriteAccess],
    summary="Clear payload",
)
def clear_payload(
    coll: CollectionDep,
    body: PointsSelector,
    t0: Started,
    wait: WaitFlag,
) -> JSONResponse:
    """Remove every payload key from the points."""
    reject_set("shard_key", body.shard_key)
    return update_result(
        coll.clear_payload(points=body.points, filter=body.filter).to_dict(), t0, wait
    )


@router.post(
    "/points/count",
    response_model=Envelope[CountResult],
    dependencies=[ReadAccess, ReadOptions],
    summary="Count points",
)
def count_points(
    coll: CollectionDep,
    t0: Started,
    body: CountRequest | None = None,
) -> JSONResponse:
    """Number of points passing ``filter`` (all points without one); always exact."""
    body = body or CountRequest()
    reject_set("shard_key", body.shard_key)
    return ok({"count": coll.count(body.filter)}, t0)


@router.post(
    "/points/scroll",
    response_model=Envelope[ScrollResult],
    dependencies=[ReadAccess, ReadOptions],
    summary="Scroll points",
)
def scroll_points(
    coll: CollectionDep,
    t0: Started,
    http: Request,
    body: ScrollRequest | None = None,
) -> JSONResponse:
    """A page of points in id order from ``offset`` (inclusive); ``next_page_offset`` is
    the id to pass as ``offset`` for the next page (null at the end). With ``order_by``: in
    payload order (each point once per distinct value, with its ``order_value``), paged by
    ``start_from``, ``next_page_offset`` null. A page of more points than the setting
    ``max_result_points`` is refused with 400 (a limit of 2**63 or 10**30 is a page of
    every point of a small collection)."""
    body = body or ScrollRequest()
    reject_set("shard_key", body.shard_key)
    limits_of(http.app.state.service.settings).check_scroll(body.limit, coll.point_count)
    wv, _ = with_vector_of(body.model_dump(include={"with_vector", "with_vectors"}), "")
    records, nxt = coll.scroll(
        filter=body.filter,
        limit=_default(body.limit, 10),
        offset=body.offset,
        with_payload=_default(body.with_payload, True),
        with_vector=_default(wv, False),
        order_by=body.order_by,
    )
    return ok({"points": [r.to_dict() for r in records], "next_page_offset": nxt}, t0)
