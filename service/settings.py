"""Service configuration: one pydantic-settings class, read from ``VECSEARCH_*`` variables.

Every field can be set from the environment (``VECSEARCH_DATA_DIR``, ``VECSEARCH_PORT``...)
or passed to :class:`Settings` directly (tests, ``vecsearch serve`` flags). List fields
(``api_key``, ``read_only_api_key``, ``cors_origins``) accept a JSON list or a
comma-separated string in the environment.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: The Qdrant REST API version whose paths and shapes this service follows (for the common
#: subset). ``GET /`` reports it as ``version`` so that qdrant-client's version check passes.
QDRANT_API_VERSION = "1.20.0"

KeyList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    """Everything the service reads at start-up."""

    model_config = SettingsConfigDict(env_prefix="VECSEARCH_", extra="ignore")

    data_dir: Path = Field(Path("vecsearch-data"), description="database directory")
    host: str = Field("127.0.0.1", description="address uvicorn binds")
    port: int = Field(6333, ge=0, le=65535, description="port uvicorn binds (Qdrant's)")
    api_key: KeyList = Field(
        default_factory=list, description="read-write API keys (none: no authentication)"
    )
    read_only_api_key: KeyList = Field(
        default_factory=list, description="API keys that may only read"
    )
    max_body_bytes: int = Field(
        32 * 1024 * 1024, ge=1, description="largest request body accepted (413 above)"
    )
    max_snapshot_bytes: int = Field(
        16 * 1024**3,
        ge=1,
        description=(
            "largest snapshot fetched from a URL or uploaded (413 above); uploads are also "
            "bounded by max_body_bytes"
        ),
    )
    max_snapshots_per_collection: int = Field(
        0,
        ge=0,
        description=(
            "snapshots kept per collection: after a snapshot is created, the oldest beyond "
            "this many are deleted (0: keep all, as Qdrant does)"
        ),
    )
    max_result_points: int = Field(
        100_000,
        ge=1,
        description=(
            "most points one request may return: the sum over its searches of their limits "
            "(after offset, at most the collection's points; limit x group_size for groups, "
            "sample x limit for a distance matrix, limit for scroll); 400 above. 20 searches "
            "of limit 100,000 with payloads took 1.9 GB before this bound"
        ),
    )
    max_searches_per_request: int = Field(
        1_000,
        ge=1,
        description=(
            "most searches one request may run: batch entries plus all their prefetch "
            "stages; 400 above"
        ),
    )
    max_connections: int = Field(
        512,
        ge=1,
        description=(
            "open connections (or requests in progress) beyond which uvicorn answers 503 "
            "(its limit_concurrency)"
        ),
    )
    keep_alive_timeout_s: float = Field(
        5.0, gt=0, description="idle keep-alive connections are closed after this (uvicorn's)"
    )
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        description=(
            "a connection whose request line and headers are not complete this long after it "
            "opened (or after its previous response) is closed"
        ),
    )
    max_header_bytes: int = Field(
        64 * 1024,
        ge=1024,
        description="largest request line plus headers (431 and close above)",
    )
    body_timeout_s: float = Field(
        60.0,
        gt=0,
        description=(
            "a request body not received completely this long after the app starts reading "
            "it is answered 408 and the connection closed (slow-body clients); the whole "
            "body counts, so raise it with max_body_bytes for large uploads on slow links "
            "(60 s for 32 MiB needs 0.55 MB/s)"
        ),
    )
    cors_origins: KeyList = Field(
        default_factory=list, description="origins allowed by CORS ('*' for any; none: off)"
    )
    demo: bool = Field(
        False, description="build the 'vaswani' demo collection on first start if missing"
    )
    blas_threads: int = Field(
        1,
        ge=0,
        description=(
            "BLAS threads while `vecsearch serve` runs (0: leave the library's default). One "
            "per search: "
            "concurrent searches each running a multi-threaded BLAS oversubscribe the cores "
            "(measured 40 vs 1,540 QPS for flat search on 2 busy cores)"
        ),
    )
    fast_upsert_lane: bool = Field(
        True,
        description=(
            "answer plain upserts (PUT /points with a list of points with unnamed dense "
            "vectors) without FastAPI's routing: same checks and answers, about half the "
            "server time per request (false: every request through the routes; see "
            "service/fast_lane.py)"
        ),
    )
    inline_search_ms: float = Field(
        2.0,
        ge=0,
        description=(
            "a search whose recent runs took at most this many ms runs on the event loop "
            "when no other request is in flight, saving the thread-pool hand-off "
            "(0: always in the thread pool; see service/dispatch.py)"
        ),
    )
    max_open_collections: int = Field(
        100,
        ge=1,
        description=(
            "collections kept open at once; the least recently used idle ones are closed "
            "(index saved if changed) to open others, and also whenever open file "
            "descriptors pass 3/4 of `ulimit -n`. An open collection holds 4 descriptors "
            "plus 2 per thread that has read from it (see docs/limits.md); 100 suits the "
            "default limit of 1024"
        ),
    )
    cluster: str | None = Field(
        None,
        description=(
            "cluster mode: the Ray cluster to serve sharded collections on (an address, or "
            "'auto': join the local `ray start` cluster, else start a Ray head here); unset: "
            "single node, ray is never imported (see docs/cluster.md)"
        ),
    )
    warmup: bool = Field(True, description="compile the search kernels before /readyz is 200")
    qdrant_version: str = Field(
        QDRANT_API_VERSION, description="Qdrant API version reported by GET /"
    )
    log_level: str = Field("info", description="uvicorn log level")

    @field_validator("api_key", "read_only_api_key", "cors_origins", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        """``"a,b"`` or ``'["a", "b"]'`` -> ``["a", "b"]``; empty items dropped."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [v.strip() for v in text.split(",") if v.strip()]
        return value

    @property
    def auth_enabled(self) -> bool:
        """Whether any API key is configured (then every data route needs one)."""
        return bool(self.api_key or self.read_only_api_key)
