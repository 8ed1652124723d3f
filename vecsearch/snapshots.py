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
(:func:`unpack_snapshot`, :func:`verify_store`): the tar holds only regular files and
directories under the expected names (no links, no ``..``, no absolute names); the manifest
is JSON of a readable version; the store passes SQLite's integrity check and its collection
config is what creating the collection would accept (known and available index types,
parameters within :data:`vecsearch.config_checks.INDEX_BOUNDS`, vector sizes within 65,536);
every stored vector has the byte length its space's size implies, every id and payload is
well formed, and the label space stays below :data:`MAX_LABEL`. Each failure is a
:class:`SnapshotIntegrityError` (400) saying what is wrong; no message shows a server path.

Work files: a snapshot is assembled in ``.snap-<pid>-<token>-*`` entries of the
collection's snapshot folder and renamed into place when complete; :func:`clean_folder`
removes those a dead process left, whenever the folder's snapshots are listed or one is
created (:func:`clean_leftovers` does every folder, for a caller at start-up).
:func:`prune_snapshots` keeps the newest ``keep`` snapshots of a collection (the
service's ``max_snapshots_per_collection``).
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexes.errors import VecsearchError
from vecsearch.config import CollectionConfig
from vecsearch.config_checks import (
    INT64_MAX,
    check_int_range,
    check_patch_params,
    check_vector_size,
)
from vecsearch.config_qdrant import QDRANT_ONLY_FIELDS, parse_create
from vecsearch.errors import (
    SnapshotIntegrityError,
    SnapshotNotFoundError,
    StorageError,
    error_category,
)
from vecsearch.index_files import fsync_dir
from vecsearch.registry import get_index_type

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
#: Largest point label a restored store may hold: the collection keeps a flag per label
#: in memory, so a crafted label of 2**62 would ask for exabytes.
MAX_LABEL = 2**31

_ABS_PATH = re.compile(r"(?<![\w.~])/(?:[^\s'\":/]+/)+")


def public_message(text: str) -> str:
    """``text`` with the directories of absolute paths removed (``/srv/data/x/y.db`` ->
    ``y.db``): error messages reach callers, server paths must not."""
    return _ABS_PATH.sub("", text)


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
        os.replace(part, dest_dir / name)
    (dest_dir / f"{name}.sha256").write_text(f"{checksum}  {name}\n", encoding="utf-8")
    fsync_dir(dest_dir)
    return describe(dest_dir / name)


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


def verify_store(db: Path, snapshot: str) -> CollectionConfig:
    """Check the unpacked store ``db`` of snapshot ``snapshot`` before it is opened: SQLite
    integrity, the collection config (as creation would check it), the shape of every row
    the collection loads. Returns the config; failures are :class:`SnapshotIntegrityError`."""

    def bad(reason: str) -> SnapshotIntegrityError:
        return SnapshotIntegrityError(f"snapshot {snapshot!r}: {public_message(reason)}")

    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise bad(f"store unreadable: {exc}") from None
    try:
        ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if ok != "ok":
            raise bad(f"store integrity check: {ok}")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        missing = {"meta", "points"} - tables
        if missing:
            raise bad(f"the store has no {sorted(missing)[0]} table")
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        config = _stored_config(meta.get("config"), bad)
        for key in ("seq", "next_label"):
            value = meta.get(key, 0)
            if isinstance(value, str) and value.isdigit():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int) or not value >= 0:
                raise bad(f"the store's {key} is {value!r}, not a non-negative integer")
        next_label = int(meta.get("next_label", 0))
        _check_rows(conn, tables, config, meta, next_label, bad)
    except sqlite3.Error as exc:
        raise bad(f"store unreadable: {exc}") from None
    finally:
        conn.close()
    return config


