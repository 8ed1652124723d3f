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
