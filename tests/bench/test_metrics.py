"""Recall, latency percentiles and Pareto frontiers on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from bench.metrics import (
    latency_percentiles,
    pareto_frontier,
    qps_at_recall,
    recall_per_query,
)

# 1-d points: ids 0..4 at positions 0, 1, -1, 2, 3 -> from query 0 the distances are
# 0, 1, 1, 4, 9 (squared): ids 1 and 2 tie for second place.
LINE = np.array([[0.0], [1.0], [-1.0], [2.0], [3.0]], dtype=np.float32)
Q0 = np.array([[0.0]], dtype=np.float32)
GT = np.array([[0, 1, 2, 3]])


def recall(result: list[list[int]], k: int, train=LINE, q=Q0, gt=GT, metric="l2") -> float:
    return float(recall_per_query(train, q, np.array(result), gt, k, metric)[0])


def test_exact_answer_is_full_recall() -> None:
    assert recall([[0, 1]], 2) == 1.0
    assert recall([[0, 1, 2]], 3) == 1.0


def test_tie_at_kth_place_counts_either_point() -> None:
    assert recall([[0, 2]], 2) == 1.0  # id 2 ties with the ground truth's id 1
    assert recall([[0, 3]], 2) == 0.5  # id 3 is farther than the k-th
    assert recall([[3, 4]], 2) == 0.0
    # ann-benchmarks' rule counts every result within the k-th distance, so two tied
    # points get full credit even though the nearest (id 0) is missing
    assert recall([[2, 1]], 2) == 1.0


def test_duplicates_padding_and_short_rows_are_misses() -> None:
    assert recall([[0, 0]], 2) == 0.5
    assert recall([[0, -1]], 2) == 0.5
    assert recall([[0]], 2) == 0.5
    assert recall([[0, 99]], 2) == 0.5  # id outside the data


def test_recall_uses_vectors_not_reported_ids() -> None:
    # The ground-truth ids are only used for the k-th distance: a different but equally
    # distant point is as good.
    train = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    q = np.array([[1.0, 0.0]], dtype=np.float32)
    assert recall([[1]], 1, train, q, np.array([[0]])) == 1.0
    assert recall([[2]], 1, train, q, np.array([[0]])) == 0.0


def test_cosine_and_ip_distances() -> None:
    train = np.array([[1.0, 0.0], [3.0, 0.0], [1.0, 1.0], [0.0, 1.0]], dtype=np.float32)
    q = np.array([[2.0, 0.0]], dtype=np.float32)
    # cosine: ids 0 and 1 point the same way (tie); ip: id 1 (3 * 2) beats id 0 (1 * 2)
    assert recall([[1]], 1, train, q, np.array([[0]]), "cosine") == 1.0
    assert recall([[2]], 1, train, q, np.array([[0]]), "cosine") == 0.0
    assert recall([[1]], 1, train, q, np.array([[1]]), "ip") == 1.0
    assert recall([[0]], 1, train, q, np.array([[1]]), "ip") == 0.0


def test_epsilon_is_relative_and_small() -> None:
    train = np.array([[0.0], [1.0], [1.0 + 1e-3]], dtype=np.float32)
    gt = np.array([[0, 1]])
    assert recall([[0, 2]], 2, train, Q0, gt) == 0.5  # 0.2% farther is not a tie
    r = recall_per_query(train, Q0, np.array([[0, 2]]), gt, 2, "l2", epsilon=1e-2)
    assert r[0] == 1.0


def test_recall_is_per_query_mean() -> None:
    q = np.array([[0.0], [3.0]], dtype=np.float32)
    gt = np.array([[0, 1], [4, 3]])
    r = recall_per_query(LINE, q, np.array([[0, 1], [4, 0]]), gt, 2, "l2")
    np.testing.assert_array_equal(r, [1.0, 0.5])


def test_recall_rejects_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="shape"):
        recall_per_query(LINE, Q0, np.array([[0], [1]]), GT, 1, "l2")


def test_latency_percentiles_in_ms() -> None:
    lat = np.arange(1, 101) / 1000.0  # 1..100 ms
    p = latency_percentiles(lat)
    assert p["p50_ms"] == pytest.approx(50.5)
    assert p["p99_ms"] == pytest.approx(99.01)
    assert p["mean_ms"] == pytest.approx(50.5)


def test_pareto_frontier_and_qps_at_recall() -> None:
    recall_v = np.array([0.5, 0.8, 0.7, 0.95, 0.9, 0.99])
    qps = np.array([1000, 800, 500, 300, 200, 50])
    front = pareto_frontier(recall_v, qps)
    # (0.7, 500) is beaten by (0.8, 800); (0.9, 200) by (0.95, 300)
    assert front.tolist() == [0, 1, 3, 5]
    assert qps_at_recall(recall_v, qps, 0.9) == 300
    assert qps_at_recall(recall_v, qps, 0.99) == 50
    assert qps_at_recall(recall_v, qps, 0.999) is None
