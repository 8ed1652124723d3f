"""A local Ray cluster for the cluster studies (:mod:`bench.cluster_bench`,
:mod:`bench.cluster_failover`): raylets on this machine, as ``ray.cluster_utils.Cluster``
builds them for Ray's own tests."""

from __future__ import annotations

from typing import Any


def start_local_cluster(
    nodes: int, node: dict[str, Any], system: dict[str, Any] | None = None
) -> Any:
    """A ``ray.cluster_utils.Cluster`` of ``nodes`` raylets on this machine (a head with
    ``system`` config and ``nodes - 1`` more), this process connected to it. Call
    :func:`stop_local_cluster` at the end."""
    import ray
    from ray.cluster_utils import Cluster

    head = {**node, "include_dashboard": False}
    if system:
        head["_system_config"] = system
    cluster = Cluster(initialize_head=True, head_node_args=head)
    for _ in range(nodes - 1):
        cluster.add_node(**node)
    ray.init(address=cluster.address, log_to_driver=False)
    cluster.wait_for_nodes()
    return cluster


def stop_local_cluster(cluster: Any) -> None:
    """Disconnect and stop a cluster from :func:`start_local_cluster`."""
    import ray

    ray.shutdown()
    cluster.shutdown()
