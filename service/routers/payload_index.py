"""Payload indexes: ``PUT /collections/{name}/index`` and ``DELETE .../index/{field_name}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from service.deps import CollectionDep, Started, WriteOptions
from service.responses import ok
from service.schemas import CreateFieldIndex, Envelope, UpdateResult
from service.security import WriteAccess

router = APIRouter(prefix="/collections/{collection_name}/index", tags=["payload index"])


@router.put(
    "",
    response_model=Envelope[UpdateResult],
    dependencies=[WriteAccess, WriteOptions],
    summary="Create a payload index",
)
def create_field_index(
    coll: CollectionDep,
    body: CreateFieldIndex,
    t0: Started,
) -> JSONResponse:
    """Index payload field ``field_name`` so filters on it are answered from the index.
    ``field_schema``: keyword, integer, float, bool, datetime, uuid, geo or text, as a name
    or Qdrant's params object (see vecsearch.payload_schema; bad members are 400s naming
    them). A new index of a field replaces the old one."""
    return ok(coll.create_payload_index(body.field_name, body.field_schema).to_dict(), t0)


@router.delete(
    "/{field_name}",
    response_model=Envelope[UpdateResult],
    dependencies=[WriteAccess, WriteOptions],
    summary="Delete a payload index",
)
def delete_field_index(
    coll: CollectionDep,
    field_name: Annotated[str, PathParam(description="The indexed payload field.")],
    t0: Started,
) -> JSONResponse:
    """Drop the index on ``field_name`` (no error if there is none)."""
    return ok(coll.delete_payload_index(field_name).to_dict(), t0)
