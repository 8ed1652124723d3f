"""A data directory of named collections.

Layout::

    DIR/collections/<name>/     one collection (store.sqlite, index/, LOCK)
    DIR/aliases.json            collection aliases (:mod:`vecsearch.aliases`)
    DIR/snapshots/<name>/       that collection's snapshots (*.snapshot + *.sha256)
    DIR/.tmp/                   work in progress: collections being created, built or
                                restored, deleted collections being removed

A collection appears in ``collections/`` only by an atomic rename of a complete directory,
so an interrupted create, build or restore never leaves a collection that looks complete;
leftovers in ``.tmp`` of processes that are gone are removed when a database is opened.

Every method that takes a collection name also accepts an alias of it (Qdrant resolves an
alias first, then a collection name), except :meth:`Database.collection_exists` (strictly
collections) and :meth:`Database.delete_collection` (as Qdrant: deleting an alias's name
deletes nothing). Deleting a collection deletes its aliases.

Collections are opened lazily and stay open until :meth:`Database.close`. One process at a
time may open a collection (an advisory lock enforces it).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vecsearch.aliases import AliasAction, AliasStore
from vecsearch.collection import Collection
from vecsearch.config import CollectionConfig
from vecsearch.config_qdrant import parse_create
from vecsearch.errors import (
    CollectionExistsError,
    CollectionNotFoundError,
    SnapshotNotFoundError,
    ValidationError,
)
from vecsearch.index_files import fsync_dir
from vecsearch.snapshots import (
    SUFFIX,
    SnapshotDescription,
    create_snapshot,
    describe,
    list_snapshots,
    remove_tree,
    unpack_snapshot,
)

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,254}$")


def check_collection_name(name: Any, field: str = "collection_name") -> str:
    """Letters, digits, ``_ . -``; at most 255 characters; not starting with ``.`` or ``-``."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(
            field, f"invalid collection name {name!r}: use letters, digits, '_', '.', '-'"
        )
    return name


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Database:
    """Collections in a data directory (thread-safe)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.collections_dir = self.path / "collections"
        self.snapshots_dir = self.path / "snapshots"
        self.tmp_dir = self.path / ".tmp"
        for d in (self.collections_dir, self.snapshots_dir, self.tmp_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._open: dict[str, Collection] = {}
        self._clean_tmp()
        self.aliases = AliasStore(self.path)

    # -- work directories ----------------------------------------------------------------------
    def work_dir(self, kind: str, name: str) -> Path:
        """A fresh path under ``.tmp`` tagged with this process id (cleaned if we die)."""
        return self.tmp_dir / f"{kind}.{os.getpid()}.{uuid.uuid4().hex[:8]}.{name}"

    def _clean_tmp(self) -> None:
        for p in self.tmp_dir.iterdir():
            parts = p.name.split(".")
            try:
                pid = int(parts[1])
            except (IndexError, ValueError):
                continue
            if pid != os.getpid() and not _pid_alive(pid):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)

    def publish(self, work: Path, name: str, *, replace: bool = False) -> None:
        """Move a complete collection directory into place (atomic rename); not under an
        alias's name (Qdrant refuses a collection named like an alias)."""
        target = self.collections_dir / name
        with self._lock:
            self._check_not_alias(name)
            old = None
            if target.exists():
                if not replace:
                    raise CollectionExistsError(f"collection {name!r} already exists")
                self._close_one(name, save_index=False)
                old = self.work_dir("deleted", name)
                os.replace(target, old)
            os.replace(work, target)
            fsync_dir(self.collections_dir)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)

    # -- collections ---------------------------------------------------------------------------
    def list_collections(self) -> list[str]:
        """Names of the collections, sorted."""
        return sorted(
            p.name
            for p in self.collections_dir.iterdir()
            if p.is_dir() and (p / "store.sqlite").exists() and _NAME.match(p.name)
        )

    def collection_exists(self, name: str) -> bool:
        """Whether a collection ``name`` exists."""
        check_collection_name(name)
        return (self.collections_dir / name / "store.sqlite").exists()

    def create_collection(
        self, name: str, config: CollectionConfig | Mapping[str, Any]
    ) -> Collection:
        """Create an empty collection; ``config`` may be Qdrant's create-collection body."""
        check_collection_name(name)
        cfg = config if isinstance(config, CollectionConfig) else parse_create(config)
        if "created_at" not in cfg.qdrant:  # Qdrant's CollectionInfo.created_at (RFC 3339)
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            cfg = dataclasses.replace(cfg, qdrant={**cfg.qdrant, "created_at": now})
        with self._lock:
            if self.collection_exists(name):
                raise CollectionExistsError(f"collection {name!r} already exists")
            self._check_not_alias(name)
            work = self.work_dir("create", name)
            Collection.create(name, work, cfg).close(save_index=False)  # nothing to save yet
            self.publish(work, name)
            return self.get_collection(name)

    def resolve(self, name: str) -> str:
        """The collection that ``name`` designates: an alias's target, else ``name``."""
        check_collection_name(name)
        return self.aliases.get(name) or name

    def _check_not_alias(self, name: str) -> None:
        if self.aliases.get(name) is not None:
            raise ValidationError(
                "collection_name",
                f"Can't create collection with name {name}. "
                "Alias with the same name already exists",
            )

    def get_collection(self, name: str) -> Collection:
        """The open collection ``name`` or aliased ``name`` (opened on first use)."""
        name = self.resolve(name)
        with self._lock:
            coll = self._open.get(name)
            if coll is not None and not coll.closed:
                return coll
            if not self.collection_exists(name):
                raise CollectionNotFoundError(f"collection {name!r} does not exist")
            coll = Collection(name, self.collections_dir / name)
            self._open[name] = coll
            return coll

    def loaded_collection(self, name: str) -> Collection | None:
        """The collection ``name`` if it is already open, else None; takes no lock and
        touches no disk, so an event loop may call it (the service's fast path)."""
        coll = self._open.get(self.aliases.get(name) or name)
        return coll if coll is not None and not coll.closed else None

    def delete_collection(self, name: str) -> bool:
        """Delete a collection and its snapshots; False if it did not exist."""
        check_collection_name(name)
        with self._lock:
            if not self.collection_exists(name):
                return False
            self.aliases.drop_collection(name)  # first, as Qdrant does
            self._close_one(name, save_index=False)
            gone = self.work_dir("deleted", name)
            os.replace(self.collections_dir / name, gone)
            fsync_dir(self.collections_dir)
            shutil.rmtree(gone, ignore_errors=True)
            shutil.rmtree(self.snapshots_dir / name, ignore_errors=True)
            return True

    # -- aliases -------------------------------------------------------------------------------
    def update_aliases(self, actions: list[AliasAction]) -> None:
        """Apply alias actions (all or nothing; rules in :mod:`vecsearch.aliases`)."""
        with self._lock:  # no collection is created or deleted meanwhile
            self.aliases.apply(actions, self.collection_exists)

    def _close_one(self, name: str, *, save_index: bool) -> None:
        coll = self._open.pop(name, None)
        if coll is not None:
            coll.close(save_index=save_index)

    def close(self) -> None:
        """Save indexes and close every open collection."""
        with self._lock:
            for name in list(self._open):
                self._close_one(name, save_index=True)

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- snapshots -----------------------------------------------------------------------------
    def create_snapshot(self, name: str) -> SnapshotDescription:
        """Snapshot collection ``name`` (writes may continue meanwhile)."""
        coll = self.get_collection(name)
        return create_snapshot(coll, self.snapshots_dir / coll.name)

    def list_snapshots(self, name: str) -> list[SnapshotDescription]:
        """Snapshots of collection ``name``."""
        name = self.resolve(name)
        if not self.collection_exists(name):
            raise CollectionNotFoundError(f"collection {name!r} does not exist")
        return list_snapshots(self.snapshots_dir / name)

    def snapshot_path(self, name: str, snapshot: str) -> Path:
        """Path of snapshot file ``snapshot`` of collection ``name`` (both must exist)."""
        name = self.resolve(name)
        if not self.collection_exists(name):
            raise CollectionNotFoundError(f"collection {name!r} does not exist")
        if "/" in snapshot or snapshot.startswith(".") or not snapshot.endswith(SUFFIX):
            raise SnapshotNotFoundError(f"snapshot {snapshot!r} does not exist")
        path = self.snapshots_dir / name / snapshot
        describe(path)  # raises SnapshotNotFoundError
        return path

    def delete_snapshot(self, name: str, snapshot: str) -> None:
        """Delete one snapshot file (and its checksum)."""
        path = self.snapshot_path(name, snapshot)
        path.unlink()
        path.with_name(path.name + ".sha256").unlink(missing_ok=True)

    def restore_snapshot(
        self,
        snapshot_file: str | os.PathLike[str],
        name: str,
        *,
        checksum: str | None = None,
        replace: bool = True,
    ) -> Collection:
        """Restore a snapshot file as collection ``name`` (replacing it if it exists and
        ``replace``); the file is verified before anything existing is touched. An alias's
        name restores into the collection it points at."""
        name = self.resolve(name)
        work = self.work_dir("restore", name)
        try:
            unpack_snapshot(Path(snapshot_file), work, checksum)
            (work / "manifest.json").unlink()
            Collection(name, work).close()  # opens (catch-up / rebuild), saves a fresh index
            self.publish(work, name, replace=replace)
        except BaseException:
            remove_tree(work)
            raise
        return self.get_collection(name)
