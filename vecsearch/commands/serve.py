"""``vecsearch serve --data-dir DIR [--host] [--port 6333] [--api-key K] [--demo]
[--cluster ADDRESS|auto] ...``.

Runs the HTTP service (Qdrant-compatible REST API). Flags not given fall back to the
``VECSEARCH_*`` environment variables, then to the defaults of ``service.settings.Settings``.
The service package is imported inside :func:`run` only: the engine never imports it.
"""

from __future__ import annotations

import argparse
from typing import Any


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Settings given on the command line (flags left out are not overrides)."""
    values = {
        "data_dir": args.data_dir,
        "host": args.host,
        "port": args.port,
        "api_key": args.api_key,
        "read_only_api_key": args.read_only_api_key,
        "cors_origins": args.cors_origin,
        "max_body_bytes": None if args.max_body_mb is None else args.max_body_mb * 1024 * 1024,
        "log_level": args.log_level,
        "cluster": args.cluster,
    }
    out = {k: v for k, v in values.items() if v is not None}
    if args.demo:
        out["demo"] = True
    if args.no_warmup:
        out["warmup"] = False
    return out


def run(args: argparse.Namespace) -> int:
    """Start uvicorn (blocks until Ctrl-C / SIGTERM)."""
    from service.server import serve  # lazy: the engine layer never imports the service

    return serve(overrides(args))


def register(sub: Any) -> None:
    """Add the ``serve`` parser."""
    p = sub.add_parser(
        "serve",
        help="serve a data directory over HTTP (Qdrant-compatible REST API)",
        description=(
            "Serve the collections of a data directory over HTTP with Qdrant's REST API, so "
            "qdrant-client and curl work against it. Unset flags fall back to VECSEARCH_* "
            "environment variables."
        ),
    )
    p.add_argument("--data-dir", help="database directory (env VECSEARCH_DATA_DIR)")
    p.add_argument("--host", help="address to bind (default 127.0.0.1; 0.0.0.0 for all)")
    p.add_argument("--port", type=int, help="port (default 6333, Qdrant's)")
    p.add_argument(
        "--api-key", action="append", metavar="KEY", help="read-write API key (repeatable)"
    )
    p.add_argument(
        "--read-only-api-key",
        action="append",
        metavar="KEY",
        help="read-only API key (repeatable)",
    )
    p.add_argument("--cors-origin", action="append", metavar="ORIGIN", help="allowed CORS origin")
    p.add_argument("--max-body-mb", type=int, help="largest request body in MiB (default 32)")
    p.add_argument(
        "--demo",
        action="store_true",
        help="on first start, build the 'vaswani' demo collection (11,429 MiniLM abstracts)",
    )
    p.add_argument("--no-warmup", action="store_true", help="skip compiling kernels at start")
    p.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help=(
            "cluster mode (extra 'cluster'): serve sharded, replicated collections on the Ray "
            "cluster at ADDRESS, or 'auto' (join the local `ray start` cluster, else start a "
            "Ray head); env VECSEARCH_CLUSTER. See docs/cluster.md"
        ),
    )
    p.add_argument("--log-level", help="uvicorn log level (default info)")
    p.set_defaults(func=run)
