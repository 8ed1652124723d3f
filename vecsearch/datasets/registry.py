"""The registry of named ANN datasets: :func:`load_dataset` by name, :func:`dataset_names`."""

from __future__ import annotations

from collections.abc import Callable

from vecsearch.datasets.dataset import Dataset
from vecsearch.datasets.errors import UnknownDatasetError
from vecsearch.datasets.fashion_mnist import load_fashion_mnist
from vecsearch.datasets.glove import load_glove_angular
from vecsearch.datasets.ir_collections import load_cranfield, load_vaswani
from vecsearch.datasets.synthetic import SYNTHETIC_NAME, parse_synthetic_name
from vecsearch.datasets.wordnet import load_wordnet_minilm

DATASETS: dict[str, Callable[[], Dataset]] = {
    "glove-50-angular": load_glove_angular,
    "fashion-mnist-784-euclidean": load_fashion_mnist,
    "vaswani-minilm-384-cosine": lambda: load_vaswani().as_dataset(),
    "cranfield-minilm-384-cosine": lambda: load_cranfield().as_dataset(),
    "wordnet-minilm-384-cosine": load_wordnet_minilm,
}


def dataset_names() -> list[str]:
    """Registered real dataset names (synthetic names are parsed, not listed)."""
    return sorted(DATASETS)


def load_dataset(name: str) -> Dataset:
    """Load an ANN dataset by name; raises :class:`DatasetMissingError` if not installed."""
    if name in DATASETS:
        return DATASETS[name]()
    synthetic = parse_synthetic_name(name)
    if synthetic is not None:
        return synthetic
    raise UnknownDatasetError(
        f"unknown dataset {name!r}; known: {dataset_names()} or {SYNTHETIC_NAME}"
    )
