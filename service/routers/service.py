"""``GET /`` (version), health probes and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.deps import State
from service.schemas import VersionInfo
from service.security import ReadAccess, check_access
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
async def readyz(state: State, request: Request) -> PlainTextResponse:
    """200 once the collections are loaded (as many as the pool of open collections holds)
    and the search kernels are compiled, else 503. Collections that cannot be opened do not
    hold it back; they (and why start-up failed, if it did) are named only to a caller
    with a valid API key (or to anyone when no key is configured)."""
    ready, text = state.readiness(authorized=_authorized(state, request))
    return PlainTextResponse(text, status_code=200 if ready else 503)


def _authorized(state: State, request: Request) -> bool:
    """Whether the request carries a key that may read (always, without keys)."""
    key = request.headers.get("api-key")
    if not key:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        key = token.strip() if scheme.lower() == "bearer" else None
    try:
        check_access(state.settings, key, write=False)
    except HTTPException:
        return False
    return True


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
