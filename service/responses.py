"""Qdrant's envelopes: ``{"result", "status": "ok", "time"}`` and ``{"status": {"error"}, "time"}``.

``time`` is measured from when the request entered the app (set by the metrics middleware in
the ASGI scope, see :func:`request_start`). Bodies are written by :func:`vecsearch.jsonout.dumps`
(orjson): vectors are float32 numpy arrays and come out at the precision they were stored at.

Large bodies are sent in slices of :data:`SEND_CHUNK` bytes (with their ``Content-Length``,
not chunked encoding): uvicorn waits for the socket to drain between slices when its write
buffer is full, so a client reading slowly holds one copy of the body in the server, not
two, and the event loop interleaves other requests between slices. The search routes build
the body in a worker thread (:func:`envelope_bytes`, :func:`rendered`) so that serialising a
large answer never runs on the event loop.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from vecsearch.jsonout import dumps

START_KEY = "vecsearch_t0"
#: Largest slice of a response body handed to the server at once.
SEND_CHUNK = 1 << 20


def request_start(request: Request) -> float:
    """When the request entered the app (``perf_counter``), or now if not recorded."""
    return request.scope.get(START_KEY) or time.perf_counter()


class FastJSONResponse(JSONResponse):
    """A JSON response rendered by orjson (numpy arrays included), sent in slices."""

    def render(self, content: Any) -> bytes:
        return dumps(content)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self.body
        if len(body) <= SEND_CHUNK:
            await super().__call__(scope, receive, send)
            return
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        view = memoryview(body)
        for start in range(0, len(body), SEND_CHUNK):
            end = start + SEND_CHUNK
            await send(
                {
                    "type": "http.response.body",
                    "body": bytes(view[start:end]),
                    "more_body": end < len(body),
                }
            )
        if self.background is not None:
            await self.background()


class RenderedJSON(FastJSONResponse):
    """A JSON response whose body was rendered already (bytes, e.g. in a worker thread)."""

    def render(self, content: Any) -> bytes:
        assert isinstance(content, bytes)
        return content


def envelope_bytes(result: Any, t0: float) -> bytes:
    """The success envelope around ``result``, rendered (call it off the event loop)."""
    return dumps({"result": result, "status": "ok", "time": time.perf_counter() - t0})


def rendered(body: bytes, status_code: int = 200) -> Response:
    """A response for a body made by :func:`envelope_bytes`."""
    return RenderedJSON(body, status_code=status_code)


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
