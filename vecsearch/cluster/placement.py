"""Where shard replicas live: balanced round-robin over the Ray nodes, replicas of one shard
always on distinct nodes, each actor pinned to its node (``NodeAffinitySchedulingStrategy``,
hard: an actor never silently lands elsewhere).

:func:`assign` and :func:`pick_node` are pure (the tests check them without a cluster);
:func:`alive_nodes` and :func:`pinned` talk to Ray.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from vecsearch.errors import ValidationError


class PlacementError(ValidationError):
    """The cluster cannot hold the requested replicas (too few nodes)."""


def alive_nodes() -> list[str]:
    """Ids of the alive Ray nodes that offer CPUs, sorted (a stable order for placement)."""
    return sorted(
        n["NodeID"]
        for n in ray.nodes()
        if n.get("Alive") and float(n.get("Resources", {}).get("CPU", 0)) > 0
    )


def assign(shard_number: int, replication_factor: int, nodes: Sequence[str]) -> list[list[str]]:
    """``out[shard][replica]`` = node id: replica ``r`` of shard ``s`` goes to node
    ``(s * replication_factor + r) mod len(nodes)``, so the replicas of a shard sit on
    consecutive, distinct nodes and every node holds ``shards * rf / nodes`` replicas,
    rounded up or down."""
    if replication_factor < 1:
        raise PlacementError("replication_factor", "must be at least 1")
    if shard_number < 1:
        raise PlacementError("shard_number", "must be at least 1")
    if len(nodes) < replication_factor:
        raise PlacementError(
            "replication_factor",
            f"{replication_factor} replicas of a shard need as many Ray nodes; the cluster "
            f"has {len(nodes)} alive",
        )
    n = len(nodes)
    return [
        [nodes[(s * replication_factor + r) % n] for r in range(replication_factor)]
        for s in range(shard_number)
    ]


def pick_node(nodes: Sequence[str], holding_shard: Sequence[str], load: Mapping[str, int]) -> str:
    """A node for a new replica of a shard: not one of ``holding_shard`` (the nodes with a
    live replica of it), the least loaded (``load``: replicas per node), ties by id."""
    free = [n for n in nodes if n not in set(holding_shard)]
    if not free:
        raise PlacementError(
            "replication_factor", "no alive Ray node is free of a replica of this shard"
        )
    return min(free, key=lambda n: (load.get(n, 0), n))


def node_addresses() -> dict[str, str]:
    """The IP address of every Ray node the cluster knows of, alive or not."""
    return {n["NodeID"]: str(n.get("NodeManagerAddress", "")) for n in ray.nodes()}


def same_machine_node(
    ip: str | None,
    alive: Sequence[str],
    addresses: Mapping[str, str],
    holding_shard: Sequence[str],
    load: Mapping[str, int],
) -> str | None:
    """An alive node on machine ``ip`` for a replica whose recorded node is gone (its
    directory is on that machine's disk): one free of the shard's other replicas if there
    is one, the least loaded, ties by id; None if no alive node has that address."""
    if not ip:
        return None
    here = [n for n in alive if addresses.get(n) == ip]
    if not here:
        return None
    busy = set(holding_shard)
    return min(here, key=lambda n: (n in busy, load.get(n, 0), n))


def node_load(layout: Sequence[Sequence[str]]) -> Counter[str]:
    """Replicas per node of a layout (``layout[shard][replica]`` = node id)."""
    return Counter(n for shard in layout for n in shard)


def pinned(node_id: str) -> dict[str, Any]:
    """Actor options that pin it to ``node_id`` (fails rather than moving elsewhere)."""
    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id, soft=False)}
