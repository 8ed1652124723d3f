"""The SQLite schema of a collection's store, and the migration from older schemas.

Schema 2 (current)::

    meta(key TEXT PRIMARY KEY, value)            config JSON, seq, next_label, uuid, ...
    points(label INTEGER PRIMARY KEY,            internal label (what the indexes know)
           pid BLOB NOT NULL UNIQUE,             external id key (vecsearch.ids.id_key)
           payload TEXT NOT NULL,                JSON object
           seq INTEGER NOT NULL)                 write that last changed the point
    vectors_<space id>(label INTEGER PRIMARY KEY,  one table per vector space; a point
           vector BLOB NOT NULL,                 without that space's vector has no row
           vseq INTEGER NOT NULL)                write that last changed this vector
    payload_schema(key TEXT PRIMARY KEY, type)   payload index definitions

Schema 1 (up to commit 54e9fd5) kept the one unnamed vector in ``points.vector`` with its
``vseq``, and a ``tombstones`` table of deleted labels for bringing saved indexes up to
date. :func:`migrate` turns it into schema 2 in one transaction (the vectors move to
``vectors_0``, the unnamed space of the converted config), so a crash leaves either schema.
Tombstones are no longer needed: a saved index is brought up to date by comparing the ids
it holds with the labels of its space's table (see :mod:`vecsearch.space`).
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 2

BASE = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS points(
    label INTEGER PRIMARY KEY,
    pid BLOB NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS payload_schema(key TEXT PRIMARY KEY, type TEXT NOT NULL);
"""


def vector_table(space_id: int) -> str:
    """Name of the table of space ``space_id`` (ids are integers: safe in SQL text)."""
    if not isinstance(space_id, int) or space_id < 0:
        raise ValueError(f"bad space id {space_id!r}")
    return f"vectors_{space_id}"


def create_vector_table(c: sqlite3.Connection, space_id: int) -> None:
    """Create the table of one vector space (no-op if it exists)."""
    c.execute(
        f"CREATE TABLE IF NOT EXISTS {vector_table(space_id)}("
        "label INTEGER PRIMARY KEY, vector BLOB NOT NULL, vseq INTEGER NOT NULL)"
    )


def schema_version(c: sqlite3.Connection) -> int | None:
    """The store's schema version; None for an empty (new) database file."""
    has_meta = c.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
    ).fetchone()
    if not has_meta:
        return None
    row = c.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return None if row is None else int(row[0])


def migrate(c: sqlite3.Connection, version: int) -> None:
    """Bring a schema-``version`` store to :data:`SCHEMA_VERSION` (inside the caller's
    transaction)."""
    if version == 1:
        create_vector_table(c, 0)
        c.execute(
            "INSERT INTO vectors_0(label, vector, vseq) SELECT label, vector, vseq FROM points"
        )
        c.execute(
            "CREATE TABLE points_v2(label INTEGER PRIMARY KEY, pid BLOB NOT NULL UNIQUE, "
            "payload TEXT NOT NULL, seq INTEGER NOT NULL)"
        )
        c.execute("INSERT INTO points_v2 SELECT label, pid, payload, seq FROM points")
        c.execute("DROP TABLE points")
        c.execute("ALTER TABLE points_v2 RENAME TO points")
        c.execute("DROP TABLE IF EXISTS tombstones")
        c.execute("DELETE FROM meta WHERE key='tombstones_pruned_upto'")
        version = 2
    if version != SCHEMA_VERSION:
        raise ValueError(f"store schema {version} is not one this build can read or migrate")
    c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (version,))
