"""The FastAPI application: :func:`create_app` wires settings, lifespan, routers, errors,
auth, body limit, CORS and metrics together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from service.errors import install_error_handlers
from service.fast_lane import FastUpsertLane
from service.limits import BodySizeLimitMiddleware
from service.metrics import MetricsMiddleware
from service.routers import ALL
from service.schemas import ErrorEnvelope
from service.settings import Settings
from service.state import ServiceState
from vecsearch import __version__

DESCRIPTION = """
vecsearch speaks **Qdrant's REST API** for the common subset (collections with one unnamed or
several named dense vector spaces, multi-vectors, points, `PUT /points/vectors` and
`POST /points/vectors/delete`, search, the Query API's nearest, nearest-by-id, prefetch with
`rrf` fusion or re-scoring and `using`, the `has_vector` filter, payload indexes,
`PATCH /collections/{name}` (index parameters rebuilt in the background while queries are
answered), snapshots), so the official
`qdrant-client` works against it unchanged. Responses use Qdrant's envelope
`{"result": ..., "status": "ok", "time": ...}`; errors are `{"status": {"error": "..."}}`
with a message that names the offending field (and a stable `code`, a vecsearch addition).

**vecsearch extensions** (additive fields):

* create collection: `index: {"type": "flat" | "binary" | "hnsw" | "hnsw_binary" | "ivf_pq" |
  "spann" | "muvera", "params": {...}}` chooses the vector index and its build parameters, at
  the top level (every space) or inside one named vector's parameters (Qdrant's
  `hnsw_config.m` / `ef_construct` are read too; `m: 0` means exact flat search);
* search / query `params`: `hnsw_ef` (or `ef`) for hnsw, `nprobe` / `k_factor` for ivf_pq,
  `quantization.rescore` / `quantization.oversampling` (or `oversampling`) for binary,
  `exact: true` for exact search everywhere, `n_threads` for the Numba threads of one search;
* relevance calibration (Cosine spaces): `PUT /collections/{name}/relevance` fits a
  query-dependent map from cosine to relevance in [0, 1] from labelled queries (`GET` reads
  its held-out report); then hits carry `relevance` and search / query bodies accept
  `relevance_threshold` (one global threshold; fewer than `limit` hits may come back).

**Sparse vectors and hybrid search**: Qdrant's `sparse_vectors` (with `modifier: "idf"`),
`{"indices", "values"}` per sparse name, server-side BM25 with `{"text", "model":
"qdrant/bm25"}` in upserts and queries, and `rrf` / `dbsf` fusion of dense and sparse
prefetches.

**Cluster mode** (`vecsearch serve --cluster ADDRESS|auto`): `shard_number`,
`replication_factor` and `write_consistency_factor` split a collection over a Ray cluster
(see docs/cluster.md; features that cannot be merged across shards are a 400 there); in
single-node mode they are echoed and a collection is one shard.

**Not supported yet** (400 naming the field): `formula` and `relevance_feedback` queries.
`on_disk`, `quantization_config` and the
memory settings of a vector space are stored and echoed, not acted on. Writes are durable and
visible when acknowledged (`wait` is accepted and changes nothing).

**Security**: with API keys configured, send `api-key: KEY` (or `Authorization: Bearer KEY`);
read-only keys get 403 on writes.
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the database and start loading; save indexes and close on shutdown."""
    state: ServiceState = app.state.service
    state.open()
    try:
        yield
    finally:
        await run_in_threadpool(state.close)


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new app serving the data directory of ``settings`` (default: from the environment)."""
    settings = settings if settings is not None else Settings()
    state = ServiceState(settings)
    app = FastAPI(
        title="vecsearch",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        responses={
            400: {"model": ErrorEnvelope, "description": "Invalid request (names the field)"},
            401: {"model": ErrorEnvelope, "description": "Missing or invalid API key"},
            403: {"model": ErrorEnvelope, "description": "Read-only API key on a write"},
            404: {"model": ErrorEnvelope, "description": "Collection, point or snapshot absent"},
            409: {"model": ErrorEnvelope, "description": "Collection open in another process"},
            413: {"model": ErrorEnvelope, "description": "Request body too large"},
            422: {"model": ErrorEnvelope, "description": "Body of the wrong shape"},
        },
    )
    app.state.service = state
    if settings.fast_upsert_lane:  # innermost: inside the body guard and the error boundary
        app.add_middleware(FastUpsertLane)
    install_error_handlers(app)
    for router in ALL:
        app.include_router(router)
    # add_middleware wraps: the last added runs first (CORS, then metrics, then the limit)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        body_timeout_s=settings.body_timeout_s,
    )
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    return app
