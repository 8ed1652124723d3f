"""Connection-level limits that uvicorn does not have: a deadline for a request's headers and
a cap on their size.

uvicorn closes an idle keep-alive connection after ``timeout_keep_alive``, but any byte
received cancels that timer, and a freshly opened connection has no timer at all: a client
that opens connections and sends nothing, or trickles its headers a byte at a time, holds
them forever (1,000 were held in issue 19). Its ``h11_max_incomplete_event_size`` bounds
header size for the h11 parser only; the httptools parser that ``auto`` picks has no bound.

:class:`TimedHttpToolsProtocol` (uvicorn's httptools protocol, subclassed) arms a timer
when a connection opens and when a new request begins, and cancels it when that request's
headers are complete; if it fires first, the client gets ``408`` and the connection is
closed. Request line plus headers above ``max_header_bytes`` get ``431`` and a close. The
body's read time is bounded in the app (:class:`service.limits.BodySizeLimitMiddleware`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def _refusal(status: str, message: str) -> bytes:
    body = message.encode("ascii")
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class TimedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header deadline and a header size cap (module
    docs); the two limits are class attributes, set by :func:`protocol_class`."""

    header_timeout_s: float = 10.0
    max_header_bytes: int = 64 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._oversize = False

    # -- the header deadline ------------------------------------------------------------------
    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        self._refuse(
            "408 Request Timeout",
            f"Request timeout: the request headers did not arrive within "
            f"{self.header_timeout_s:g} s (setting header_timeout_s)",
        )

    def _refuse(self, status: str, message: str) -> None:
        if not self.transport.is_closing():
            self.logger.warning("%s: closing the connection", message)
            self.transport.write(_refusal(status, message))
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._arm_header_timer()  # kept if armed already (since the connection opened)

    # -- the header size cap ------------------------------------------------------------------
    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        if not self._oversize:
            super().on_header(name, value)

    def _count(self, n: int) -> None:
        self._header_bytes += n
        if self._header_bytes > self.max_header_bytes:
            self._oversize = True

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        if self._oversize:
            return  # refused in data_received; no ASGI task is started
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._oversize:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._oversize:
            super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._oversize:
            self._cancel_header_timer()
            self._refuse(
                "431 Request Header Fields Too Large",
                f"Request header fields too large: more than {self.max_header_bytes} bytes "
                "(setting max_header_bytes)",
            )


def protocol_class(header_timeout_s: float, max_header_bytes: int) -> type[HttpToolsProtocol]:
    """A :class:`TimedHttpToolsProtocol` with these limits (uvicorn's ``http=`` option)."""
    return type(
        "TimedHttpToolsProtocol",
        (TimedHttpToolsProtocol,),
        {"header_timeout_s": header_timeout_s, "max_header_bytes": max_header_bytes},
    )
