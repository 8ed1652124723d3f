"""Disk and RAM a collection uses, per part (the facts behind Qdrant's
``GET /collections/{name}/memory``).

* ``spaces``: per vector space, its index files on disk (``spaces/<id>/``) and the RAM its
  index reports (:meth:`memory_bytes`; it includes the vectors the index keeps, for the
  index types that keep them);
* ``store``: the SQLite store (``store.sqlite`` with its WAL files) that holds every point's
  id, vectors and payload together;
* ``other``: everything else in the collection directory (config, payload index state).

RAM of the payload and of payload indexes is not measured (reported as 0).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from vecsearch.collection import STORE_FILE


def _tree_bytes(path: Path) -> int:
    """Sum of file sizes under ``path`` (files that vanish meanwhile count 0)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(root, f)).st_size
    return total


def collection_usage(coll: Any) -> dict[str, Any]:
    """``{"spaces": [{name, sparse, disk_bytes, ram_bytes}], "store": {disk_bytes},
    "other": {disk_bytes}}`` of an open collection."""
    with coll.reading():
        spaces = []
        for name, space in coll.spaces.items():
            index = space.index
            spaces.append(
                {
                    "name": name,
                    "sparse": coll.config.sparse_space(name) is not None,
                    "disk_bytes": _tree_bytes(space.dir),
                    "ram_bytes": int(index.memory_bytes()) if index is not None else 0,
                }
            )
    store = sum(
        _tree_bytes(p) if p.is_dir() else p.stat().st_size
        for p in coll.path.glob(STORE_FILE + "*")
        if p.exists()
    )
    everything = _tree_bytes(coll.path)
    other = max(0, everything - store - sum(s["disk_bytes"] for s in spaces))
    return {"spaces": spaces, "store": {"disk_bytes": store}, "other": {"disk_bytes": other}}
