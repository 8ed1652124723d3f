"""One place that turns exceptions into HTTP statuses and Qdrant's error envelope.

* engine errors (:class:`indexes.errors.VecsearchError`) by their ``category``:
  ``bad_request`` 400, ``not_found`` 404, ``conflict`` 409, ``unavailable`` 503,
  ``internal`` 500, ``insufficient_storage`` 507 (a full disk); the message is the
  engine's, which names the field;
* request-shape errors found by the request models (FastAPI's
  :class:`~fastapi.exceptions.RequestValidationError`): 422 naming the field
  (``points[0].id: Field required``), or 400 for a body that is not JSON;
* HTTP errors raised by the service itself (401, 403, 404 route, 405, 413): their status;
  a body FastAPI could not parse (not UTF-8, an integer of more than 4,300 digits) is a 400
  that says why, instead of FastAPI's bare "There was an error parsing the body";
* anything else: 500 in the same envelope, logged once with its traceback (a bug: bad input
  must never get here). :class:`ErrorBoundary` answers it on the same connection:
  Starlette's own last-resort handler answers too, but then re-raises, so uvicorn logged the
  error a second time and closed a keep-alive connection.

Messages are made encodable first (a lone surrogate in a name would otherwise break the
error response itself). :class:`service.body_guard.JSONBodyGuard`, installed here as well,
refuses bodies nested too deeply or holding lone surrogates before they are parsed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from indexes.errors import VecsearchError
from service.body_guard import JSONBodyGuard
from service.responses import START_KEY, error, request_start
from service.schemas.collections import NAMED, UNNAMED
from vecsearch.errors import error_category
from vecsearch.fdlimit import exhaustion_error, is_fd_exhaustion

log = logging.getLogger("service")

#: HTTP status of each engine error category.
STATUS_OF_CATEGORY = {
    "bad_request": 400,
    "not_found": 404,
    "conflict": 409,
    "unavailable": 503,
    "internal": 500,
    "insufficient_storage": 507,
}
_SOURCES = ("body", "query", "path", "header", "cookie")
#: Tags of the tagged unions of the request models: not fields, left out of error paths.
UNION_TAGS = frozenset({UNNAMED, NAMED})


def field_path(loc: Sequence[Any]) -> str:
    """``("body", "points", 0, "vector")`` -> ``points[0].vector`` (the engine's style)."""
    parts = [p for p in loc if p not in UNION_TAGS]
    source = parts.pop(0) if parts and parts[0] in _SOURCES else ""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    if not out:
        return "request body" if source == "body" else source or "request"
    return out if source in ("body", "") else f"{source} parameter {out}"


def describe_validation_error(exc: RequestValidationError) -> tuple[int, str]:
    """Status and message for a request the models rejected."""
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        e = next(e for e in errors if e.get("type") == "json_invalid")
        detail = (e.get("ctx") or {}).get("error", "invalid JSON")
        pos = e["loc"][1] if len(e.get("loc", ())) > 1 else "?"
        return 400, f"Format error in JSON body: {detail} at position {pos}"
    msgs = []
    for e in errors[:5]:
        msg = str(e.get("msg", "invalid"))
        if e.get("type") == "extra_forbidden":
            msg = "unknown field"
        elif e.get("type") == "missing":
            msg = "missing"
        msgs.append(f"{field_path(e.get('loc', ()))}: {msg}")
    if len(errors) > 5:
        msgs.append(f"... and {len(errors) - 5} more")
    return 422, "Validation error in request: " + "; ".join(msgs)


def _text(message: str) -> str:
    """``message`` with anything UTF-8 cannot encode (lone surrogates) escaped."""
    return message.encode("utf-8", "backslashreplace").decode("utf-8")


#: FastAPI's message for a body its JSON reader failed on with something else than a
#: ``JSONDecodeError`` (which it reports itself, as ``json_invalid``).
_FASTAPI_BODY_ERROR = "There was an error parsing the body"


def _body_error(exc: HTTPException) -> str | None:
    """Why FastAPI could not read a JSON body, from the exception it was raised from."""
    cause = exc.__cause__
    if exc.status_code != 400 or exc.detail != _FASTAPI_BODY_ERROR or cause is None:
        return None
    if isinstance(cause, UnicodeDecodeError):
        return f"Format error in JSON body: not valid UTF-8 (byte {cause.start})"
    if isinstance(cause, RecursionError):
        return "Format error in JSON body: nested too deeply"
    return f"Format error in JSON body: {cause}"


def _fds_exhausted(t0: float, exc: BaseException) -> Response:
    """503 for running out of file descriptors, wherever it happened (a transient shortage;
    vecsearch.fdlimit recognises it)."""
    err = exhaustion_error(exc)
    log.warning("out of file descriptors: %s", exc)
    return error(503, str(err), t0, err.code)


def engine_error_response(scope: Scope, exc: Exception) -> Response:
    """The answer to an engine error (:class:`~vecsearch.errors.VecsearchError`): the status
    of its category, the envelope with its message and code; 5xx ones are logged."""
    t0 = scope.get(START_KEY) or time.perf_counter()
    status = STATUS_OF_CATEGORY.get(error_category(exc), 500)
    if status == 500 and is_fd_exhaustion(exc):
        return _fds_exhausted(t0, exc)
    if status >= 500:
        log.error("%s %s: %s", scope.get("method"), scope.get("path"), exc, exc_info=exc)
    return error(status, _text(str(exc)), t0, getattr(exc, "code", None))


async def _engine_error(request: Request, exc: Exception) -> Response:
    return engine_error_response(request.scope, exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    status, message = describe_validation_error(exc)
    return error(status, _text(message), request_start(request), "invalid_request")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"Not found: no route {request.method} {request.url.path}"
    body_error = _body_error(exc)
    if body_error is not None:
        return error(400, _text(body_error), request_start(request), "invalid_request")
    return error(exc.status_code, _text(message), request_start(request), headers=exc.headers)


def _internal_error(scope: Scope, exc: Exception) -> Response:
    """Log ``exc`` (once, with its traceback) and the 500 envelope that answers it."""
    if is_fd_exhaustion(exc):
        return _fds_exhausted(scope.get(START_KEY) or time.perf_counter(), exc)
    log.error("unhandled error in %s %s", scope.get("method"), scope.get("path"), exc_info=exc)
    t0 = scope.get(START_KEY) or time.perf_counter()
    return error(500, f"Service internal error: {type(exc).__name__}", t0, "internal")


async def _unhandled(request: Request, exc: Exception) -> Response:
    # Starlette's last resort, for errors outside ErrorBoundary (in the outer middleware);
    # it re-raises after answering, so uvicorn logs those again and closes the connection.
    return _internal_error(request.scope, exc)


class ErrorBoundary:
    """Innermost middleware: an exception escaping a route becomes the 500 envelope, logged
    once, and the connection stays open for the client's next request.

    If the response has already started (a streamed body failed half-way), no answer can be
    sent any more: the exception goes on to the server, which ends the connection.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except Exception as exc:
            if started:
                raise
            await _internal_error(scope, exc)(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``, and the two innermost middlewares: the body guard
    inside the error boundary (call this before adding other middleware, which then wrap
    both; only the fast lane of :mod:`service.fast_lane` goes inside, added first)."""
    app.add_exception_handler(VecsearchError, _engine_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unhandled)
    app.add_middleware(JSONBodyGuard)
    app.add_middleware(ErrorBoundary)
