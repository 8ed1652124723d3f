"""Per-request limits: the body's size (413) and read time (408), repeated query parameters
(400), as pure ASGI middleware; and the size of the work a search request asks for (400, see
:class:`RequestLimits`).

Every query parameter of the API is a scalar (``wait``, ``timeout``, ``consistency``, ...):
one given twice is refused with a 400 naming it, rather than silently keeping one of the
values.

A declared ``Content-Length`` above the limit is refused before the body is read. A body
without a length (chunked) is counted as it arrives; passing the limit raises an
``HTTPException(413)`` from ``receive``, which FastAPI re-raises from its body reader and the
error handler turns into the envelope. Either way nothing has been parsed or written.

A body that has not arrived completely ``body_timeout_s`` after the app first asked for it
(a client trickling a byte at a time) is refused the same way with 408 and
``Connection: close``, so the server stops reading from that connection. Header read time
and size are the HTTP protocol's business (:mod:`service.connections`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.responses import START_KEY, error
from vecsearch.errors import ValidationError


class BodySizeLimitMiddleware:
    """Refuse request bodies larger than ``max_bytes`` with 413, bodies not received within
    ``body_timeout_s`` with 408, and repeated query parameters with 400."""

    def __init__(self, app: ASGIApp, max_bytes: int, body_timeout_s: float | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_timeout_s = body_timeout_s

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
        body_done = False
        deadline: float | None = None
        timeout = self.body_timeout_s

        async def limited_receive() -> Message:
            nonlocal seen, body_done, deadline
            if body_done or timeout is None:  # after the body: http.disconnect, no deadline
                message = await receive()
            else:
                loop = asyncio.get_running_loop()
                if deadline is None:
                    deadline = loop.time() + timeout
                try:
                    message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0))
                except TimeoutError:
                    raise HTTPException(
                        408,
                        f"Request timeout: the request body did not arrive within {timeout:g} s "
                        "(setting body_timeout_s)",
                        headers={"Connection": "close"},
                    ) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, self._message())
                if not message.get("more_body", False):
                    body_done = True
            else:
                body_done = True
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


@dataclass(frozen=True)
class RequestLimits:
    """How much work one search request may ask for (settings ``max_result_points`` and
    ``max_searches_per_request``; search parameters such as ``hnsw_ef`` are bounded by the
    engine, :mod:`vecsearch.config_checks`).

    Checked on the request body before anything runs. Points are counted as the request
    would return them from a collection of ``n_points`` points: a limit of 2**63 on a
    collection of 200 points asks for 200 (and is answered, as Qdrant answers it), the same
    limit on a collection of a million is refused. Values of the wrong type are left to the
    engine, whose messages name them. Result records with payloads and vectors are the bulk
    of a search's memory (20 searches of limit 100,000 with payloads took 1.9 GB in issue
    19); batch entries and prefetch stages each cost a kernel call.
    """

    max_result_points: int
    max_searches: int

    def check_points(self, field: str, asked: int, what: str) -> None:
        """400 naming ``field`` if ``asked`` points exceed ``max_result_points``."""
        if asked > self.max_result_points:
            raise ValidationError(
                field,
                f"{what} {asked} points, more than the {self.max_result_points} one request "
                "may return (setting max_result_points)",
            )

    def check_searches(self, bodies: Iterable[Mapping[str, Any]], field: str, n_points: int) -> int:
        """Check a list of search / query / recommend / discover bodies (a batch, or one
        body alone with ``field=""``): the number of searches (entries plus prefetch
        stages), and the points each returns (``limit`` after ``offset``) and all return
        together. Returns the points in all (the dispatcher's size hint)."""
        total = searches = 0
        bodies = list(bodies)
        for i, body in enumerate(bodies):
            pre = f"{field}[{i}]." if field else ""
            searches += self._stages(body)
            if searches > self.max_searches:
                raise self._searches_error(field or "prefetch", searches)
            left = max(n_points - _int(body.get("offset"), 0), 0)
            asked = min(_int(body.get("limit"), 10), left)
            self.check_points(f"{pre}limit", asked, "limit would return up to")
            total += asked
        if len(bodies) > 1:
            self.check_points(field, total, f"the {len(bodies)} requests would return up to")
        return total

    def check_groups(self, body: Mapping[str, Any], n_points: int) -> int:
        """A groups body: up to ``limit x group_size`` points, and its prefetches."""
        searches = self._stages(body)
        if searches > self.max_searches:
            raise self._searches_error("prefetch", searches)
        asked = min(_int(body.get("limit"), 10) * _int(body.get("group_size"), 3), n_points)
        self.check_points("limit", asked, "limit x group_size would return up to")
        return asked

    def check_scroll(self, limit: Any, n_points: int) -> None:
        """A scroll page: up to ``limit`` points (with order_by a point with several
        values is listed once per value; the page still holds at most ``limit``)."""
        self.check_points("limit", min(_int(limit, 10), n_points), "limit would return up to")

    def check_matrix(self, sample: Any, limit: Any, n_points: int) -> None:
        """A distance matrix: ``sample`` points, each with up to ``limit`` neighbours."""
        n = min(_int(sample, 10), n_points)
        self.check_points("sample", n, "sample would take up to")
        pairs = n * min(_int(limit, 3), max(n - 1, 0))
        self.check_points("limit", pairs, "sample x limit would return up to")

    def _searches_error(self, field: str, n: int) -> ValidationError:
        return ValidationError(
            field,
            f"the request runs {n} or more searches (batch entries and their prefetch stages), "
            f"more than the {self.max_searches} one request may run (setting "
            "max_searches_per_request)",
        )

    def _stages(self, body: Mapping[str, Any]) -> int:
        """Searches in ``body``: 1 + its prefetch stages, recursively (the walk stops once
        past the limit)."""
        prefetch = body.get("prefetch")
        if isinstance(prefetch, Mapping):
            prefetch = [prefetch]
        n = 1
        if isinstance(prefetch, list):
            for p in prefetch:
                if isinstance(p, Mapping):
                    n += self._stages(p)
                if n > self.max_searches:
                    return n
        return n


def limits_of(settings: Any) -> RequestLimits:
    """The :class:`RequestLimits` of a :class:`service.settings.Settings`."""
    return RequestLimits(settings.max_result_points, settings.max_searches_per_request)


def _int(value: Any, default: int) -> int:
    """``value`` if it is an int (not a bool), else ``default`` (the engine refuses it)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return max(value, 0)
    return default
