"""Dependencies shared by the routers, as ``Annotated`` aliases.

``CollectionDep`` resolves the ``collection_name`` path parameter to an open collection
(404 if it does not exist, 503 with the reason if it cannot be opened) and leases it for the
request: every collection the request looks up stays open until the request ends, however
busy the pool of open collections (:mod:`vecsearch.pool`); ``Started`` is when the request
entered the app (for the envelope's ``time``); ``Wait``, ``Timeout`` and ``Consistency`` are
Qdrant's query parameters. ``WaitFlag`` gives a point write its ``?wait=``: ``false`` answers 202
``acknowledged`` as Qdrant does, although the write was still performed synchronously (see
:func:`service.responses.update_result`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from service.metrics import Metrics
from service.responses import request_start
from service.state import ServiceState
from vecsearch.collection import Collection
from vecsearch.database import Database


async def get_state(request: Request) -> ServiceState:
    """The app's :class:`ServiceState`."""
    return request.app.state.service


State = Annotated[ServiceState, Depends(get_state)]


async def get_db(state: State) -> Database:
    """The open database (503 before start-up or after shutdown)."""
    if state.db is None:
        raise HTTPException(503, "Service unavailable: the database is not open")
    return state.db


DB = Annotated[Database, Depends(get_db)]


async def get_metrics(state: State) -> Metrics:
    """The app's metrics."""
    return state.metrics


MetricsDep = Annotated[Metrics, Depends(get_metrics)]

CollectionName = Annotated[
    str,
    Path(description="Collection name: letters, digits, '_', '.', '-' (at most 255)."),
]


async def get_collection(collection_name: CollectionName, db: DB) -> AsyncIterator[Collection]:
    """The named collection, leased for the request. Already open: returned at once, on the
    event loop (a thread pool hop costs about a millisecond on a loaded machine); otherwise
    opened in the thread pool (opening reads the store and the saved index)."""
    with db.lease_scope():  # the thread pool runs in a copy of this context: same scope
        coll = db.loaded_collection(collection_name)
        if coll is None:
            coll = await run_in_threadpool(db.get_collection, collection_name)
        yield coll


CollectionDep = Annotated[Collection, Depends(get_collection)]


class SearchContext:
    """What a search route needs, resolved by one dependency (each FastAPI dependency costs
    tens of microseconds per request; the search routes are the hot path)."""

    __slots__ = ("coll", "state", "t0")

    def __init__(self, coll: Collection, state: ServiceState, t0: float) -> None:
        self.coll = coll
        self.state = state
        self.t0 = t0


async def get_search_context(
    collection_name: CollectionName, request: Request
) -> AsyncIterator[SearchContext]:
    """The named collection (404 if absent; leased for the request, with every collection
    the search looks up), the service state and the request start."""
    state: ServiceState = request.app.state.service
    db = state.db
    if db is None:
        raise HTTPException(503, "Service unavailable: the database is not open")
    with db.lease_scope():
        coll = db.loaded_collection(collection_name)
        if coll is None:
            coll = await run_in_threadpool(db.get_collection, collection_name)
        yield SearchContext(coll, state, request_start(request))


SearchCtx = Annotated[SearchContext, Depends(get_search_context)]


async def _started(request: Request) -> float:
    return request_start(request)


Started = Annotated[float, Depends(_started)]

Wait = Annotated[
    bool | None,
    Query(
        description=(
            "Accepted for compatibility: the operation is complete (and durable) when it is "
            "answered."
        )
    ),
]
PointWait = Annotated[
    bool | None,
    Query(
        description=(
            "false: answer 202 with status 'acknowledged' (Qdrant's shape); true or absent: "
            "200 'completed'. Either way the write is performed before the answer: it is "
            "durable and visible to searches once acknowledged."
        )
    ),
]
Timeout = Annotated[int | None, Query(description="Accepted and ignored.")]
Consistency = Annotated[str | None, Query(description="Accepted and ignored (one replica).")]


async def _write_options(
    wait: PointWait = None, ordering: Consistency = None, timeout: Timeout = None
) -> bool | None:
    """Qdrant's query parameters of point writes (``?wait=&ordering=&timeout=``), declared
    once for the OpenAPI spec; returns ``wait`` (``ordering`` and ``timeout`` change
    nothing: one replica, synchronous writes)."""
    return wait


async def _read_options(consistency: Consistency = None, timeout: Timeout = None) -> None:
    """Qdrant's query parameters of point reads (``?consistency=&timeout=``): accepted."""


#: Route dependencies (``dependencies=[WriteOptions]``) that declare those parameters once.
WriteOptions = Depends(_write_options)
ReadOptions = Depends(_read_options)
#: A write route's ``?wait=`` (and the other write parameters), as a parameter.
WaitFlag = Annotated[bool | None, WriteOptions]
