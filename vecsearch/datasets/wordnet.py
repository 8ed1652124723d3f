"""``wordnet-minilm-384-cosine``: MiniLM embeddings of WordNet's 117,659 synsets, read from
the cache that ``scripts/build_wordnet_embeddings.py`` writes.

The embedding set is derived data (WordNet 3.0 glosses from the Debian package
``wordnet-base``, embedded with all-MiniLM-L6-v2, about 20 CPU-minutes): building it is the
script's job, run once by hand; this module only reads the result, under
``$VECSEARCH_CACHE/wordnet-minilm/``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vecsearch.datasets.dataset import Dataset, holdout_split
from vecsearch.datasets.errors import DatasetMissingError
from vecsearch.datasets.paths import cache_dir

#: The script that builds the cache (relative to the repository root).
BUILD_SCRIPT = "scripts/build_wordnet_embeddings.py"
#: The seed of the 10,000-row query hold-out (the same as GloVe's).
SPLIT_SEED = 20240607
N_QUERIES = 10_000


def wordnet_cache_paths() -> tuple[Path, Path]:
    """``(embeddings.f16.npy, keys.txt)`` of the cached embedding set. ``keys.txt`` holds
    ``# <digest of the texts>`` and then one synset key (``<pos>:<offset>``) per row."""
    folder = cache_dir() / "wordnet-minilm"
    return folder / "embeddings.f16.npy", folder / "keys.txt"


def load_wordnet_embeddings() -> tuple[np.ndarray, list[str]]:
    """``(embeddings float32 (n, 384) L2-normalised, synset keys)`` from the cache.

    Raises :class:`DatasetMissingError` naming the build script when the cache is missing or
    incomplete.
    """
    emb_path, keys_path = wordnet_cache_paths()
    if not (emb_path.is_file() and keys_path.is_file()):
        raise DatasetMissingError(
            f"wordnet-minilm-384-cosine: {emb_path.parent} holds no embedding set; build it "
            f"once with `python {BUILD_SCRIPT}` (needs the Debian package wordnet-base and "
            "pip install -e '.[embed]'; about 20 CPU-minutes)"
        )
    lines = keys_path.read_text(encoding="utf-8").splitlines()
    keys = lines[1:]
    vectors = np.load(emb_path).astype(np.float32)
    if not lines or not lines[0].startswith("# ") or vectors.shape[0] != len(keys):
        raise DatasetMissingError(
            f"wordnet-minilm-384-cosine: the cache in {emb_path.parent} is incomplete "
            f"({vectors.shape[0]} rows, {len(keys)} keys); rebuild it with `python {BUILD_SCRIPT}`"
        )
    return vectors, keys


def load_wordnet_minilm() -> Dataset:
    """``wordnet-minilm-384-cosine``: 10,000 rows held out as queries with a fixed seed, the
    rest as train; cosine."""
    vectors, _ = load_wordnet_embeddings()
    train_rows, test_rows = holdout_split(vectors.shape[0], N_QUERIES, SPLIT_SEED)
    return Dataset(
        name="wordnet-minilm-384-cosine",
        metric="cosine",
        train=vectors[train_rows],
        test=vectors[test_rows],
        train_keys=train_rows,
        test_keys=test_rows,
        meta={"source": "WordNet 3.0 glosses (Debian wordnet-base), all-MiniLM-L6-v2"},
    )
