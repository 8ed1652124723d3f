"""One place that turns exceptions into HTTP statuses and Qdrant's error envelope.

* engine errors (:class:`indexes.errors.VecsearchError`) by their ``category``:
  ``bad_request`` 400, ``not_found`` 404, ``conflict`` 409, ``unavailable`` 503,
  ``internal`` 500, ``insufficient_storage`` 507 (a full disk); the message is the
  engine's, which names the field;
* request-shape errors found by the request models (FastAPI's
  :class:`~fastapi.exceptions.RequestValidationError`): 422 naming the field
  (``points[0].id: Field required``), or 400 for a body that is not JSON;
* HTTP errors raised by the service itself (401, 403, 404 route, 405, 413): their status;
* anything else: 500, logged with its traceback (a bug: bad input must never get here).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from indexes.errors import VecsearchError
from service.responses import error, request_start
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


def _fds_exhausted(t0: float, exc: BaseException) -> Response:
    """503 for running out of file descriptors, wherever it happened (a transient shortage;
    vecsearch.fdlimit recognises it)."""
    err = exhaustion_error(exc)
    log.warning("out of file descriptors: %s", exc)
    return error(503, str(err), t0, err.code)


async def _engine_error(request: Request, exc: Exception) -> Response:
    status = STATUS_OF_CATEGORY.get(error_category(exc), 500)
    if status == 500 and is_fd_exhaustion(exc):
        return _fds_exhausted(request_start(request), exc)
    if status >= 500:
        log.error("%s %s: %s", request.method, request.url.path, exc, exc_info=exc)
    return error(status, str(exc), request_start(request), getattr(exc, "code", None))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    status, message = describe_validation_error(exc)
    return error(status, message, request_start(request), "invalid_request")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"Not found: no route {request.method} {request.url.path}"
    return error(exc.status_code, message, request_start(request), headers=exc.headers)


async def _unhandled(request: Request, exc: Exception) -> Response:
    if is_fd_exhaustion(exc):
        return _fds_exhausted(request_start(request), exc)
    log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    return error(
        500, f"Service internal error: {type(exc).__name__}", request_start(request), "internal"
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(VecsearchError, _engine_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unhandled)
