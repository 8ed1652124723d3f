"""Routing of point ids to shards (pure, no Ray)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections import Counter

import pytest

from vecsearch.cluster.routing import ShardRouter, jump_hash, point_hash, shard_of
from vecsearch.errors import InvalidPointIdError, ValidationError

pytestmark = pytest.mark.cluster


def test_hash_is_fixed_across_processes():
    ids = [0, 1, 2**64 - 1, "550e8400-e29b-41d4-a716-446655440000"]
    here = [point_hash(i) for i in ids]
    code = (
        f"from vecsearch.cluster.routing import point_hash;print([point_hash(i) for i in {ids!r}])"
    )
    # a fresh interpreter with a different hash seed computes the same hashes
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    )
    assert eval(out.stdout) == here
    # and they are pinned: a change of the hash would move every stored point
    assert [shard_of(i, 7) for i in ids] == [jump_hash(h, 7) for h in here]
    assert [shard_of(i, 3) for i in range(8)] == [shard_of(i, 3) for i in range(8)]


def test_ids_route_by_canonical_form():
    u = uuid.UUID("550e8400-e29b-41d4-a716-446655440000")
    forms = [str(u), str(u).upper(), u.hex, u]
    assert len({shard_of(f, 5) for f in forms}) == 1
    assert shard_of(7, 4) == shard_of(7, 4)
    with pytest.raises(InvalidPointIdError):
        shard_of("not-a-uuid", 3)
    with pytest.raises(InvalidPointIdError):
        shard_of(True, 3)


def test_balanced_and_minimal_movement():
    n = 30_000
    counts = Counter(shard_of(i, 3) for i in range(n))
    assert set(counts) == {0, 1, 2}
    assert all(abs(c - n / 3) < 0.03 * n for c in counts.values())
    # growing 3 -> 4 shards moves about a quarter of the points, each to the new shard
    moved = [i for i in range(n) if shard_of(i, 3) != shard_of(i, 4)]
    assert abs(len(moved) / n - 0.25) < 0.02
    assert all(shard_of(i, 4) == 3 for i in moved)


def test_custom_shard_keys():
    r = ShardRouter(1, {"tenant_a": 2, 7: 1})
    assert r.shard_number == 3 and r.custom
    assert {r.shard(i, "tenant_a") for i in range(200)} == {0, 1}
    assert {r.shard(i, 7) for i in range(50)} == {2}
    assert r.read_shards() == [0, 1, 2]
    assert r.read_shards("tenant_a") == [0, 1]
    assert r.read_shards(["tenant_a", 7]) == [0, 1, 2]
    with pytest.raises(ValidationError, match="needs a shard key"):
        r.shard(1)
    with pytest.raises(ValidationError, match="does not exist"):
        r.shard(1, "tenant_b")
    auto = ShardRouter(4)
    with pytest.raises(ValidationError, match="no custom shard keys"):
        auto.shard(1, "tenant_a")
    groups = auto.group([5, 6, 7, 8, 9])
    assert sorted(p for pos in groups.values() for p in pos) == [0, 1, 2, 3, 4]
    assert all(auto.shard([5, 6, 7, 8, 9][p]) == s for s, pos in groups.items() for p in pos)


def test_single_node_mode_never_imports_ray():
    code = (
        "import sys, vecsearch, vecsearch.collection, vecsearch.database, vecsearch.cli;"
        "import vecsearch.cluster, vecsearch.cluster.routing, vecsearch.cluster.merge;"
        "print('ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
