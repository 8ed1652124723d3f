"""Run the service with uvicorn: what ``vecsearch serve`` calls."""

from __future__ import annotations

import logging
import sys
from typing import Any

import uvicorn
from pydantic import ValidationError

from service.app import create_app
from service.connections import protocol_class
from service.settings import Settings


def limit_blas_threads(n: int) -> Any:
    """Limit BLAS to ``n`` threads (0: leave it); returns the limiter to restore, or None.

    Call it from the main thread: OpenBLAS ignores a thread count set from other threads
    (checked with threadpoolctl), which is why ``serve`` does this rather than the lifespan
    (TestClient runs lifespans in a thread of its own).
    """
    if not n:
        return None
    from threadpoolctl import threadpool_limits

    return threadpool_limits(n, user_api="blas")


def uvicorn_config(app: Any, settings: Settings, **extra: Any) -> uvicorn.Config:
    """uvicorn's configuration for ``app`` with the connection limits of ``settings``: at
    most ``max_connections`` connections or requests in progress (503 above, uvicorn's
    ``limit_concurrency``), idle keep-alive connections closed after
    ``keep_alive_timeout_s``, request headers due within ``header_timeout_s`` and at most
    ``max_header_bytes`` (:mod:`service.connections`). ``extra`` overrides (tests)."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "timeout_graceful_shutdown": 30,
        "http": protocol_class(settings.header_timeout_s, settings.max_header_bytes),
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": settings.keep_alive_timeout_s,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
    }
    options.update(extra)
    return uvicorn.Config(app, **options)


def serve(overrides: dict[str, Any] | None = None) -> int:
    """Serve until interrupted; ``overrides`` win over ``VECSEARCH_*`` variables.

    One process only: a collection is locked by the process that opens it, so uvicorn's
    ``workers`` option cannot be used; concurrency comes from the thread pool (searches
    release the GIL in their Numba kernels). Returns the exit status.
    """
    try:
        settings = Settings(**(overrides or {}))
    except ValidationError as exc:
        print(f"error: invalid settings: {exc}", file=sys.stderr)
        return 2
    if settings.demo:
        from service.demo import demo_data_problem

        problem = demo_data_problem(settings.data_dir)
        if problem is not None:
            print(f"error: --demo: {problem}", file=sys.stderr)
            return 2
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s: %(message)s")
    limits = limit_blas_threads(settings.blas_threads)
    try:
        uvicorn.Server(uvicorn_config(create_app(settings), settings)).run()
    finally:
        if limits is not None:
            limits.restore_original_limits()
    return 0
