"""One real Ray cluster for the cluster tests: three nodes on loopback (a head and two more
raylets, each its own process, as Ray's own tests build them with
``ray.cluster_utils.Cluster``), started once per session and shut down at the end; and a few
thousand real GloVe vectors."""

from __future__ import annotations

import numpy as np
import pytest

#: Every node: one CPU (replica actors take a quarter), a small object store.
NODE = {"num_cpus": 1, "object_store_memory": 80 * 2**20}
#: Quick failure detection: a killed node is declared dead after ~2 s, not ~30 s.
SYSTEM = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 500,
    "health_check_failure_threshold": 3,
}


@pytest.fixture(scope="session")
def ray_cluster():
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={**NODE, "include_dashboard": False, "_system_config": SYSTEM},
    )
    for _ in range(2):
        cluster.add_node(**NODE)
    ray.init(address=cluster.address, log_to_driver=False)
    cluster.wait_for_nodes()
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="session")
def glove():
    """3,000 GloVe vectors (points) and 20 held-out ones (queries)."""
    from vecsearch.datasets import load_dataset

    d = load_dataset("glove-50-angular")
    return np.ascontiguousarray(d.train[:3000]), np.ascontiguousarray(d.test[:20])


#: Two named vectors with opposite score orders: Cosine (higher is better) and Euclid.
BODY = {
    "vectors": {
        "cos": {"size": 50, "distance": "Cosine"},
        "l2": {"size": 50, "distance": "Euclid"},
    }
}


def payloads(n: int, start: int = 0) -> list[dict]:
    return [{"g": (start + i) % 7, "i": start + i} for i in range(n)]
