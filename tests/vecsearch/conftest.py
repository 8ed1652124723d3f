"""Fixtures for engine tests: a database in a temporary directory, closed afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vecsearch.database import Database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A fresh database; every collection it opened is closed at the end."""
    database = Database(tmp_path / "data")
    try:
        yield database
    finally:
        database.close()
