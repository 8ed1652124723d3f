"""The IR metrics of bench.muvera_bench on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.muvera_bench import ndcg_at, needed, recall_at, recall_qrels


def test_ndcg_and_recall_by_hand():
    qrels = [{1: 1, 2: 1, 3: 1}, {}, {9: 1}]
    ranked = [[5, 1, 2], [1], [8, 7]]
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    expected = (1 / math.log2(3) + 1 / math.log2(4)) / ideal  # query 2 skipped, query 3: 0
    assert ndcg_at(ranked, qrels, 3) == pytest.approx((expected + 0.0) / 2)
    assert recall_qrels(ranked, qrels, 3) == pytest.approx((2 / 3 + 0.0) / 2)
    assert recall_at(np.array([[1, 2], [3, 4]]), np.array([[2, 9], [4, 3]])) == 0.75
    curve = [{"candidates": 10, "recall10": 0.8}, {"candidates": 20, "recall10": 0.95}]
    assert needed(curve) == 20 and needed(curve[:1]) is None
