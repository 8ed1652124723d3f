"""Background index rebuilds: a PATCH that changes a vector space's index (its type or build
parameters) rebuilds it while the old index keeps answering.

A rebuild thread builds the new index from the store through its own read connection
(one consistent snapshot per statement; writes continue), then, with the collection's
writers blocked, brings it up to date with the writes made meanwhile (the same exact catch-up
as at open: see :mod:`vecsearch.space`), swaps it in under the exclusive lock (searches wait
only for the swap) and saves it. The new config is durable before the rebuild starts, so a
process that dies mid-rebuild rebuilds at its next open. A newer PATCH of the same space
supersedes a running rebuild; closing the collection cancels it. A failed rebuild keeps the
old index, logs the error and reports it in collection info (``optimizer_status``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from vecsearch.space import RebuildCancelled, VectorSpace

log = logging.getLogger(__name__)


class Rebuilder:
    """The background rebuilds of one collection (``collection.rebuilder``)."""

    def __init__(self, collection: Any) -> None:
        self._coll = collection
        self._lock = threading.Lock()
        self._threads: dict[str, threading.Thread] = {}
        self._generation: dict[str, int] = {}
        self._errors: dict[str, str] = {}
        self._stopping = threading.Event()

    def start(self, name: str) -> None:
        """Rebuild space ``name`` to its configured index (superseding a running rebuild)."""
        with self._lock:
            if self._stopping.is_set():
                return
            gen = self._generation[name] = self._generation.get(name, 0) + 1
            self._errors.pop(name, None)
            thread = threading.Thread(
                target=self._run,
                args=(name, gen),
                name=f"vecsearch-rebuild-{self._coll.name}-{name or 'default'}",
                daemon=True,
            )
            self._threads[name] = thread
            thread.start()

    def running(self, name: str | None = None) -> bool:
        """Whether a rebuild (of ``name``, or of any space) is in progress."""
        with self._lock:
            threads = (
                [self._threads.get(name)] if name is not None else list(self._threads.values())
            )
        return any(t is not None and t.is_alive() for t in threads)

    def error(self) -> str | None:
        """The error of the last failed rebuild, if any is outstanding."""
        with self._lock:
            return "; ".join(f"vector {n!r}: {e}" for n, e in self._errors.items()) or None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for running rebuilds; False if one is still running after ``timeout``."""
        with self._lock:
            threads = list(self._threads.values())
        for t in threads:
            t.join(timeout)
        return not any(t.is_alive() for t in threads)

    def stop(self) -> None:
        """Cancel running rebuilds and wait for their threads (collection close)."""
        self._stopping.set()
        self.wait()

    def _current(self, name: str, gen: int) -> bool:
        return not self._stopping.is_set() and self._generation.get(name) == gen

    def _run(self, name: str, gen: int) -> None:
        coll = self._coll
        try:
            space = VectorSpace(coll.config.space(name), coll.path, coll.name)
            built = space.build(coll.store, should_stop=lambda: not self._current(name, gen))
            with coll._persist_lock, coll._write_lock:
                if not self._current(name, gen):
                    return
                old = coll.spaces[name]
                space.catch_up_built(coll.store, built)
                with coll._rw.write():
                    space.install(built)
                    space.present, space.count = old.present, old.count
                    space.config = coll.config.space(name)
                    space.index_source = "rebuilt"
                    coll.spaces[name] = space
                space.save(coll.store, coll.uuid)
            log.info("collection %s: vector %r rebuilt (%s)", coll.name, name, space.config.index)
        except RebuildCancelled:
            return
        except Exception as exc:
            log.exception("collection %s: rebuild of vector %r failed", coll.name, name)
            with self._lock:
                self._errors[name] = f"index rebuild failed: {exc}"
