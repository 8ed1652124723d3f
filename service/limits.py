"""Request body size limit (413) and repeated query parameters (400), as pure ASGI
middleware.

Every query parameter of the API is a scalar (``wait``, ``timeout``, ``consistency``, ...):
one given twice is refused with a 400 naming it, rather than silently keeping one of the
values.

A declared ``Content-Length`` above the limit is refused before the body is read. A body
without a length (chunked) is counted as it arrives; passing the limit raises an
``HTTPException(413)`` from ``receive``, which FastAPI re-raises from its body reader and the
error handler turns into the envelope. Either way nothing has been parsed or written.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.responses import START_KEY, error


class BodySizeLimitMiddleware:
    """Refuse request bodies larger than ``max_bytes`` with 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> str:
        return f"Payload too large: the request body exceeds {self.max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = None
                break
        if length is not None and length > self.max_bytes:
            t0 = scope.get(START_KEY) or time.perf_counter()
            response = error(413, self._message(), t0, "payload_too_large")
            await response(scope, receive, send)
            return
        repeated = _repeated_parameter(scope.get("query_string", b""))
        if repeated is not None:
            t0 = scope.get(START_KEY) or time.perf_counter()
            message = f"Bad request: query parameter {repeated!r} is given more than once"
            await error(400, message, t0, "invalid_request")(scope, receive, send)
            return

        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, limited_receive, send)


def _repeated_parameter(query: bytes) -> str | None:
    """The first query parameter name that occurs twice, or None."""
    if b"&" not in query:
        return None
    seen: set[str] = set()
    for name, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if name in seen:
            return name
        seen.add(name)
    return None
