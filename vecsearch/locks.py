"""Locks of a collection: a readers-writer lock for its in-memory state (indexes, payload
indexes, masks), and the advisory file lock that keeps other processes out of its directory.

The readers-writer lock: many readers hold it at once; a writer holds it alone. A waiting
writer blocks new readers, so writers are not starved; writers keep their exclusive sections
short (index updates are applied in chunks), so readers are not stalled for long either.
The thread that holds it exclusively may enter it again, shared or exclusive (a batch of
writes holds it across several writes that each take it; see :mod:`vecsearch.batch_update`).
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vecsearch.errors import CollectionLockedError, CollectionNotFoundError


class RWLock:
    """Writer-preferring readers-writer lock; reentrant only for the thread holding it
    exclusively (shared holders must not ask for it again: a waiting writer blocks them)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0
        self._owner: int | None = None

    @contextmanager
    def read(self) -> Iterator[None]:
        """Hold the lock shared for the block."""
        if self._owner == threading.get_ident():  # the exclusive holder reads
            yield
            return
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        """Hold the lock exclusively for the block."""
        if self._owner == threading.get_ident():  # already held exclusively by this thread
            yield
            return
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = True
            self._owner = threading.get_ident()
        try:
            yield
        finally:
            with self._cond:
                self._owner = None
                self._writer = False
                self._cond.notify_all()


#: File that holds a collection directory's advisory lock.
LOCK_FILE = "LOCK"


def lock_dir(path: Path, name: str) -> int:
    """Take an exclusive advisory lock on a collection directory (one process at a time);
    returns the file descriptor to pass to :func:`unlock`."""
    try:
        fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:
        raise CollectionNotFoundError(f"collection {name!r} does not exist") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise CollectionLockedError(
            f"collection {name!r} is open in another process or Database object"
        ) from None
    return fd


def unlock(fd: int) -> None:
    """Release a lock taken by :func:`lock_dir`."""
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
