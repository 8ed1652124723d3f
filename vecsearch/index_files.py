"""The saved index of one vector space: derived data, written atomically with its state.

Layout inside the space's directory (``<collection>/spaces/<space id>/``)::

    index/data/...        the index's own save() output (plain .npy arrays + manifest)
    index/state.json      {"uuid", "space", "index_type", "params", "applied_seq", ...}

``applied_seq`` is the store sequence number the saved index reflects: at open, vectors
written after it (``vseq > applied_seq``) are re-added and ids the space no longer has are
removed (see :mod:`vecsearch.space`). A save goes to a fresh directory that is
fsynced and then swapped in by rename, so a crash leaves the old copy, the new one, or none
(in which case the index is rebuilt from the store). Anything unreadable is rebuilt too.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

STATE = "state.json"
DATA = "data"


def _fsync_tree(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (renames, new files) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class IndexFiles:
    """Save and load one collection's index with its state."""

    def __init__(self, collection_dir: str | os.PathLike[str]) -> None:
        self.parent = Path(collection_dir)
        self.dir = self.parent / "index"

    def save(self, index: Any, state: dict[str, Any]) -> None:
        """Atomically replace the saved index with ``index`` and ``state``."""
        tmp = self.parent / f".index-new-{uuid.uuid4().hex[:8]}"
        try:
            tmp.mkdir()
            index.save(tmp / DATA)
            with open(tmp / STATE, "w", encoding="utf-8") as fh:
                json.dump(state, fh, sort_keys=True)
            _fsync_tree(tmp)
            old = None
            if self.dir.exists():
                old = self.parent / f".index-old-{uuid.uuid4().hex[:8]}"
                os.replace(self.dir, old)
            os.replace(tmp, self.dir)
            fsync_dir(self.parent)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def state(self) -> dict[str, Any] | None:
        """The saved state, or ``None`` if there is no complete saved index."""
        try:
            with open(self.dir / STATE, encoding="utf-8") as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return None

    def remove(self) -> None:
        """Delete the saved index (it will be rebuilt)."""
        shutil.rmtree(self.dir, ignore_errors=True)

    def cleanup(self) -> None:
        """Remove leftovers of interrupted saves."""
        for p in self.parent.glob(".index-*"):
            shutil.rmtree(p, ignore_errors=True)

    def copy_to(self, target: Path) -> bool:
        """Copy the saved index (data and state) into ``target``; False if there is none."""
        if self.state() is None:
            return False
        shutil.copytree(self.dir, target)
        return True


def adopt_schema1_index(path: Path) -> None:
    """A schema-1 collection kept its one index in ``index/``; it is the unnamed space's
    (id 0) and moves to ``spaces/0/index`` by one rename (idempotent)."""
    old, new = path / "index", path / "spaces" / "0" / "index"
    if old.is_dir() and not new.exists():
        new.parent.mkdir(parents=True, exist_ok=True)
        os.replace(old, new)
        fsync_dir(new.parent)
    elif old.is_dir():
        shutil.rmtree(old, ignore_errors=True)
