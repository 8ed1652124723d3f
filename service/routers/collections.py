"""Collections: list, create, info, update (PATCH), exists, delete (Qdrant's
``/collections`` paths)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.collection_info import collection_info
from service.deps import DB, CollectionDep, CollectionName, Started, Timeout
from service.responses import ok
from service.schemas import (
    CollectionExistence,
    CollectionInfo,
    CollectionsResponse,
    CreateCollection,
    Envelope,
    UpdateCollection,
)
from service.security import ReadAccess, WriteAccess
from vecsearch.errors import CollectionExistsError, IndexTypeUnavailableError, ValidationError

router = APIRouter(tags=["collections"])


@router.get(
    "/collections",
    response_model=Envelope[CollectionsResponse],
    dependencies=[ReadAccess],
    summary="List collections",
)
def list_collections(db: DB, t0: Started) -> JSONResponse:
    """Names of every collection."""
    return ok({"collections": [{"name": n} for n in db.list_collections()]}, t0)


@router.put(
    "/collections/{collection_name}",
    response_model=Envelope[bool],
    dependencies=[WriteAccess],
    summary="Create a collection",
)
def create_collection(
    collection_name: CollectionName,
    body: CreateCollection,
    db: DB,
    t0: Started,
    timeout: Timeout = None,
) -> JSONResponse:
    """Create an empty collection (400 if it exists, as Qdrant) with the unnamed vector or named
    vectors, each its own vector space.

    vecsearch extension: ``index: {type, params}`` (top level, or per vector) chooses the
    vector index (``flat``, ``hnsw``, ``ivf_pq``, ``binary``, ``hnsw_binary``, ``spann``,
    ``muvera``) and its parameters.
    """
    try:
        db.create_collection(collection_name, body.model_dump(exclude_unset=True))
    except IndexTypeUnavailableError as exc:  # the request asked for it: the caller's error
        raise ValidationError("index.type", str(exc)) from exc
    except CollectionExistsError as exc:  # Qdrant answers 400 (BadInput), not 409, here
        raise ValidationError(
            "collection_name", f"Wrong input: Collection `{collection_name}` already exists!"
        ) from exc
    return ok(True, t0)


@router.get(
    "/collections/{collection_name}",
    response_model=Envelope[CollectionInfo],
    dependencies=[ReadAccess],
    summary="Collection info",
)
def get_collection(coll: CollectionDep, t0: Started) -> JSONResponse:
    """Qdrant's ``CollectionInfo`` plus a ``vecsearch`` section (index type, parameters)."""
    return ok(collection_info(coll.describe()), t0)


@router.patch(
    "/collections/{collection_name}",
    response_model=Envelope[bool],
    dependencies=[WriteAccess],
    summary="Update collection parameters",
)
def update_collection(
    coll: CollectionDep, body: UpdateCollection, t0: Started, timeout: Timeout = None
) -> JSONResponse:
    """Change what Qdrant lets you change: vectors' ``hnsw_config`` / ``on_disk`` /
    ``quantization_config`` (and vecsearch's ``index``), the collection's ``hnsw_config``,
    ``optimizers_config``, ``params``, ``strict_mode_config``, ``metadata``. The new settings
    are durable when this returns; an index whose build parameters changed is rebuilt in the
    background while the old one keeps answering (collection status ``yellow`` meanwhile)."""
    try:
        coll.update_config(body.model_dump(exclude_unset=True))
    except IndexTypeUnavailableError as exc:  # the request asked for it: the caller's error
        raise ValidationError("vectors.index.type", str(exc)) from exc
    return ok(True, t0)


@router.get(
    "/collections/{collection_name}/exists",
    response_model=Envelope[CollectionExistence],
    dependencies=[ReadAccess],
    summary="Does a collection exist",
)
def collection_exists(collection_name: CollectionName, db: DB, t0: Started) -> JSONResponse:
    """``{"exists": true|false}``; true for an alias too (Qdrant resolves the name)."""
    return ok({"exists": db.collection_exists(db.resolve(collection_name))}, t0)


@router.delete(
    "/collections/{collection_name}",
    response_model=Envelope[bool],
    dependencies=[WriteAccess],
    summary="Delete a collection",
)
def delete_collection(
    collection_name: CollectionName, db: DB, t0: Started, timeout: Timeout = None
) -> JSONResponse:
    """Delete the collection and its snapshots; ``result`` is false if it did not exist."""
    return ok(db.delete_collection(collection_name), t0)
