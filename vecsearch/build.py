"""Bulk build: load a vector file into a new collection, chunk by chunk.

The collection is built in a work directory under ``DATA_DIR/.tmp`` (store in bulk mode:
no fsync per chunk) and published by one atomic rename once the index is saved and the store
is made durable, so an interrupted build (error, Ctrl-C, ``kill -9``) leaves no collection
that looks complete; its leftovers are removed (now, or by the next :class:`Database` open).

Both cores work: a background thread writes each chunk to SQLite while the caller's thread
adds it to the index (the index kernels release the GIL). Memory is bounded by the chunk
size plus the index itself, plus, for files that carry their own ids, a map of the ids seen
so far (to report duplicates by row).

With ``text_field``, a string field of each record's payload (``.jsonl`` / ``.parquet``) is
also indexed into a sparse BM25 space (``text_space``, default ``bm25``, ``modifier: idf``)
beside the dense vectors, by the same tokenizer and term ids as Qdrant's server-side BM25
(:mod:`vecsearch.text.bm25`). A first pass over the file counts the documents' tokens, so
that every document's length is normalised by the final average length (exact BM25); the
second pass writes the vectors. Records whose field is missing or null get no BM25 vector.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from vecsearch.collection import Collection
from vecsearch.config import CollectionConfig, SparseSpaceConfig
from vecsearch.database import Database, check_collection_name
from vecsearch.errors import CollectionExistsError, ValidationError
from vecsearch.ids import id_key, parse_point_id
from vecsearch.readers import open_reader
from vecsearch.snapshots import remove_tree
from vecsearch.sparse_space import encode, text_meta
from vecsearch.text.bm25 import DEFAULT_OPTIONS, TextStats, doc_vector, tokenize
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
    #: BM25 documents indexed from the text field (0 without one).
    text_docs: int = 0

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
    text_field: str | None = None,
    text_space: str = "bm25",
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
    stats = None
    if text_field is not None:
        if not text_space:
            raise ValidationError("text_space", "a sparse vector needs a non-empty name")
        config = replace(config, sparse=(SparseSpaceConfig(text_space, 1, "idf"),))
        stats = _text_stats(reader, chunk_size, limit, text_field)
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
        text_docs = 0
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
            sparse = None
            if stats is not None:
                sparse = _bm25_rows(reader, chunk, n, text_field, stats.avg_len, done)
                vectors[1] = [(lb, encode(v)) for lb, v in zip(*sparse, strict=True)]
                text_docs += len(sparse[0])
            if pending is not None:
                pending.result()
            pending = pool.submit(store.bulk_insert, rows, vectors)
            coll.bulk_index_add(vecs, labels)
            if sparse is not None and sparse[0]:
                coll.bulk_index_add(sparse[1], np.asarray(sparse[0], np.int64), text_space)
            done += n
            bar.update(n)
        if pending is not None:
            pending.result()
        if done == 0:
            raise reader.error("no records to load")
        store.next_label = done
        store.set_meta({"seq": 1, "next_label": done})
        if stats is not None:
            store.set_meta(text_meta(1, stats))
            coll.spaces[text_space].text_stats = stats  # type: ignore[union-attr]
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
        name,
        done,
        reader.dim,
        config.distance.value,
        config.index.type,
        time.perf_counter() - t0,
        text_docs,
    )


def _text_of(reader: Any, chunk: Any, i: int, field: str) -> str | None:
    payload = chunk.payloads[i] if chunk.payloads is not None else None
    if not isinstance(payload, dict):
        raise reader.error(
            f"text field {field!r}: records have no payload (use .jsonl or .parquet)",
            chunk.start + i,
        )
    text = payload.get(field)
    if text is not None and not isinstance(text, str):
        raise reader.error(
            f"text field {field!r} must be a string, got {type(text).__name__}", chunk.start + i
        )
    return text


def _text_stats(reader: Any, chunk_size: int, limit: int | None, field: str) -> TextStats:
    """First pass: how many documents and tokens the text field holds."""
    docs = tokens = 0
    seen = 0
    for chunk in reader.chunks(chunk_size):
        n = len(chunk.vectors) if limit is None else min(len(chunk.vectors), limit - seen)
        for i in range(n):
            text = _text_of(reader, chunk, i, field)
            if text is not None:
                docs += 1
                tokens += len(tokenize(text))
        seen += n
        if limit is not None and seen >= limit:
            break
    if docs == 0:
        raise reader.error(f"text field {field!r}: no record has it")
    return TextStats(docs, tokens)


def _bm25_rows(
    reader: Any, chunk: Any, n: int, field: str, avg_len: float, first_label: int
) -> tuple[list[int], list[Any]]:
    """Labels and BM25 vectors of the chunk's records that have the text field."""
    labels, vecs = [], []
    for i in range(n):
        text = _text_of(reader, chunk, i, field)
        if text is not None:
            labels.append(first_label + i)
            vecs.append(doc_vector(tokenize(text), DEFAULT_OPTIONS, avg_len))
    return labels, vecs


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
