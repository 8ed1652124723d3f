"""Cluster mode's database: the collections of a data directory as cluster collections on a
Ray cluster, offering the service what :class:`vecsearch.database.Database` offers it
(list, create, delete, get / loaded collection, lease scope, aliases, point counts,
failures, close).

Layout on the driver (the machine running ``vecsearch serve --cluster``)::

    DIR/cluster/<name>.cluster.json   a collection's record (:mod:`vecsearch.cluster.layout`)
    DIR/cluster/aliases.json          aliases (:mod:`vecsearch.aliases`)
    DIR/cluster-replicas/<name>/shard-<s>/replica-<r>/
                                      a replica's directory, on the node that holds it (the
                                      same absolute path on every node)
    DIR/snapshots/<name>/shards/<shard_id>/
                                      that shard's snapshots (*.snapshot + *.sha256), on the
                                      driver (:mod:`vecsearch.cluster.shard_snapshots`)

Collections are created with Qdrant's ``shard_number``, ``replication_factor`` and
``write_consistency_factor`` from the create body (default 1 each) and reopened from their
records at start (:meth:`ClusterCollection.open`). A replica found dead or behind at open,
or found dead later (a background thread looks every :attr:`ClusterDatabase.RECOVER_EVERY`
seconds), is rebuilt by :meth:`ClusterCollection.recover` when a node free of its shard is
alive (a failure is logged and retried; the shard serves from its live replicas meanwhile;
with ``write_consistency_factor`` equal to ``replication_factor`` its writes answer 503
until then). They stay open while the
service runs (their actors are the data; there is no pool of open collections to trim).

Snapshots are per shard (Qdrant's ``/collections/{c}/shards/{shard_id}/snapshots``:
create, list, download, delete, recover). Not offered
(:class:`~vecsearch.cluster.plan.ClusterUnsupportedError`, a 400): whole-collection
snapshots of a cluster collection (the message names the per-shard routes),
``sharding_method: "custom"`` (refused by the configuration
checks, as in single-node mode: creating shard keys over HTTP is not done). Single-node
collections under ``DIR/collections`` are not served in cluster mode.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import shutil
import signal
import socket
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ray

from vecsearch.aliases import AliasAction, AliasStore
from vecsearch.cluster import layout, shard_snapshots
from vecsearch.cluster.collection import ClusterCollection
from vecsearch.cluster.facade import ClusterCollectionFacade
from vecsearch.cluster.plan import unsupported
from vecsearch.config_qdrant import parse_create
from vecsearch.database import check_collection_name
from vecsearch.errors import (
    CollectionExistsError,
    CollectionNotFoundError,
    CollectionUnavailableError,
    ValidationError,
)
from vecsearch.shard_snapshots import delete_snapshot, find_location, shard_folder, snapshot_file
from vecsearch.snapshots import SnapshotDescription, list_snapshots

log = logging.getLogger(__name__)

_RECORD = re.compile(r"(.+)\.cluster\.json")
#: Shorter than single-node names: the record file adds ``.cluster.json`` (13 bytes).
MAX_NAME = 255 - 13


class ScrapeCounts(dict[str, int]):
    """Points per collection, with :attr:`shards`: per collection, the per-shard rows of
    :meth:`ClusterDatabase.shard_stats` (read by :mod:`service.metrics`)."""

    shards: dict[str, list[dict[str, Any]]]


class ClusterConnectError(RuntimeError):
    """The Ray cluster named by ``--cluster`` cannot be reached (the server does not start)."""


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast, with the address in the message, when ``HOST:PORT`` accepts no TCP
    connection: ``ray.init`` would retry for a minute or more and end in a traceback of
    its own. Other address forms (``ray://``, ``auto``) are left to Ray."""
    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ClusterConnectError(
            f"cannot reach the Ray cluster at {address!r} ({exc.strerror or exc}); start one "
            "with `ray start --head` and pass its address, or use --cluster auto"
        ) from None


