"""The open collections of a database: an LRU pool with leases, bounded in number and by the
process's file descriptors.

Why: an open collection holds file descriptors for as long as it is open -- its ``LOCK``
(1), SQLite's database, WAL and shared-memory files of the write connection (3), and a
database + WAL pair (2) per thread that has read from it -- so a server that kept every
collection open ran out of descriptors at about 250 collections under ``ulimit -n 1024``.

How: :class:`CollectionPool` keeps the open collections in least-recently-used order. When
one more must be opened and ``max_open`` are open, or the process's open descriptors exceed
:attr:`CollectionPool.fd_target` (three quarters of the soft ``RLIMIT_NOFILE``), the least
recently used *idle* collections are closed first (their indexes saved if they changed, as
:meth:`Collection.close` does, under the collection's own locks). Idle means: no lease, no
background rebuild running. A lease pins a collection: :meth:`CollectionPool.lease`, or any
collection obtained inside a :meth:`CollectionPool.scope` (the service opens one per request,
so every collection a request touches, its lookups included, stays open until the request
ends). The bound is soft: when every open collection is leased, one more is opened anyway,
and the surplus is closed as soon as collections are idle again.

``max_open=None`` (the library's default) never closes a collection before
:meth:`vecsearch.database.Database.close`, so a :class:`Collection` object a caller holds
stays valid; with a bound, a caller outside the service should hold a lease while it uses a
collection (an evicted one answers :class:`CollectionNotFoundError` "closed").
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from vecsearch.fdlimit import fd_limit, open_fds


class LeaseScope:
    """The collections leased by one unit of work (a request); released together."""

    __slots__ = ("closed", "held")

    def __init__(self) -> None:
        self.held: list[Any] = []
        self.closed = False


#: The scope of the running request, if any (contextvars follow it into the thread pool).
_SCOPE: ContextVar[LeaseScope | None] = ContextVar("vecsearch_lease_scope", default=None)


class CollectionPool:
    """Open collections by name, in LRU order, with lease counts (thread-safe; the lock is
    held for dictionary work only, never while a collection opens or closes)."""

    def __init__(self, max_open: int | None = None) -> None:
        if max_open is not None and max_open < 1:
            raise ValueError("max_open must be at least 1 (or None: unbounded)")
        self.max_open = max_open
        self._lock = threading.Lock()
        self._open: OrderedDict[str, Any] = OrderedDict()
        self._leases: dict[Any, int] = {}
        self._closing: dict[str, threading.Event] = {}
        #: Points of each collection when it was last closed (metrics of closed collections).
        self.last_counts: dict[str, int] = {}
        #: Called (without the lock) when a release leaves more than ``max_open`` open: the
        #: database then closes the surplus in a thread of its own (never on the caller's
        #: thread, which may be an event loop).
        self.on_surplus: Any = None

    @property
    def fd_target(self) -> int:
        """Open descriptors above which idle collections are closed before opening one."""
        return fd_limit() * 3 // 4

    # -- lookups (no I/O) ------------------------------------------------------------------------
    def get(self, name: str) -> Any | None:
        """The open collection ``name`` (made most recent, leased in the current scope)."""
        with self._lock:
            coll = self._open.get(name)
            if coll is None or coll.closed:
                return None
            self._open.move_to_end(name)
            scope = _SCOPE.get()
            if scope is not None and not scope.closed:
                self._leases[coll] = self._leases.get(coll, 0) + 1
                scope.held.append(coll)
            return coll

    def add(self, name: str, coll: Any) -> None:
        """Register a collection just opened (leased in the current scope)."""
        with self._lock:
            self._open[name] = coll
            self.last_counts.pop(name, None)
        self.get(name)  # the scope's lease

    def items(self) -> list[tuple[str, Any]]:
        """``(name, collection)`` of the open collections, least recent first."""
        with self._lock:
            return list(self._open.items())

    def __len__(self) -> int:
        return len(self._open)

    def closing(self, name: str) -> threading.Event | None:
        """Set when a close of ``name`` in progress finishes (None if there is none)."""
        with self._lock:
            return self._closing.get(name)

    def closing_now(self) -> list[threading.Event]:
        """Events of every close in progress."""
        with self._lock:
            return list(self._closing.values())

    # -- leases --------------------------------------------------------------------------------
    def acquire(self, coll: Any) -> None:
        """Pin ``coll`` (it is not closed to make room until :meth:`release`)."""
        with self._lock:
            self._leases[coll] = self._leases.get(coll, 0) + 1

    def release(self, coll: Any) -> None:
        """Undo one :meth:`acquire`."""
        with self._lock:
            n = self._leases.get(coll, 0) - 1
            if n > 0:
                self._leases[coll] = n
                return
            self._leases.pop(coll, None)
            surplus = self.max_open is not None and len(self._open) > self.max_open
        if surplus and self.on_surplus is not None:
            self.on_surplus()

    def leases(self, coll: Any) -> int:
        """Leases held on ``coll`` now."""
        with self._lock:
            return self._leases.get(coll, 0)

    @contextmanager
    def scope(self) -> Iterator[LeaseScope]:
        """Lease every collection looked up until the block ends (nested scopes join the
        outer one)."""
        outer = _SCOPE.get()
        if outer is not None and not outer.closed:
            yield outer
            return
        scope = LeaseScope()
        _SCOPE.set(scope)
        try:
            yield scope
        finally:
            # no token reset: a framework may run this exit in another context
            with self._lock:
                scope.closed = True
                held, scope.held = scope.held, []
            for coll in held:
                self.release(coll)
            if _SCOPE.get() is scope:
                _SCOPE.set(None)

    # -- closing -------------------------------------------------------------------------------
    def detach(self, name: str) -> tuple[Any | None, threading.Event]:
        """Take ``name`` out of the pool to close it (delete, replace, shutdown); the event
        must be given to :meth:`closed` once the collection is closed."""
        with self._lock:
            coll = self._open.pop(name, None)
            ev = self._closing[name] = threading.Event()
            return coll, ev

    def closed(self, name: str, ev: threading.Event, count: int | None = None) -> None:
        """A close begun by :meth:`detach` or :meth:`take_victim` has finished."""
        with self._lock:
            if self._closing.get(name) is ev:
                del self._closing[name]
            if count is not None:
                self.last_counts[name] = count
        ev.set()

    def over_budget(self, incoming: int = 1) -> bool:
        """Whether room must be made before ``incoming`` more collections open."""
        if self.max_open is None:
            return False
        if len(self._open) + incoming > self.max_open:
            return True
        n = open_fds()
        return n is not None and n > self.fd_target

    def take_victim(self) -> tuple[str, Any, threading.Event] | None:
        """Detach the least recently used idle collection (None if every one is busy)."""
        with self._lock:
            for name, coll in self._open.items():
                if self._leases.get(coll, 0) == 0 and not coll.busy:
                    del self._open[name]
                    ev = self._closing[name] = threading.Event()
                    return name, coll, ev
            return None
