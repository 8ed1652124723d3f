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

Restoring verifies more than the checksum before anything existing is touched
(:func:`unpack_snapshot`): a plain tar (no compression, no sparse members: nothing unpacks
larger than the file) holding only regular files and directories under the expected names
(no links, no ``..``, no absolute names); a manifest that is JSON of a readable version;
then the store and the opening of the collection (:mod:`vecsearch.snapshot_checks`). Each
failure is a :class:`SnapshotIntegrityError` (400) saying what is wrong; no message shows a
server path.

Work files: a snapshot is assembled in ``.snap-<pid>-<token>-*`` entries of the
collection's snapshot folder and renamed into place when complete; :func:`clean_folder`
removes those a dead process left, whenever the folder's snapshots are listed or one is
created; :func:`clean_leftovers` does every folder when the database opens.
:func:`prune_snapshots` keeps the newest ``keep`` snapshots of a collection (the
service's ``max_snapshots_per_collection``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import tarfile
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vecsearch.errors import SnapshotIntegrityError, SnapshotNotFoundError, StorageError
from vecsearch.index_files import fsync_dir
from vecsearch.snapshot_checks import public_message, restore_errors, verify_store

FORMAT = "vecsearch-snapshot"
VERSION = 2
#: Snapshot versions this build restores (1: one ``index/``, schema-1 store).
READABLE = (1, 2)
SUFFIX = ".snapshot"
log = logging.getLogger(__name__)
#: Characters of the collection's name that begin its snapshots' file names.
SNAPSHOT_NAME_PREFIX = 200
#: Prefix of the work entries of a snapshot being written (then ``<pid>-<token>-``).
WORK_PREFIX = ".snap-"
#: Tells this process from an earlier one of the same pid (a container's server is pid 1
#: at every start).
_PROCESS_TOKEN = uuid.uuid4().hex[:8]


@dataclass(frozen=True)
class SnapshotDescription:
    """Qdrant's ``SnapshotDescription``."""

    name: str
    creation_time: str
    size: int
    checksum: str
    #: The file's modification time (orders listings; not part of Qdrant's JSON).
    mtime: float = 0.0

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
    clean_folder(dest_dir)
    now = dt.datetime.now(dt.UTC)
    # at most 200 characters of the collection's name (255 allowed): the file, its .sha256
    # and its .part stay within the file system's 255 bytes
    stem = collection.name[:SNAPSHOT_NAME_PREFIX]
    name = f"{stem}-{now:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4().hex[:6]}{SUFFIX}"
    work = f"{WORK_PREFIX}{os.getpid()}-{_PROCESS_TOKEN}-"
    with tempfile.TemporaryDirectory(prefix=work, dir=dest_dir) as tmp_s:
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
        part = dest_dir / f"{work}{uuid.uuid4().hex[:12]}.part"  # short: names may be long
        with tarfile.open(part, "w") as tar:
            for entry in ("manifest.json", "store.sqlite", "spaces"):
                if (tmp / entry).exists():
                    tar.add(tmp / entry, arcname=entry)
        with open(part, "rb") as fh:
            os.fsync(fh.fileno())
        checksum = sha256_file(part)
        st = part.stat()  # os.replace keeps it: the description needs no second look
        # the checksum before the snapshot: a snapshot is never seen without it, and another
        # create's retention may delete this one as soon as it is published
        (dest_dir / f"{name}.sha256").write_text(f"{checksum}  {name}\n", encoding="utf-8")
        os.replace(part, dest_dir / name)
    fsync_dir(dest_dir)
    created = dt.datetime.fromtimestamp(st.st_mtime, dt.UTC).replace(tzinfo=None)
    return SnapshotDescription(
        name, created.isoformat(timespec="seconds"), st.st_size, checksum, st.st_mtime
    )


def describe(path: Path) -> SnapshotDescription:
    """Description of an existing snapshot file (checksum from its ``.sha256`` sidecar)."""
    if path.is_symlink() or path.parent.is_symlink() or not path.is_file():
        # a link is never served: it could point anywhere on the server
        raise SnapshotNotFoundError(f"snapshot {path.name!r} does not exist")
    side = path.with_name(path.name + ".sha256")
    try:
        try:
            checksum = side.read_text(encoding="utf-8").split()[0]
        except (FileNotFoundError, IndexError, UnicodeDecodeError):  # none, or unreadable
            checksum = sha256_file(path)
        st = path.stat()
    except FileNotFoundError:  # deleted meanwhile
        raise SnapshotNotFoundError(f"snapshot {path.name!r} does not exist") from None
    created = dt.datetime.fromtimestamp(st.st_mtime, dt.UTC).replace(tzinfo=None)
    return SnapshotDescription(
        path.name, created.isoformat(timespec="seconds"), st.st_size, checksum, st.st_mtime
    )


def list_snapshots(dest_dir: Path) -> list[SnapshotDescription]:
    """Snapshots in ``dest_dir``, oldest first."""
    clean_folder(dest_dir)
    if not dest_dir.is_dir():
        return []
    found = []
    for p in dest_dir.iterdir():
        if not p.name.endswith(SUFFIX) or p.name.startswith("."):
            continue
        try:  # a snapshot deleted meanwhile (a DELETE, retention) is simply not listed
            found.append(describe(p))
        except (SnapshotNotFoundError, FileNotFoundError):
            continue
    # oldest first: by creation time, then name (the time has a resolution of one second)
    return sorted(found, key=lambda d: (d.mtime, d.name))


def unpack_snapshot(path: Path, target: Path, checksum: str | None = None) -> dict[str, Any]:
    """Verify ``path`` and unpack it into the new directory ``target``; returns the manifest.

    The checksum checked is ``checksum`` if given, else the ``.sha256`` sidecar if present.
    Then the archive, the manifest and the store are verified (see the module docstring):
    anything wrong is a :class:`SnapshotIntegrityError` saying what.
    """
    if path.is_symlink() or not path.is_file():
        raise SnapshotNotFoundError(f"snapshot file {path.name!r} does not exist")
    side = path.with_name(path.name + ".sha256")
    try:
        expected = checksum or (
            side.read_text(encoding="utf-8").split()[0] if side.exists() else None
        )
    except (OSError, UnicodeDecodeError, IndexError) as exc:
        raise SnapshotIntegrityError(
            f"snapshot {path.name!r}: its .sha256 file is unreadable ({type(exc).__name__})"
        ) from None
    if expected is not None and sha256_file(path) != expected.lower():
        raise SnapshotIntegrityError(f"snapshot {path.name!r} fails its SHA-256 checksum")
    target.mkdir(parents=True)
    try:
        # "r:": uncompressed only (as snapshots are written), and no sparse members: what is
        # unpacked is then never larger than the file (no decompression bomb)
        with tarfile.open(path, "r:") as tar:
            members = tar.getmembers()
            for m in members:
                top = m.name.split("/")[0]
                if (
                    top not in ("manifest.json", "store.sqlite", "spaces", "index")
                    or not (m.isfile() or m.isdir())
                    or m.issparse()
                    or ".." in m.name.split("/")
                    or m.name.startswith("/")
                ):
                    raise SnapshotIntegrityError(
                        f"snapshot {path.name!r} holds an unexpected entry {m.name!r} (only "
                        "regular files and folders under manifest.json, store.sqlite, "
                        "spaces/ are allowed)"
                    )
            tar.extractall(target, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SnapshotIntegrityError(
            f"snapshot {path.name!r} is not readable: {public_message(reason)}"
        ) from None
    try:
        manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SnapshotIntegrityError(f"snapshot {path.name!r} has no manifest.json") from None
    except (OSError, ValueError) as exc:
        raise SnapshotIntegrityError(
            f"snapshot {path.name!r}: manifest.json is not valid JSON ({type(exc).__name__})"
        ) from None
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != FORMAT
        or manifest.get("version") not in READABLE
    ):
        versions = " or ".join(map(str, READABLE))
        raise SnapshotIntegrityError(
            f"snapshot {path.name!r} is not a vecsearch snapshot (v{versions})"
        )
    db = target / "store.sqlite"
    if not db.is_file():
        raise SnapshotIntegrityError(f"snapshot {path.name!r} has no store")
    verify_store(db, path.name)
    with restore_errors(path.name):  # what the checks missed is still a 400, not a 500
        from vecsearch.collection import Collection  # here: collection does not import us

        Collection(str(manifest.get("collection") or "restore"), target).close()
    return manifest


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def clean_leftovers(snapshots_root: Path) -> int:
    """:func:`clean_folder` of every collection's snapshot folder under ``snapshots_root``;
    returns how many entries were removed."""
    if not snapshots_root.is_dir():
        return 0
    return sum(
        clean_folder(f) for f in snapshots_root.iterdir() if f.is_dir() and not f.is_symlink()
    )


def clean_folder(folder: Path) -> int:
    """Remove the work entries (``.snap-<pid>-<token>-*``) that processes no longer alive
    left in one collection's snapshot folder (a kill during a snapshot; an entry of this pid
    but another token is an earlier process's: a container's server is pid 1 at every
    start), and untagged ones (``.snap-*``, ``.<name>.part``) of earlier builds. An entry of
    another live pid is kept (it may be that process's snapshot in progress), and so are this
    process's own. Run whenever a folder's snapshots are listed or one is created, which is
    safe while other snapshots are being written. Returns how many entries were removed."""
    removed = 0
    try:
        entries = list(folder.iterdir()) if folder.is_dir() and not folder.is_symlink() else []
    except OSError:
        return 0
    for entry in entries:
        name = entry.name
        legacy_part = name.startswith(".") and name.endswith(f"{SUFFIX}.part")
        if not name.startswith(WORK_PREFIX) and not legacy_part:
            continue
        tag = name[len(WORK_PREFIX) :].split("-") if name.startswith(WORK_PREFIX) else []
        if len(tag) > 2 and tag[0].isdigit():
            pid, token = int(tag[0]), tag[1]
            ours = pid == os.getpid() and token == _PROCESS_TOKEN
            if ours or (pid != os.getpid() and _pid_alive(pid)):
                continue  # a snapshot being written now
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink(missing_ok=True)
        except OSError as exc:  # never fail a snapshot call over a leftover
            log.warning("cannot remove snapshot leftover %s: %s", name, exc.strerror or exc)
            continue
        removed += 1
    return removed


def prune_snapshots(dest_dir: Path, keep: int) -> list[str]:
    """Delete the oldest snapshots in ``dest_dir`` (and their checksums) so that only the
    newest ``keep`` remain (``keep`` 0: keep all). Run after each create, under one lock:
    the last run sees every snapshot completed before it, so concurrent creates end with
    the newest ``keep`` (one just made may go at once if newer ones completed meanwhile).
    Returns the names deleted."""
    if keep <= 0:
        return []
    with _PRUNE_LOCK:
        snaps = [s.name for s in list_snapshots(dest_dir)]  # oldest first
        deleted = snaps[: max(0, len(snaps) - keep)]
        for name in deleted:
            (dest_dir / name).unlink(missing_ok=True)
            (dest_dir / f"{name}.sha256").unlink(missing_ok=True)
        if deleted:
            fsync_dir(dest_dir)
        return deleted


_PRUNE_LOCK = threading.Lock()


def remove_tree(path: Path) -> None:
    """Remove a directory tree, raising :class:`StorageError` on failure."""
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise StorageError(f"cannot remove {path.name}: {exc.strerror or exc}") from exc
