"""Where real data and derived caches live (both outside the repository's packages)."""

from __future__ import annotations

import os
from pathlib import Path

#: The repository (or source tree) holding the ``vecsearch`` package.
REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path:
    """The shared real-data folder: ``$VECSEARCH_SHARED_DATA`` or ``<repo>/../shared/data``."""
    env = os.environ.get("VECSEARCH_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def cache_dir() -> Path:
    """Cache folder outside the repository: ``$VECSEARCH_CACHE`` or ``~/.cache/vecsearch``."""
    env = os.environ.get("VECSEARCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "vecsearch"
