"""Collection snapshots: create, list, download, delete, recover.

A snapshot is one tar file with a SHA-256 checksum, taken while writes continue (see
:mod:`vecsearch.snapshots`). ``recover`` restores from a snapshot file that is already in the
data directory's ``snapshots/`` folder (a ``file://`` URL or a path); fetching from remote
URLs and multipart upload are not supported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, urlparse

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse

from service.deps import DB, CollectionName, Started, Wait
from service.responses import ok
from service.schemas import Envelope, SnapshotDescription, SnapshotRecover
from service.security import ReadAccess, WriteAccess
from vecsearch.database import Database
from vecsearch.errors import ValidationError

router = APIRouter(prefix="/collections/{collection_name}/snapshots", tags=["snapshots"])

SnapshotName = Annotated[str, PathParam(description="File name of the snapshot.")]


@router.post(
    "",
    response_model=Envelope[SnapshotDescription],
    dependencies=[WriteAccess],
    summary="Create a snapshot",
)
def create_snapshot(
    collection_name: CollectionName, db: DB, t0: Started, wait: Wait = None
) -> JSONResponse:
    """Snapshot the collection (writes may continue meanwhile)."""
    return ok(db.create_snapshot(collection_name).to_dict(), t0)


@router.get(
    "",
    response_model=Envelope[list[SnapshotDescription]],
    dependencies=[ReadAccess],
    summary="List snapshots",
)
def list_snapshots(collection_name: CollectionName, db: DB, t0: Started) -> JSONResponse:
    """Snapshots of the collection, oldest first."""
    return ok([s.to_dict() for s in db.list_snapshots(collection_name)], t0)


@router.get(
    "/{snapshot_name}",
    response_class=FileResponse,
    dependencies=[ReadAccess],
    summary="Download a snapshot",
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def get_snapshot(
    collection_name: CollectionName, snapshot_name: SnapshotName, db: DB
) -> FileResponse:
    """The snapshot file (404 if it does not exist)."""
    path = db.snapshot_path(collection_name, snapshot_name)
    return FileResponse(path, media_type="application/octet-stream", filename=path.name)


@router.delete(
    "/{snapshot_name}",
    response_model=Envelope[bool],
    dependencies=[WriteAccess],
    summary="Delete a snapshot",
)
def delete_snapshot(
    collection_name: CollectionName,
    snapshot_name: SnapshotName,
    db: DB,
    t0: Started,
    wait: Wait = None,
) -> JSONResponse:
    """Delete one snapshot file and its checksum."""
    db.delete_snapshot(collection_name, snapshot_name)
    return ok(True, t0)


def snapshot_location(db: Database, location: str) -> Path:
    """The local file a recover ``location`` names; it must lie in ``DATA_DIR/snapshots``."""
    parsed = urlparse(location)
    if parsed.scheme not in ("", "file"):
        raise ValidationError(
            "location", f"{parsed.scheme}:// locations are not supported; use file://"
        )
    raw = unquote(parsed.path) if parsed.scheme == "file" else location
    if not raw or "\x00" in raw:
        raise ValidationError("location", "expected a file path")
    root = db.snapshots_dir.resolve()
    path = Path(raw)
    try:
        path = (path if path.is_absolute() else root / path).resolve()
    except (OSError, RuntimeError) as exc:  # e.g. a symlink loop
        raise ValidationError("location", f"cannot resolve the path: {exc}") from None
    if not path.is_relative_to(root):
        raise ValidationError(
            "location", f"must be a snapshot inside the data directory's snapshots folder {root}"
        )
    return path


@router.put(
    "/recover",
    response_model=Envelope[bool],
    dependencies=[WriteAccess],
    summary="Recover from a snapshot",
)
def recover_from_snapshot(
    collection_name: CollectionName,
    body: SnapshotRecover,
    db: DB,
    t0: Started,
    wait: Wait = None,
) -> JSONResponse:
    """Restore the collection (created or replaced) from a snapshot file of this server; the
    file's checksum is verified before anything existing is touched."""
    path = snapshot_location(db, body.location)
    db.restore_snapshot(path, collection_name, checksum=body.checksum)
    return ok(True, t0)
