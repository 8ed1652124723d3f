"""Bringing a dead replica back: a new actor on a node free of the shard, caught up from a
live replica before it serves anything.

1. The old actor is killed (a no-op if its node is gone) and a new one starts on a node
   without a live replica of the shard (its old node if that is still alive), opening the
   replica's directory there: an existing directory (the node restarted, or several Ray
   nodes share a disk, as on one test machine) keeps its data and its sequence number.
2. If the shard's write log still reaches back to that sequence number, the missing writes
   are replayed from the log; otherwise a live replica takes a snapshot (exactly at its
   sequence number, see :meth:`vecsearch.cluster.replica.Replica.snapshot`), the new
   replica installs it, and the writes after it are replayed from the log.
3. Replays repeat while writes continue; the last one runs under the shard's lock, so no
   write is sequenced in between, and the replica becomes live in the same critical section.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import ray

from vecsearch.cluster.placement import alive_nodes, node_load, pick_node, pinned
from vecsearch.cluster.replica import ShardReplica
from vecsearch.cluster.shard import ReplicaHandle, Shard, ShardUnavailableError


class ClusterCollection(Protocol):
    """What catch-up needs of :class:`vecsearch.cluster.collection.ClusterCollection`
    (a protocol: the collection imports this module, not the other way round)."""

    name: str
    config: Any
    shards: Sequence[Shard]
    catchup_timeout: float

    def replica_path(self, node_id: str, shard: int, slot: int) -> str: ...


#: Catch-up rounds outside the lock before the final one under it.
ROUNDS = 5
#: A replica this close to the shard's head finishes under the lock.
CLOSE_ENOUGH = 32


def _replace(cc: ClusterCollection, shard: Shard, old: ReplicaHandle) -> ReplicaHandle:
    with contextlib.suppress(Exception):  # its node may be gone: nothing to kill
        ray.kill(old.actor, no_restart=True)
    nodes = alive_nodes()
    holding = [r.node_id for r in shard.replicas if r.state == "live"]
    load = node_load([[r.node_id for r in s.live()] for s in cc.shards])
    if old.node_id in nodes and old.node_id not in holding:
        node = old.node_id
    else:
        node = pick_node(nodes, holding, load)
    path = cc.replica_path(node, shard.id, old.slot)
    actor = ShardReplica.options(**pinned(node)).remote(cc.name, path, cc.config.to_dict())
    return ReplicaHandle(shard.id, old.slot, node, path, actor, state="recovering")


def catch_up(cc: ClusterCollection, shard: Shard, old: ReplicaHandle) -> dict[str, Any]:
    """Replace dead replica ``old`` of ``shard`` and catch the new one up; returns what was
    done (node, method, sequence numbers, seconds)."""
    new = _replace(cc, shard, old)

    def install() -> None:
        shard.replicas = [new if r is old else r for r in shard.replicas]

    return fill(cc, shard, new, install, report_slot=old.slot)


def fill(
    cc: ClusterCollection,
    shard: Shard,
    new: ReplicaHandle,
    install: Callable[[], None],
    *,
    report_slot: int,
    source_node: str | None = None,
    snapshot_first: bool = False,
) -> dict[str, Any]:
    """Catch replica ``new`` (started, not in ``shard.replicas``) up to the shard's head and
    make it live: ``install()`` runs under the shard's lock after the last replay and puts
    it among the shard's replicas. Snapshots come from the live replica on
    ``source_node`` if there is one, else from any live replica; ``snapshot_first``: start
    from a snapshot even if the log reaches back (a brand-new replica)."""
    t0 = time.monotonic()
    timeout = cc.catchup_timeout
    seq = ray.get(new.actor.applied_seq.remote(), timeout=timeout)
    report: dict[str, Any] = {
        "shard": shard.id,
        "replica": report_slot,
        "node_id": new.node_id,
        "from_seq": seq,
        "method": "log",
        "snapshots": 0,
        "replayed": 0,
    }

    def snapshot() -> int:
        live = shard.live()
        source = next((r for r in live if r.node_id == source_node), None) or next(iter(live), None)
        if source is None:
            raise ShardUnavailableError(f"shard {shard.id}: no live replica to copy from")
        data, checksum, at = ray.get(source.actor.snapshot.remote(), timeout=timeout)
        report["method"] = "snapshot"
        report["source_node_id"] = source.node_id
        report["snapshots"] += 1
        return ray.get(new.actor.restore.remote(data, checksum, at), timeout=timeout)

    if snapshot_first:
        seq = snapshot()
    for _ in range(ROUNDS):
        with shard.lock:
            entries = shard.log_after(seq)
            head = shard.seq
        if entries is None:
            seq = snapshot()
            continue
        if head - seq <= CLOSE_ENOUGH:
            break
        seq = ray.get(new.actor.apply_many.remote(entries), timeout=timeout)
        report["replayed"] += len(entries)
    while True:
        with shard.lock:
            entries = shard.log_after(seq)
            if entries is not None:
                seq = ray.get(new.actor.apply_many.remote(entries), timeout=timeout)
                report["replayed"] += len(entries)
                new.state = "live"
                install()
                break
        seq = snapshot()  # the log moved past us while we waited for the lock
    report.update(to_seq=seq, seconds=round(time.monotonic() - t0, 3))
    return report


def recover(cc: ClusterCollection) -> list[dict[str, Any]]:
    """Replace and catch up every dead replica of ``cc``; one report per replica."""
    reports = []
    for shard in cc.shards:
        for rep in list(shard.replicas):
            if rep.state == "dead":
                reports.append(catch_up(cc, shard, rep))
    return reports
