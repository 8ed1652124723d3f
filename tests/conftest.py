"""Shared fixtures: paths to the real data beside the repository, fixed random generators."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("VECSEARCH_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh generator with a fixed seed for every test."""
    return np.random.default_rng(20261122)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-data folder; the suite fails loudly if it is not beside the repo."""
    if not (SHARED_DATA / "vaswani").is_dir():
        pytest.fail(f"real data not found at {SHARED_DATA}; clone the repo beside shared/")
    return SHARED_DATA


@pytest.fixture(scope="session")
def vaswani_embeddings(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    """Vaswani MiniLM document and query embeddings as float32 (11,429 x 384, 93 x 384)."""
    docs = np.load(shared_data / "vaswani" / "docs.f16.npy").astype(np.float32)
    queries = np.load(shared_data / "vaswani" / "queries.f16.npy").astype(np.float32)
    return docs, queries


@pytest.fixture
def tmp_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ``VECSEARCH_CACHE`` (ground truth, derived embedding sets) at an empty folder."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("VECSEARCH_CACHE", str(cache))
    return cache
