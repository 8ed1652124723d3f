"""The demo collection of ``vecsearch serve --demo``: the Vaswani test collection.

11,429 abstracts (physics, the NPL collection) as MiniLM embeddings (384-d, cosine, the
unnamed vector) and as BM25 sparse vectors of their texts (sparse vector ``bm25``, ``modifier:
idf``, made by the server-side BM25 of :mod:`vecsearch.text.bm25`, every document normalised
by the collection's true average length), from the project's shared data folder, with
``doc_id`` and ``text`` payloads; point id = document id. A hybrid query prefetches both and
fuses them (``rrf`` or ``dbsf``).
It is built once, on the first start with ``--demo``, in a work directory that is published
by one atomic rename, so an interrupted build leaves nothing that looks complete.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from vecsearch.collection import Collection
from vecsearch.config import CollectionConfig, SparseSpaceConfig
from vecsearch.database import Database
from vecsearch.datasets import DatasetMissingError, load_collection
from vecsearch.snapshots import remove_tree
from vecsearch.text.bm25 import tokenize

log = logging.getLogger("service")

DEMO_COLLECTION = "vaswani"
#: The demo's BM25 sparse vector.
BM25_VECTOR = "bm25"
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
    dataset: str = "vaswani",
) -> bool:
    """Build the demo collection unless it exists; True if it was built now. ``dataset``
    (``vaswani`` or ``cranfield``) picks the test collection (the harness builds both).

    Raises ``vecsearch.datasets.DatasetMissingError`` (with instructions) when the shared
    data folder is not beside the repository.
    """
    if db.collection_exists(name):
        return False
    t0 = time.perf_counter()
    data = load_collection(dataset)
    vectors = data.doc_embeddings
    cfg = replace(
        CollectionConfig.create(vectors.shape[1], "Cosine"),
        sparse=(SparseSpaceConfig(BM25_VECTOR, 1, "idf"),),
    )
    avg_len = sum(len(tokenize(t)) for t in data.doc_texts) / len(data.doc_texts)
    options = {"avg_len": avg_len}  # chunks written one by one: normalise by the final average
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
            texts = [
                {"text": t, "model": "qdrant/bm25", "options": options}
                for t in data.doc_texts[s : s + _CHUNK]
            ]
            coll.upsert_batch(
                chunk, {"": vectors[s : s + len(chunk)], BM25_VECTOR: texts}, payloads
            )
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
