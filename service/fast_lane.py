"""A fast lane for the commonest write: ``PUT /collections/{name}/points`` with a plain list
of points (an id, an unnamed dense vector, an optional payload each).

Why: FastAPI's routing, dependency resolution and body model cost more of the server's
Python time than the write itself (measured with ``py-spy --gil`` under 32 upsert clients:
about two thirds of the time holding the GIL was the HTTP stack, a fifth the engine), and
every Python instruction of a request competes for one GIL. Issue 19 asks for 1,000
single-point upserts/s from 32 clients; this lane serves such a request with one JSON parse
(orjson), one shape check and the engine call.

How it stays equivalent to the route (:func:`service.routers.points.upsert_points`):

* It sits inside the body guard, the size limit, the metrics and the error boundary, so
  every request-level check of the app still applies; it labels the request with the
  route's template for the metrics.
* It only takes requests it can prove to be of the plain shape: the body is an object with
  the one key ``points``, a non-empty list of objects with keys among ``id``, ``vector``
  (a list of JSON numbers) and ``payload`` (an object or null); the query string is empty
  or ``wait=true|false``; the collection is open already; the API key (when keys are
  configured) may write. Anything else — and any error of the engine's validation — goes to
  the route itself, untouched (the body is handed on as it was received), so every error
  message and status is the route's own. The engine validates a write completely before it
  stores anything, so a refused write has changed nothing when the route sees it.
* Errors of the store after validation (a full disk, a closed collection) are answered by
  the app's own mapping of engine errors (:func:`service.errors.engine_error_response`).

The engine call runs in the thread pool, as the route's does, so concurrent writes share one
group commit (:mod:`vecsearch.group_commit`).
"""

from __future__ import annotations

import re
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import engine_error_response
from service.responses import START_KEY, update_result
from service.security import check_access
from vecsearch.errors import ValidationError, VecsearchError
from vecsearch.jsonout import loads_strict

#: ``/collections/{name}/points`` (a name is one path segment).
_PATH = re.compile(r"/collections/([^/]+)/points")
#: The route template the metrics label this lane's requests with.
ROUTE_TEMPLATE = "/collections/{collection_name}/points"
_POINT_KEYS = frozenset(("id", "vector", "payload"))
_WAIT = {b"": None, b"wait=true": True, b"wait=false": False}


class _Label:
    """What the metrics middleware reads from ``scope["route"]``: the template."""

    path = ROUTE_TEMPLATE


def plain_points(body: Any) -> list[dict[str, Any]] | None:
    """The points of an upsert body of the plain list shape (see the module docs), as the
    route hands them to the engine, or None when the body is of any other shape."""
    if type(body) is not dict or len(body) != 1:
        return None
    points = body.get("points")
    if type(points) is not list or not points:
        return None
    out = []
    for p in points:
        if type(p) is not dict or "id" not in p or "vector" not in p or not p.keys() <= _POINT_KEYS:
            return None
        pid, vector, payload = p["id"], p["vector"], p.get("payload")
        if type(pid) not in (int, str) or type(vector) is not list:
            return None
        if payload is not None and type(payload) is not dict:
            return None
        for x in vector:
            if type(x) is not float and type(x) is not int:
                return None
        out.append({"id": pid, "vector": vector, "payload": payload})
    return out


class FastUpsertLane:
    """ASGI middleware: plain single-space upserts answered without FastAPI's routing (see
    module docs); every other request passes through unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        #: Requests this lane answered itself (the others went to the routes), for tests.
        self.served = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "PUT":
            await self.app(scope, receive, send)
            return
        match = _PATH.fullmatch(scope["path"])
        wait = _WAIT.get(scope.get("query_string", b""), "other")
        if match is None or wait == "other":
            await self.app(scope, receive, send)
            return
        message = await receive()  # the body guard hands the whole body on in one message
        if message["type"] != "http.request" or message.get("more_body", False):
            await self.app(scope, _replay(message, receive), send)
            return
        response = await self._answer(scope, match.group(1), message.get("body", b""), wait)
        if response is None:
            await self.app(scope, _replay(message, receive), send)
            return
        scope["route"] = _Label
        self.served += 1
        await response(scope, receive, send)

    async def _answer(self, scope: Scope, name: str, raw: bytes, wait: bool | None) -> Any:
        """The response, or None to hand the request to the route."""
        state = scope["app"].state.service
        db = state.db
        if db is None:
            return None
        try:
            check_access(state.settings, _api_key(scope), write=True)
        except HTTPException:
            return None
        points = plain_points(loads_strict(raw))
        if points is None:
            return None
        t0 = scope.get(START_KEY) or time.perf_counter()
        with db.lease_scope():
            coll = db.loaded_collection(name)
            if coll is None:
                return None
            try:
                result = await run_in_threadpool(coll.upsert, points)
            except ValidationError:
                return None  # nothing was written: the route gives its own answer
            except VecsearchError as exc:
                return engine_error_response(scope, exc)
        return update_result(result.to_dict(), t0, wait)


def _api_key(scope: Scope) -> str | None:
    """The supplied key as :mod:`service.security` reads it: the first ``api-key`` header
    when it is not empty, else the credentials of the first ``Authorization: Bearer``
    header."""
    key = auth = None
    for k, v in scope.get("headers", ()):
        if k == b"api-key" and key is None:
            key = v.decode("latin-1")
        elif k == b"authorization" and auth is None:
            auth = v.decode("latin-1")
    if key:
        return key
    if auth is None:
        return None
    scheme, _, token = auth.partition(" ")
    return token if scheme.lower() == "bearer" and token else None


def _replay(message: Message, receive: Receive) -> Receive:
    """``receive`` that first gives ``message`` again."""
    pending: Message | None = message

    async def replayed() -> Message:
        nonlocal pending
        if pending is None:
            return await receive()
        out, pending = pending, None
        return out

    return replayed
