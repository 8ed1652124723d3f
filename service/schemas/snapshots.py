"""Body of snapshot recovery (Qdrant's ``SnapshotRecover``), with remote locations."""

from __future__ import annotations

from pydantic import Field

from service.schemas.types import Body


class SnapshotRecover(Body):
    """Restore a collection from a snapshot: a URL, or a file of this server."""

    location: str = Field(
        ...,
        description=(
            "http(s):// URL of a snapshot (fetched by the server), or file:// URL or path of "
            "a snapshot inside the data directory's snapshots folder."
        ),
    )
    priority: str | None = Field(
        None, description="no_sync, snapshot or replica: accepted (one replica)."
    )
    checksum: str | None = Field(None, description="Expected SHA-256 of the file.")
    api_key: str | None = Field(None, description="Sent as 'api-key' when fetching a URL.")
