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
of once per write) and hands every writer its outcome. Writers that queued meanwhile wait
(each on its own event: no thundering herd) and form the next group, led by the first of
them. A write returns only after its own commit is durable and visible to
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
    #: Set when the write is done, or when it is its turn to lead the next group.
    wake: threading.Event = field(default_factory=threading.Event)
    #: The group this ticket's writer leads (taken from the queue when it got the lead).
    group: list[_Ticket] = field(default_factory=list)


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
        self._lock = threading.Lock()
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
        with self._lock:
            self._queue.append(t)
            lead = not self._leading
            if lead:
                self._leading = True
                t.group = self._take()
        if not lead:
            t.wake.wait()  # done, or promoted to lead the next group
        if not t.done:
            self._lead(t.group)
        if t.error is not None:
            raise t.error
        return t.result

    def _take(self) -> list[_Ticket]:
        """The next group: the oldest queued writes (lock held)."""
        group = self._queue[: self.MAX_GROUP]
        del self._queue[: self.MAX_GROUP]
        return group

    def _lead(self, group: list[_Ticket]) -> None:
        """Commit ``group`` (this thread's write among them), wake its writers, and hand the
        lead, with the next group, to the first writer queued meanwhile, if any."""
        try:
            self._run(group)
        except BaseException as exc:  # e.g. the collection was closed: every write fails
            for g in group:
                if not g.finished and g.error is None:
                    g.error = exc
            if not isinstance(exc, Exception):
                raise
        finally:
            with self._lock:
                for g in group:
                    g.done = True
                nxt = self._queue[0] if self._queue else None
                self._leading = nxt is not None
                if nxt is not None:
                    nxt.group = self._take()
            for g in group:
                g.wake.set()
            if nxt is not None:
                nxt.wake.set()

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
