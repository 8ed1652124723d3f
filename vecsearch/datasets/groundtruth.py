"""Exact ground truth of a :class:`Dataset`, computed once with ``FlatIndex`` and cached.

The cache lives under ``$VECSEARCH_CACHE/groundtruth`` (default ``~/.cache/vecsearch``). The
file name and the key stored in it contain a hash of the train and test arrays, the metric and
``k``, so changed data never reads stale results.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from indexes import FlatIndex
from vecsearch.datasets.dataset import Dataset
from vecsearch.datasets.paths import cache_dir


def compute_ground_truth(
    train: np.ndarray, test: np.ndarray, metric: str, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact neighbours with :class:`FlatIndex`: ids are train row numbers (ties: lower id)."""
    index = FlatIndex(train.shape[1], metric)
    index.add(train, np.arange(train.shape[0], dtype=np.int64))
    return index.search(test, k)


def _gt_path(dataset: Dataset, k: int) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", dataset.name)
    return (
        cache_dir()
        / "groundtruth"
        / f"{safe}-{dataset.metric}-k{k}-{dataset.fingerprint()[:24]}.npz"
    )


def ground_truth(dataset: Dataset, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``(ids int64 (nq, k), dists float32 (nq, k))`` for ``dataset``, cached on disk.

    The cache file name and its stored key include the data's fingerprint, the metric and
    ``k``; a file whose stored key does not match is ignored and rewritten.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k <= 0:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    k = int(k)
    path = _gt_path(dataset, k)
    key = {"fingerprint": dataset.fingerprint(), "metric": dataset.metric, "k": k}
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                stored = json.loads(str(z["key"]))
                ids, dists = z["ids"], z["dists"]
            if stored == key and ids.shape == (dataset.test.shape[0], k):
                return ids.astype(np.int64, copy=False), dists.astype(np.float32, copy=False)
        except (OSError, ValueError, KeyError):
            pass  # unreadable or foreign file: recompute and overwrite
    ids, dists = compute_ground_truth(dataset.train, dataset.test, dataset.metric, k)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp.npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, ids=ids, dists=dists, key=np.array(json.dumps(key, sort_keys=True)))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return ids, dists
