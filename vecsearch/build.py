"""Bulk build: load a vector file into a new collection, chunk by chunk.

The collection is built in a work directory under ``DATA_DIR/.tmp`` (store in bulk mode:
no fsync per chunk) and published by one atomic rename once the index is saved and the store
is made durable, so an interrupted build (error, Ctrl-C, ``kill -9``) leaves no collection
that looks complete; its leftovers are removed (now, or by the next :class:`Database` open).

Both cores work: a background thread writes each chunk to SQLite while the caller's thread
adds it to the index (the index kernels release the GIL). Memory is bounded by the chunk
size plus the index itself, plus, for files that carry their own ids, a map of the ids seen
so far (to report duplicates by row).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from vecsearch.collection import Collection
from vecsearch.config import CollectionConfig
from vecsearch.database import Database, check_collection_name
from vecsearch.errors import CollectionExistsError, ValidationError
from vecsearch.ids import id_key, parse_point_id
from vecsearch.readers import open_reader
from vecsearch.snapshots import remove_tree
from vecsearch.validate import check_vectors, payload_json


@dataclass(frozen=True)
class BuildReport:
    """What a build did."""

    collection: str
    points: int
    dim: int
    distance: str
    index_type: str
    seconds: float

    @property
    def rate(self) -> float:
        """Points per second, end to end."""
        return self.points / self.seconds if self.seconds > 0 else float("inf")


def build_collection(
    input_path: str | os.PathLike[str],
    data_dir: str | os.PathLike[str],
    name: str,
    *,
    distance: str = "Cosine",
    index: str | None = None,
    index_params: Mapping[str, Any] | None = None,
    chunk_size: int = 10_000,
    vector_column: str | None = None,
    id_column: str | None = None,
    dataset: str = "train",
    overwrite: bool = False,
    progress: bool = True,
    limit: int | None = None,
) -> BuildReport:
    """Build collection ``name`` in ``data_dir`` from ``input_path`` (see module docstring).

    ``limit`` stops after that many rows (for quick trials). Raises
    :class:`InputFileError` (file, row, problem) for bad input, and
    :class:`CollectionExistsError` unless ``overwrite``.
    """
    from tqdm import tqdm  # imported here: only the build needs a progress bar

    t0 = time.perf_counter()
    check_collection_name(name, "collection")
    if not isinstance(chunk_size, int) or chunk_size <= 0:
        raise ValidationError("chunk_size", f"expected a positive integer, got {chunk_size!r}")
    db = Database(data_dir)
    if db.collection_exists(name) and not overwrite:
        raise CollectionExistsError(f"collection {name!r} already exists (use overwrite)")
    reader = open_reader(
        input_path, vector_column=vector_column, id_column=id_column, dataset=dataset
    )
    config = CollectionConfig.create(reader.dim, distance, index, index_params)
    cosine = config.metric == "cosine"
    total = reader.total if limit is None else min(limit, reader.total or limit)
    work = db.work_dir("build", name)
    coll = None
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vecsearch-build-store")
    bar = tqdm(
        total=total,
        unit="pts",
        unit_scale=True,
        desc=f"build {name}",
        disable=not progress,
        smoothing=0.05,
        dynamic_ncols=True,
    )
    try:
        coll = Collection.create(name, work, config, bulk=True)
        store = coll.store
        sid = coll.space("").config.id
        store.seq = 1  # the whole build is one write
        seen: dict[bytes, int] = {}
        pending: Future | None = None
        done = 0
        for chunk in reader.chunks(chunk_size):
            if limit is not None and done >= limit:
                break
            n = len(chunk.vectors)
            if limit is not None and done + n > limit:
                n = limit - done
                chunk.vectors = chunk.vectors[:n]
            try:  # the error's field is the row within the chunk
                vecs = check_vectors(chunk.vectors, reader.dim, lambda i: str(i), cosine=cosine)
            except ValidationError as exc:
                raise reader.error(exc.reason, chunk.start + int(exc.field)) from None
            keys = _keys(reader, chunk, n, seen)
            texts = _payloads(reader, chunk, n)
            labels = np.arange(done, done + n, dtype=np.int64)
            lab = labels.tolist()
            rows = list(zip(lab, keys, texts, strict=True))
            vectors = {sid: list(zip(lab, (v.tobytes() for v in vecs), strict=True))}
            if pending is not None:
                pending.result()
            pending = pool.submit(store.bulk_insert, rows, vectors)
            coll.bulk_index_add(vecs, labels)
            done += n
            bar.update(n)
        if pending is not None:
            pending.result()
        if done == 0:
            raise reader.error("no records to load")
        store.next_label = done
        store.set_meta({"seq": 1, "next_label": done})
        coll.save_index()
        store.make_durable()
        coll.close(save_index=False)
        coll = None
        db.publish(work, name, replace=overwrite)
    except BaseException:
        # The store writer thread may still be inside a transaction: let it finish before the
        # store is closed and its files removed (closing under it crashed SQLite).
        pool.shutdown(wait=True)
        if coll is not None:
            coll.close(save_index=False)
        remove_tree(work)
        raise
    finally:
        bar.close()
        pool.shutdown(wait=True)
        reader.close()
        db.close()
    return BuildReport(
        name, done, reader.dim, config.distance.value, config.index.type, time.perf_counter() - t0
    )


def _keys(reader: Any, chunk: Any, n: int, seen: dict[bytes, int]) -> list[bytes]:
    if chunk.ids is None:
        return [id_key(chunk.start + i) for i in range(n)]
    keys = []
    for i, raw in enumerate(chunk.ids[:n]):
        row = chunk.start + i
        try:
            key = id_key(parse_point_id(raw, "id"))
        except ValidationError as exc:
            raise reader.error(exc.reason, row) from None
        first = seen.setdefault(key, row)
        if first != row:
            raise reader.error(f"duplicate id {raw!r} (first seen at row {first})", row)
        keys.append(key)
    return keys


def _payloads(reader: Any, chunk: Any, n: int) -> list[str]:
    if chunk.payloads is None:
        return ["{}"] * n
    out = []
    for i, p in enumerate(chunk.payloads[:n]):
        try:
            out.append(payload_json(p, "payload"))
        except ValidationError as exc:
            raise reader.error(f"payload: {exc.reason}", chunk.start + i) from None
    return out
