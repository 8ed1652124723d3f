"""The durable store of one collection: SQLite in WAL mode, the source of truth.

Tables::

    meta(key TEXT PRIMARY KEY, value)            config JSON, seq, next_label, uuid, ...
    points(label INTEGER PRIMARY KEY,            internal label (what the index knows)
           pid BLOB NOT NULL UNIQUE,             external id key (vecsearch.ids.id_key)
           vector BLOB NOT NULL,                 float32 little-endian, as searched
           payload TEXT NOT NULL,                JSON object
           seq INTEGER NOT NULL,                 write that last changed the point
           vseq INTEGER NOT NULL)                write that last changed its vector
    tombstones(label INTEGER PRIMARY KEY, seq)   deleted labels, kept until the index
                                                 saved on disk no longer holds them
    payload_schema(key TEXT PRIMARY KEY, type)   payload index definitions

Every write is one transaction that bumps ``seq`` (the per-write sequence number). Labels
are allocated from ``next_label`` and never reused. ``synchronous=FULL`` makes a commit
durable before it returns, so an acknowledged write survives ``kill -9`` (and power loss,
as far as the disk honours fsync); an interrupted transaction is rolled back by SQLite.

Concurrency: one write connection, used by one writer at a time (the collection serialises
writers); readers use per-thread read-only connections and, thanks to WAL, never wait for
the writer. A bulk mode (``synchronous=OFF``) serves ``vecsearch build``, which makes its
result durable with :meth:`Store.make_durable` before publishing the collection.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from vecsearch.errors import StorageError

SCHEMA_VERSION = 1
#: Bound on SQL variables per statement (SQLite's default limit is 32766 since 3.32).
CHUNK = 900

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS points(
    label INTEGER PRIMARY KEY,
    pid BLOB NOT NULL UNIQUE,
    vector BLOB NOT NULL,
    payload TEXT NOT NULL,
    seq INTEGER NOT NULL,
    vseq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tombstones(label INTEGER PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS payload_schema(key TEXT PRIMARY KEY, type TEXT NOT NULL);
"""

Row = tuple[int, bytes, bytes, str, int]  # label, pid key, vector blob, payload json, seq


