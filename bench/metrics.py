"""Quality and speed measures computed by the harness itself.

Recall trusts no library's distances (ann-benchmarks' rule): the distance of every returned id
is recomputed in float64 from the vectors, and a result counts as a true neighbour when that
distance is within a relative ``epsilon`` of the k-th exact distance. Ties at the k-th place
therefore never cost recall, whichever of the tied points a system returns. (As in
ann-benchmarks, the rule does not check that strictly closer points are present: results tied
at the k-th distance all count.)
"""

from __future__ import annotations

import numpy as np

#: Default relative tolerance on the k-th true distance (about 8 float32 ulps).
DEFAULT_EPSILON = 1e-6


def pairwise_row_distances(
    train: np.ndarray, queries: np.ndarray, ids: np.ndarray, metric: str
) -> np.ndarray:
    """Float64 distance from ``queries[i]`` to ``train[ids[i, j]]`` (``+inf`` where id < 0).

    Distances follow the index convention: squared L2, ``-dot`` for ip, ``1 - cos`` for cosine
    (cosine normalises both sides in float64 here).
    """
    ids = np.asarray(ids, dtype=np.int64)
    valid = (ids >= 0) & (ids < train.shape[0])
    safe = np.where(valid, ids, 0)
    q = np.asarray(queries, dtype=np.float64)
    x = np.asarray(train[safe.reshape(-1)], dtype=np.float64).reshape(*ids.shape, -1)
    if metric == "l2":
        diff = x - q[:, None, :]
        d = np.einsum("ijk,ijk->ij", diff, diff)
    elif metric == "ip":
        d = -np.einsum("ijk,ik->ij", x, q)
    elif metric == "cosine":
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        xn = x / np.linalg.norm(x, axis=2, keepdims=True)
        d = 1.0 - np.einsum("ijk,ik->ij", xn, qn)
    else:
        raise ValueError(f"unknown metric {metric!r}")
    return np.where(valid, d, np.inf)


def kth_true_distance(
    train: np.ndarray, queries: np.ndarray, gt_ids: np.ndarray, k: int, metric: str
) -> np.ndarray:
    """The k-th exact distance per query, recomputed in float64 from the ground-truth ids."""
    if gt_ids.shape[1] < k:
        raise ValueError(f"ground truth has {gt_ids.shape[1]} neighbours, need k={k}")
    d = pairwise_row_distances(train, queries, gt_ids[:, :k], metric)
    return d.max(axis=1)


def recall_per_query(
    train: np.ndarray,
    queries: np.ndarray,
    result_ids: np.ndarray,
    gt_ids: np.ndarray,
    k: int,
    metric: str,
    epsilon: float = DEFAULT_EPSILON,
) -> np.ndarray:
    """Fraction of the first ``k`` results per query that are true k-nearest neighbours.

    A result counts when its recomputed distance is ``<= kth + epsilon * max(|kth|, 1e-12)``
    (``kth`` = k-th true distance). Padding ids (< 0),
    ids outside ``train`` and repeated ids count as misses.
    """
    result_ids = np.asarray(result_ids, dtype=np.int64)
    if result_ids.ndim != 2 or result_ids.shape[0] != queries.shape[0]:
        raise ValueError(f"result ids have shape {result_ids.shape}, expected ({len(queries)}, k)")
    res = result_ids[:, :k]
    if res.shape[1] < k:  # fewer than k returned: pad with misses
        res = np.hstack([res, np.full((res.shape[0], k - res.shape[1]), -1, dtype=np.int64)])
    # a repeated id counts once: blank out later copies
    order = np.argsort(res, axis=1, kind="stable")
    sorted_ids = np.take_along_axis(res, order, 1)
    repeat_sorted = np.zeros_like(sorted_ids, dtype=bool)
    repeat_sorted[:, 1:] = sorted_ids[:, 1:] == sorted_ids[:, :-1]
    repeat = np.zeros_like(repeat_sorted)
    np.put_along_axis(repeat, order, repeat_sorted, 1)
    res = np.where(repeat, -1, res)
    kth = kth_true_distance(train, queries, gt_ids, k, metric)
    # kth can be negative (ip) or zero (duplicates): scale the tolerance by its magnitude
    threshold = kth + epsilon * np.maximum(np.abs(kth), 1e-12)
    d = pairwise_row_distances(train, queries, res, metric)
    return (d <= threshold[:, None]).sum(axis=1) / k


def latency_percentiles(latencies_s: np.ndarray) -> dict[str, float]:
    """p50/p95/p99 and mean of per-query latencies, in milliseconds."""
    ms = np.asarray(latencies_s, dtype=np.float64) * 1e3
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {
        "p50_ms": float(p50),
        "p95_ms": float(p95),
        "p99_ms": float(p99),
        "mean_ms": float(ms.mean()),
    }


def pareto_frontier(recall: np.ndarray, qps: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both recall and QPS, by recall ascending."""
    recall, qps = np.asarray(recall, float), np.asarray(qps, float)
    order = np.lexsort((-qps, -recall))  # recall descending, then QPS descending
    keep, best = [], -np.inf
    for i in order:
        if qps[i] > best:
            keep.append(int(i))
            best = qps[i]
    return np.array(keep[::-1], dtype=np.int64)


def qps_at_recall(recall: np.ndarray, qps: np.ndarray, target: float) -> float | None:
    """Best QPS among points reaching ``target`` recall (the frontier's value there), or None."""
    recall, qps = np.asarray(recall, float), np.asarray(qps, float)
    ok = recall >= target
    return float(qps[ok].max()) if ok.any() else None
