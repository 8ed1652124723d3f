"""Bodies of snapshot recovery: Qdrant's ``SnapshotRecover`` (with remote locations) and
``ShardSnapshotRecover`` (files of this server only)."""

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


class ShardSnapshotRecover(SnapshotRecover):
    """Restore one shard from a snapshot file of this server (Qdrant's
    ``ShardSnapshotRecover``)."""

    location: str = Field(
        ...,
        description=(
            "file:// URL, path or file name of a snapshot inside the data directory's "
            "snapshots folder (a bare name is looked up in the shard's folder first); "
            "http(s):// URLs are not supported for shard snapshots."
        ),
    )
    priority: str | None = Field(
        None, description="no_sync, snapshot or replica: accepted (every replica is replaced)."
    )
    api_key: str | None = Field(None, description="Accepted and unused (no URL is fetched).")