def _init_ray(address: str | None) -> None:
    """``ray.init``, keeping the process's SIGTERM handler: Ray replaces it with one that
    exits at once, which would skip the server's graceful shutdown (replicas closed, their
    indexes saved, the Ray head stopped)."""
    if address is not None:
        check_reachable(address)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    ray.init(address=address)
    if main and previous is not None:
        signal.signal(signal.SIGTERM, previous)


class ClusterDatabase:
    """Cluster collections recorded under ``path`` (thread-safe).

    ``address``: the Ray cluster to join (``"auto"``: ``ray.init()`` with no address, which
    joins the local cluster started by ``ray start`` if there is one, else starts a local
    Ray head for this process). If this process is connected to Ray already (tests), that
    connection is used and left open at :meth:`close`."""

    #: Seconds between checks for dead replicas to rebuild (0: only when a collection opens).
    RECOVER_EVERY = 5.0

    def __init__(self, path: str | os.PathLike[str], address: str = "auto", **options: Any) -> None:
        self.path = Path(path).resolve()
        self.meta_dir = self.path / "cluster"
        self.replicas_dir = self.path / "cluster-replicas"
        self.meta_dir.mkdir(parents=True, exist_ok=True)
        self.address = address
        self._owns_ray = False
        if not ray.is_initialized():
            _init_ray(None if address == "auto" else address)
            self._owns_ray = True
        #: ``ClusterCollection`` options (``timeout``, ``log_size``, ``per_shard_k``).
        self.options = options
        self._lock = threading.RLock()
        self._open: dict[str, ClusterCollectionFacade] = {}
        self.failed: dict[str, str] = {}
        self.aliases = AliasStore(self.meta_dir)
        self.max_name_length = MAX_NAME
        self._recover_failed: dict[str, str] = {}
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        if self.RECOVER_EVERY > 0:
            self._watcher = threading.Thread(
                target=self._watch, name="vecsearch-cluster-recover", daemon=True
            )
            self._watcher.start()

    def _watch(self) -> None:
        """Rebuild dead replicas of the open collections, every :attr:`RECOVER_EVERY` s."""
        while not self._stop.wait(self.RECOVER_EVERY):
            for coll in list(self._open.values()):
                if self._stop.is_set():
                    return
                if not coll.closed:
                    self._recover(coll.cc)

    # -- names ---------------------------------------------------------------------------------
    def list_collections(self) -> list[str]:
        """Names of the recorded collections, sorted."""
        names = (_RECORD.fullmatch(p.name) for p in self.meta_dir.iterdir())
        return sorted(m.group(1) for m in names if m is not None)

    def collection_exists(self, name: str) -> bool:
        check_collection_name(name)
        return layout.layout_file(self.meta_dir, name).exists()

    def resolve(self, name: str) -> str:
        """An alias's target, else ``name``."""
        check_collection_name(name)
        return self.aliases.get(name) or name

    # -- create / open / delete ----------------------------------------------------------------
    def create_collection(self, name: str, body: Mapping[str, Any]) -> ClusterCollectionFacade:
        """Create a sharded, replicated collection from Qdrant's create body."""
        check_collection_name(name, max_length=self.max_name_length)
        cfg = parse_create(body)
        if "created_at" not in cfg.qdrant:
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            cfg = dataclasses.replace(cfg, qdrant={**cfg.qdrant, "created_at": now})
        with self._lock:
            if self.collection_exists(name):
                raise CollectionExistsError(f"collection {name!r} already exists")
            if self.aliases.get(name) is not None:
                raise ValidationError(
                    "collection_name",
                    f"Can't create collection with name {name}. "
                    "Alias with the same name already exists",
                )
            cc = ClusterCollection.create(
                name,
                cfg,
                str(self.replicas_dir),
                shard_number=body.get("shard_number") or 1,
                replication_factor=body.get("replication_factor") or 1,
                write_consistency_factor=body.get("write_consistency_factor") or 1,
                meta_dir=self.meta_dir,
                **self.options,
            )
            coll = ClusterCollectionFacade(cc)
            self._open[name] = coll
            self.failed.pop(name, None)
            return coll

    def get_collection(self, name: str) -> ClusterCollectionFacade:
        """The collection ``name`` (or aliased ``name``), reopened from its record on first
        use."""
        name = self.resolve(name)
        coll = self._open.get(name)
        if coll is not None:
            return coll
        with self._lock:
            coll = self._open.get(name)
            if coll is not None:
                return coll
            if not self.collection_exists(name):
                raise CollectionNotFoundError(f"collection {name!r} does not exist")
            try:
                cc = ClusterCollection.open(name, self.meta_dir, **self.options)
            except Exception as exc:
                self.failed[name] = reason = self.reason(exc)
                log.error("cluster collection %s cannot be opened: %s", name, reason)
                raise CollectionUnavailableError(
                    f"collection {name!r} cannot be opened: {reason}"
                ) from exc
            self._recover(cc)
            coll = ClusterCollectionFacade(cc)
            self._open[name] = coll
            self.failed.pop(name, None)
            return coll

    def _recover(self, cc: ClusterCollection) -> None:
        """Rebuild the dead replicas of ``cc`` (logged, a repeated failure once; never
        fatal)."""
        if all(r.state == "live" for s in cc.shards for r in s.replicas):
            return
        try:
            reports = cc.recover()
            self._recover_failed.pop(cc.name, None)
            log.info("cluster collection %s: %d replica(s) recovered", cc.name, len(reports))
        except Exception as exc:  # served from the live replicas meanwhile
            if self._recover_failed.get(cc.name) != str(exc):
                log.warning("cluster collection %s: recovery failed: %s", cc.name, exc)
            self._recover_failed[cc.name] = str(exc)

    def loaded_collection(self, name: str) -> ClusterCollectionFacade | None:
        """The collection if it is open (no I/O: the event loop may call it)."""
        return self._open.get(self.aliases.get(name) or name)

    def lease_scope(self) -> contextlib.AbstractContextManager[None]:
        """Nothing to lease: cluster collections stay open."""
        return contextlib.nullcontext()

    def delete_collection(self, name: str) -> bool:
        """Delete a collection: its replicas (on live nodes) and its record."""
        check_collection_name(name)
        with self._lock:
            if not self.collection_exists(name):
                return False
            self.aliases.drop_collection(name)
            coll = self._open.pop(name, None)
            if coll is None:
                with contextlib.suppress(Exception):  # a collection that failed to open
                    coll = ClusterCollectionFacade(
                        ClusterCollection.open(name, self.meta_dir, **self.options)
                    )
            if coll is not None:
                coll.close(drop=True)
            layout.layout_file(self.meta_dir, name).unlink(missing_ok=True)
            shutil.rmtree(self.shard_snapshots_root / name, ignore_errors=True)
            self.failed.pop(name, None)
            return True

    def update_aliases(self, actions: list[AliasAction]) -> None:
        with self._lock:
            self.aliases.apply(actions, self.collection_exists)

    # -- reporting -----------------------------------------------------------------------------
    def point_counts(self) -> dict[str, int]:
        """Points per open collection (metrics), from one ask of every live replica
        (:meth:`shard_stats`, at most ``SCRAPE_TIMEOUT`` seconds); a collection with a shard
        that no replica answered for is left out. The result carries the rows as its
        ``shards`` attribute (the metrics' per-shard gauges read them: one round for both)."""
        stats = self.shard_stats()
        out = ScrapeCounts()
        for name, rows in stats.items():
            if rows and all(r["points"] is not None for r in rows):
                out[name] = sum(r["points"] for r in rows)
        out.shards = stats
        return out

    def reason(self, exc: BaseException) -> str:
        """``exc`` as a message without the data directory's path."""
        return str(exc).replace(str(self.path) + os.sep, "").replace(str(self.path), ".")

    def cluster_status(self) -> dict[str, Any]:
        """The Ray nodes (``node_id``, ``address``, ``alive``) and the driver's node id."""
        nodes = [
            {
                "node_id": n["NodeID"],
                "address": f"{n.get('NodeManagerAddress')}:{n.get('NodeManagerPort')}",
                "alive": bool(n.get("Alive")),
            }
            for n in ray.nodes()
        ]
        return {"node_id": ray.get_runtime_context().get_node_id(), "nodes": nodes}

    # -- snapshots: per shard (:mod:`vecsearch.cluster.shard_snapshots`) ----------------------
    def _no_snapshots(self, *args: Any, **kwargs: Any) -> Any:
        raise unsupported(
            "snapshot",
            "a whole-collection snapshot of a cluster collection (use the per-shard routes "
            "/collections/{name}/shards/{shard_id}/snapshots)",
        )

    create_snapshot = list_snapshots = snapshot_path = delete_snapshot = _no_snapshots
    restore_snapshot = work_dir = publish = _no_snapshots

    @property
    def snapshots_dir(self) -> Path:
        """Refused: collection snapshots (and their recover locations) are not served in
        cluster mode; shard snapshots live under :attr:`shard_snapshots_root`."""
        return self._no_snapshots()

    @property
    def shard_snapshots_root(self) -> Path:
        """``DIR/snapshots`` on the driver: ``<collection>/shards/<shard_id>/`` below it."""
        return self.path / "snapshots"

    def _shard_folder(self, name: str, shard_id: int) -> tuple[ClusterCollectionFacade, Path]:
        coll = self.get_collection(name)
        shard_snapshots.shard_of(coll.cc, shard_id)  # 404 for an unknown shard
        return coll, shard_folder(self.shard_snapshots_root, coll.cc.name, shard_id)

    def create_shard_snapshot(self, name: str, shard_id: int) -> SnapshotDescription:
        """Snapshot one shard (from one of its live replicas, exact at its sequence)."""
        coll, folder = self._shard_folder(name, shard_id)
        return shard_snapshots.create(coll.cc, shard_id, folder)

    def list_shard_snapshots(self, name: str, shard_id: int) -> list[SnapshotDescription]:
        """The shard's snapshots, oldest first."""
        return list_snapshots(self._shard_folder(name, shard_id)[1])

    def shard_snapshot_path(self, name: str, shard_id: int, snapshot: str) -> Path:
        """The file of one shard snapshot (404 if absent)."""
        return snapshot_file(self._shard_folder(name, shard_id)[1], snapshot)

    def delete_shard_snapshot(self, name: str, shard_id: int, snapshot: str) -> None:
        """Delete one shard snapshot and its checksum."""
        delete_snapshot(self._shard_folder(name, shard_id)[1], snapshot)

    def recover_shard_snapshot(
        self, name: str, shard_id: int, location: str, checksum: str | None = None
    ) -> dict[str, Any]:
        """Replace every replica of the shard by the snapshot at ``location`` (a file of
        ``DIR/snapshots``: its name in the shard's folder, a path, or ``file://``)."""
        coll, folder = self._shard_folder(name, shard_id)
        path = find_location(self.shard_snapshots_root, folder, location)
        report = shard_snapshots.recover(coll.cc, shard_id, path, checksum)
        coll._count = None  # the facade's cached point count is stale now
        return report

    def shard_stats(self) -> dict[str, list[dict[str, Any]]]:
        """Per open collection, its shards' rows
        (:func:`vecsearch.cluster.shard_snapshots.shard_stats`: one ask of every live
        replica, at most ``SCRAPE_TIMEOUT`` seconds in all; never fails on a dead shard)."""
        try:
            return shard_snapshots.shard_stats(
                {name: coll.cc for name, coll in list(self._open.items())}
            )
        except Exception as exc:  # a scrape must not fail
            log.warning("shard metrics unavailable: %s", exc)
            return {}

    # -- lifecycle -----------------------------------------------------------------------------
    def close(self) -> dict[str, str]:
        """Close every open collection (each replica saves its indexes, the actors end);
        disconnect from Ray if this object connected. Returns failures (name -> reason)."""
        failures: dict[str, str] = {}
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(600)  # a recovery in progress ends within its timeouts
        with self._lock:
            for name, coll in list(self._open.items()):
                try:
                    coll.close()
                except Exception as exc:
                    failures[name] = self.reason(exc)
                    log.error("cluster collection %s: close failed: %s", name, exc)
            self._open.clear()
            if self._owns_ray:
                ray.shutdown()
                self._owns_ray = False
        return failures

    def __enter__(self) -> ClusterDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
