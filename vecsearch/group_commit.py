"""Group commit of a collection's writes: one durable SQLite commit (one fsync) for every
write that arrived while the previous group was being committed.

A write is a *stage*: a callable run on the committing thread that writes through the
store's methods and returns ``(result, apply)``, where ``apply()`` brings the in-memory state
up to date after the commit. Stages must have no effect outside the store (a group that
SQLite loses is re-run one write at a time; see :meth:`vecsearch.store.Store.group`).

Leader and followers, no thread of its own: a writer queues its stage; if no group is being
committed it becomes the leader, takes every queued stage, and under the collection's write
lock runs them in one transaction (a ``SAVEPOINT`` each, so a failing write fails alone),
commits once, applies the committed writes to memory in order (under one exclusive section
of the readers-writer lock when the group is small, so readers drain once per group instead
of once per write) and hands every writer its outcome. Writers that queued meanwhile wait and
form the next group. A write returns only after its own commit is durable and visible to
searches, as before, so an acknowledged write survives ``kill -9``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vecsearch.locks import RWLock
from vecsearch.store import Store

#: What a stage returns: the write's result and the in-memory update to run after commit.
Staged = tuple[Any, Callable[[], None]]


@dataclass
class _Ticket:
    stage: Callable[[], Staged]
    points: int
    done: bool = False
    finished: bool = False
    result: Any = None
    error: BaseException | None = None
    applies: list = field(default_factory=list)


class GroupCommitter:
    """Batches concurrent writes of one collection into shared commits (see module docs)."""

    #: At most this many writes share one transaction (bounds a group's apply section).
    MAX_GROUP = 256

    def __init__(
        self,
        store: Callable[[], Store],
        write_lock: threading.RLock,
        rw: RWLock,
        apply_chunk: int,
    ) -> None:
        self._store = store
        self._write_lock = write_lock
        self._rw = rw
        self._apply_chunk = apply_chunk
        self._cond = threading.Condition(threading.Lock())
        self._queue: list[_Ticket] = []
        self._leading = False
        #: Sizes of the groups committed (the last ones), for tests and metrics.
        self.last_group_size = 0
        self.groups = 0
        self.writes = 0

    def submit(self, stage: Callable[[], Staged], points: int = 1) -> Any:
        """Run ``stage`` in the next group commit; its result once it is durable and applied
        (its exception if it failed)."""
        t = _Ticket(stage, points)
        with self._cond:
            self._queue.append(t)
            while not t.done and self._leading:
                self._cond.wait()
            if not t.done:
                self._leading = True
                group = self._queue[: self.MAX_GROUP]
                del self._queue[: self.MAX_GROUP]
            else:
                group = []
        if group:
            try:
                self._run(group)
            except BaseException as exc:  # e.g. the collection was closed: every write fails
                for g in group:
                    if not g.finished and g.error is None:
                        g.error = exc
                if not isinstance(exc, Exception):
                    raise
            finally:
                with self._cond:
                    for g in group:
                        g.done = True
                    self._leading = False
                    self._cond.notify_all()
        if t.error is not None:
            raise t.error
        return t.result

    def _run(self, group: list[_Ticket]) -> None:
        with self._write_lock:
            outcomes = self._store().group([g.stage for g in group])
            ok: list[_Ticket] = []
            for g, out in zip(group, outcomes, strict=True):
                if isinstance(out, Exception):
                    g.error = out
                else:
                    g.result, apply = out
                    g.applies.append(apply)
                    ok.append(g)
            small = sum(g.points for g in ok) <= self._apply_chunk
            if small and ok:
                with self._rw.write():  # one exclusive section for the group
                    self._apply(ok)
            else:
                self._apply(ok)  # each write applies itself in chunks
            for g in group:
                g.finished = True
            self.groups += 1
            self.writes += len(group)
            self.last_group_size = len(group)

    @staticmethod
    def _apply(ok: list[_Ticket]) -> None:
        """Run the in-memory updates in commit order; consecutive ones that can merge (an
        ``apply`` with a ``merge(other)`` method returning the combined update, or None)
        run as one, so an index inserts a group's points in one call."""
        run: Callable[[], None] | None = None
        owners: list[_Ticket] = []

        def flush() -> None:
            if run is None:
                return
            try:
                run()
            except Exception as exc:  # committed, but memory could not follow (rebuilt)
                for g in owners:
                    g.error = exc

        for g in ok:
            for apply in g.applies:
                merged = None
                if run is not None and hasattr(run, "merge"):
                    merged = run.merge(apply)
                if merged is not None:
                    run = merged
                    owners.append(g)
                else:
                    flush()
                    run, owners = apply, [g]
        flush()