class Store:
    """SQLite store of one collection (see module docstring)."""

    def __init__(self, path: str | os.PathLike[str], *, bulk: bool = False) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        try:
            self._w = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._w.execute("PRAGMA journal_mode=WAL")
            self._w.execute(f"PRAGMA synchronous={'OFF' if bulk else 'FULL'}")
            self._w.execute("PRAGMA busy_timeout=10000")
            self._w.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open store {self.path}: {exc}") from exc
        self.seq = int(self.get_meta("seq", 0))
        self.next_label = int(self.get_meta("next_label", 0))

    # -- lifecycle -----------------------------------------------------------------------------
    def initialise(self, config: dict[str, Any]) -> str:
        """Write the metadata of a new collection; returns its uuid."""
        cid = str(uuid.uuid4())
        self._tx(
            lambda c: c.executemany(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                [
                    ("schema_version", SCHEMA_VERSION),
                    ("config", json.dumps(config)),
                    ("uuid", cid),
                    ("seq", 0),
                    ("next_label", 0),
                    ("tombstones_pruned_upto", 0),
                ],
            )
        )
        return cid

    def make_durable(self) -> None:
        """After bulk loading: switch to FULL sync and checkpoint the WAL into the database."""
        self._w.execute("PRAGMA synchronous=FULL")
        self._w.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        """Close every connection (readers of other threads included)."""
        if self._closed:
            return
        self._closed = True
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        self._w.close()

    # -- helpers -------------------------------------------------------------------------------
    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StorageError(f"store {self.path} is closed")
            conn = sqlite3.connect(
                f"file:{self.path}?mode=ro",
                uri=True,
                check_same_thread=False,
                isolation_level=None,
            )
            conn.execute("PRAGMA busy_timeout=10000")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _tx(self, fn) -> Any:
        """Run ``fn(conn)`` in one IMMEDIATE transaction on the write connection."""
        c = self._w
        try:
            c.execute("BEGIN IMMEDIATE")
            try:
                out = fn(c)
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StorageError(f"write to {self.path} failed: {exc}") from exc
        return out

    def get_meta(self, key: str, default: Any = None) -> Any:
        """A metadata value (read on the write connection: always current)."""
        row = self._w.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return default if row is None else row[0]

    def set_meta(self, items: dict[str, Any]) -> None:
        """Set metadata values in one transaction."""
        self._tx(
            lambda c: c.executemany(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", list(items.items())
            )
        )

    def delete_meta(self, key: str) -> None:
        """Remove a metadata value (no error if absent)."""
        self._tx(lambda c: c.execute("DELETE FROM meta WHERE key=?", (key,)))

    # -- writes (each one transaction, one new seq) ---------------------------------------------
    def upsert(
        self, keys: Sequence[bytes], vectors: Sequence[bytes], payloads: Sequence[str]
    ) -> tuple[int, list[int], list[bool]]:
        """Insert or replace points; returns ``(seq, labels, existed)``; ``keys`` are unique."""

        def run(c: sqlite3.Connection) -> tuple[int, list[int], list[bool], int]:
            seq = self.seq + 1
            existing = self._lookup(c, keys)
            labels, existed = [], []
            nxt = self.next_label
            inserts, updates = [], []
            for k, v, p in zip(keys, vectors, payloads, strict=True):
                lab = existing.get(k)
                if lab is None:
                    lab = nxt
                    nxt += 1
                    inserts.append((lab, k, v, p, seq, seq))
                else:
                    updates.append((v, p, seq, seq, lab))
                labels.append(lab)
                existed.append(k in existing)
            if updates:
                c.executemany(
                    "UPDATE points SET vector=?, payload=?, seq=?, vseq=? WHERE label=?", updates
                )
            if inserts:
                c.executemany("INSERT INTO points VALUES (?, ?, ?, ?, ?, ?)", inserts)
            c.executemany(
                "UPDATE meta SET value=? WHERE key=?", [(seq, "seq"), (nxt, "next_label")]
            )
            return seq, labels, existed, nxt

        seq, labels, existed, nxt = self._tx(run)
        self.seq, self.next_label = seq, nxt
        return seq, labels, existed

    def delete(self, labels: Sequence[int]) -> int:
        """Delete points by label (leaving tombstones); returns the write's seq."""

        def run(c: sqlite3.Connection) -> int:
            seq = self.seq + 1
            for i in range(0, len(labels), CHUNK):
                part = [int(x) for x in labels[i : i + CHUNK]]
                c.execute(f"DELETE FROM points WHERE label IN ({_qs(len(part))})", part)
            c.executemany(
                "INSERT OR REPLACE INTO tombstones(label, seq) VALUES (?, ?)",
                [(int(lab), seq) for lab in labels],
            )
            c.execute("UPDATE meta SET value=? WHERE key='seq'", (seq,))
            return seq

        self.seq = self._tx(run)
        return self.seq

    def set_payloads(self, items: Sequence[tuple[int, str]]) -> int:
        """Replace the payload JSON of existing labels; returns the write's seq."""

        def run(c: sqlite3.Connection) -> int:
            seq = self.seq + 1
            c.executemany(
                "UPDATE points SET payload=?, seq=? WHERE label=?",
                [(p, seq, int(lab)) for lab, p in items],
            )
            c.execute("UPDATE meta SET value=? WHERE key='seq'", (seq,))
            return seq

        self.seq = self._tx(run)
        return self.seq

    def bulk_insert(self, rows: Iterable[tuple[int, bytes, bytes, str]]) -> None:
        """Append rows ``(label, key, vector, payload)`` at the current seq (bulk build)."""
        seq = self.seq
        self._tx(
            lambda c: c.executemany(
                "INSERT INTO points VALUES (?, ?, ?, ?, ?, ?)",
                ((lab, k, v, p, seq, seq) for lab, k, v, p in rows),
            )
        )

    def set_payload_schema(self, key: str, schema: str | None) -> int:
        """Create (or with ``None`` drop) a payload index definition; returns the seq."""

        def run(c: sqlite3.Connection) -> int:
            seq = self.seq + 1
            if schema is None:
                c.execute("DELETE FROM payload_schema WHERE key=?", (key,))
            else:
                c.execute("INSERT OR REPLACE INTO payload_schema VALUES (?, ?)", (key, schema))
            c.execute("UPDATE meta SET value=? WHERE key='seq'", (seq,))
            return seq

        self.seq = self._tx(run)
        return self.seq

    def prune_tombstones(self, upto: int) -> None:
        """Forget tombstones at or below ``upto`` (the seq the saved index reflects)."""
        self._tx(
            lambda c: (
                c.execute("DELETE FROM tombstones WHERE seq <= ?", (upto,)),
                c.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('tombstones_pruned_upto', ?)", (upto,)
                ),
            )
        )

    # -- reads ---------------------------------------------------------------------------------
    @staticmethod
    def _lookup(c: sqlite3.Connection, keys: Sequence[bytes]) -> dict[bytes, int]:
        out: dict[bytes, int] = {}
        for i in range(0, len(keys), CHUNK):
            part = list(keys[i : i + CHUNK])
            for k, lab in c.execute(
                f"SELECT pid, label FROM points WHERE pid IN ({_qs(len(part))})", part
            ):
                out[bytes(k)] = lab
        return out

    def lookup(self, keys: Sequence[bytes], *, writer: bool = False) -> dict[bytes, int]:
        """Labels of the given id keys that exist (``writer``: read on the write connection)."""
        return self._lookup(self._w if writer else self._reader(), keys)

    def rows(self, labels: Sequence[int], *, writer: bool = False) -> dict[int, Row]:
        """Rows of existing labels, by label."""
        c = self._w if writer else self._reader()
        out: dict[int, Row] = {}
        for i in range(0, len(labels), CHUNK):
            part = [int(x) for x in labels[i : i + CHUNK]]
            for r in c.execute(
                "SELECT label, pid, vector, payload, seq FROM points "
                f"WHERE label IN ({_qs(len(part))})",
                part,
            ):
                out[r[0]] = (r[0], bytes(r[1]), r[2], r[3], r[4])
        return out

    def pids(self, labels: Sequence[int]) -> dict[int, bytes]:
        """Id keys of existing labels."""
        c = self._reader()
        out: dict[int, bytes] = {}
        for i in range(0, len(labels), CHUNK):
            part = [int(x) for x in labels[i : i + CHUNK]]
            for lab, k in c.execute(
                f"SELECT label, pid FROM points WHERE label IN ({_qs(len(part))})", part
            ):
                out[lab] = bytes(k)
        return out

    def vectors(self, labels: Sequence[int]) -> dict[int, bytes]:
        """Vector blobs of existing labels."""
        c = self._reader()
        out: dict[int, bytes] = {}
        for i in range(0, len(labels), CHUNK):
            part = [int(x) for x in labels[i : i + CHUNK]]
            out.update(
                c.execute(
                    f"SELECT label, vector FROM points WHERE label IN ({_qs(len(part))})", part
                ).fetchall()
            )
        return out

    def iter_rows(
        self,
        columns: str = "label, pid, payload",
        where: str = "",
        args: Sequence = (),
        *,
        writer: bool = False,
        batch: int = 10_000,
    ) -> Iterator[tuple]:
        """Stream rows in label order (``columns`` and ``where`` are trusted SQL fragments)."""
        c = self._w if writer else self._reader()
        cur = c.execute(f"SELECT {columns} FROM points {where} ORDER BY label", tuple(args))
        while True:
            chunk = cur.fetchmany(batch)
            if not chunk:
                return
            yield from chunk

    def scroll_keys(self, start: bytes | None, limit: int) -> list[tuple[int, bytes]]:
        """``(label, pid)`` of up to ``limit`` points in id order from ``start`` (inclusive)."""
        c = self._reader()
        if start is None:
            cur = c.execute("SELECT label, pid FROM points ORDER BY pid LIMIT ?", (limit,))
        else:
            cur = c.execute(
                "SELECT label, pid FROM points WHERE pid >= ? ORDER BY pid LIMIT ?",
                (start, limit),
            )
        return [(lab, bytes(k)) for lab, k in cur]

    def count(self) -> int:
        """Number of stored points."""
        return int(self._reader().execute("SELECT COUNT(*) FROM points").fetchone()[0])

    def tombstones_after(self, seq: int) -> list[int]:
        """Labels deleted by writes after ``seq``."""
        return [r[0] for r in self._w.execute("SELECT label FROM tombstones WHERE seq > ?", (seq,))]

    def payload_schema(self) -> dict[str, str]:
        """Payload index definitions."""
        return dict(self._w.execute("SELECT key, type FROM payload_schema").fetchall())

    def integrity_check(self) -> str:
        """SQLite's own check (``"ok"`` when healthy)."""
        return str(self._w.execute("PRAGMA integrity_check").fetchone()[0])

    def vacuum_into(self, target: str | os.PathLike[str]) -> None:
        """Write a consistent, compact copy of the database (readers and writers continue)."""
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute("VACUUM INTO ?", (str(target),))
        except sqlite3.Error as exc:
            raise StorageError(f"cannot copy {self.path}: {exc}") from exc
        finally:
            conn.close()


def _qs(n: int) -> str:
    return ",".join("?" * n)
