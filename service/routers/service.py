"""``GET /`` (version), health probes and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.deps import State
from service.schemas import VersionInfo
from service.security import ReadAccess
from vecsearch import __version__

router = APIRouter(tags=["service"])

TITLE = "vecsearch - Qdrant-compatible vector search engine"


@router.get("/", response_model=VersionInfo, summary="Title and version")
async def root(state: State) -> JSONResponse:
    """Qdrant's ``VersionInfo``: ``version`` is the Qdrant REST API version this server
    follows (so qdrant-client's compatibility check passes); ``vecsearch_version`` is ours."""
    return JSONResponse(
        {
            "title": TITLE,
            "version": state.settings.qdrant_version,
            "commit": None,
            "vecsearch_version": __version__,
        }
    )


@router.get("/healthz", response_class=PlainTextResponse, summary="Health probe")
async def healthz() -> str:
    """200 while the process serves requests."""
    return "healthz check passed"


@router.get("/livez", response_class=PlainTextResponse, summary="Liveness probe")
async def livez() -> str:
    """200 while the process serves requests."""
    return "healthz check passed"


@router.get(
    "/readyz",
    response_class=PlainTextResponse,
    summary="Readiness probe",
    responses={503: {"description": "Collections still loading or kernels compiling"}},
)
async def readyz(state: State) -> PlainTextResponse:
    """200 once every collection is loaded and the search kernels are compiled, else 503."""
    ready, text = state.readiness()
    return PlainTextResponse(text, status_code=200 if ready else 503)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    summary="Prometheus metrics",
    dependencies=[ReadAccess],
)
def metrics(state: State) -> Response:
    """Request counts and latency per route, search latency per index type, points per
    collection, readiness (Prometheus text format)."""
    body = generate_latest(state.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
