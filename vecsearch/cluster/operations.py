"""Shard operations on a cluster collection (Qdrant's ``replicate_shard``, ``move_shard`` and
``drop_replica``, issue 20 "Operations"): adding a replica of a shard on a chosen node,
removing one, and moving one (add, then remove).

* Replicate: a new actor on the target node opens a fresh directory (a new replica slot),
  installs a snapshot of a live replica (the one on the source node if it is live, else
  any) and replays the shard's write log after it, exactly as a dead replica is caught up
  (:func:`vecsearch.cluster.catchup.fill`); it serves reads only once it has every write
  (it joins the shard's replicas under the shard's lock, after the last replay).
* Drop: the replica leaves the shard (under the shard's lock: no later write is sent to
  it), then its actor closes, removes its directory and is ended. Refused when it would
  leave the shard without a live replica or with fewer live replicas than
  ``write_consistency_factor``. A dead replica's directory is not removed (no actor runs
  there to remove it).
* Every operation runs under the collection's lock (not concurrently with
  :meth:`~vecsearch.cluster.collection.ClusterCollection.recover`) and rewrites the
  collection's record (:mod:`vecsearch.cluster.layout`), so a reopen sees the new
  placement. The shard's replica count may then differ from ``replication_factor``, as in
  Qdrant after such operations; recovery rebuilds dead replicas of the current layout only.

Refusals are :class:`ShardOperationError` (a 400 naming the field).
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

import ray

from vecsearch.cluster import catchup
from vecsearch.cluster.placement import alive_nodes, pinned
from vecsearch.cluster.replica import ShardReplica
from vecsearch.cluster.shard import ReplicaHandle, Shard
from vecsearch.errors import ValidationError


class ShardOperationError(ValidationError):
    """A shard operation that cannot be done as asked (unknown shard or node, a replica
    already there, too few live replicas would remain)."""


class ClusterCollection(catchup.ClusterCollection, Protocol):
    """What the operations need of the cluster collection (a protocol, as in catch-up)."""

    write_consistency_factor: int
    timeout: float


def _shard(cc: ClusterCollection, shard: Any, field: str = "shard_id") -> Shard:
    if not isinstance(shard, int) or isinstance(shard, bool) or not 0 <= shard < len(cc.shards):
        raise ShardOperationError(
            field, f"no shard {shard!r} in collection {cc.name!r} (shards 0..{len(cc.shards) - 1})"
        )
    return cc.shards[shard]


def _new_slot(cc: ClusterCollection, shard: Shard, node: str) -> int:
    """A slot number not used by the shard, whose directory no replica of it uses."""
    slot = max((r.slot for r in shard.replicas), default=-1) + 1
    paths = {r.path for r in shard.replicas}
    while cc.replica_path(node, shard.id, slot) in paths:
        slot += 1
    return slot


def replicate(
    cc: ClusterCollection, shard_id: int, to_node: str, from_node: str | None = None
) -> dict[str, Any]:
    """Add a replica of shard ``shard_id`` on node ``to_node``, built from the live replica
    on ``from_node`` (if given and live, else any live one); returns the catch-up report."""
    shard = _shard(cc, shard_id)
    if to_node not in alive_nodes():
        raise ShardOperationError("to_peer_id", f"node {to_node} is not an alive Ray node")
    held = next((r for r in shard.replicas if r.node_id == to_node), None)
    if held is not None:
        raise ShardOperationError(
            "to_peer_id",
            f"node {to_node} already holds a replica of shard {shard.id} ({held.state})",
        )
    if from_node is not None and not any(r.node_id == from_node for r in shard.replicas):
        raise ShardOperationError(
            "from_peer_id", f"node {from_node} holds no replica of shard {shard.id}"
        )
    if not shard.live():
        raise ShardOperationError("shard_id", f"shard {shard.id} has no live replica to copy")
    slot = _new_slot(cc, shard, to_node)
    path = cc.replica_path(to_node, shard.id, slot)
    actor = ShardReplica.options(**pinned(to_node)).remote(cc.name, path, cc.config.to_dict())
    new = ReplicaHandle(shard.id, slot, to_node, path, actor, state="recovering")

    def install() -> None:
        shard.replicas.append(new)

    try:
        return catchup.fill(
            cc, shard, new, install, report_slot=slot, source_node=from_node, snapshot_first=True
        )
    except BaseException:
        if new not in shard.replicas:  # not installed: leave nothing behind
            with contextlib.suppress(Exception):
                ray.get(actor.drop.remote(), timeout=cc.timeout)
            with contextlib.suppress(Exception):
                ray.kill(actor, no_restart=True)
        raise


def drop(cc: ClusterCollection, shard_id: int, node: str, field: str = "peer_id") -> ReplicaHandle:
    """Remove the replica of shard ``shard_id`` on ``node``: it leaves the shard, its actor
    removes its directory and ends. Returns the removed replica."""
    shard = _shard(cc, shard_id)
    with shard.lock:
        rep = next((r for r in shard.replicas if r.node_id == node), None)
        if rep is None:
            raise ShardOperationError(field, f"node {node} holds no replica of shard {shard.id}")
        remaining = [r for r in shard.live() if r is not rep]
        if not remaining:
            raise ShardOperationError(
                field, f"the replica on node {node} is the last live replica of shard {shard.id}"
            )
        if len(remaining) < cc.write_consistency_factor:
            raise ShardOperationError(
                field,
                f"dropping it would leave shard {shard.id} {len(remaining)} live replica(s), "
                f"fewer than write_consistency_factor ({cc.write_consistency_factor})",
            )
        shard.replicas = [r for r in shard.replicas if r is not rep]
    if rep.state == "live":
        with contextlib.suppress(Exception):  # writes in flight finish first (actor order)
            ray.get(rep.actor.drop.remote(), timeout=cc.timeout)
    with contextlib.suppress(Exception):
        ray.kill(rep.actor, no_restart=True)
    return rep


def move(cc: ClusterCollection, shard_id: int, from_node: str, to_node: str) -> dict[str, Any]:
    """Move the replica of shard ``shard_id`` on ``from_node`` to ``to_node``: replicate it
    there (from that replica), then drop it. Checked before anything is built: the source
    must hold a replica, and enough live replicas must remain once it is dropped."""
    shard = _shard(cc, shard_id)
    rep = next((r for r in shard.replicas if r.node_id == from_node), None)
    if rep is None:
        raise ShardOperationError(
            "from_peer_id", f"node {from_node} holds no replica of shard {shard.id}"
        )
    after = len(shard.live()) + 1 - (rep.state == "live")
    if after < cc.write_consistency_factor:  # the drop would be refused: build nothing
        raise ShardOperationError(
            "from_peer_id",
            f"moving it would leave shard {shard.id} {after} live replica(s), fewer than "
            f"write_consistency_factor ({cc.write_consistency_factor})",
        )
    report = replicate(cc, shard_id, to_node, from_node)
    drop(cc, shard_id, from_node, field="from_peer_id")
    return report
