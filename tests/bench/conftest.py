"""Fixtures for the harness tests: a private cache folder, real datasets loaded once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import datasets as ds


@pytest.fixture
def tmp_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ``VECSEARCH_CACHE`` at an empty temporary folder."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("VECSEARCH_CACHE", str(cache))
    return cache


@pytest.fixture(scope="session")
def vaswani() -> ds.TestCollection:
    """The Vaswani collection (real files from the shared data folder)."""
    return ds.load_vaswani()


@pytest.fixture(scope="session")
def cranfield() -> ds.TestCollection:
    """The Cranfield collection (real files from the shared data folder)."""
    return ds.load_cranfield()
