"""What restoring a snapshot verifies before anything existing is touched, beyond the
checksum and the tar entries (:func:`vecsearch.snapshots.unpack_snapshot`): the unpacked
store (:func:`verify_store`) and the opening of the restored collection
(:func:`restore_errors`). Every failure is a :class:`SnapshotIntegrityError` (400) that says
what is wrong and shows no server path (:func:`public_message`).

The store: SQLite's integrity check; ``meta`` and ``points`` tables; a collection config
that is JSON and that creation would accept -- the create body it stands for goes through
:func:`vecsearch.config_qdrant.parse_create` (known and available index types, parameters
within :data:`vecsearch.config_checks.INDEX_BOUNDS`, vector sizes within 65,536, echoed
settings within Qdrant's limits, no unknown settings), and each space's index can be built;
every stored vector has the byte length its space's size implies, every id and payload is
well formed, labels lie below ``next_label`` <= :data:`MAX_LABEL`, and no vector row lacks
its point.
"""

from __future__ import annotations

import errno
import json
import re
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
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
from vecsearch.errors import SnapshotIntegrityError, error_category
from vecsearch.registry import get_index_type

#: Largest point label a restored store may hold: the collection keeps a flag per label
#: in memory, so a crafted label of 2**62 would ask for exabytes.
MAX_LABEL = 2**31

_ABS_PATH = re.compile(r"(?<![\w.~])/(?:[^\s'\":/]+/)+")


def public_message(text: str) -> str:
    """``text`` with the directories of absolute paths removed (``/srv/data/x/y.db`` ->
    ``y.db``): error messages reach callers, server paths must not."""
    return _ABS_PATH.sub("", text)


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
