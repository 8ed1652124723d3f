"""Shard snapshots (Qdrant's ``/collections/{c}/shards/{shard_id}/snapshots``): where they
live, their names, how a recover ``location`` is found, and single-node mode's shard 0.

Layout: ``DATA_DIR/snapshots/<collection>/shards/<shard_id>/<name>.snapshot`` plus
``<name>.snapshot.sha256``, the same files as a collection snapshot
(:mod:`vecsearch.snapshots`: a tar of one single-node collection, a SHA-256 sidecar), so
listing, describing, pruning and leftover cleaning are shared. The folder sits inside the
collection's own snapshot folder: deleting the collection removes it, and the collection's
snapshot listing (which reads only ``*.snapshot`` files of its folder) does not show it.

In single-node mode a collection is one shard: shard 0 is the whole collection and its
shard snapshots are collection snapshots kept in the shard folder (:class:`SingleNodeShards`).
Cluster mode writes the bytes a replica sends (:func:`write_snapshot`, see
:mod:`vecsearch.cluster.shard_snapshots`). Ray-free: single-node mode imports this module.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from vecsearch import snapshots as snap
from vecsearch.errors import (
    CollectionNotFoundError,
    EngineError,
    SnapshotIntegrityError,
    SnapshotNotFoundError,
    ValidationError,
)
from vecsearch.index_files import fsync_dir
from vecsearch.snapshots import SUFFIX, SnapshotDescription, describe

#: Characters of the collection's name that begin a shard snapshot's name (the rest:
#: ``-shard-<id>-<time>-<hex>.snapshot.sha256`` stays well within 255 bytes).
NAME_PREFIX = 180


class ShardNotFoundError(EngineError, LookupError):
    """The collection has no shard with that id (404)."""

    code = "shard_not_found"
    category = "not_found"


def shard_folder(snapshots_root: Path, collection: str, shard_id: int) -> Path:
    """The folder of shard ``shard_id``'s snapshots of ``collection``."""
    return snapshots_root / collection / "shards" / str(int(shard_id))


def check_shard(shard_id: int, shard_count: int, collection: str) -> int:
    """``shard_id`` if the collection has it, else :class:`ShardNotFoundError`."""
    if isinstance(shard_id, bool) or not 0 <= int(shard_id) < shard_count:
        raise ShardNotFoundError(
            f"Not found: shard {shard_id} of collection {collection!r} "
            f"(it has shard ids 0..{shard_count - 1})"
        )
    return int(shard_id)


def snapshot_file(folder: Path, name: str) -> Path:
    """The existing snapshot ``name`` in ``folder`` (404 for names that cannot be one:
    paths, hidden files, other suffixes, links)."""
    if (
        "/" in name
        or "\\" in name
        or "\x00" in name
        or name.startswith(".")
        or not name.endswith(SUFFIX)
    ):
        raise SnapshotNotFoundError(f"snapshot {name!r} does not exist")
    path = folder / name
    try:
        describe(path)  # raises SnapshotNotFoundError (links included)
    except OSError as exc:  # e.g. a name too long for the file system
        raise SnapshotNotFoundError(f"snapshot {name!r} does not exist") from exc
    return path


def delete_snapshot(folder: Path, name: str) -> None:
    """Delete snapshot ``name`` and its checksum."""
    path = snapshot_file(folder, name)
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".sha256").unlink(missing_ok=True)
    fsync_dir(folder)


def snapshot_name(collection: str, shard_id: int) -> str:
    """A new shard snapshot's file name (Qdrant-like: collection, shard, time)."""
    now = dt.datetime.now(dt.UTC)
    stem = collection[:NAME_PREFIX]
    return f"{stem}-shard-{shard_id}-{now:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4().hex[:6]}{SUFFIX}"


