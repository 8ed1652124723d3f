"""The shared test helpers on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import recall


def test_recall_counts_overlap_per_query_and_averages():
    found = np.array([[1, 2, 3], [4, 5, 6]])
    truth = np.array([[3, 2, 1], [4, 7, 8]])
    assert recall(found, truth) == pytest.approx((1.0 + 1 / 3) / 2)


def test_recall_ignores_padding_and_empty_truth():
    found = [[5, -1, -1], [1, 2, -1], [9, -1, -1]]
    truth = [[5, -1, -1], [1, 3, -1], [-1, -1, -1]]  # the third query has no true ids
    assert recall(found, truth) == pytest.approx((1.0 + 0.5) / 2)
    assert recall([[1, 2]], [{2, 4, 6, 8}]) == pytest.approx(0.25)  # sets, other lengths
    with pytest.raises(ValueError, match="no query"):
        recall([[1]], [[-1]])
    with pytest.raises(ValueError):
        recall([[1], [2]], [[1]])  # one row per query on both sides
