"""Run the service with uvicorn: what ``vecsearch serve`` calls."""

from __future__ import annotations

import logging
import sys
from typing import Any

import uvicorn
from pydantic import ValidationError

from service.app import create_app
from service.settings import Settings


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
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=30,
    )
    return 0
