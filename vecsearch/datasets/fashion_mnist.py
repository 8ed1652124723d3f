"""Fashion-MNIST (Debian ``dataset-fashion-mnist``) as ``fashion-mnist-784-euclidean``.

60,000 train + 10,000 test images as float32 pixel values 0..255, class labels kept; l2. The
same split as ann-benchmarks' fashion-mnist-784-euclidean.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from vecsearch.datasets.dataset import Dataset
from vecsearch.datasets.errors import DatasetMissingError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


def read_idx_images(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a gzipped IDX3 image file as uint8 ``(n, rows * cols)``."""
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    magic, n, rows, cols = np.frombuffer(raw[:16], dtype=">u4")
    if magic != 2051:
        raise ValueError(f"{path}: not an IDX image file (magic {magic})")
    data = np.frombuffer(raw, dtype=np.uint8, offset=16)
    if data.size != n * rows * cols:
        raise ValueError(f"{path}: {data.size} pixels for {n} images of {rows}x{cols}")
    return data.reshape(int(n), int(rows * cols))


def read_idx_labels(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a gzipped IDX1 label file as uint8 ``(n,)``."""
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    magic, n = np.frombuffer(raw[:8], dtype=">u4")
    if magic != 2049:
        raise ValueError(f"{path}: not an IDX label file (magic {magic})")
    labels = np.frombuffer(raw, dtype=np.uint8, offset=8)
    if labels.size != n:
        raise ValueError(f"{path}: {labels.size} labels, header says {n}")
    return labels.copy()


def load_fashion_mnist() -> Dataset:
    """``fashion-mnist-784-euclidean``: 60,000 train + 10,000 test, pixels 0..255, l2."""
    d = Path(os.environ.get("VECSEARCH_FASHION_MNIST", FASHION_MNIST_DIR))
    files = {
        "train": "train-images-idx3-ubyte.gz",
        "train_labels": "train-labels-idx1-ubyte.gz",
        "test": "t10k-images-idx3-ubyte.gz",
        "test_labels": "t10k-labels-idx1-ubyte.gz",
    }
    missing = [f for f in files.values() if not (d / f).is_file()]
    if missing:
        raise DatasetMissingError(
            f"fashion-mnist-784-euclidean: {', '.join(missing)} not found in {d}; install the "
            "Debian package: apt-get install -y dataset-fashion-mnist "
            "(or point VECSEARCH_FASHION_MNIST at a folder holding the IDX .gz files)"
        )
    return Dataset(
        name="fashion-mnist-784-euclidean",
        metric="l2",
        train=read_idx_images(d / files["train"]).astype(np.float32),
        test=read_idx_images(d / files["test"]).astype(np.float32),
        train_labels=read_idx_labels(d / files["train_labels"]),
        test_labels=read_idx_labels(d / files["test_labels"]),
        meta={"source": f"Fashion-MNIST IDX files in {d}"},
    )
