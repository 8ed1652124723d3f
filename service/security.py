"""API keys, as Qdrant does them: an ``api-key`` header (or ``Authorization: Bearer KEY``).

With no key configured the API is open. With keys configured, every data route needs one:
no key or an unknown key is 401; a read-only key on a write route is 403. Health probes
(``/healthz``, ``/livez``, ``/readyz``), ``GET /`` and the OpenAPI docs stay open.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from service.settings import Settings

api_key_header = APIKeyHeader(
    name="api-key",
    auto_error=False,
    description="A read-write or read-only key (VECSEARCH_API_KEY / VECSEARCH_READ_ONLY_API_KEY).",
)
bearer = HTTPBearer(auto_error=False, description="The same keys as a bearer token.")


def _matches(supplied: str, keys: list[str]) -> bool:
    found = False
    for key in keys:  # no early exit: constant time in the number of keys
        found |= hmac.compare_digest(supplied.encode(), key.encode())
    return found


def check_access(settings: Settings, supplied: str | None, *, write: bool) -> None:
    """Raise 401/403 unless ``supplied`` may read (or, with ``write``, write)."""
    if not settings.auth_enabled:
        return
    if not supplied:
        raise HTTPException(401, "Unauthorized: provide an API key in the api-key header")
    if _matches(supplied, settings.api_key):
        return
    if _matches(supplied, settings.read_only_api_key):
        if write:
            raise HTTPException(403, "Forbidden: this API key is read-only")
        return
    raise HTTPException(401, "Unauthorized: invalid API key")


def _supplied(key: str | None, token: HTTPAuthorizationCredentials | None) -> str | None:
    return key if key else (token.credentials if token is not None else None)


async def require_read(
    request: Request,
    key: Annotated[str | None, Security(api_key_header)],
    token: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> None:
    """Dependency of every read route."""
    check_access(request.app.state.service.settings, _supplied(key, token), write=False)


async def require_write(
    request: Request,
    key: Annotated[str | None, Security(api_key_header)],
    token: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> None:
    """Dependency of every write route."""
    check_access(request.app.state.service.settings, _supplied(key, token), write=True)


#: ``dependencies=[ReadAccess]`` / ``[WriteAccess]`` on each route.
ReadAccess = Depends(require_read)
WriteAccess = Depends(require_write)