def _stored_config(raw: Any, bad: Any) -> CollectionConfig:
    """The store's config JSON, parsed and checked as creating the collection checks it."""
    if raw is None:
        raise bad("the store has no collection config")
    try:
        data = json.loads(raw)
    except (TypeError, ValueError):
        raise bad("the collection config is not JSON") from None
    if not isinstance(data, Mapping):
        raise bad("the collection config is not a JSON object")
    try:
        config = CollectionConfig.from_stored(data)
    except VecsearchError as exc:  # an unknown index type, a metric the type lacks
        raise bad(f"collection config: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        what = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise bad(f"collection config is malformed: {what}") from None
    if not config.spaces and not config.sparse:
        raise bad("collection config has no vectors")
    _check_as_created(config, bad)
    for sp in config.spaces:
        field = f"collection config: vector {sp.name!r}"
        try:
            check_vector_size(sp.size, f"{field} size")
            itype = get_index_type(sp.index.type)
            itype.classes()  # importable in this build
            if itype.multivector != sp.is_multivector:
                raise bad(f"{field}: index type {sp.index.type!r} does not fit its points")
            if not isinstance(sp.index.params, Mapping):
                raise bad(f"{field}: index params are not an object")
            itype.build_params(sp.size, sp.index.params, f"{field} index.params")
            itype.make_index(sp.size, sp.metric, sp.index.params)  # its own checks
        except SnapshotIntegrityError:
            raise
        except VecsearchError as exc:
            raise bad(str(exc)) from None
        except (TypeError, ValueError) as exc:
            raise bad(f"{field}: index params rejected: {exc}") from None
    return config


#: Keys of a stored config's Qdrant settings besides the create body's: the creation time
#: and PATCH's ``params`` (Qdrant's ``CollectionParamsDiff``).
_STORED_ONLY = frozenset({"created_at", "params"})


def _check_as_created(config: CollectionConfig, bad: Any) -> None:
    """Run the stored config through the checks of creation (:func:`parse_create` of the
    create body it corresponds to) and of PATCH's ``params``: what collection info echoes
    must be what a client could have set, or reading it back would fail."""
    try:
        vectors: dict[str, Any] = {}
        for sp in config.spaces:
            params = sp.vector_params()
            params["index"] = {"type": sp.index.type, "params": dict(sp.index.params)}
            vectors[sp.name] = params
        qdrant = dict(config.qdrant)
        unknown = sorted(set(qdrant) - QDRANT_ONLY_FIELDS - _STORED_ONLY)
        if unknown:
            raise bad(f"collection config has an unknown setting {unknown[0]!r}")
        if "created_at" in qdrant and not isinstance(qdrant["created_at"], str):
            raise bad("collection config: created_at is not a string")
        if qdrant.get("params") is not None:
            check_patch_params(qdrant["params"])
        body: dict[str, Any] = {
            k: v for k, v in qdrant.items() if k in QDRANT_ONLY_FIELDS and v is not None
        }
        body["vectors"] = vectors if config.named else vectors.get("", {})
        if config.hnsw_config:
            body["hnsw_config"] = dict(config.hnsw_config)
        if config.sparse:
            body["sparse_vectors"] = {s.name: s.sparse_params() for s in config.sparse}
        parse_create(body)
        for sp in config.spaces:
            check_int_range(
                sp.full_scan_threshold_kb,
                f"vector {sp.name!r} full_scan_threshold_kb",
                1,
                INT64_MAX // 1024,
            )
    except SnapshotIntegrityError:
        raise
    except VecsearchError as exc:
        raise bad(f"collection config: {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise bad(f"collection config is malformed: {exc}") from None


def _check_rows(
    conn: sqlite3.Connection,
    tables: set[str],
    config: CollectionConfig,
    meta: Mapping[str, Any],
    next_label: int,
    bad: Any,
) -> None:
    """Every row the collection loads has the shape it expects (one SQL pass per table)."""
    if next_label > MAX_LABEL:
        raise bad(f"the store's next_label {next_label} exceeds {MAX_LABEL}")
    one = conn.execute

    def first(sql: str) -> Any:
        row = one(sql).fetchone()
        return None if row is None else row[0]

    label = first(
        "SELECT label FROM points WHERE typeof(label) != 'integer' OR label < 0 "
        f"OR label >= {max(next_label, 0)} LIMIT 1"
    )
    if label is not None:
        raise bad(f"point label {label!r} lies outside [0, next_label {next_label})")
    pid = first(
        "SELECT hex(pid) FROM points WHERE typeof(pid) != 'blob' OR NOT ("
        "(length(pid) = 9 AND substr(pid, 1, 1) = x'00') OR "
        "(length(pid) = 17 AND substr(pid, 1, 1) = x'01')) LIMIT 1"
    )
    if pid is not None:
        raise bad(f"a point id is malformed (key {pid[:40]})")
    payload = first(
        "SELECT label FROM points WHERE typeof(payload) != 'text' OR NOT json_valid(payload) "
        "OR json_type(payload) != 'object' LIMIT 1"
    )
    if payload is not None:
        raise bad(f"the payload of point label {payload} is not a JSON object")
    schema1 = str(meta.get("schema_version", "2")) == "1"
    for sp in config.spaces:
        table, column = ("points", "vector") if schema1 else (f"vectors_{sp.id}", "vector")
        if table not in tables:
            raise bad(f"the store has no table of vector {sp.name!r} ({table})")
        width = 4 * sp.size
        rule = (
            f"length({column}) % {width} != 0 OR length({column}) = 0"
            if sp.is_multivector
            else f"length({column}) != {width}"
        )
        row = one(
            f"SELECT label, length({column}) FROM {table} WHERE typeof({column}) != 'blob' "
            f"OR {rule} LIMIT 1"
        ).fetchone()
        if row is not None:
            raise bad(
                f"vector {sp.name!r} of point label {row[0]} has {row[1]} bytes; its size "
                f"{sp.size} needs {'a multiple of ' if sp.is_multivector else ''}{width}"
            )
        if not schema1:
            orphan = first(
                f"SELECT label FROM {table} WHERE label NOT IN (SELECT label FROM points) LIMIT 1"
            )
            if orphan is not None:
                raise bad(f"vector {sp.name!r} has a row for label {orphan}, which has no point")
    for sp in config.sparse:
        table = f"vectors_{sp.id}"
        if table not in tables:
            raise bad(f"the store has no table of sparse vector {sp.name!r} ({table})")
        row = first(
            f"SELECT label FROM {table} WHERE typeof(vector) != 'blob' OR length(vector) % 8 != 0 "
            "LIMIT 1"
        )
        if row is not None:
            raise bad(f"sparse vector {sp.name!r} of point label {row} is malformed")


@contextmanager
def restore_errors(snapshot: str) -> Iterator[None]:
    """Turn a failure to open a restored collection into :class:`SnapshotIntegrityError`
    (400, naming the snapshot, no server path): whatever the checks of
    :func:`verify_store` missed is still the snapshot's fault, not a server error."""
    try:
        yield
    except VecsearchError as exc:
        if error_category(exc) in ("bad_request", "insufficient_storage"):
            raise
        raise SnapshotIntegrityError(
            f"snapshot {snapshot!r} cannot be opened: {public_message(str(exc))}"
        ) from None
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # the server's disk, not the snapshot
            raise
        raise SnapshotIntegrityError(
            f"snapshot {snapshot!r} cannot be opened: {type(exc).__name__}: "
            f"{public_message(exc.strerror or str(exc))}"
        ) from None
    except Exception as exc:  # whatever else a crafted store makes the opening raise
        raise SnapshotIntegrityError(
            f"snapshot {snapshot!r} cannot be opened: {type(exc).__name__}: "
            f"{public_message(str(exc))}"
        ) from None


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
