"""Collection snapshots: create, list, download, delete, recover.

A snapshot is one tar file with a SHA-256 checksum, taken while writes continue (see
:mod:`vecsearch.snapshots`). ``recover`` restores from a snapshot file in the data directory's
``snapshots/`` folder (a ``file://`` URL or a path) or from an ``http(s)://`` URL, fetched to a
temporary file first (:mod:`service.snapshot_sources`); ``upload`` restores from a snapshot
sent as the ``snapshot`` part of a ``multipart/form-data`` body. The file (and ``checksum``,
when given) is verified before the collection is touched. ``priority`` is checked and has no
effect (one replica); ``wait`` is accepted: recovery is always complete when answered, and
``?wait=false`` on create and delete answers Qdrant's 202 ``{"status": "accepted"}``.

In cluster mode these collection-level routes are a 400 naming the per-shard routes, which
:data:`router` serves too (:mod:`service.routers.shard_snapshots`).
"""

from __future__ import annotations

import glob
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, urlparse

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from service.deps import DB, CollectionName, Started, State, Wait
from service.responses import ok, ok_or_accepted
from service.routers import shard_snapshots
from service.schemas import Envelope, SnapshotDescription
from service.schemas.snapshots import SnapshotRecover
from service.security import ReadAccess, WriteAccess
from service.snapshot_sources import fetch_snapshot, receive_upload
from vecsearch.database import Database
from vecsearch.errors import SnapshotIntegrityError, SnapshotNotFoundError, ValidationError
from vecsearch.snapshots import prune_snapshots

router = APIRouter(prefix="/collections/{collection_name}/snapshots", tags=["snapshots"])

SnapshotName = Annotated[str, PathParam(description="File name of the snapshot.")]


@router.post(
    "",
    response_model=Envelope[SnapshotDescription],
    dependencies=[WriteAccess],
    summary="Create a snapshot",
)
def create_snapshot(
    collection_name: CollectionName, db: DB, state: State, t0: Started, wait: Wait = None
) -> JSONResponse:
    """Snapshot the collection (writes may continue meanwhile); ``?wait=false``: 202
    ``accepted`` as Qdrant answers (the snapshot exists already). With
    ``max_snapshots_per_collection`` set, the oldest snapshots beyond that many are then
    deleted."""
    desc = db.create_snapshot(collection_name)
    keep = state.settings.max_snapshots_per_collection
    if keep:  # retention: the oldest beyond the newest ``keep`` go
        try:
            folder = db.snapshot_path(collection_name, desc.name).parent
        except SnapshotNotFoundError:  # a newer snapshot's retention removed it already
            folder = None
        if folder is not None:
            prune_snapshots(folder, keep)
    return ok_or_accepted(desc.to_dict(), t0, wait)


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
    """Delete one snapshot file and its checksum (``?wait=false``: 202 ``accepted``)."""
    db.delete_snapshot(collection_name, snapshot_name)
    return ok_or_accepted(True, t0, wait)


def snapshot_location(db: Database, location: str, collection_name: str | None = None) -> Path:
    """The local file a recover ``location`` names; it must lie in ``DATA_DIR/snapshots``.

    A relative path is looked up in the recovered collection's snapshot folder first, then
    in the snapshots folder itself, then -- a bare file name, as ``POST .../snapshots``
    returns it -- in every collection's folder (it must be found in exactly one). Errors
    never show the server's paths."""
    parsed = urlparse(location)
    if parsed.scheme not in ("", "file"):
        raise ValidationError(
            "location", f"{parsed.scheme}:// locations are not supported; use http(s):// or file://"
        )
    raw = unquote(parsed.path) if parsed.scheme == "file" else location
    if not raw or "\x00" in raw:
        raise ValidationError("location", "expected a file path")
    try:
        return _find_snapshot(db, raw, collection_name)
    except OSError as exc:  # e.g. a name too long for the file system
        raise ValidationError(
            "location", f"not a usable path: {exc.strerror or type(exc).__name__}"
        ) from None


