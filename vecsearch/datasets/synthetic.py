"""Seeded synthetic data: Gaussian points, optionally of known intrinsic dimensionality.

For unit tests and controlled experiments, never the headline. Names of the form
``synthetic-<l2|ip|cosine>-<n>x<dim>[-id<d>][-q<nq>][-s<seed>]`` are parsed by
:func:`parse_synthetic_name`.
"""

from __future__ import annotations

import re

import numpy as np

from vecsearch.datasets.dataset import Dataset

SYNTHETIC_NAME = "synthetic-<l2|ip|cosine>-<n>x<dim>[-id<d>][-q<nq>][-s<seed>]"

_SYNTHETIC = re.compile(
    r"synthetic-(?P<metric>l2|ip|cosine)-(?P<n>\d+)x(?P<dim>\d+)"
    r"(?:-id(?P<idim>\d+))?(?:-q(?P<nq>\d+))?(?:-s(?P<seed>\d+))?"
)


def make_synthetic(
    n_train: int,
    dim: int,
    *,
    n_test: int = 100,
    metric: str = "l2",
    intrinsic_dim: int | None = None,
    noise: float = 0.0,
    seed: int = 0,
) -> Dataset:
    """Seeded standard-normal data; with ``intrinsic_dim`` the points lie on a random subspace.

    With ``intrinsic_dim = d`` every point is ``B @ z`` for ``z ~ N(0, I_d)`` and a random
    orthonormal ``B`` (``dim x d``), plus optional isotropic Gaussian ``noise`` in all ``dim``
    coordinates: data of known intrinsic dimension ``d`` embedded in ``dim`` dimensions.
    """
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    if intrinsic_dim is None:
        x = rng.standard_normal((n, dim))
    else:
        if not 0 < intrinsic_dim <= dim:
            raise ValueError(f"intrinsic_dim must be in 1..{dim}, got {intrinsic_dim}")
        basis, _ = np.linalg.qr(rng.standard_normal((dim, intrinsic_dim)))
        x = rng.standard_normal((n, intrinsic_dim)) @ basis.T
    if noise:
        x = x + noise * rng.standard_normal((n, dim))
    x = x.astype(np.float32)
    idim = "" if intrinsic_dim is None else f"-id{intrinsic_dim}"
    return Dataset(
        name=f"synthetic-{metric}-{n_train}x{dim}{idim}-q{n_test}-s{seed}",
        metric=metric,
        train=x[:n_train],
        test=x[n_train:],
        meta={"intrinsic_dim": intrinsic_dim, "noise": noise, "seed": seed},
    )


def parse_synthetic_name(name: str) -> Dataset | None:
    """The synthetic dataset a name describes, or None if it is not a synthetic name."""
    m = _SYNTHETIC.fullmatch(name)
    if m is None:
        return None
    return make_synthetic(
        int(m["n"]),
        int(m["dim"]),
        n_test=int(m["nq"] or 100),
        metric=m["metric"],
        intrinsic_dim=int(m["idim"]) if m["idim"] else None,
        seed=int(m["seed"] or 0),
    )
