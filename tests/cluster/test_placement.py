"""Placement of shard replicas on nodes (pure parts, no cluster)."""

from __future__ import annotations

from collections import Counter

import pytest

from vecsearch.cluster.placement import PlacementError, assign, node_load, pick_node

pytestmark = pytest.mark.cluster


@pytest.mark.parametrize(("shards", "rf", "nodes"), [(1, 1, 1), (3, 2, 3), (5, 3, 4), (2, 2, 5)])
def test_replicas_distinct_and_balanced(shards, rf, nodes):
    names = [f"n{i}" for i in range(nodes)]
    layout = assign(shards, rf, names)
    assert len(layout) == shards and all(len(set(s)) == rf for s in layout)
    load = Counter(n for s in layout for n in s)
    assert max(load.values()) - min(load.get(n, 0) for n in names) <= 1


def test_too_few_nodes_is_a_clear_error():
    with pytest.raises(PlacementError, match="2 alive"):
        assign(2, 3, ["a", "b"])


def test_pick_node_avoids_the_shard_and_balances():
    layout = [["a", "b"], ["c", "a"]]
    assert pick_node(["a", "b", "c", "d"], ["a"], node_load(layout)) == "d"
    assert pick_node(["a", "b", "c"], ["a"], node_load(layout)) in ("b", "c")
    with pytest.raises(PlacementError):
        pick_node(["a"], ["a"], {})


def test_same_machine_node_takes_the_recorded_address():
    """After Ray restarts (new node ids), a replica goes to an alive node of its machine,
    preferably one without the shard's other replicas, then the least loaded."""
    from vecsearch.cluster.placement import same_machine_node

    addresses = {"a": "10.0.0.1", "b": "10.0.0.1", "c": "10.0.0.2", "gone": "10.0.0.1"}
    alive = ["a", "b", "c"]
    assert same_machine_node("10.0.0.1", alive, addresses, [], {}) == "a"
    assert same_machine_node("10.0.0.1", alive, addresses, ["a"], {}) == "b"
    assert same_machine_node("10.0.0.1", alive, addresses, [], {"a": 2, "b": 1}) == "b"
    assert same_machine_node("10.0.0.1", alive, addresses, ["a", "b"], {"a": 1}) == "b"
    assert same_machine_node("10.0.0.2", alive, addresses, ["c"], {}) == "c"  # only one there
    assert same_machine_node("10.0.0.9", alive, addresses, [], {}) is None
    assert same_machine_node(None, alive, addresses, [], {}) is None
