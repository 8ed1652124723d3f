"""``ClusterCollection``: a collection split into shards, each shard a set of replicas (one
single-node :class:`~vecsearch.collection.Collection` per Ray actor, see
:mod:`vecsearch.cluster.replica`), with the method names and argument shapes of
``Collection`` so that the service can use either.

Writes are routed by point id (:mod:`vecsearch.cluster.routing`), validated here first (a
bad point refuses the whole request before any shard sees it), sent to every live replica
of each target shard and acknowledged by ``write_consistency_factor`` of them
(:mod:`vecsearch.cluster.shard`). Writes by filter and payload-index changes go to every
shard. Reads go to one live replica per shard and fail over; ranked reads are merged by
:mod:`vecsearch.cluster.merge` with the optimistic per-shard k (or ``per_shard_k="full"``;
``order_by`` reads always take the full k). The reads that take more than one scatter
(ranked reads with their re-query, grouped reads, facets) live in
:mod:`vecsearch.cluster.reads`; count, scroll and retrieve are here.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import ray

from vecsearch.cluster import catchup, layout, operations, reads
from vecsearch.cluster.merge import merge_ordered_scroll, merge_scroll
from vecsearch.cluster.placement import (
    alive_nodes,
    assign,
    node_addresses,
    pinned,
    same_machine_node,
)
from vecsearch.cluster.replica import ShardReplica
from vecsearch.cluster.routing import ShardKey, ShardRouter, canonical_ids
from vecsearch.cluster.shard import Reaper, ReplicaHandle, Shard
from vecsearch.config import CollectionConfig
from vecsearch.config_qdrant import parse_create
from vecsearch.errors import PointNotFoundError, ValidationError
from vecsearch.facets import FacetHit
from vecsearch.ids import id_key
from vecsearch.models import Record, ScoredPoint, UpdateResult
from vecsearch.point_input import parse_batch, parse_points
from vecsearch.query.kinds import parse_order_by
from vecsearch.validate import check_int


class ClusterCollection:
    """A sharded, replicated collection (see module docstring); thread-safe."""

    def __init__(
        self,
        name: str,
        config: CollectionConfig,
        data_dir: str | Path | Mapping[str, str | Path],
        router: ShardRouter,
        replication_factor: int,
        write_consistency_factor: int,
        *,
        log_size: int = 10_000,
        per_shard_k: str = "optimistic",
        timeout: float = 30.0,
        meta_dir: str | Path | None = None,
    ) -> None:
        if per_shard_k not in ("optimistic", "full"):
            raise ValidationError("per_shard_k", "expected 'optimistic' or 'full'")
        self.name = name
        self.config = config
        self.data_dir = data_dir
        self.router = router
        self.replication_factor = replication_factor
        self.write_consistency_factor = write_consistency_factor
        self.per_shard_k = per_shard_k
        self.timeout = timeout
        self.catchup_timeout = 4 * timeout
        self.log_size = log_size
        if meta_dir is None and isinstance(data_dir, Mapping):
            raise ValidationError("meta_dir", "needed when data_dir is given per node")
        #: Where the driver keeps the collection's record (:mod:`vecsearch.cluster.layout`).
        self.meta_dir = Path(meta_dir if meta_dir is not None else data_dir)  # type: ignore[arg-type]
        self.shards: list[Shard] = []
        self._reaper = Reaper()
        self._closed = False
        self._lock = threading.Lock()
        #: Shards re-queried at the full k by the last ranked read (tests, metrics).
        self.last_requeried: list[int] = []
        #: (shard, group) pairs filled by each re-query round of the last grouped read.
        self.last_group_fill: list[int] = []
        #: IP addresses of the recorded nodes (from the record, for nodes Ray forgot).
        self._recorded_ips: dict[str, str] = {}

    # -- creation ----------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        name: str,
        config: CollectionConfig | Mapping[str, Any],
        data_dir: str | Path | Mapping[str, str | Path],
        *,
        shard_number: int | None = None,
        replication_factor: int | None = None,
        write_consistency_factor: int | None = None,
        shard_keys: Mapping[ShardKey, int] | None = None,
        **options: Any,
    ) -> ClusterCollection:
        """Create the collection's replicas on the Ray cluster this process is connected to.

        ``config``: a :class:`CollectionConfig` or Qdrant's create body (whose
        ``shard_number``, ``replication_factor`` and ``write_consistency_factor`` apply when
        the arguments are None). ``data_dir``: the base directory on every node, or
        ``{node_id: base directory}``. ``options``: ``log_size``, ``per_shard_k``, ``timeout``,
        ``meta_dir`` (the driver's folder for the collection's record; default ``data_dir``).
        """
        body = config if isinstance(config, Mapping) else {}
        cfg = parse_create(config) if isinstance(config, Mapping) else config

        def pick(value: int | None, key: str) -> int:
            raw = value if value is not None else body.get(key, 1)
            return check_int(raw, key, minimum=1)

        shard_number = pick(shard_number, "shard_number")
        rf = pick(replication_factor, "replication_factor")
        wcf = pick(write_consistency_factor, "write_consistency_factor")
        if wcf > rf:
            raise ValidationError(
                "write_consistency_factor", f"is {wcf}, more than replication_factor ({rf})"
            )
        router = ShardRouter(shard_number, shard_keys)
        self = cls(name, cfg, data_dir, router, rf, wcf, **options)
        layout = assign(router.shard_number, rf, alive_nodes())
        for sid, nodes in enumerate(layout):
            handles = []
            for slot, node in enumerate(nodes):
                path = self.replica_path(node, sid, slot)
                actor = ShardReplica.options(**pinned(node)).remote(name, path, cfg.to_dict())
                handles.append(ReplicaHandle(sid, slot, node, path, actor))
            self.shards.append(Shard(sid, handles, self.log_size))
        # every replica is up (its collection created) before the collection is returned
        ray.get(
            [r.actor.applied_seq.remote() for s in self.shards for r in s.replicas],
            timeout=self.catchup_timeout,
        )
        self._save_layout()
        return self

    @classmethod
    def open(
        cls, name: str, meta_dir: str | Path, data_dir: Any = None, **options: Any
    ) -> ClusterCollection:
        """Reopen a cluster collection from its record in ``meta_dir`` (after the driver
        restarted): each replica's actor restarts on its node and opens its directory there.

        A replica whose recorded node is gone (Ray restarted: node ids are new) restarts on
        an alive node with the recorded node's IP address, whose disk holds its directory.
        A replica with no such node, or behind the most advanced replica of its shard, is
        marked dead: :meth:`recover` rebuilds it (by snapshot: the write log
        does not survive the driver). ``data_dir`` defaults to the recorded one.
        """
        doc = layout.load(meta_dir, name)
        cfg = CollectionConfig.from_stored(doc["config"])
        keys = {k: n for k, n in doc["shard_keys"]} or None
        router = ShardRouter(doc["shard_number"], keys)
        base = doc["data_dir"] if data_dir is None else data_dir
        self = cls(
            name,
            cfg,
            base,
            router,
            doc["replication_factor"],
            doc["write_consistency_factor"],
            meta_dir=meta_dir,
            **options,
        )
        alive = alive_nodes()
        addresses = node_addresses()
        load: Counter[str] = Counter()
        moved = False
        for sid, slots in enumerate(doc["layout"]):
            handles = []
            for i, rec in enumerate(slots):
                node, path = rec["node_id"], rec["path"]
                slot = int(rec.get("slot", i))  # shard operations leave gaps
                if rec.get("node_ip"):
                    self._recorded_ips[node] = rec["node_ip"]
                if node not in alive:  # restarted Ray: a node of the same machine has its disk
                    held = [h.node_id for h in handles]
                    other = same_machine_node(rec.get("node_ip"), alive, addresses, held, load)
                    if other is not None:
                        node, moved = other, True
                load[node] += 1
                if node in alive:
                    actor = ShardReplica.options(**pinned(node)).remote(name, path, doc["config"])
                    handles.append(ReplicaHandle(sid, slot, node, path, actor))
                else:
                    handles.append(ReplicaHandle(sid, slot, node, path, None, "dead", "node gone"))
            self.shards.append(Shard(sid, handles, self.log_size))
        for shard in self.shards:
            seqs: dict[int, int] = {}
            for rep in shard.live():
                try:
                    seqs[rep.slot] = ray.get(
                        rep.actor.applied_seq.remote(), timeout=self.catchup_timeout
                    )
                except ray.exceptions.RayError as exc:
                    shard.mark_dead(rep, f"open: {type(exc).__name__}")
            shard.seq = shard.acked = max(seqs.values(), default=0)
            for rep in shard.live():
                if seqs.get(rep.slot, -1) < shard.seq:
                    shard.mark_dead(rep, f"behind: at {seqs.get(rep.slot)} of {shard.seq}")
        if moved:
            self._save_layout()
        return self

    def _save_layout(self) -> None:
        data_dir = (
            {k: str(v) for k, v in self.data_dir.items()}
            if isinstance(self.data_dir, Mapping)
            else str(self.data_dir)
        )
        ips = {**self._recorded_ips, **node_addresses()}  # gone nodes keep their record
        layout.save(
            self.meta_dir,
            self.name,
            {
                "name": self.name,
                "config": self.config.to_dict(),
                "shard_number": self.router.shard_number,
                "shard_keys": [[k, len(v)] for k, v in self.router.key_shards.items()],
                "replication_factor": self.replication_factor,
                "write_consistency_factor": self.write_consistency_factor,
                "data_dir": data_dir,
                "layout": [
                    [
                        {
                            "node_id": r.node_id,
                            "node_ip": ips.get(r.node_id),
                            "path": r.path,
                            "slot": r.slot,
                        }
                        for r in s.replicas
                    ]
                    for s in self.shards
                ],
            },
        )

    def replica_path(self, node_id: str, shard: int, slot: int) -> str:
        """The data directory of replica ``slot`` of ``shard`` on node ``node_id``."""
        base = self.data_dir[node_id] if isinstance(self.data_dir, Mapping) else self.data_dir
        return str(Path(base) / self.name / f"shard-{shard}" / f"replica-{slot}")

    # -- writes ------------------------------------------------------------------------------
    def _write(self, calls: Mapping[int, tuple[str, tuple, dict[str, Any]]]) -> UpdateResult:
        """Send one write per shard (all submitted before any is awaited)."""
        sent = [
            (self.shards[s], *self.shards[s].submit(op, a, kw)) for s, (op, a, kw) in calls.items()
        ]
        seqs = [
            shard.acknowledge(seq, refs, self.write_consistency_factor, self.timeout, self._reaper)
            for shard, seq, refs in sent
        ]
        return UpdateResult(max(seqs))

    def _everywhere(
        self, op: str, args: tuple, kwargs: dict[str, Any], shard_key: Any = None
    ) -> UpdateResult:
        return self._write({s: (op, args, kwargs) for s in self.router.read_shards(shard_key)})

    def _by_ids(self, op: str, ids: Sequence[Any], build: Any, shard_key: Any) -> UpdateResult:
        """A write of the items at positions ``ids`` grouped by shard; ``build(positions)``
        gives the shard's ``(args, kwargs)``."""
        groups = self.router.group(ids, shard_key)
        if not groups:  # nothing to route: the engine answers as it would for one shard
            groups = {self.router.read_shards(shard_key)[0]: []}
        return self._write({s: (op, *build(pos)) for s, pos in groups.items()})

    def upsert(self, points: Sequence[Mapping[str, Any]], shard_key: Any = None) -> UpdateResult:
        """Insert or replace points (Qdrant's list form), as ``Collection.upsert``."""
        parse_points(self.config, points)  # refuse a bad request before any shard sees it
        pts = list(points)
        return self._by_ids(
            "upsert",
            [p["id"] for p in pts],
            lambda pos: (([pts[i] for i in pos],), {}),
            shard_key,
        )

    def upsert_batch(
        self,
        ids: Sequence[Any],
        vectors: Any,
        payloads: Sequence[Any] | None = None,
        shard_key: Any = None,
    ) -> UpdateResult:
        """Insert or replace points given column-wise, as ``Collection.upsert_batch``."""
        parse_batch(self.config, ids, vectors, payloads)
        ids = list(ids)

        def take(column: Any, pos: list[int]) -> Any:
            if isinstance(column, np.ndarray):
                return column[pos]
            return [column[i] for i in pos]

        def build(pos: list[int]) -> tuple[tuple, dict]:
            vecs = (
                {k: take(v, pos) for k, v in vectors.items()}
                if isinstance(vectors, Mapping)
                else take(vectors, pos)
            )
            pays = None if payloads is None else take(payloads, pos)
            return ([ids[i] for i in pos], vecs, pays), {}

        return self._by_ids("upsert_batch", ids, build, shard_key)

    def update_vectors(
        self, points: Sequence[Mapping[str, Any]], shard_key: Any = None
    ) -> UpdateResult:
        """Replace named vectors of existing points, as ``Collection.update_vectors``."""
        pts = list(points)
        ids = canonical_ids([p.get("id") if isinstance(p, Mapping) else p for p in pts], "points")
        self._require(ids, shard_key)
        return self._by_ids(
            "update_vectors", ids, lambda pos: (([pts[i] for i in pos],), {}), shard_key
        )

    def _targeted(
        self, op: str, args: tuple, points: Any, filter: Any, shard_key: Any, **kwargs: Any
    ) -> UpdateResult:
        """A write by ids (routed) or by filter (every shard)."""
        if (points is None) == (filter is None):
            raise ValidationError("points", "give either points (ids) or filter, not both/neither")
        if filter is not None:
            return self._everywhere(op, args, {**kwargs, "filter": filter}, shard_key)
        ids = canonical_ids(points, "points")
        if op != "delete":  # the engine refuses ids that do not exist: refuse before writing
            self._require(ids, shard_key)
        return self._by_ids(
            op, ids, lambda pos: (args, {**kwargs, "points": [ids[i] for i in pos]}), shard_key
        )

    def _require(self, ids: Sequence[Any], shard_key: Any) -> None:
        """Refuse (as the engine does) a by-id write naming a missing point, before any shard
        applies it (a point deleted concurrently can still make one shard refuse alone)."""
        found = {id_key(r.id) for r in self.retrieve(ids, with_payload=False, shard_key=shard_key)}
        missing = next((p for p in ids if id_key(p) not in found), None)
        if missing is not None:
            raise PointNotFoundError(f"no point with id {missing} in collection {self.name!r}")

    def delete(
        self, points: Sequence[Any] | None = None, filter: Any = None, shard_key: Any = None
    ) -> UpdateResult:
        """Delete points by ids or by filter."""
        return self._targeted("delete", (), points, filter, shard_key)

    def delete_vectors(
        self,
        vectors: Sequence[str],
        points: Sequence[Any] | None = None,
        filter: Any = None,
        shard_key: Any = None,
    ) -> UpdateResult:
        """Remove named vectors from the points chosen by ids or filter."""
        return self._targeted("delete_vectors", (vectors,), points, filter, shard_key)

    def set_payload(
        self,
        payload: Mapping[str, Any],
        points: Sequence[Any] | None = None,
        filter: Any = None,
        key: str | None = None,
        shard_key: Any = None,
    ) -> UpdateResult:
        """Merge ``payload`` into the points' payloads."""
        return self._targeted("set_payload", (payload,), points, filter, shard_key, key=key)

    def overwrite_payload(
        self,
        payload: Mapping[str, Any],
        points: Sequence[Any] | None = None,
        filter: Any = None,
        shard_key: Any = None,
    ) -> UpdateResult:
        """Replace the points' payloads."""
        return self._targeted("overwrite_payload", (payload,), points, filter, shard_key)

    def delete_payload(
        self,
        keys: Sequence[str],
        points: Sequence[Any] | None = None,
        filter: Any = None,
        shard_key: Any = None,
    ) -> UpdateResult:
        """Remove payload keys from the points."""
        return self._targeted("delete_payload", (keys,), points, filter, shard_key)

    def clear_payload(
        self, points: Sequence[Any] | None = None, filter: Any = None, shard_key: Any = None
    ) -> UpdateResult:
        """Remove every payload key from the points."""
        return self._targeted("clear_payload", (), points, filter, shard_key)

    def create_payload_index(self, field_name: str, field_schema: Any) -> UpdateResult:
        """Index a payload field on every shard."""
        return self._everywhere("create_payload_index", (field_name, field_schema), {})

    def delete_payload_index(self, field_name: str) -> UpdateResult:
        """Drop a payload index on every shard."""
        return self._everywhere("delete_payload_index", (field_name,), {})

    # -- reads: scatter and gather -----------------------------------------------------------
    def _scatter(self, calls: Mapping[int, tuple[str, tuple, dict[str, Any]]]) -> dict[int, Any]:
        """One read per shard, all started before any is awaited; failover per shard."""
        started = {s: (c, self.shards[s].start_read(*c)) for s, c in calls.items()}
        return {
            s: self.shards[s].finish_read(*c, st, self.timeout) for s, (c, st) in started.items()
        }

    def search_batch(
        self, requests: Sequence[Mapping[str, Any]], field: str = "searches", shard_key: Any = None
    ) -> list[list[ScoredPoint]]:
        """Several searches (Qdrant's search bodies) over every shard, merged."""
        return reads.ranked(self, "search_batch", "search", requests, field, shard_key)

    def search(
        self,
        vector: Any,
        limit: int = 10,
        offset: int = 0,
        filter: Any = None,
        params: Mapping[str, Any] | None = None,
        score_threshold: float | None = None,
        with_payload: Any = False,
        with_vector: Any = False,
        relevance_threshold: float | None = None,
        using: str | None = None,
        shard_key: Any = None,
    ) -> list[ScoredPoint]:
        """As ``Collection.search``, over every shard."""
        body = {
            "vector": vector if using is None else {"name": using, "vector": vector},
            "limit": limit,
            "offset": offset,
            "filter": filter,
            "params": params,
            "score_threshold": score_threshold,
            "with_payload": with_payload,
            "with_vector": with_vector,
            "relevance_threshold": relevance_threshold,
        }
        return reads.ranked(self, "search_batch", "search", [body], "", shard_key)[0]

    def query_batch(
        self, bodies: Sequence[Mapping[str, Any]], field: str = "searches", shard_key: Any = None
    ) -> list[list[ScoredPoint]]:
        """Several Query API bodies (nearest queries) over every shard, merged."""
        return reads.ranked(self, "query_batch", "query", bodies, field, shard_key)

    def query(self, body: Mapping[str, Any], shard_key: Any = None) -> list[ScoredPoint]:
        """One Query API body (a nearest query) over every shard."""
        return reads.ranked(self, "query_batch", "query", [body], "", shard_key)[0]

    def query_groups(
        self,
        body: Mapping[str, Any],
        kind: str = "query",
        resolve: Any = None,
        shard_key: Any = None,
    ) -> list[dict[str, Any]]:
        """A grouped query or search (the groups routes) over every shard, exact: Qdrant's
        ``PointGroup`` objects (:func:`vecsearch.cluster.reads.query_groups`)."""
        return reads.query_groups(self, body, kind, resolve, shard_key)

    def facet(
        self,
        key: Any,
        filter: Any = None,
        limit: Any = None,
        exact: Any = None,
        shard_key: Any = None,
    ) -> list[FacetHit]:
        """Facet counts of payload ``key`` summed over every shard, exact
        (:func:`vecsearch.cluster.reads.facet`)."""
        return reads.facet(self, key, filter, limit, exact, shard_key)

    def count(self, filter: Any = None, shard_key: Any = None) -> int:
        """Points passing ``filter``: the shards' exact counts summed."""
        got = self._scatter(
            {s: ("count", (filter,), {}) for s in self.router.read_shards(shard_key)}
        )
        return int(sum(got.values()))

    def scroll(
        self,
        filter: Any = None,
        limit: int = 10,
        offset: Any = None,
        with_payload: Any = True,
        with_vector: Any = False,
        order_by: Any = None,
        shard_key: Any = None,
    ) -> tuple[list[Record], Any]:
        """Points in id order from id ``offset``, over every shard; ``(records, next)``.
        With ``order_by``: every shard's first ``limit`` in that order, merged by order
        value (ties by id), no next offset (as the engine: page on with ``start_from``)."""
        limit = check_int(limit, "limit", minimum=1)
        order = None if order_by is None else parse_order_by(order_by, "order_by")
        if order is not None and offset is not None:  # the engine's refusal, before scatter
            raise ValidationError("offset", "cannot be used with order_by: use start_from")
        args = (filter, limit, offset, with_payload, with_vector, order_by)
        got = self._scatter({s: ("scroll", args, {}) for s in self.router.read_shards(shard_key)})
        if order is not None:
            pages = [recs for recs, _ in got.values()]
            return merge_ordered_scroll(pages, limit, descending=order.descending), None
        return merge_scroll(list(got.values()), limit)

    def retrieve(
        self,
        ids: Sequence[Any],
        with_payload: Any = True,
        with_vector: Any = False,
        shard_key: Any = None,
    ) -> list[Record]:
        """Points with the given ids, in request order; missing ids are skipped."""
        pids = list(dict.fromkeys(canonical_ids(ids)))
        if self.router.custom:  # a point may be in any key's shards
            groups = dict.fromkeys(self.router.read_shards(shard_key), pids)
        else:
            groups = {s: [pids[i] for i in pos] for s, pos in self.router.group(pids).items()}
        got = self._scatter(
            {s: ("retrieve", (g, with_payload, with_vector), {}) for s, g in groups.items()}
        )
        found = {id_key(r.id): r for recs in got.values() for r in recs}
        return [found[id_key(p)] for p in pids if id_key(p) in found]

    # -- state -------------------------------------------------------------------------------
    @property
    def point_count(self) -> int:
        return self.count()

    def shard_point_counts(self) -> dict[int, int]:
        """Points per shard (one live replica of each asked)."""
        got = self._scatter({s.id: ("count", (None,), {}) for s in self.shards})
        return {s: int(n) for s, n in sorted(got.items())}

    def cluster_info(self) -> dict[str, Any]:
        """Shards, replicas, nodes and states (the facts behind Qdrant's collection cluster
        info)."""
        return {
            "shard_count": self.router.shard_number,
            "replication_factor": self.replication_factor,
            "write_consistency_factor": self.write_consistency_factor,
            "shard_keys": {str(k): list(v) for k, v in self.router.key_shards.items()},
            "shards": [
                {
                    "shard_id": s.id,
                    "seq": s.seq,
                    "acked": s.acked,
                    "replicas": [r.describe() for r in s.replicas],
                }
                for s in self.shards
            ],
        }

    def describe(self) -> dict[str, Any]:
        """The engine's description summed over shards (``points_count``, ``spaces``' vector
        counts), plus ``cluster``: :meth:`cluster_info`."""
        per = self._scatter({s.id: ("describe", (), {}) for s in self.shards})
        spaces: dict[str, dict[str, Any]] = {}
        for d in per.values():
            for name, sp in d["spaces"].items():
                into = spaces.setdefault(
                    name, {**sp, "vectors_count": 0, "indexed_vectors_count": 0}
                )
                into["vectors_count"] += sp["vectors_count"]
                into["indexed_vectors_count"] += sp["indexed_vectors_count"]
        return {
            "points_count": int(sum(d["points_count"] for d in per.values())),
            "config": self.config,
            "spaces": spaces,
            "payload_schema": next(iter(per.values()))["payload_schema"],
            "cluster": self.cluster_info(),
        }

    def recover(self) -> list[dict[str, Any]]:
        """Replace every dead replica and catch it up (:mod:`vecsearch.cluster.catchup`)."""
        with self._lock:
            reports = catchup.recover(self)
            if reports:
                self._save_layout()
            return reports

    # -- shard operations (:mod:`vecsearch.cluster.operations`) -------------------------------
    def replicate_shard(
        self, shard: int, to_node: str, from_node: str | None = None
    ) -> dict[str, Any]:
        """Add a replica of ``shard`` on Ray node ``to_node``, built by snapshot (of the
        replica on ``from_node`` if it is live) plus the write log after it; it serves
        reads once caught up. Returns the catch-up report; the record is rewritten."""
        with self._lock:
            report = operations.replicate(self, shard, to_node, from_node)
            self._save_layout()
            return report

    def drop_replica(self, shard: int, node: str) -> None:
        """Remove the replica of ``shard`` on ``node`` (actor closed, directory removed);
        refused if fewer live replicas than ``write_consistency_factor`` (or none) would
        remain."""
        with self._lock:
            operations.drop(self, shard, node)
            self._save_layout()

    def move_shard(self, shard: int, from_node: str, to_node: str) -> dict[str, Any]:
        """Move the replica of ``shard`` on ``from_node`` to ``to_node`` (replicate, then
        drop)."""
        with self._lock:
            try:
                return operations.move(self, shard, from_node, to_node)
            finally:
                self._save_layout()  # a failed drop still leaves the new replica recorded

    def drain(self, timeout: float = 30.0) -> None:
        """Wait for the replies of writes acknowledged before every replica answered."""
        self._reaper.drain(timeout)

    def close(self, *, drop: bool = False) -> None:
        """Close (``drop``: and delete) every replica and end their actors."""
        if self._closed:
            return
        self._closed = True
        self._reaper.drain(self.timeout)
        self._reaper.stop()
        reps = [r for s in self.shards for r in s.replicas]
        if drop:
            layout.layout_file(self.meta_dir, self.name).unlink(missing_ok=True)
        refs = [
            r.actor.drop.remote() if drop else r.actor.close.remote()
            for r in reps
            if r.state == "live"
        ]
        try:
            if refs:
                ray.wait(refs, num_returns=len(refs), timeout=self.timeout)
        finally:
            for r in reps:
                with contextlib.suppress(Exception):  # already gone with its node
                    ray.kill(r.actor, no_restart=True)

    @property
    def closed(self) -> bool:
        return self._closed
