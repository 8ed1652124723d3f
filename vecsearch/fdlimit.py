"""File descriptors: how many the process may open, how many are open, and whether an error
means the process ran out of them.

Every open collection holds descriptors (its ``LOCK``, SQLite's database, WAL and shared-memory
files, and a database + WAL pair per thread that has read from it; see
:mod:`vecsearch.pool`), so a process serving many collections can reach its ``ulimit -n``.
Running out is then a transient shortage, reported as :class:`TooManyOpenFilesError` (503)
rather than as whatever the failing call happened to raise: ``OSError(EMFILE)`` from
``open``, or SQLite's ``unable to open database file``, which carries no errno and is
recognised by the descriptor count being at the limit.
"""

from __future__ import annotations

import errno
import os
import resource
import sqlite3

from vecsearch.errors import TooManyOpenFilesError

#: Errno values of descriptor exhaustion (per process, system-wide).
EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE})
#: A SQLite open failure counts as exhaustion when at most this many descriptors are left.
SQLITE_MARGIN = 16
_FD_DIR = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"


def fd_limit() -> int:
    """The soft ``RLIMIT_NOFILE`` (a large number when unlimited)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def open_fds() -> int | None:
    """Descriptors open in this process now (None where the platform cannot say)."""
    try:
        return len(os.listdir(_FD_DIR))
    except OSError:
        return None


def _near_limit() -> bool:
    try:
        n = len(os.listdir(_FD_DIR))
    except OSError as exc:  # not even the listing could open a descriptor
        return exc.errno in EXHAUSTED
    return n >= fd_limit() - SQLITE_MARGIN


def is_fd_exhaustion(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is running out of descriptors."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, TooManyOpenFilesError):
            return True
        if isinstance(cur, OSError) and cur.errno in EXHAUSTED:
            return True
        if (
            isinstance(cur, sqlite3.Error)
            and "unable to open database file" in str(cur)
            and _near_limit()
        ):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def exhaustion_error(exc: BaseException | None = None) -> TooManyOpenFilesError:
    """The 503 error that says so, with the numbers (no paths)."""
    n = open_fds()
    now = f"{n} open" if n is not None else "open"
    return TooManyOpenFilesError(
        f"Service unavailable: too many open files ({now}, limit {fd_limit()}); retry later, "
        "or raise the descriptor limit (ulimit -n) or lower max_open_collections"
    )
