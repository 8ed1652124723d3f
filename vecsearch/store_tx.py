"""The transactions of a collection's store (:class:`Transactions`, a base of
:class:`vecsearch.store.Store`): one write, a batch of writes, a group commit.

Every write runs on the store's one write connection in an ``IMMEDIATE`` transaction and
takes the next ``seq``. A failed write is rolled back, and the error that made it fail is the
one raised: SQLite may already have rolled the transaction back itself (a full disk does),
and the explicit ``ROLLBACK`` then fails with "cannot rollback - no transaction is active",
which used to hide the cause. A full disk or database (``SQLITE_FULL``) is
:class:`~vecsearch.errors.StorageFullError` (507 in the service), with no server path in its
message.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

from vecsearch.errors import StorageError, StorageFullError

T = TypeVar("T")


class Transactions:
    """Transactions on ``self._w`` (the write connection); the store provides ``path``,
    ``seq``, ``next_label`` and ``_batch_owner`` (the thread running a batch or group)."""

    path: Path
    seq: int
    next_label: int
    _w: sqlite3.Connection
    _batch_owner: int | None
    #: Set during a fast group commit: the counters are written once, at its end.
    _counters_deferred = False

    def _tx(self, fn) -> Any:
        """Run ``fn(conn)`` in one IMMEDIATE transaction on the write connection (inside
        the open :meth:`batch` or :meth:`group` of this thread, if any).

        A failed write is rolled back, and the error that made it fail is the one raised:
        SQLite may already have rolled the transaction back itself (a full disk does), and
        a ``ROLLBACK`` without a transaction ("cannot rollback - no transaction is active")
        must not hide the cause."""
        c = self._w
        if self._batch_owner == threading.get_ident():
            try:
                return fn(c)
            except sqlite3.Error as exc:
                raise self._failure(exc) from exc
        try:
            c.execute("BEGIN IMMEDIATE")
            try:
                out = fn(c)
                c.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        except sqlite3.Error as exc:
            raise self._failure(exc) from exc
        return out

    def _rollback(self) -> None:
        """Roll back the write connection's transaction, if SQLite has not done so already."""
        if self._w.in_transaction:
            with suppress(sqlite3.Error):
                self._w.execute("ROLLBACK")

    def _failure(self, exc: sqlite3.Error) -> StorageError:
        """The engine error for a failed write: :class:`StorageFullError` (no server path
        in its message) when the disk or the database is full."""
        if _is_full(exc):
            return StorageFullError(
                "Not enough space to store the write: the disk or the database is full "
                "(SQLite: database or disk is full); the write was not applied"
            )
        # the collection directory's name, not the server path (the message reaches clients)
        return StorageError(f"write to the store of {self.path.parent.name!r} failed: {exc}")

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Run the block's writes (from this thread) as one transaction: committed, and
        durable, when the block ends; rolled back (``seq`` and labels too) if it raises.
        The caller serialises writers, as for single writes."""
        c = self._w
        seq, nxt = self.seq, self.next_label
        try:
            c.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._failure(exc) from exc
        self._batch_owner = threading.get_ident()
        try:
            yield
            try:
                c.execute("COMMIT")
            except sqlite3.Error as exc:
                raise self._failure(exc) from exc
        except BaseException:
            self._rollback()
            self.seq, self.next_label = seq, nxt
            raise
        finally:
            self._batch_owner = None

    def group(self, ops: Sequence[Callable[[], T]]) -> list[T | Exception]:
        """Group commit: run ``ops`` (callables that write through this store's methods, from
        this thread) in one transaction with one durable ``COMMIT`` (one fsync for all), each
        inside its own ``SAVEPOINT``. An op that raises is undone alone (its ``seq`` and
        labels too) and its exception is its outcome; the others still commit. Returns the
        outcomes in order. If SQLite loses the whole transaction (a full disk may roll it
        back) or ``COMMIT`` fails, the ops are run again one transaction each, so each gets
        its own outcome; an op must therefore have no effect outside the store (the caller
        applies in-memory changes after this returns). The caller serialises writers."""
        if len(ops) == 1:
            return self._one_each(ops)
        fast = self._group_fast(ops)
        return fast if fast is not None else self._group_savepoints(ops)

    def _group_fast(self, ops: Sequence[Callable[[], T]]) -> list[T | Exception] | None:
        """The common case of :meth:`group`, with fewer statements (each one hands the GIL
        over, which costs most under concurrent searches): no savepoints, and the ``seq`` /
        ``next_label`` counters written once for the group. None (nothing written) if any
        op fails: the group is then run again with a savepoint per op."""
        c = self._w
        seq, nxt = self.seq, self.next_label
        try:
            c.execute("BEGIN IMMEDIATE")
        except sqlite3.Error:
            return None
        self._batch_owner = threading.get_ident()
        self._counters_deferred = True
        try:
            out = self._run_ops(ops)
            self._counters_deferred = False
            self._put_counters(c, self.seq, self.next_label)
            c.execute("COMMIT")
            return out
        except Exception:
            self._rollback()
            self.seq, self.next_label = seq, nxt
            return None
        except BaseException:
            self._rollback()
            self.seq, self.next_label = seq, nxt
            raise
        finally:
            self._counters_deferred = False
            self._batch_owner = None

    @staticmethod
    def _run_ops(ops: Sequence[Callable[[], T]]) -> list[T | Exception]:
        """Run ``ops`` in order; a run of consecutive ops of one class that has a
        ``run_many(ops)`` method runs as one call of it (a group's plain upserts)."""
        out: list[T | Exception] = []
        i = 0
        while i < len(ops):
            op = ops[i]
            if getattr(op, "run_many", None) is None:
                out.append(op())
                i += 1
                continue
            j = i + 1
            while j < len(ops) and type(ops[j]) is type(op):
                j += 1
            out.extend(op.run_many(ops[i:j]))  # type: ignore[attr-defined]
            i = j
        return out

    def _group_savepoints(self, ops: Sequence[Callable[[], T]]) -> list[T | Exception]:
        """:meth:`group` with a savepoint per op, so a failing op fails alone."""
        c = self._w
        seq, nxt = self.seq, self.next_label
        try:
            c.execute("BEGIN IMMEDIATE")
        except sqlite3.Error:
            return self._one_each(ops)
        self._batch_owner = threading.get_ident()
        out: list[T | Exception] = []
        lost = False
        try:
            for op in ops:
                s, n = self.seq, self.next_label
                c.execute("SAVEPOINT w")
                try:
                    out.append(op())
                except Exception as exc:
                    self.seq, self.next_label = s, n
                    if not c.in_transaction:  # SQLite rolled back the whole group
                        lost = True
                        break
                    c.execute("ROLLBACK TO w")
                    out.append(exc)
                c.execute("RELEASE w")
            if not lost:
                c.execute("COMMIT")
        except sqlite3.Error:
            lost = True
        except BaseException:
            self._rollback()
            self.seq, self.next_label = seq, nxt
            raise
        finally:
            self._batch_owner = None
        if lost:
            self._rollback()
            self.seq, self.next_label = seq, nxt
            return self._one_each(ops)
        return out

    def _one_each(self, ops: Sequence[Callable[[], T]]) -> list[T | Exception]:
        """Each op in a transaction of its own (its own durable commit)."""
        out: list[T | Exception] = []
        for op in ops:
            seq, nxt = self.seq, self.next_label
            try:
                with self.batch():
                    out.append(op())
            except Exception as exc:
                self.seq, self.next_label = seq, nxt
                out.append(exc)
        return out

    def in_batch(self) -> bool:
        """Whether this thread runs a :meth:`batch` or :meth:`group` (its writes join it)."""
        return self._batch_owner == threading.get_ident()

    def _put_counters(self, c: sqlite3.Connection, seq: int, nxt: int | None = None) -> None:
        """Store the ``seq`` (and ``next_label``) counters, unless a fast group commit writes
        them once at its end."""
        if self._counters_deferred:
            return
        items = [(seq, "seq")] if nxt is None else [(seq, "seq"), (nxt, "next_label")]
        c.executemany("UPDATE meta SET value=? WHERE key=?", items)

    def _write(self, fn) -> int:
        """One write transaction ``fn(conn, seq)`` that takes the next ``seq``."""

        def run(c: sqlite3.Connection) -> int:
            seq = self.seq + 1
            fn(c, seq)
            self._put_counters(c, seq)
            return seq

        self.seq = self._tx(run)
        return self.seq


def _is_full(exc: sqlite3.Error) -> bool:
    """Whether SQLite failed for want of space (SQLITE_FULL: the disk, or max_page_count)."""
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or (
        "database or disk is full" in str(exc)
    )
