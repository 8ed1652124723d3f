"""The driver's durable record of a cluster collection: its configuration, sharding
settings and where each replica lives (``<meta_dir>/<name>.cluster.json``, written
atomically at create and after every recovery), so that
:meth:`vecsearch.cluster.collection.ClusterCollection.open` can bring it back after the
driver restarts. Pure (no Ray).

Sequence numbers are not recorded here: the replicas hold them (``replica.json``), and the
shard's is the highest among its replicas when it is opened.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vecsearch.errors import CollectionNotFoundError, StorageError
from vecsearch.index_files import fsync_dir

FORMAT = "vecsearch-cluster-collection"
VERSION = 1


def layout_file(meta_dir: str | os.PathLike[str], name: str) -> Path:
    """Where the record of collection ``name`` lives."""
    return Path(meta_dir) / f"{name}.cluster.json"


def save(meta_dir: str | os.PathLike[str], name: str, doc: Mapping[str, Any]) -> Path:
    """Write the record atomically (temporary file, fsync, rename, fsync of the folder)."""
    path = layout_file(meta_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({"format": FORMAT, "version": VERSION, **doc}, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return path


def load(meta_dir: str | os.PathLike[str], name: str) -> dict[str, Any]:
    """The record of collection ``name`` (:class:`CollectionNotFoundError` if there is
    none, :class:`StorageError` if it is not one)."""
    path = layout_file(meta_dir, name)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CollectionNotFoundError(f"no cluster collection {name!r} in {meta_dir}") from None
    except ValueError as exc:
        raise StorageError(f"{path.name} is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise StorageError(f"{path.name} is not a cluster collection record (v{VERSION})")
    return doc
