"""The durable store of one collection: SQLite in WAL mode, the source of truth.

Tables (see :mod:`vecsearch.store_schema`): ``points`` (label, id key, payload, seq), one
``vectors_<space id>`` table per vector space (label, vector blob, vseq; a point without that
space's vector has no row), ``meta`` and ``payload_schema``. Older schemas are migrated when
the store is opened.

Every write is one transaction that bumps ``seq`` (the per-write sequence number). Labels
are allocated from ``next_label`` and never reused. ``synchronous=FULL`` makes a commit
durable before it returns, so an acknowledged write survives ``kill -9`` (and power loss,
as far as the disk honours fsync); an interrupted transaction is rolled back by SQLite.

Vectors are float32 little-endian blobs as searched: ``size`` floats, or ``m x size`` for a
multi-vector point.

Concurrency: one write connection, used by one writer at a time (the collection serialises
writers); readers use per-thread read-only connections and, thanks to WAL, never wait for
the writer. A bulk mode (``synchronous=OFF``) serves ``vecsearch build``, which makes its
result durable with :meth:`Store.make_durable` before publishing the collection.

Transactions (one write, a batch, a group commit) live in :mod:`vecsearch.store_tx`.
A batch (:meth:`Store.batch`, Qdrant's ``POST /points/batch``) runs several writes in one
transaction: each still takes its own ``seq``, later writes and every read of the batch's
thread see the earlier ones, and either all commit (durably, at the end) or none does.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vecsearch.errors import StorageError
from vecsearch.store_schema import (
    BASE,
    SCHEMA_VERSION,
    create_vector_table,
    migrate,
    schema_version,
    vector_table,
)
from vecsearch.store_tx import Transactions

#: Bound on SQL variables per statement (SQLite's default limit is 32766 since 3.32).
CHUNK = 900

Row = tuple[int, bytes, str, int]  # label, pid key, payload json, seq
#: Vectors of one space in a write: ``(positions in the batch, blobs)``.
Column = tuple[Sequence[int], Sequence[bytes]]


class Store(Transactions):
    """SQLite store of one collection (see module docstring)."""

    def __init__(self, path: str | os.PathLike[str], *, bulk: bool = False) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        #: Thread running a :meth:`batch` (its writes join the batch's transaction).
        self._batch_owner: int | None = None
        try:
            self._w = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._w.execute("PRAGMA journal_mode=WAL")
            self._w.execute(f"PRAGMA synchronous={'OFF' if bulk else 'FULL'}")
            self._w.execute("PRAGMA busy_timeout=10000")
            version = schema_version(self._w)
            if version is not None and version > SCHEMA_VERSION:
                raise StorageError(
                    f"store {self.path} has schema {version}, newer than this build reads "
                    f"({SCHEMA_VERSION})"
                )
            if version is not None and version < SCHEMA_VERSION:
                self._tx(lambda c: migrate(c, version))
            self._w.executescript(BASE)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open store {self.path}: {exc}") from exc
        except ValueError as exc:
            raise StorageError(f"cannot open store {self.path}: {exc}") from exc
        self.seq = int(self.get_meta("seq", 0))
        self.next_label = int(self.get_meta("next_label", 0))
        self.space_ids = self._space_ids()

    def _space_ids(self) -> list[int]:
        rows = self._w.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'vectors\\_%' "
            "ESCAPE '\\'"
        ).fetchall()
        return sorted(int(r[0].split("_", 1)[1]) for r in rows)

    # -- lifecycle -----------------------------------------------------------------------------
    def initialise(self, config: dict[str, Any], space_ids: Sequence[int]) -> str:
        """Write the metadata of a new collection and its spaces' tables; returns its uuid."""
        cid = str(uuid.uuid4())

        def run(c: sqlite3.Connection) -> None:
            c.executemany(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                [
                    ("schema_version", SCHEMA_VERSION),
                    ("config", json.dumps(config)),
                    ("uuid", cid),
                    ("seq", 0),
                    ("next_label", 0),
                ],
            )
            for sid in space_ids:
                create_vector_table(c, sid)

        self._tx(run)
        self.space_ids = self._space_ids()
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
        if self._batch_owner == threading.get_ident():
            return self._w  # a batch reads its own uncommitted writes
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
        self,
        keys: Sequence[bytes],
        payloads: Sequence[str],
        vectors: Mapping[int, Column],
        meta: Mapping[str, str] | None = None,
    ) -> tuple[int, list[int], list[bool]]:
        """Insert or replace whole points; returns ``(seq, labels, existed)``.

        ``keys`` are unique; ``vectors[space id] = (positions, blobs)`` gives the vectors of
        that space for the points at those positions of ``keys``. A point that existed loses
        the vectors of every space it is not given one for (Qdrant's upsert replaces the
        point). ``meta`` entries are written in the same transaction (statistics that must
        agree with the vectors, such as BM25's document lengths)."""
        return self.upsert_many([(keys, payloads, vectors, meta)])[0]

    def upsert_many(
        self,
        writes: Sequence[
            tuple[Sequence[bytes], Sequence[str], Mapping[int, Column], Mapping[str, str] | None]
        ],
    ) -> list[tuple[int, list[int], list[bool]]]:
        """Several :meth:`upsert` calls ``(keys, payloads, vectors, meta)`` in one
        transaction and one set of statements (a group commit's upserts): each still takes
        its own ``seq``, in order. Writes that share a key are run one after the other."""
        seen: set[bytes] = set()
        for keys, *_ in writes:
            if not seen.isdisjoint(keys):
                return [self.upsert_many([w])[0] for w in writes]
            seen.update(keys)

        def run(c: sqlite3.Connection) -> tuple[list[tuple[int, list[int], list[bool]]], int]:
            existing = self._lookup(c, list(seen) if len(writes) > 1 else writes[0][0])
            seq, nxt = self.seq, self.next_label
            out = []
            inserts, updates = [], []
            gone: dict[int, list[int]] = {sid: [] for sid in self.space_ids}
            rows: dict[int, list[tuple[int, bytes, int]]] = {sid: [] for sid in self.space_ids}
            metas: dict[str, str] = {}
            for keys, payloads, vectors, meta in writes:
                seq += 1
                labels, existed = [], []
                for k, p in zip(keys, payloads, strict=True):
                    lab = existing.get(k)
                    if lab is None:
                        lab = nxt
                        nxt += 1
                        inserts.append((lab, k, p, seq))
                    else:
                        updates.append((p, seq, lab))
                    labels.append(lab)
                    existed.append(k in existing)
                old = [lab for lab, e in zip(labels, existed, strict=True) if e]
                for sid in self.space_ids:
                    positions, blobs = vectors.get(sid, ((), ()))
                    given = {labels[i] for i in positions}
                    gone[sid] += [lab for lab in old if lab not in given]
                    rows[sid] += [
                        (labels[i], b, seq) for i, b in zip(positions, blobs, strict=True)
                    ]
                metas.update(meta or {})
                out.append((seq, labels, existed))
            if updates:
                c.executemany("UPDATE points SET payload=?, seq=? WHERE label=?", updates)
            if inserts:
                c.executemany("INSERT INTO points VALUES (?, ?, ?, ?)", inserts)
            for sid in self.space_ids:
                table = vector_table(sid)
                _delete_labels(c, table, gone[sid])
                if rows[sid]:
                    c.executemany(
                        f"INSERT OR REPLACE INTO {table}(label, vector, vseq) VALUES (?, ?, ?)",
                        rows[sid],
                    )
            self._put_counters(c, seq, nxt)
            _put_meta(c, metas)
            return out, nxt

        out, nxt = self._tx(run)
        self.seq, self.next_label = out[-1][0], nxt
        return out

    def set_vectors(
        self,
        labels: Sequence[int],
        vectors: Mapping[int, Column],
        meta: Mapping[str, str] | None = None,
    ) -> int:
        """Set (insert or replace) some vectors of existing points, leaving their other
        vectors and payloads alone; positions index ``labels``; ``meta`` as for
        :meth:`upsert`. Returns the seq."""

        def run(c: sqlite3.Connection, seq: int) -> None:
            _put_meta(c, meta)
            touched: set[int] = set()
            for sid, (positions, blobs) in vectors.items():
                rows = [(int(labels[i]), b, seq) for i, b in zip(positions, blobs, strict=True)]
                c.executemany(
                    f"INSERT OR REPLACE INTO {vector_table(sid)}(label, vector, vseq) "
                    "VALUES (?, ?, ?)",
                    rows,
                )
                touched.update(r[0] for r in rows)
            c.executemany("UPDATE points SET seq=? WHERE label=?", [(seq, t) for t in touched])

        return self._write(run)

    def delete_vectors(self, labels: Sequence[int], space_ids: Sequence[int]) -> int:
        """Remove the vectors of ``space_ids`` from the points ``labels``; returns the seq."""

        def run(c: sqlite3.Connection, seq: int) -> None:
            for sid in space_ids:
                _delete_labels(c, vector_table(sid), labels)
            c.executemany("UPDATE points SET seq=? WHERE label=?", [(seq, int(x)) for x in labels])

        return self._write(run)

    def delete(self, labels: Sequence[int]) -> int:
        """Delete points (and all their vectors) by label; returns the write's seq."""

        def run(c: sqlite3.Connection, seq: int) -> None:
            _delete_labels(c, "points", labels)
            for sid in self.space_ids:
                _delete_labels(c, vector_table(sid), labels)

        return self._write(run)

    def set_payloads(self, items: Sequence[tuple[int, str]]) -> int:
        """Replace the payload JSON of existing labels; returns the write's seq."""
        return self._write(
            lambda c, seq: c.executemany(
                "UPDATE points SET payload=?, seq=? WHERE label=?",
                [(p, seq, int(lab)) for lab, p in items],
            )
        )

    def bulk_insert(
        self,
        rows: Iterable[tuple[int, bytes, str]],
        vectors: Mapping[int, Iterable[tuple[int, bytes]]],
    ) -> None:
        """Append points ``(label, key, payload)`` and their vectors ``{space id: (label,
        blob)}`` at the current seq (bulk build)."""
        seq = self.seq

        def run(c: sqlite3.Connection) -> None:
            c.executemany(
                "INSERT INTO points VALUES (?, ?, ?, ?)", ((lab, k, p, seq) for lab, k, p in rows)
            )
            for sid, items in vectors.items():
                c.executemany(
                    f"INSERT INTO {vector_table(sid)}(label, vector, vseq) VALUES (?, ?, ?)",
                    ((lab, b, seq) for lab, b in items),
                )

        self._tx(run)

    def set_payload_schema(self, key: str, schema: str | None) -> int:
        """Create (or with ``None`` drop) a payload index definition; returns the seq."""

        def run(c: sqlite3.Connection, seq: int) -> None:
            if schema is None:
                c.execute("DELETE FROM payload_schema WHERE key=?", (key,))
            else:
                c.execute("INSERT OR REPLACE INTO payload_schema VALUES (?, ?)", (key, schema))

        return self._write(run)

    def set_config(self, config: dict[str, Any]) -> int:
        """Replace the stored collection config (PATCH); returns the seq."""
        return self._write(
            lambda c, seq: c.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('config', ?)",
                (json.dumps(config),),
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

    def rows(
        self, labels: Sequence[int], vectors: Sequence[int] = (), *, writer: bool = False
    ) -> dict[int, tuple]:
        """Rows ``(label, key, payload, seq, blob of each space in vectors...)`` of existing
        labels, by label (a blob is None where the point lacks that vector). One statement
        per chunk, so a point and its vectors are read from one snapshot even while writes
        commit."""
        c = self._w if writer else self._reader()
        cols = "".join(f", v{j}.vector" for j in range(len(vectors)))
        joins = "".join(
            f" LEFT JOIN {vector_table(sid)} v{j} ON v{j}.label = p.label"
            for j, sid in enumerate(vectors)
        )
        out: dict[int, tuple] = {}
        for i in range(0, len(labels), CHUNK):
            part = [int(x) for x in labels[i : i + CHUNK]]
            for r in c.execute(
                f"SELECT p.label, p.pid, p.payload, p.seq{cols} FROM points p{joins} "
                f"WHERE p.label IN ({_qs(len(part))})",
                part,
            ):
                out[r[0]] = (r[0], bytes(r[1]), *r[2:])
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

    def vectors(
        self, space_id: int, labels: Sequence[int], *, writer: bool = False
    ) -> dict[int, bytes]:
        """Vector blobs of space ``space_id`` of the labels that have one."""
        c = self._w if writer else self._reader()
        table = vector_table(space_id)
        out: dict[int, bytes] = {}
        for i in range(0, len(labels), CHUNK):
            part = [int(x) for x in labels[i : i + CHUNK]]
            out.update(
                c.execute(
                    f"SELECT label, vector FROM {table} WHERE label IN ({_qs(len(part))})", part
                ).fetchall()
            )
        return out

    def iter_vectors(
        self, space_id: int, after_seq: int | None = None, *, writer: bool = False
    ) -> Iterator[tuple[int, bytes]]:
        """Stream ``(label, blob)`` of a space in label order (only vectors written after
        ``after_seq`` when given)."""
        c = self._w if writer else self._reader()
        table = vector_table(space_id)
        if after_seq is None:
            cur = c.execute(f"SELECT label, vector FROM {table} ORDER BY label")
        else:
            cur = c.execute(
                f"SELECT label, vector FROM {table} WHERE vseq > ? ORDER BY label", (after_seq,)
            )
        while True:
            chunk = cur.fetchmany(10_000)
            if not chunk:
                return
            yield from chunk

    def space_labels(self, space_id: int, *, writer: bool = False) -> np.ndarray:
        """Labels that have a vector in space ``space_id``, ascending (int64)."""
        c = self._w if writer else self._reader()
        cur = c.execute(f"SELECT label FROM {vector_table(space_id)} ORDER BY label")
        return np.fromiter((r[0] for r in cur), dtype=np.int64)

    def iter_rows(
        self,
        columns: str = "label, pid, payload",
        where: str = "",
        args: Sequence = (),
        *,
        writer: bool = False,
        batch: int = 10_000,
    ) -> Iterator[tuple]:
        """Stream points rows in label order (``columns``/``where`` are trusted SQL)."""
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


def _put_meta(c: sqlite3.Connection, meta: Mapping[str, str] | None) -> None:
    if meta:
        c.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", list(meta.items()))


def _delete_labels(c: sqlite3.Connection, table: str, labels: Sequence[int]) -> None:
    for i in range(0, len(labels), CHUNK):
        part = [int(x) for x in labels[i : i + CHUNK]]
        c.execute(f"DELETE FROM {table} WHERE label IN ({_qs(len(part))})", part)


def _qs(n: int) -> str:
    return ",".join("?" * n)
