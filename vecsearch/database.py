"""A data directory of named collections.

Layout::

    DIR/collections/<name>/     one collection (store.sqlite, spaces/, LOCK)
    DIR/aliases.json            collection aliases (:mod:`vecsearch.aliases`)
    DIR/snapshots/<name>/       that collection's snapshots (*.snapshot + *.sha256)
    DIR/.tmp/                   work in progress: collections being created, built or
                                restored, deleted collections being removed
    DIR/.owners/<token>         one file per live :class:`Database` (of any process), locked
                                while it lives: what tells whose ``.tmp`` entries are leftovers

A collection appears in ``collections/`` only by an atomic rename of a complete directory,
so an interrupted create, build or restore never leaves a collection that looks complete.
Work directories are named ``<kind>.<pid>.<owner token>.<random>[.<name prefix>]``; when a
database is opened, those whose owner is gone (its ``.owners/<token>`` file is no longer
locked: the process exited, ``kill -9`` included, or the object was collected) are removed.
The token, not the pid, decides: in a container the server is pid 1 at every start.

Names: letters, digits, ``_ . -``, not starting with ``.`` or ``-``, at most 255 characters
(Qdrant's bound), matched whole (``fullmatch``: no trailing newline). A name is a directory
name under ``collections/`` and ``snapshots/``; every file name built from it stays within
the file system's 255 bytes (work directories carry at most a prefix of it, snapshot files
a bounded prefix: :mod:`vecsearch.snapshots`). SQLite refuses database paths longer than 504
bytes, so a data directory with a very long path gets a lower bound
(:attr:`Database.max_name_length`, said in the 400 that refuses a longer name).

Every method that takes a collection name also accepts an alias of it (Qdrant resolves an
alias first, then a collection name), except :meth:`Database.collection_exists` (strictly
collections) and :meth:`Database.delete_collection` (as Qdrant: deleting an alias's name
deletes nothing). Deleting a collection deletes its aliases.

Collections are opened on first use and kept in a pool (:mod:`vecsearch.pool`): unbounded by
default, or at most ``max_open`` open (and under three quarters of the file-descriptor limit),
closing the least recently used idle ones. One process at a time may open a collection (an
advisory lock enforces it). A collection that exists but cannot be opened is recorded in
:attr:`Database.failed` with the reason (no server paths) and answers
:class:`CollectionUnavailableError`; the others are served.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import os
import re
import shutil
import threading
import uuid
import weakref
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vecsearch.aliases import AliasAction, AliasStore
from vecsearch.collection import STORE_FILE, Collection
from vecsearch.config import CollectionConfig
from vecsearch.config_qdrant import parse_create
from vecsearch.errors import (
    CollectionExistsError,
    CollectionLockedError,
    CollectionNotFoundError,
    CollectionUnavailableError,
    SnapshotNotFoundError,
    ValidationError,
)
from vecsearch.fdlimit import exhaustion_error, is_fd_exhaustion
from vecsearch.index_files import fsync_dir
from vecsearch.pool import CollectionPool, LeaseScope
from vecsearch.snapshots import (
    SUFFIX,
    SnapshotDescription,
    clean_leftovers,
    create_snapshot,
    describe,
    list_snapshots,
    remove_tree,
    unpack_snapshot,
)

log = logging.getLogger(__name__)

#: Qdrant's bound on collection names (``max = 255``), also the file system's NAME_MAX.
MAX_NAME = 255
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
#: Longest database path SQLite opens (measured, SQLite 3.40: 512 minus ``-journal``).
SQLITE_MAX_PATH = 504
#: Bytes after the name in the longest SQLite path under the data directory:
#: ``/snapshots/<name>/.snap-<pid>-XXXXXXXX/store.sqlite`` is at most 47; the rest spare.
_PATH_AFTER_NAME = 64
#: Characters of the name kept in a work directory's name (for people reading ``.tmp``).
_TAG = 32
#: Threads that save and close collections at :meth:`Database.close`.
CLOSE_THREADS = 8


def check_collection_name(
    name: Any, field: str = "collection_name", max_length: int = MAX_NAME
) -> str:
    """Letters, digits, ``_ . -``; at most ``max_length`` (255) characters; not starting
    with ``.`` or ``-``; the whole string (a trailing newline is refused too)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        shown = repr(name) if not isinstance(name, str) or len(name) <= 64 else repr(name[:64])
        raise ValidationError(
            field,
            f"invalid collection name {shown}: use letters, digits, '_', '.', '-' "
            "(not starting with '.' or '-')",
        )
    if len(name) > max_length:
        raise ValidationError(
            field, f"collection name too long: {len(name)} characters, at most {max_length}"
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


def _is_token(text: str) -> bool:
    return len(text) == 12 and all(c in "0123456789abcdef" for c in text)


def _release_owner(fd: int, path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
    with contextlib.suppress(OSError):
        os.close(fd)


class Database:
    """Collections in a data directory (thread-safe).

    ``max_open``: at most this many collections open at once (None: no bound; see
    :mod:`vecsearch.pool`)."""

    def __init__(self, path: str | os.PathLike[str], *, max_open: int | None = None) -> None:
        self.path = Path(path)
        self.collections_dir = self.path / "collections"
        self.snapshots_dir = self.path / "snapshots"
        self.tmp_dir = self.path / ".tmp"
        self.owners_dir = self.path / ".owners"
        for d in (self.collections_dir, self.snapshots_dir, self.tmp_dir, self.owners_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._pool = CollectionPool(max_open)
        self._pool.on_surplus = self._trim_soon
        self._trimming = self._trim_again = False
        self._trim_lock = threading.Lock()
        #: Work directories a failed operation could not remove yet (no descriptor left).
        self._leftovers: list[Path] = []
        #: Collections that exist but failed to open: name -> reason (no server paths).
        self.failed: dict[str, str] = {}
        self.max_name_length = self._max_name_length()
        self._token = uuid.uuid4().hex[:12]
        owner = self.owners_dir / self._token
        fresh = self.owners_dir / f".{self._token}"  # locked before others can see it
        fd = os.open(fresh, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh file: never contended
        os.replace(fresh, owner)
        self._owner_finalizer = weakref.finalize(self, _release_owner, fd, str(owner))
        self._clean_tmp()
        clean_leftovers(self.snapshots_dir)  # .snap-* work files of a snapshot killed midway
        self.aliases = AliasStore(self.path)

    def _max_name_length(self) -> int:
        try:
            name_max = os.pathconf(self.collections_dir, "PC_NAME_MAX")
        except (OSError, ValueError):
            name_max = MAX_NAME
        room = SQLITE_MAX_PATH - len(os.fsencode(self.path.resolve())) - _PATH_AFTER_NAME
        return max(1, min(MAX_NAME, name_max, room))

    @property
    def max_open(self) -> int | None:
        """The pool's bound on open collections (None: unbounded)."""
        return self._pool.max_open

    # -- work directories ----------------------------------------------------------------------
    def work_dir(self, kind: str, name: str) -> Path:
        """A fresh path under ``.tmp`` owned by this object (removed once it is gone)."""
        tag = name[:_TAG].replace("/", "_")
        return self.tmp_dir / f"{kind}.{os.getpid()}.{self._token}.{uuid.uuid4().hex[:8]}.{tag}"

    def _owner_alive(self, token: str, path: Path | None = None) -> bool:
        if token == self._token:
            return True
        try:
            fd = os.open(path or self.owners_dir / token, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # also drops the lock we may have taken
        return False

    def _clean_tmp(self) -> None:
        """Remove work directories (and owner files) whose owner is gone."""
        for p in self.owners_dir.iterdir():  # ".<token>": one killed before its rename
            token = p.name.removeprefix(".")
            if _is_token(token) and not self._owner_alive(token, p):
                p.unlink(missing_ok=True)
        for p in self.tmp_dir.iterdir():
            parts = p.name.split(".")
            try:
                pid = int(parts[1])
            except (IndexError, ValueError):
                continue
            if len(parts) >= 4 and _is_token(parts[2]):
                gone = not self._owner_alive(parts[2])
            else:  # named before owner tokens: by pid
                gone = pid != os.getpid() and not _pid_alive(pid)
            if gone:
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)

    def publish(self, work: Path, name: str, *, replace: bool = False) -> None:
        """Move a complete collection directory into place (atomic rename); not under an
        alias's name (Qdrant refuses a collection named like an alias)."""
        check_collection_name(name, max_length=self.max_name_length)
        target = self.collections_dir / name
        with self._lock:
            self._check_not_alias(name)
            old = None
            if self._exists(name):
                if not replace:
                    raise CollectionExistsError(f"collection {name!r} already exists")
                self._close_one(name, save_index=False)
                old = self.work_dir("deleted", name)
                os.replace(target, old)
            os.replace(work, target)
            fsync_dir(self.collections_dir)
            self.failed.pop(name, None)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)

    # -- collections ---------------------------------------------------------------------------
    def _exists(self, name: str) -> bool:
        """Whether ``collections/<name>`` holds a store; a directory whose contents cannot
        be read counts as a collection (opening it reports why)."""
        try:
            os.stat(self.collections_dir / name / STORE_FILE)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError:
            return True
        return True

    def list_collections(self) -> list[str]:
        """Names of the collections, sorted (failed ones included: they exist)."""
        with os.scandir(self.collections_dir) as it:
            names = [e.name for e in it if _NAME.fullmatch(e.name) and len(e.name) <= MAX_NAME]
        return sorted(n for n in names if self._exists(n))

    def collection_exists(self, name: str) -> bool:
        """Whether a collection ``name`` exists."""
        check_collection_name(name)
        return self._exists(name)

    def create_collection(
        self, name: str, config: CollectionConfig | Mapping[str, Any]
    ) -> Collection:
        """Create an empty collection; ``config`` may be Qdrant's create-collection body."""
        check_collection_name(name, max_length=self.max_name_length)
        cfg = config if isinstance(config, CollectionConfig) else parse_create(config)
        if "created_at" not in cfg.qdrant:  # Qdrant's CollectionInfo.created_at (RFC 3339)
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            cfg = dataclasses.replace(cfg, qdrant={**cfg.qdrant, "created_at": now})
        self._make_room()
        with self._lock:
            if self.collection_exists(name):
                raise CollectionExistsError(f"collection {name!r} already exists")
            self._check_not_alias(name)
            self._remove_leftovers()
            work = self.work_dir("create", name)
            try:
                Collection.create(name, work, cfg).close(save_index=False)  # nothing to save
                self.publish(work, name)
            except BaseException as exc:
                self._discard(work)  # a failed create leaves no .tmp entry
                if is_fd_exhaustion(exc):
                    raise exhaustion_error() from exc
                raise
            return self.get_collection(name)

    def _discard(self, work: Path) -> None:
        """Remove a work directory now, or (out of descriptors, say) at the next chance."""
        self._make_room(once=True)
        try:
            shutil.rmtree(work)
        except FileNotFoundError:
            pass
        except OSError:
            self._leftovers.append(work)

    def _remove_leftovers(self) -> None:
        for work in list(self._leftovers):
            with contextlib.suppress(FileNotFoundError):
                try:
                    shutil.rmtree(work)
                except OSError:
                    continue
            self._leftovers.remove(work)

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
        """The open collection ``name`` or aliased ``name`` (opened on first use; leased
        until the end of the current :meth:`lease_scope`, if one is active)."""
        name = self.resolve(name)
        while True:
            coll = self._pool.get(name)
            if coll is not None:
                return coll
            ev = self._pool.closing(name)
            if ev is not None:  # an evicted copy is still saving: its LOCK is still held
                ev.wait()
                continue
            if self._make_room(once=True):
                continue
            with self._lock:
                coll = self._pool.get(name)
                if coll is not None:
                    return coll
                if self._pool.closing(name) is not None:
                    continue
                return self._open_locked(name)

    def _open_locked(self, name: str) -> Collection:
        if not self._exists(name):
            raise CollectionNotFoundError(f"collection {name!r} does not exist")
        try:
            coll = Collection(name, self.collections_dir / name)
        except CollectionNotFoundError:
            raise
        except Exception as exc:
            if is_fd_exhaustion(exc):
                raise exhaustion_error() from exc
            reason = self.reason(exc)
            if self.failed.get(name) != reason:  # logged once per distinct reason
                log.error("collection %s cannot be opened: %s", name, reason)
            self.failed[name] = reason
            if isinstance(exc, CollectionLockedError):
                raise
            raise CollectionUnavailableError(
                f"collection {name!r} cannot be opened: {reason}"
            ) from exc
        self.failed.pop(name, None)
        self._pool.add(name, coll)
        return coll

    def reason(self, exc: BaseException) -> str:
        """``exc`` as a message without the server's paths (relative to the data dir)."""
        text = str(exc)
        for root in {str(self.path.resolve()), str(self.path)}:
            text = text.replace(root + os.sep, "").replace(root, ".")
        if isinstance(exc, OSError):
            text = f"{type(exc).__name__}: {text}"
        return text

    def _make_room(self, *, once: bool = False, incoming: int = 1) -> bool:
        """Close least recently used idle collections while the pool has no room for
        ``incoming`` more (one with ``once``); True if one was closed."""
        closed = False
        while self._pool.over_budget(incoming):
            victim = self._pool.take_victim()
            if victim is None:
                break
            self._close_detached(*victim)
            closed = True
            if once:
                break
        return closed

    def trim(self) -> None:
        """Close idle collections while more than ``max_open`` are open (or descriptors are
        short); what a thread of its own does after a request released the surplus. Closes
        begun by other threads are waited for."""
        self._make_room(incoming=0)
        for ev in self._pool.closing_now():
            ev.wait()

    def _trim_soon(self) -> None:
        with self._trim_lock:
            if self._trimming:  # the running pass goes round once more
                self._trim_again = True
                return
            self._trimming, self._trim_again = True, False
        threading.Thread(target=self._trim_thread, name="vecsearch-trim", daemon=True).start()

    def _trim_thread(self) -> None:
        while True:
            try:
                self._make_room(incoming=0)
            except Exception:
                log.exception("closing idle collections failed")
            with self._trim_lock:
                if not self._trim_again:
                    self._trimming = False
                    return
                self._trim_again = False

    def _close_detached(
        self, name: str, coll: Collection, ev: threading.Event, *, save_index: bool = True
    ) -> str | None:
        """Close a collection taken out of the pool; the error text if that failed (the
        collection is closed either way, and its store is intact: only the index save can
        fail, and the index is caught up or rebuilt at the next open)."""
        count = coll.point_count
        try:
            coll.close(save_index=save_index)
            return None
        except Exception as exc:
            reason = self.reason(exc)
            log.error("collection %s: saving its index at close failed: %s", name, reason)
            return reason
        finally:
            self._pool.closed(name, ev, count)

    def lease_scope(self) -> contextlib.AbstractContextManager[LeaseScope]:
        """A block during which every collection looked up stays open (the service opens
        one per request)."""
        return self._pool.scope()

    @contextlib.contextmanager
    def lease(self, name: str) -> Iterator[Collection]:
        """The collection ``name``, kept open (not evicted) for the block."""
        with self._pool.scope():
            yield self.get_collection(name)

    def loaded_collection(self, name: str) -> Collection | None:
        """The collection ``name`` if it is already open, else None; touches no disk and
        waits for no I/O, so an event loop may call it (the service's fast path)."""
        return self._pool.get(self.aliases.get(name) or name)

    def open_collections(self) -> list[str]:
        """Names of the collections open now, least recently used first."""
        return [name for name, _ in self._pool.items()]

    def point_counts(self) -> dict[str, int]:
        """Points per collection: live for open ones, as at their last close for the
        others this object has opened (metrics; never opens a collection)."""
        out = dict(self._pool.last_counts)
        for name, coll in self._pool.items():
            out[name] = coll.point_count
        return out

    def delete_collection(self, name: str) -> bool:
        """Delete a collection and its snapshots; False if it did not exist."""
        check_collection_name(name)
        with self._lock:
            if not self._exists(name):
                return False
            self.aliases.drop_collection(name)  # first, as Qdrant does
            self._close_one(name, save_index=False)
            gone = self.work_dir("deleted", name)
            os.replace(self.collections_dir / name, gone)
            fsync_dir(self.collections_dir)
            self.failed.pop(name, None)
            self._pool.last_counts.pop(name, None)
            shutil.rmtree(gone, ignore_errors=True)
            shutil.rmtree(self.snapshots_dir / name, ignore_errors=True)
            return True

    # -- aliases -------------------------------------------------------------------------------
    def update_aliases(self, actions: list[AliasAction]) -> None:
        """Apply alias actions (all or nothing; rules in :mod:`vecsearch.aliases`)."""
        with self._lock:  # no collection is created or deleted meanwhile
            self.aliases.apply(actions, self.collection_exists)

    def _close_one(self, name: str, *, save_index: bool) -> None:
        ev = self._pool.closing(name)
        if ev is not None:  # being evicted by another thread
            ev.wait()
        coll, ev = self._pool.detach(name)
        if coll is None:
            self._pool.closed(name, ev)
            return
        try:
            coll.close(save_index=save_index)
        finally:
            self._pool.closed(name, ev)

    def close(self) -> dict[str, str]:
        """Save the indexes that changed and close every open collection, several at a
        time; one that fails to save is still closed and the others are still saved.
        Returns the failures (name -> reason), each logged once."""
        with self._lock:
            self._remove_leftovers()
            others = self._pool.closing_now()  # closes begun by other threads (trimming)
            detached = []
            for name, _ in self._pool.items():
                coll, ev = self._pool.detach(name)
                if coll is None:
                    self._pool.closed(name, ev)
                else:
                    detached.append((name, coll, ev))
            failures: dict[str, str] = {}
            for ev in others:
                ev.wait()
            if not detached:
                return failures
            with ThreadPoolExecutor(
                max_workers=min(CLOSE_THREADS, len(detached)), thread_name_prefix="vecsearch-close"
            ) as ex:
                results = list(ex.map(lambda item: self._close_detached(*item), detached))
            for (name, _, _), err in zip(detached, results, strict=True):
                if err is not None:
                    failures[name] = err
            return failures

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- snapshots -----------------------------------------------------------------------------
    def create_snapshot(self, name: str) -> SnapshotDescription:
        """Snapshot collection ``name`` (writes may continue meanwhile)."""
        with self.lease(name) as coll:  # not closed to make room meanwhile
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
