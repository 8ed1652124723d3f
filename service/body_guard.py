"""Checks of a JSON request body before it is parsed: nesting depth and valid Unicode.

Python's JSON parser recurses once per level: a body nested a few hundred levels deep used
to reach the engine and end in a ``RecursionError`` (500, thousands of log lines), and one
nested deeper failed inside the parser with FastAPI's generic "There was an error parsing
the body". Here the raw bytes are measured first (:func:`vecsearch.json_limits.json_depth`,
C-speed passes, no Python loop per character), and a body nested deeper than
:data:`MAX_BODY_DEPTH` levels of objects and arrays is refused with a 400 that gives the
limit. Qdrant's parser (serde_json) stops at about the same depth (128).

JSON's ``\\ud800`` escapes can encode a lone UTF-16 surrogate: Python parses it, but no UTF-8
encoder can write it (SQLite, the response writer), which used to be a 500. A body that may
hold one (a fast byte search) is parsed here and walked to the first such string or key,
and refused with a 400 naming its field (``points[0].payload.city``).

The middleware reads JSON bodies whole (FastAPI would read them whole too; the body size
limit, which sits outside this middleware, still applies) and hands them on as one message;
later ``receive`` calls (a disconnect) go to the server as before. Other content types
(snapshot uploads) pass through untouched.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.responses import START_KEY, error
from vecsearch.json_limits import (
    json_depth,
    lone_surrogate_path,
    lone_surrogate_reason,
    may_hold_lone_surrogate,
)

#: Deepest nesting of objects and arrays in a request body.
MAX_BODY_DEPTH = 128


def _is_json(scope: Scope) -> bool:
    """Whether FastAPI would parse this request's body as JSON (no type, or ``*/json``,
    ``*/*+json``)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media.endswith(b"/json") or media.endswith(b"+json")
    return True


def body_problem(body: bytes) -> tuple[str, str] | None:
    """``(message, code)`` of the 400 for a JSON body that must not be parsed, or ``None``."""
    if json_depth(body, MAX_BODY_DEPTH) > MAX_BODY_DEPTH:
        return (
            f"Format error in JSON body: nested deeper than {MAX_BODY_DEPTH} levels of "
            "objects and arrays (the limit)",
            "invalid_request",
        )
    if may_hold_lone_surrogate(body):
        try:
            value: Any = json.loads(body)
        except (ValueError, RecursionError):
            return None  # not JSON: FastAPI's parser says what is wrong with it
        found = lone_surrogate_path(value)
        if found is not None:
            path, what = found
            return f"{path}: {lone_surrogate_reason(what)}", "validation_error"
    return None


class JSONBodyGuard:
    """Refuse JSON bodies nested too deeply or holding lone surrogates (400), before parsing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        t0 = scope.get(START_KEY) or time.perf_counter()
        chunks: list[bytes] = []
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client left before the body was complete: nothing to answer
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except HTTPException as exc:  # the body size limit, raised from its receive
            detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
            await error(exc.status_code, detail, t0, headers=exc.headers)(scope, receive, send)
            return
        body = b"".join(chunks)
        del chunks
        problem = body_problem(body) if body else None
        if problem is not None:
            message_text, code = problem
            await error(400, message_text, t0, code)(scope, receive, send)
            return
        pending: bytes | None = body
        del body

        async def replay() -> Message:
            nonlocal pending
            if pending is None:
                return await receive()
            message, pending = {"type": "http.request", "body": pending, "more_body": False}, None
            return message

        await self.app(scope, replay, send)
