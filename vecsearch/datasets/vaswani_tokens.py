"""Per-token MiniLM embeddings of all 11,429 Vaswani documents (multi-vector data for
MUVERA), read from the cache that ``scripts/build_vaswani_tokens.py`` writes.

``../shared/data/vaswani`` ships token embeddings for the first 1,000 documents only; the
script embeds every document the way ``../shared/data/embed.py`` does and caches the result
under ``$VECSEARCH_CACHE/vaswani-tokens/``, keyed by a hash of the document texts. This module
only reads it (and checks the key against the texts, so changed texts never read stale
tokens).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from vecsearch.datasets.errors import DatasetMissingError
from vecsearch.datasets.ir_collections import vaswani_doc_texts
from vecsearch.datasets.paths import cache_dir

#: The script that builds the cache (relative to the repository root).
BUILD_SCRIPT = "scripts/build_vaswani_tokens.py"


def vaswani_tokens_cache_paths() -> tuple[Path, Path, Path]:
    """``(tokens_docs.f16.npy, tokens_docs_offsets.npy, key.txt)`` of the cache."""
    folder = cache_dir() / "vaswani-tokens"
    return folder / "tokens_docs.f16.npy", folder / "tokens_docs_offsets.npy", folder / "key.txt"


def texts_digest(texts: list[str]) -> str:
    """The cache key of a list of document texts (16 hex digits of SHA-256)."""
    return hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]


def load_vaswani_doc_tokens() -> tuple[np.ndarray, np.ndarray]:
    """``(tokens float16 (total, 384) memory-mapped, offsets int64 (11430,))`` for every
    document; document ``i`` owns rows ``offsets[i]:offsets[i + 1]``.

    Raises :class:`DatasetMissingError` naming the build script when the cache is missing or
    was built from other texts.
    """
    tok_path, off_path, key_path = vaswani_tokens_cache_paths()
    if not (tok_path.is_file() and off_path.is_file() and key_path.is_file()):
        raise DatasetMissingError(
            f"Vaswani document tokens: {tok_path.parent} holds no token set; build it once "
            f"with `python {BUILD_SCRIPT}` (needs pip install -e '.[embed]'; about 2-4 "
            "CPU-minutes)"
        )
    texts = vaswani_doc_texts()
    if key_path.read_text().strip() != texts_digest(texts):
        raise DatasetMissingError(
            f"Vaswani document tokens in {tok_path.parent} were built from other texts; "
            f"rebuild them with `python {BUILD_SCRIPT}`"
        )
    tokens = np.load(tok_path, mmap_mode="r")
    offsets = np.load(off_path).astype(np.int64)
    if offsets.shape != (len(texts) + 1,) or offsets[-1] != tokens.shape[0]:
        raise DatasetMissingError(
            f"Vaswani document tokens in {tok_path.parent} are incomplete; rebuild them with "
            f"`python {BUILD_SCRIPT}`"
        )
    return tokens, offsets
