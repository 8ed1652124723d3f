"""The cluster benchmark (bench/cluster_bench.py) on a small slice, on the session's real
Ray cluster: it measures what it says (recall against exact truth, the parts of a sharded
query) and renders its record."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster


def test_cluster_bench_small_run(ray_cluster, tmp_path: Path) -> None:
    from bench.cluster_bench import projection, render, run_dataset

    args = argparse.Namespace(n=2000, queries=30, shards=[2], ef=64)
    d = run_dataset("glove-50-angular", args, tmp_path)
    one, two = d["single"], d["sharded"][0]
    assert one["recall"] >= 0.95  # 2,000 points at ef 64: HNSW is near exact
    assert abs(two["recall_diff_points"]) <= 2.0  # sharding costs (almost) no recall
    assert two["t_shard_ms"] > 0 and two["t_rpc_ms"] > 0
    p = projection(two, one)
    assert p["latency_ms"] == pytest.approx(
        two["t_shard_ms"] + two["t_rpc_ms"] + two["t_driver_ms"]
    )
    res = {"command": "test", "machine": {"cpu_count": 2, "loadavg_1m": 0.0}, "ray": "x",
           "nodes": 3, "ef": 64, "datasets": [d]}  # fmt: skip
    md = render(res)
    assert "| 2 shards |" in md and "glove-50-angular (2,000 points, 30 queries)" in md
