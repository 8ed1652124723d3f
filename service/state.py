"""What one running service holds: settings, the database, readiness and metrics.

Start-up (:meth:`ServiceState.open`) opens the :class:`~vecsearch.database.Database` at once
and starts a loader thread that (1) builds the demo collection if asked and it is missing,
(2) opens the collections, up to the pool's ``max_open_collections`` (loading saved indexes,
catching up with later writes; the others are opened on first use), and (3) compiles the
search kernels. ``/readyz`` is 503 until the loader has finished; requests are served
meanwhile (a collection is opened on first use if the loader has not reached it).

Cluster mode (setting ``cluster``): the database is a
:class:`vecsearch.cluster.database.ClusterDatabase` (imported only then), which offers the
same methods over sharded collections on Ray; the loader reopens them, and builds no demo
collection and compiles no kernels (the replicas' processes search).

A collection that cannot be opened does not hold readiness back: it is recorded with its
reason (:attr:`vecsearch.database.Database.failed`), answers 503 with that reason to
authenticated callers, and ``/readyz`` notes it for them only; an unauthenticated probe sees
the status and Qdrant's text, never a reason or a path.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from indexes.errors import VecsearchError
from service.dispatch import SearchDispatcher
from service.metrics import Metrics
from service.settings import Settings
from vecsearch.database import Database

log = logging.getLogger("service")


class ServiceState:
    """Process-wide state of one app (``app.state.service``)."""

    #: Seconds :meth:`close` waits for an unfinished loader before closing the database.
    CLOSE_WAIT = 60.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        #: When this service started (Qdrant's telemetry ``app.startup``).
        self.started_at = datetime.now(UTC)
        self.db: Database | None = None
        self.ready = threading.Event()
        self.phase = "starting"
        #: Why start-up failed (for authenticated callers of /readyz; no paths).
        self.startup_error: str | None = None
        self.load_seconds: float | None = None
        self._stop = threading.Event()
        self._loader: threading.Thread | None = None
        self.metrics = Metrics(self.points_per_collection, self.ready.is_set)
        self.dispatcher = SearchDispatcher(self.metrics, settings.inline_search_ms)

    # -- lifecycle -----------------------------------------------------------------------------
    def open(self) -> None:
        """Open the database and start loading collections and compiling kernels."""
        if self.settings.cluster is not None:
            # cluster mode: imported here only, so that single-node mode never loads ray
            from vecsearch.cluster.database import ClusterDatabase

            # the same methods as a Database (what the routes use), not a subclass
            self.db = ClusterDatabase(self.settings.data_dir, self.settings.cluster)  # type: ignore[assignment]
        else:
            self.db = Database(self.settings.data_dir, max_open=self.settings.max_open_collections)
        self._loader = threading.Thread(target=self._load, name="vecsearch-loader", daemon=True)
        self._loader.start()

    def _load(self) -> None:
        t0 = time.perf_counter()
        db = self.db
        assert db is not None
        cluster = self.settings.cluster is not None
        try:
            if cluster and (self.settings.demo or self.settings.warmup):
                # the searches run in the replicas' processes, which compile on first use
                log.info("cluster mode: no demo collection, no kernel warm-up in the service")
            elif self.settings.demo:
                from service.demo import ensure_demo_collection

                self.phase = "building the demo collection"
                ensure_demo_collection(db, should_stop=self._stop.is_set)
            self.phase = "loading collections"
            # as many as the pool holds: opening more would only close the first ones again
            for name in db.list_collections()[: self.settings.max_open_collections]:
                if self._stop.is_set():
                    return
                try:
                    db.get_collection(name)
                except VecsearchError:
                    continue  # recorded in db.failed (and logged) by the database
            if self.settings.warmup and not cluster:
                from service.warmup import needed_index_types, warm_kernels

                self.phase = "compiling kernels"
                warm_kernels(needed_index_types(db), should_stop=self._stop.is_set)
                from service.warmup import start_background_warm  # the rest, after ready

                self.background_warm = start_background_warm(
                    needed_index_types(db), should_stop=self._stop.is_set
                )
            if self._stop.is_set():
                return
            self.load_seconds = time.perf_counter() - t0
            self.phase = "ready"
            self.ready.set()
            log.info("ready in %.1f s", self.load_seconds)
        except Exception as exc:
            self.phase = "start-up failed"
            self.startup_error = db.reason(exc)
            log.exception("start-up failed")

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until ready (tests, demo); False on timeout."""
        return self.ready.wait(timeout)

    @property
    def failed(self) -> dict[str, str]:
        """Collections that exist but cannot be opened, with the reason."""
        return self.db.failed if self.db is not None else {}

    def close(self) -> None:
        """Stop the loader (between steps), then save the changed indexes and close the
        database (a collection whose save fails is still closed, the others still saved)."""
        self._stop.set()
        if self._loader is not None:
            self._loader.join(self.CLOSE_WAIT)
        if self.db is not None:
            self.db.close()  # each failure is logged once, by the database

    # -- reporting -----------------------------------------------------------------------------
    def points_per_collection(self) -> dict[str, int]:
        """Points per collection for the metrics gauge: the open ones, and the others as at
        their last close (a scrape never opens a collection)."""
        db = self.db
        return db.point_counts() if db is not None else {}

    def readiness(self, authorized: bool = True) -> tuple[bool, str]:
        """``(ready, text)`` for ``/readyz``; reasons (failed collections, a failed start)
        only for an ``authorized`` caller."""
        if not self.ready.is_set():
            text = f"not ready: {self.phase}"
            if authorized and self.startup_error:
                text += f": {self.startup_error}"
            return False, text
        # Qdrant's words (its k8s probe tests compare the text): here the collections are
        # loaded (up to the pool's size) and the kernels compiled.
        text = "all shards are ready"
        if self.failed and authorized:
            text += "; failed to open: " + ", ".join(
                f"{k} ({v})" for k, v in sorted(self.failed.items())
            )
        return True, text
