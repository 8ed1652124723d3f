"""The MLE intrinsic-dimensionality estimator on data of known dimension."""

from __future__ import annotations

import numpy as np
import pytest

from bench import lid
from vecsearch.datasets import make_synthetic


@pytest.mark.parametrize("idim", [3, 8])
def test_lid_of_points_on_a_linear_subspace(idim: int) -> None:
    d = make_synthetic(3000, 40, n_test=1, intrinsic_dim=idim, seed=5)
    est = lid.dataset_lid(lid.point_lids(d.train, "l2", 20))
    assert est["undefined"] == 0
    assert est["pooled"] == pytest.approx(idim, rel=0.15)
    assert est["median"] == pytest.approx(idim, rel=0.15)


def test_lid_does_not_see_the_ambient_dimension() -> None:
    low = make_synthetic(2000, 64, n_test=1, intrinsic_dim=4, seed=1)
    full = make_synthetic(2000, 8, n_test=1, seed=1)  # 8 dimensions, all used
    lid_low = lid.dataset_lid(lid.point_lids(low.train, "l2", 20))["pooled"]
    lid_full = lid.dataset_lid(lid.point_lids(full.train, "l2", 20))["pooled"]
    assert lid_low < 5 < 6.5 < lid_full


def test_cosine_lid_of_a_subspace_is_its_sphere() -> None:
    # normalising points of a 6-d subspace puts them on a 5-d sphere
    d = make_synthetic(3000, 32, n_test=1, intrinsic_dim=6, seed=2, metric="cosine")
    est = lid.dataset_lid(lid.point_lids(d.train, "cosine", 20))
    assert est["pooled"] == pytest.approx(5, rel=0.15)


def test_mle_formula_on_hand_made_distances() -> None:
    # distances r_j = j^(1/d): log(r_k / r_j) = (log k - log j) / d
    k, dim = 10, 3.0
    r = np.arange(1, k + 1) ** (1 / dim)
    expected = (k - 1) / (np.log(k) - np.log(np.arange(1, k))).sum() * dim
    got = lid.mle_lid(r[None, :])[0]
    assert got == pytest.approx(expected)
    assert lid.mle_lid(r[None, :], estimator="amsaleg")[0] == pytest.approx(expected * k / (k - 1))


def test_duplicates_are_dropped_and_degenerate_rows_undefined() -> None:
    d = np.array([[0.0, 0.0, 1.0, 2.0, 4.0], [0.0, 0.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0, 1.0]])
    out = lid.mle_lid(d)
    assert out[0] == pytest.approx(lid.mle_lid(np.array([[1.0, 2.0, 4.0]]))[0])
    assert np.isnan(out[1]) and np.isnan(out[2])


def test_self_is_excluded_even_with_duplicate_rows() -> None:
    x = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [3.0, 0.0]], dtype=np.float32)
    d = lid.knn_self_distances(x, "l2", 2)
    np.testing.assert_allclose(d, [[0.0, 1.0], [0.0, 1.0], [1.0, 1.0], [2.0, 3.0]])


def test_insertion_orders() -> None:
    lids = np.array([3.0, np.nan, 1.0, 2.0, 5.0])
    assert lid.lid_order(lids, "lid-asc").tolist() == [2, 3, 1, 0, 4]  # NaN -> median 2.5
    assert lid.lid_order(lids, "lid-desc").tolist() == [4, 0, 1, 3, 2]
    assert lid.lid_order(lids, "data").tolist() == [0, 1, 2, 3, 4]
    r = lid.lid_order(lids, "random", seed=3)
    assert sorted(r.tolist()) == [0, 1, 2, 3, 4]
    assert r.tolist() == lid.lid_order(lids, "random", seed=3).tolist()
    with pytest.raises(ValueError, match="insertion order"):
        lid.lid_order(lids, "sideways")
