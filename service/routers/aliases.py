"""Collection aliases (Qdrant's ``/collections/aliases``, ``/aliases``,
``/collections/{name}/aliases``); the rules are :mod:`vecsearch.aliases`'s."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.deps import DB, CollectionName, Started, Timeout
from service.responses import ok
from service.schemas.collections import AliasesResponse, ChangeAliases
from service.schemas.responses import Envelope
from service.security import ReadAccess, WriteAccess
from vecsearch.aliases import parse_actions
from vecsearch.database import check_collection_name

router = APIRouter(tags=["aliases"])


def _described(pairs: list[tuple[str, str]]) -> dict[str, list[dict[str, str]]]:
    return {"aliases": [{"alias_name": a, "collection_name": c} for a, c in pairs]}


@router.post(
    "/collections/aliases",
    response_model=Envelope[bool],
    dependencies=[WriteAccess],
    summary="Create, delete or rename aliases",
)
def update_aliases(
    body: ChangeAliases, db: DB, t0: Started, timeout: Timeout = None
) -> JSONResponse:
    """Apply ``create_alias`` / ``delete_alias`` / ``rename_alias`` actions in order, all or
    nothing (404 for a missing collection or alias, 400 for an alias named like a
    collection). Durable when this returns."""
    actions = parse_actions(body.model_dump(exclude_none=True), check_collection_name)
    db.update_aliases(actions)
    return ok(True, t0)


@router.get(
    "/aliases",
    response_model=Envelope[AliasesResponse],
    dependencies=[ReadAccess],
    summary="List all aliases",
)
def list_aliases(db: DB, t0: Started) -> JSONResponse:
    """Every alias and its collection, sorted by alias name."""
    return ok(_described(db.aliases.all()), t0)


@router.get(
    "/collections/{collection_name}/aliases",
    response_model=Envelope[AliasesResponse],
    dependencies=[ReadAccess],
    summary="List a collection's aliases",
)
def collection_aliases(collection_name: CollectionName, db: DB, t0: Started) -> JSONResponse:
    """The aliases of one collection (an empty list for an unknown name, as in Qdrant)."""
    check_collection_name(collection_name)
    pairs = [(a, collection_name) for a in db.aliases.of(collection_name)]
    return ok(_described(pairs), t0)
