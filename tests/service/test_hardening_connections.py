"""Connection limits against a real uvicorn server on real sockets (issue 19): a connection
that sends nothing, trickles its headers or its body, or sends oversized headers is answered
and closed after a short configured timeout; past ``max_connections`` uvicorn answers 503;
and the server keeps serving normal requests throughout.

The server runs with the options of ``vecsearch serve`` (:func:`service.server.uvicorn_config`)
and timeouts of a fraction of a second, so the tests stay fast. No assertion is about time:
each checks what the server sent and that it closed the connection, with a socket timeout
only as a guard against hanging forever.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from service import create_app
from service.server import uvicorn_config
from tests.service.conftest import free_port, make_settings

#: A guard against a test hanging when the server never closes: far above every timeout.
GUARD_S = 20.0
LIMITS = {
    "header_timeout_s": 0.5,
    "body_timeout_s": 0.5,
    "keep_alive_timeout_s": 0.5,
    "max_header_bytes": 4096,
    "max_connections": 8,
}


class LimitedServer:
    """uvicorn with ``vecsearch serve``'s connection options, in a thread."""

    def __init__(self, tmp_path: Path, **overrides: object) -> None:
        settings = make_settings(tmp_path, **{**LIMITS, **overrides})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn_config(
            create_app(settings), settings, host="127.0.0.1", port=self.port, log_level="error"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise TimeoutError("server did not become ready")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)

    def connect(self) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.port))
        s.settimeout(GUARD_S)
        return s


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[LimitedServer]:
    srv = LimitedServer(tmp_path)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def read_until_closed(s: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (the guard raises
    ``TimeoutError`` if it never does)."""
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return out
        if not chunk:
            return out
        out += chunk


def healthy(srv: LimitedServer) -> bool:
    return httpx.get(srv.url + "/healthz", timeout=GUARD_S).status_code == 200


def test_silent_connections_are_answered_408_and_closed(limited):
    socks = [limited.connect() for _ in range(5)]
    try:
        for s in socks:
            answer = read_until_closed(s)
            assert answer.startswith(b"HTTP/1.1 408 "), answer
            assert b"header_timeout_s" in answer
    finally:
        for s in socks:
            s.close()
    assert healthy(limited)


def test_trickled_headers_are_cut_while_still_arriving(limited):
    """A client sending one valid header line after another never finishes its headers:
    the server closes the connection while the client is still sending."""
    s = limited.connect()
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        cut = False
        for i in range(200):  # up to 200 more lines; the server closes long before
            try:
                s.sendall(b"X-Slow-%d: y\r\n" % i)
            except (BrokenPipeError, ConnectionResetError):
                cut = True
                break
            time.sleep(0.05)
            s.setblocking(False)
            try:
                data = s.recv(65536)
            except BlockingIOError:
                data = None
            finally:
                s.settimeout(GUARD_S)
            if data is not None:
                assert data.startswith(b"HTTP/1.1 408 "), data
                cut = True
                break
        assert cut, "the server let a client trickle 200 header lines"
    finally:
        s.close()
    assert healthy(limited)


def test_trickled_body_gets_408_envelope_and_close(limited):
    s = limited.connect()
    try:
        body = b'{"vectors": {"size": 4, "distance": "Dot"}}'
        head = (
            b"PUT /collections/slow HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n" % len(body)
        )
        s.sendall(head + body[:10])  # the rest never comes
        answer = read_until_closed(s)
    finally:
        s.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"setting body_timeout_s" in answer
    assert b"connection: close" in answer.lower()
    # nothing was created from the partial body
    r = httpx.get(limited.url + "/collections/slow", timeout=GUARD_S)
    assert r.status_code == 404, r.text


def test_oversized_headers_get_431_and_close(limited):
    s = limited.connect()
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000 + b"\r\n\r\n")
        answer = read_until_closed(s)
    finally:
        s.close()
    assert answer.startswith(b"HTTP/1.1 431 "), answer
    assert b"max_header_bytes" in answer
    assert healthy(limited)


def test_idle_keep_alive_connection_is_closed(limited):
    s = limited.connect()
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = read_until_closed(s)  # the answer, then the close after keep_alive
    finally:
        s.close()
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert answer.count(b"HTTP/1.1") == 1


def test_connections_past_the_limit_get_503(tmp_path):
    srv = LimitedServer(tmp_path, max_connections=3, header_timeout_s=30.0)
    srv.start()
    held = []
    try:
        held = [srv.connect() for _ in range(3)]  # open, silent: they count as connections
        time.sleep(0.2)  # let the server accept them (not a timing assertion)
        s = srv.connect()
        held.append(s)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = read_until_closed(s)
        assert answer.startswith(b"HTTP/1.1 503 "), answer
        for h in held:
            h.close()
        held = []
        deadline = time.monotonic() + GUARD_S
        while True:  # once the silent ones are gone, requests are served again
            r = httpx.get(srv.url + "/healthz", timeout=GUARD_S)
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert r.status_code == 200
    finally:
        for h in held:
            h.close()
        srv.stop()
