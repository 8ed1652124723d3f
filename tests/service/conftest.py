"""Fixtures for service tests: an app over a temporary data directory, driven through
FastAPI's TestClient (lifespan included), and a real uvicorn server on a free port."""

from __future__ import annotations

import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from qdrant_client import QdrantClient

from service import Settings, create_app

READ_KEY = "read-only-key"
WRITE_KEY = "read-write-key"


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a test app: its own data directory, no kernel warm-up unless asked."""
    values: dict[str, Any] = {"data_dir": tmp_path / "data", "warmup": False}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """Factory: ``make_client(**settings)`` -> a started TestClient (closed at the end)."""
    opened: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        app = create_app(make_settings(tmp_path, **overrides))
        client = TestClient(app)
        client.__enter__()
        opened.append(client)
        assert app.state.service.wait_ready(60), app.state.service.phase
        return client

    yield make
    for c in reversed(opened):
        c.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """A TestClient over an empty data directory, no authentication."""
    return make_client()


def create(
    client: TestClient, name: str = "c", dim: int = 4, distance: str = "Cosine", **extra: Any
) -> None:
    """Create a collection, asserting success."""
    body = {"vectors": {"size": dim, "distance": distance}, **extra}
    r = client.put(f"/collections/{name}", json=body)
    assert r.status_code == 200, r.text


def upsert(
    client: TestClient,
    name: str,
    vectors: np.ndarray,
    payloads: list[dict] | None = None,
    start: int = 0,
) -> None:
    """Upsert rows with ids ``start, start+1, ...``, asserting success."""
    points = [
        {"id": start + i, "vector": v.tolist(), "payload": (payloads or [{}] * len(vectors))[i]}
        for i, v in enumerate(vectors)
    ]
    r = client.put(f"/collections/{name}/points", json={"points": points})
    assert r.status_code == 200, r.text


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """uvicorn serving ``app`` on 127.0.0.1 in a thread; :meth:`stop` shuts it down."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self, timeout: float = 60.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.thread.is_alive():
                raise RuntimeError("uvicorn exited during start-up")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise TimeoutError("server did not become ready")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        assert not self.thread.is_alive(), "uvicorn did not stop"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    """A real uvicorn server over an empty data directory (no auth)."""
    srv = ServerThread(create_app(make_settings(tmp_path)))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def qclient(server):
    """A QdrantClient built with its default arguments; its compatibility check (run in a
    thread of its own) must finish without a warning."""
    before = set(threading.enumerate())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = QdrantClient(url=server.url)
        for t in set(threading.enumerate()) - before:
            if t.daemon and t is not server.thread:
                t.join(20)
    assert not [w for w in caught if "qdrant" in str(w.message).lower()], [
        str(w.message) for w in caught
    ]
    yield client
    client.close()
