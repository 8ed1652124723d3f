"""Collection snapshots: one tar file with a SHA-256 checksum, consistent while writes continue.

A snapshot holds::

    manifest.json     {"format": "vecsearch-snapshot", "version", "collection", "created", ...}
    store.sqlite      a VACUUM INTO copy of the store: one consistent point in time
    spaces/<id>/index/...  each vector space's saved index, at some earlier sequence number
                      (optional; snapshots of schema 1 have one ``index/`` instead)

Consistency: the index copies and the store copy are taken under the collection's persist
lock (no index save in between), the index copies first. The store copy is therefore at a
sequence number at or after each index's ``applied_seq``, exactly the situation of a normal
restart (the indexes are brought up to date when the restored collection opens). Writers are
not blocked (``VACUUM INTO`` reads a WAL snapshot).

The checksum is written beside the snapshot as ``<name>.sha256`` and verified on restore.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vecsearch.errors import SnapshotIntegrityError, SnapshotNotFoundError, StorageError
from vecsearch.index_files import fsync_dir

FORMAT = "vecsearch-snapshot"
VERSION = 2
#: Snapshot versions this build restores (1: one ``index/``, schema-1 store).
READABLE = (1, 2)
SUFFIX = ".snapshot"
#: Characters of the collection's name that begin its snapshots' file names.
SNAPSHOT_NAME_PREFIX = 200


@dataclass(frozen=True)
class SnapshotDescription:
    """Qdrant's ``SnapshotDescription``."""

    name: str
    creation_time: str
    size: int
    checksum: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "name": self.name,
            "creation_time": self.creation_time,
            "size": self.size,
            "checksum": self.checksum,
        }


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def create_snapshot(collection: Any, dest_dir: Path) -> SnapshotDescription:
    """Write a snapshot of ``collection`` into ``dest_dir`` and return its description."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    # at most 200 characters of the collection's name (255 allowed): the file, its .sha256
    # and its .part stay within the file system's 255 bytes
    stem = collection.name[:SNAPSHOT_NAME_PREFIX]
    name = f"{stem}-{now:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4().hex[:6]}{SUFFIX}"
    with tempfile.TemporaryDirectory(prefix=".snap-", dir=dest_dir) as tmp_s:
        tmp = Path(tmp_s)
        with collection._persist_lock:
            has_index = False
            for space in collection.spaces.values():
                target = tmp / "spaces" / str(space.config.id) / "index"
                target.parent.mkdir(parents=True, exist_ok=True)
                has_index |= space.files.copy_to(target)
            collection.store.vacuum_into(tmp / "store.sqlite")
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "collection": collection.name,
            "created": now.isoformat(),
            "config": collection.config.to_dict(),
            "has_index": has_index,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        part = dest_dir / f".{name}.part"
        with tarfile.open(part, "w") as tar:
            for entry in ("manifest.json", "store.sqlite", "spaces"):
                if (tmp / entry).exists():
                    tar.add(tmp / entry, arcname=entry)
        with open(part, "rb") as fh:
            os.fsync(fh.fileno())
        checksum = sha256_file(part)
        os.replace(part, dest_dir / name)
    (dest_dir / f"{name}.sha256").write_text(f"{checksum}  {name}\n", encoding="utf-8")
    fsync_dir(dest_dir)
    return describe(dest_dir / name)


def describe(path: Path) -> SnapshotDescription:
    """Description of an existing snapshot file (checksum from its ``.sha256`` sidecar)."""
    if not path.is_file():
        raise SnapshotNotFoundError(f"snapshot {path.name!r} does not exist")
    side = path.with_name(path.name + ".sha256")
    checksum = side.read_text(encoding="utf-8").split()[0] if side.exists() else sha256_file(path)
    st = path.stat()
    created = dt.datetime.fromtimestamp(st.st_mtime, dt.UTC).replace(tzinfo=None)
    return SnapshotDescription(
        path.name, created.isoformat(timespec="seconds"), st.st_size, checksum
    )


def list_snapshots(dest_dir: Path) -> list[SnapshotDescription]:
    """Snapshots in ``dest_dir``, oldest first."""
    if not dest_dir.is_dir():
        return []
    files = sorted(
        (p for p in dest_dir.iterdir() if p.name.endswith(SUFFIX) and not p.name.startswith(".")),
        key=lambda p: (p.stat().st_mtime, p.name),
    )
    return [describe(p) for p in files]


def unpack_snapshot(path: Path, target: Path, checksum: str | None = None) -> dict[str, Any]:
    """Verify ``path`` and unpack it into the new directory ``target``; returns the manifest.

    The checksum checked is ``checksum`` if given, else the ``.sha256`` sidecar if present.
    """
    if not path.is_file():
        raise SnapshotNotFoundError(f"snapshot file {str(path)!r} does not exist")
    side = path.with_name(path.name + ".sha256")
    expected = checksum or (side.read_text(encoding="utf-8").split()[0] if side.exists() else None)
    if expected is not None and sha256_file(path) != expected.lower():
        raise SnapshotIntegrityError(f"snapshot {path.name!r} fails its SHA-256 checksum")
    target.mkdir(parents=True)
    try:
        with tarfile.open(path, "r") as tar:
            members = tar.getmembers()
            for m in members:
                top = m.name.split("/")[0]
                if (
                    top not in ("manifest.json", "store.sqlite", "spaces", "index")
                    or not (m.isfile() or m.isdir())
                    or ".." in m.name.split("/")
                    or m.name.startswith("/")
                ):
                    raise SnapshotIntegrityError(
                        f"snapshot {path.name!r} holds an unexpected entry {m.name!r}"
                    )
            tar.extractall(target, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise SnapshotIntegrityError(f"snapshot {path.name!r} is not readable: {exc}") from exc
    try:
        manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SnapshotIntegrityError(f"snapshot {path.name!r} has no valid manifest") from exc
    if manifest.get("format") != FORMAT or manifest.get("version") not in READABLE:
        versions = " or ".join(map(str, READABLE))
        raise SnapshotIntegrityError(f"{path.name!r} is not a vecsearch snapshot (v{versions})")
    db = target / "store.sqlite"
    if not db.is_file():
        raise SnapshotIntegrityError(f"snapshot {path.name!r} has no store")
    try:
        conn = sqlite3.connect(db)
        try:
            ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise SnapshotIntegrityError(f"snapshot {path.name!r}: store unreadable: {exc}") from exc
    if ok != "ok":
        raise SnapshotIntegrityError(f"snapshot {path.name!r}: store integrity check: {ok}")
    return manifest


def remove_tree(path: Path) -> None:
    """Remove a directory tree, raising :class:`StorageError` on failure."""
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise StorageError(f"cannot remove {path}: {exc}") from exc
