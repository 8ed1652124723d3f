"""Shard snapshots, in Qdrant's API shape: ``/collections/{c}/shards/{shard_id}/snapshots``
(create, list, download, delete, recover).

Cluster mode: a shard's snapshot is taken by one of its live replicas and kept on the
driver under ``DATA_DIR/snapshots/<c>/shards/<shard_id>/``; recover replaces every replica
of the shard (see :mod:`vecsearch.cluster.shard_snapshots`). Single-node mode: the
collection is shard 0 (:class:`vecsearch.shard_snapshots.SingleNodeShards`); any other id
is a 404, as for an unknown shard in cluster mode.

``?wait=false`` on create and delete answers Qdrant's 202 ``{"status": "accepted"}`` (the
work is done already); recover is always complete when answered. ``location`` is a file of
the data directory's snapshots folder (its name in the shard's folder, a relative or
absolute path, or a ``file://`` URL); ``http(s)://`` locations and ``.../upload`` are not
done for shard snapshots. ``checksum``, when given, is verified before anything is touched.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse

from service.deps import DB, CollectionName, Started, State, Wait
from service.responses import ok, ok_or_accepted
from service.schemas import Envelope, SnapshotDescription
from service.schemas.snapshots import ShardSnapshotRecover
from service.security import ReadAccess, WriteAccess
from vecsearch.errors import SnapshotNotFoundError, ValidationError
from vecsearch.shard_snapshots import SingleNodeShards
from vecsearch.snapshots import prune_snapshots

router = APIRouter(
    prefix="/collections/{collection_name}/shards/{shard_id}/snapshots", tags=["snapshots"]
)

ShardId = Annotated[int, PathParam(description="Shard id (0 .. shard_number - 1).")]
SnapshotName = Annotated[str, PathParam(description="File name of the snapshot.")]
#: Qdrant's ``SnapshotPriority`` values (accepted; recover always replaces every replica).
PRIORITIES = ("no_sync", "snapshot", "replica")


def _shards(db: Any, state: Any) -> Any:
    """What serves shard snapshots: the cluster database itself, or shard 0 of one node."""
    return db if state.settings.cluster is not None else SingleNodeShards(db)


@router.post(
    "",
    response_model=Envelope[SnapshotDescription],
    dependencies=[WriteAccess],
    summary="Create a shard snapshot",
)
def create_shard_snapshot(
    collection_name: CollectionName,
    shard_id: ShardId,
    db: DB,
    state: State,
    t0: Started,
    wait: Wait = None,
) -> JSONResponse:
    """Snapshot one shard (404 for an unknown shard); ``?wait=false``: 202 ``accepted``.
    With ``max_snapshots_per_collection`` set, the shard's oldest snapshots beyond that many
    are then deleted (as for collection snapshots)."""
    shards = _shards(db, state)
    desc = shards.create_shard_snapshot(collection_name, shard_id)
    keep = state.settings.max_snapshots_per_collection
    if keep:
        try:
            folder = shards.shard_snapshot_path(collection_name, shard_id, desc.name).parent
        except SnapshotNotFoundError:  # a newer snapshot's retention removed it already
            folder = None
        if folder is not None:
            prune_snapshots(folder, keep)
    return ok_or_accepted(desc.to_dict(), t0, wait)


@router.get(
    "",
    response_model=Envelope[list[SnapshotDescription]],
    dependencies=[ReadAccess],
    summary="List shard snapshots",
)
def list_shard_snapshots(
    collection_name: CollectionName, shard_id: ShardId, db: DB, state: State, t0: Started
) -> JSONResponse:
    """The shard's snapshots, oldest first."""
    found = _shards(db, state).list_shard_snapshots(collection_name, shard_id)
    return ok([s.to_dict() for s in found], t0)


@router.get(
    "/{snapshot_name}",
    response_class=FileResponse,
    dependencies=[ReadAccess],
    summary="Download a shard snapshot",
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def get_shard_snapshot(
    collection_name: CollectionName,
    shard_id: ShardId,
    snapshot_name: SnapshotName,
    db: DB,
    state: State,
) -> FileResponse:
    """The snapshot file (404 if it does not exist)."""
    path = _shards(db, state).shard_snapshot_path(collection_name, shard_id, snapshot_name)
    return FileResponse(path, media_type="application/octet-stream", filename=path.name)


@router.delete(
    "/{snapshot_name}",
    response_model=Envelope[bool],
    dependencies=[WriteAccess],
    summary="Delete a shard snapshot",
)
def delete_shard_snapshot(
    collection_name: CollectionName,
    shard_id: ShardId,
    snapshot_name: SnapshotName,
    db: DB,
    state: State,
    t0: Started,
    wait: Wait = None,
) -> JSONResponse:
    """Delete one shard snapshot and its checksum (``?wait=false``: 202 ``accepted``)."""
    _shards(db, state).delete_shard_snapshot(collection_name, shard_id, snapshot_name)
    return ok_or_accepted(True, t0, wait)


@router.put(
    "/recover",
    response_model=Envelope[bool],
    dependencies=[WriteAccess],
    summary="Recover a shard from a snapshot",
)
def recover_shard_snapshot(
    collection_name: CollectionName,
    shard_id: ShardId,
    body: ShardSnapshotRecover,
    db: DB,
    state: State,
    t0: Started,
    wait: Wait = None,
) -> JSONResponse:
    """Replace the shard (every replica of it, in cluster mode) by a snapshot file of this
    server's snapshots folder; the file and checksum are verified first."""
    if body.priority is not None and body.priority not in PRIORITIES:
        raise ValidationError("priority", f"expected one of {PRIORITIES}, got {body.priority!r}")
    _shards(db, state).recover_shard_snapshot(
        collection_name, shard_id, body.location, checksum=body.checksum
    )
    return ok(True, t0)
