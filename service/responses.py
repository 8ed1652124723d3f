"""Qdrant's envelopes: ``{"result", "status": "ok", "time"}`` and ``{"status": {"error"}, "time"}``.

``time`` is measured from when the request entered the app (set by the metrics middleware in
the ASGI scope, see :func:`request_start`). Bodies are written by :func:`vecsearch.jsonout.dumps`
(orjson): vectors are float32 numpy arrays and come out at the precision they were stored at.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vecsearch.jsonout import dumps

START_KEY = "vecsearch_t0"


def request_start(request: Request) -> float:
    """When the request entered the app (``perf_counter``), or now if not recorded."""
    return request.scope.get(START_KEY) or time.perf_counter()


class FastJSONResponse(JSONResponse):
    """A JSON response rendered by orjson (numpy arrays included)."""

    def render(self, content: Any) -> bytes:
        return dumps(content)


def ok(result: Any, t0: float, status_code: int = 200) -> Response:
    """Success envelope around ``result`` (JSON-ready; numpy arrays allowed)."""
    return FastJSONResponse(
        {"result": result, "status": "ok", "time": time.perf_counter() - t0},
        status_code=status_code,
    )


def ok_or_accepted(result: Any, t0: float, wait: bool | None) -> Response:
    """A snapshot operation's answer: with ``?wait=false`` Qdrant answers 202 ``{"status":
    "accepted"}`` without a result (the task runs in its background); so do we, though the
    operation has been performed already. Otherwise the success envelope."""
    if wait is not False:
        return ok(result, t0)
    return FastJSONResponse(
        {"result": None, "status": "accepted", "time": time.perf_counter() - t0},
        status_code=202,
    )


def update_result(result: Any, t0: float, wait: bool | None) -> Response:
    """A write's ``UpdateResult`` (or list of them, for a batch). With ``?wait=false``
    Qdrant answers 202 with status ``acknowledged``; so do we, though the write has been
    performed already (durable and visible, which is more than Qdrant promises then)."""
    if wait is not False:
        return ok(result, t0)
    if isinstance(result, list):
        return ok([{**r, "status": "acknowledged"} for r in result], t0, 202)
    return ok({**result, "status": "acknowledged"}, t0, 202)


def error(
    status_code: int,
    message: str,
    t0: float,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Error envelope; ``code`` is vecsearch's stable error code (an additive field)."""
    status: dict[str, Any] = {"error": message}
    if code is not None:
        status["code"] = code
    return JSONResponse(
        {"status": status, "time": time.perf_counter() - t0},
        status_code=status_code,
        headers=headers,
    )