def _find_snapshot(db: Database, raw: str, collection_name: str | None) -> Path:
    root = db.snapshots_dir.resolve()
    given = Path(raw)
    if given.is_absolute():
        candidates = [given]
    else:
        candidates = [root / given]
        if collection_name is not None:
            own = root / db.resolve(collection_name) / given
            candidates.insert(0, own)
        if len(given.parts) == 1:
            found = sorted(p for p in root.glob(f"*/{glob.escape(raw)}") if p.parent != root)
            if len(found) == 1:
                candidates.append(found[0])
            elif len(found) > 1 and not any(c.exists() for c in candidates):
                raise ValidationError(
                    "location",
                    f"{raw!r} is in the snapshot folders of several collections "
                    f"({', '.join(sorted(p.parent.name for p in found))}); give "
                    "<collection>/<snapshot name>",
                )
    for candidate in candidates:
        try:
            path = candidate.resolve()
        except RuntimeError:  # a symlink loop
            raise ValidationError("location", "cannot resolve the path") from None
        if not path.is_relative_to(root):
            raise ValidationError(
                "location", "must be a snapshot inside the data directory's snapshots folder"
            )
        if path.is_file():
            return path
    raise SnapshotNotFoundError(
        f"snapshot {raw!r} does not exist in the data directory's snapshots folder"
    )


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
    state: State,
    t0: Started,
    wait: Wait = None,
) -> JSONResponse:
    """Restore the collection (created or replaced) from a snapshot: a file of this server's
    snapshots folder, or an ``http(s)://`` URL (fetched with ``api_key`` as the ``api-key``
    header when given); the file and checksum are verified before anything existing is
    touched."""
    check_priority(body.priority)
    if urlparse(body.location).scheme not in ("http", "https"):
        path = snapshot_location(db, body.location, collection_name)
        db.restore_snapshot(path, collection_name, checksum=body.checksum)
        return ok(True, t0)
    tmp = db.work_dir("fetch", "snapshot")
    try:
        fetch_snapshot(body.location, tmp, state.settings.max_snapshot_bytes, body.api_key)
        with _named(tmp, "the fetched snapshot"):
            db.restore_snapshot(tmp, collection_name, checksum=body.checksum)
    finally:
        tmp.unlink(missing_ok=True)
    return ok(True, t0)


@contextmanager
def _named(tmp: Path, what: str) -> Iterator[None]:
    """Say ``what`` instead of the temporary file's name in a restore's 400."""
    try:
        yield
    except SnapshotIntegrityError as exc:
        raise SnapshotIntegrityError(str(exc).replace(f"snapshot {tmp.name!r}", what)) from None


PRIORITIES = ("no_sync", "snapshot", "replica")


def check_priority(priority: str | None) -> None:
    """Qdrant's ``SnapshotPriority`` (accepted; one replica, so it changes nothing)."""
    if priority is not None and priority not in PRIORITIES:
        raise ValidationError("priority", f"expected one of {PRIORITIES}, got {priority!r}")


@router.post(
    "/upload",
    response_model=Envelope[bool],
    dependencies=[WriteAccess],
    summary="Recover from an uploaded snapshot",
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"snapshot": {"type": "string", "format": "binary"}},
                        "required": ["snapshot"],
                    }
                }
            },
            "required": True,
        }
    },
)
async def upload_snapshot(
    collection_name: CollectionName,
    request: Request,
    db: DB,
    state: State,
    t0: Started,
    wait: Wait = None,
    priority: Annotated[str | None, Query(description="Accepted (one replica).")] = None,
    checksum: Annotated[str | None, Query(description="Expected SHA-256 of the file.")] = None,
) -> JSONResponse:
    """Restore the collection (created or replaced) from the snapshot file sent as the
    ``snapshot`` part of a multipart body (streamed to a temporary file of the data
    directory; bounded by ``max_snapshot_bytes`` and the request body limit)."""
    check_priority(priority)
    tmp = db.work_dir("upload", "snapshot")
    try:
        await receive_upload(request, tmp, state.settings.max_snapshot_bytes)
        with _named(tmp, "the uploaded snapshot"):
            await run_in_threadpool(db.restore_snapshot, tmp, collection_name, checksum=checksum)
    finally:
        tmp.unlink(missing_ok=True)
    return ok(True, t0)


# The shard snapshot routes (:mod:`service.routers.shard_snapshots`) are served through this
# router, which :data:`service.routers.ALL` includes: their paths are complete already.
router.routes.extend(shard_snapshots.router.routes)