def write_snapshot(data: bytes, checksum: str, folder: Path, name: str) -> SnapshotDescription:
    """Write snapshot bytes (made elsewhere: a replica) as ``folder/name`` with its
    ``.sha256`` sidecar, atomically (a work file renamed into place, the sidecar first, as
    :func:`vecsearch.snapshots.create_snapshot` does). The bytes must match ``checksum``."""
    if hashlib.sha256(data).hexdigest() != checksum:
        raise SnapshotIntegrityError("shard snapshot bytes fail their checksum in transit")
    folder.mkdir(parents=True, exist_ok=True)
    snap.clean_folder(folder)
    work = f"{snap.WORK_PREFIX}{os.getpid()}-{snap._PROCESS_TOKEN}-{uuid.uuid4().hex[:12]}.part"
    part = folder / work
    try:
        with open(part, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        (folder / f"{name}.sha256").write_text(f"{checksum}  {name}\n", encoding="utf-8")
        os.replace(part, folder / name)
    finally:
        part.unlink(missing_ok=True)
    fsync_dir(folder)
    return describe(folder / name)


def find_location(snapshots_root: Path, folder: Path, location: str) -> Path:
    """The local snapshot file a shard recover ``location`` names: a ``file://`` URL or a
    path, absolute or relative (looked up in the shard's ``folder`` first, then in the
    snapshots root), that must lie inside ``DATA_DIR/snapshots``. ``http(s)://`` locations
    are refused (400: not done for shard snapshots). Errors never show server paths."""
    parsed = urlparse(location)
    if parsed.scheme in ("http", "https"):
        raise ValidationError(
            "location",
            "http(s):// locations are not supported for shard snapshots yet; copy the file "
            "into the snapshots folder and give file:// or its name",
        )
    if parsed.scheme not in ("", "file"):
        raise ValidationError("location", f"{parsed.scheme}:// locations are not supported")
    raw = unquote(parsed.path) if parsed.scheme == "file" else location
    if not raw or "\x00" in raw:
        raise ValidationError("location", "expected a file path")
    root = snapshots_root.resolve()
    given = Path(raw)
    candidates = [given] if given.is_absolute() else [folder / given, root / given]
    try:
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
    except OSError as exc:
        raise ValidationError(
            "location", f"not a usable path: {exc.strerror or type(exc).__name__}"
        ) from None
    raise SnapshotNotFoundError(
        f"snapshot {raw!r} does not exist in the data directory's snapshots folder"
    )


def expected_checksum(path: Path, checksum: str | None) -> str:
    """The checksum a recover must verify: ``checksum`` if given, else the file's sidecar,
    else the file's own SHA-256 (nothing to compare with)."""
    if checksum:
        return checksum.lower()
    side = path.with_name(path.name + ".sha256")
    try:
        return side.read_text(encoding="utf-8").split()[0].lower()
    except FileNotFoundError:
        return snap.sha256_file(path)
    except (OSError, UnicodeDecodeError, IndexError) as exc:
        raise SnapshotIntegrityError(
            f"snapshot {path.name!r}: its .sha256 file is unreadable ({type(exc).__name__})"
        ) from None


class SingleNodeShards:
    """Shard snapshots of a single-node :class:`~vecsearch.database.Database`: one shard,
    id 0, which is the whole collection (its snapshots are collection snapshots). The
    method names are :class:`vecsearch.cluster.database.ClusterDatabase`'s, so that the
    service calls either the same way."""

    def __init__(self, db: Any) -> None:
        self.db = db

    def folder(self, name: str, shard_id: int) -> Path:
        name = self.db.resolve(name)
        if not self.db.collection_exists(name):
            raise CollectionNotFoundError(f"collection {name!r} does not exist")
        check_shard(shard_id, 1, name)
        return shard_folder(self.db.snapshots_dir, name, shard_id)

    def create_shard_snapshot(self, name: str, shard_id: int) -> SnapshotDescription:
        folder = self.folder(name, shard_id)
        with self.db.lease(name) as coll:
            return snap.create_snapshot(coll, folder)

    def list_shard_snapshots(self, name: str, shard_id: int) -> list[SnapshotDescription]:
        return snap.list_snapshots(self.folder(name, shard_id))

    def shard_snapshot_path(self, name: str, shard_id: int, snapshot: str) -> Path:
        return snapshot_file(self.folder(name, shard_id), snapshot)

    def delete_shard_snapshot(self, name: str, shard_id: int, snapshot: str) -> None:
        delete_snapshot(self.folder(name, shard_id), snapshot)

    def recover_shard_snapshot(
        self, name: str, shard_id: int, location: str, checksum: str | None = None
    ) -> None:
        """Replace the collection (shard 0) by the snapshot at ``location``."""
        folder = self.folder(name, shard_id)
        path = find_location(self.db.snapshots_dir, folder, location)
        self.db.restore_snapshot(path, name, checksum=checksum)
