"""The demo collection of ``vecsearch serve --demo``: the Vaswani test collection.

11,429 abstracts (physics, the NPL collection) as MiniLM embeddings (384-d, cosine) from the
project's shared data folder, with ``doc_id`` and ``text`` payloads; point id = document id.
It is built once, on the first start with ``--demo``, in a work directory that is published
by one atomic rename, so an interrupted build leaves nothing that looks complete.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from vecsearch.collection import Collection
from vecsearch.config import CollectionConfig
from vecsearch.database import Database
from vecsearch.datasets import DatasetMissingError, load_collection
from vecsearch.snapshots import remove_tree

log = logging.getLogger("service")

DEMO_COLLECTION = "vaswani"
_CHUNK = 2_000


def demo_data_problem(data_dir: str | os.PathLike[str]) -> str | None:
    """Why the demo collection cannot be built (None if it exists or can be built)."""
    if (Path(data_dir) / "collections" / DEMO_COLLECTION / "store.sqlite").exists():
        return None
    try:
        load_collection("vaswani")
    except DatasetMissingError as exc:
        return str(exc)
    return None


def ensure_demo_collection(
    db: Database,
    name: str = DEMO_COLLECTION,
    should_stop: Callable[[], bool] = lambda: False,
) -> bool:
    """Build the demo collection unless it exists; True if it was built now.

    Raises ``vecsearch.datasets.DatasetMissingError`` (with instructions) when the shared
    data folder is not beside the repository.
    """
    if db.collection_exists(name):
        return False
    t0 = time.perf_counter()
    data = load_collection("vaswani")
    vectors = data.doc_embeddings
    cfg = CollectionConfig.create(vectors.shape[1], "Cosine")
    work = db.work_dir("create", name)
    coll = Collection.create(name, work, cfg, bulk=True)
    try:
        ids = data.doc_ids.tolist()
        for s in range(0, len(ids), _CHUNK):
            if should_stop():
                raise InterruptedError("shutdown during the demo build")
            chunk = ids[s : s + _CHUNK]
            payloads = [
                {"doc_id": i, "text": t}
                for i, t in zip(chunk, data.doc_texts[s : s + _CHUNK], strict=True)
            ]
            coll.upsert_batch(chunk, vectors[s : s + len(chunk)], payloads)
        coll.save_index()
        assert coll.store is not None
        coll.store.make_durable()  # bulk mode skipped the per-write fsync
        coll.close(save_index=False)
        db.publish(work, name)
    except BaseException:
        if not coll.closed:
            coll.close(save_index=False)
        remove_tree(work)
        raise
    log.info(
        "demo: built collection %r (%d points, index %s) in %.1f s",
        name,
        len(ids),
        cfg.index.type,
        time.perf_counter() - t0,
    )
    return True
