"""Bulk build: load a vector file into a new collection, chunk by chunk.

The collection is built in a work directory under ``DATA_DIR/.tmp`` (store in bulk mode:
no fsync per chunk) and published by one atomic rename once the index is saved and the store
is made durable, so an interrupted build (error, Ctrl-C, ``kill -9``) leaves no collection
that looks complete; its leftovers are removed (now, or by the next :class:`Database` open).

Both cores work (:class:`vecsearch.bulk_load.BulkLoader`: a background thread writes each
chunk to SQLite while the caller's thread indexes it). Memory is bounded by the chunk
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
from dataclasses import dataclass, replace
from typing import Any

from vecsearch.bulk_load import BulkLoader
from vecsearch.collection import Collection
from vecsearch.config import CollectionConfig, SparseSpaceConfig
from vecsearch.database import Database, check_collection_name
from vecsearch.errors import CollectionExistsError, ValidationError
from vecsearch.ids import id_key, parse_point_id
from vecsearch.readers import open_reader
from vecsearch.snapshots import remove_tree
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
    loader = None
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
        loader = BulkLoader(Collection.create(name, work, config, bulk=True))
        text_docs = 0
        seen: dict[bytes, int] = {}
        for chunk in reader.chunks(chunk_size):
            if limit is not None and loader.done >= limit:
                break
            n = len(chunk.vectors)
            if limit is not None and loader.done + n > limit:
                n = limit - loader.done
                chunk.vectors = chunk.vectors[:n]
            try:  # the error's field is the row within the chunk
                vecs = check_vectors(chunk.vectors, reader.dim, lambda i: str(i), cosine=cosine)
            except ValidationError as exc:
                raise reader.error(exc.reason, chunk.start + int(exc.field)) from None
            sparse = None
            if stats is not None:
                offsets, svecs = _bm25_rows(reader, chunk, n, text_field, stats.avg_len)
                sparse = (text_space, offsets, svecs)
                text_docs += len(offsets)
            loader.add(vecs, _keys(reader, chunk, n, seen), _payloads(reader, chunk, n), sparse)
            bar.update(n)
        if loader.done == 0:
            raise reader.error("no records to load")
        done = loader.done
        loader.finish(None if stats is None else (text_space, stats))
        loader = None
        db.publish(work, name, replace=overwrite)
    except BaseException:
        if loader is not None:
            loader.abort()
        remove_tree(work)
        raise
    finally:
        bar.close()
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
    reader: Any, chunk: Any, n: int, field: str, avg_len: float
) -> tuple[list[int], list[Any]]:
    """Rows (within the chunk) and BM25 vectors of the records that have the text field."""
    labels, vecs = [], []
    for i in range(n):
        text = _text_of(reader, chunk, i, field)
        if text is not None:
            labels.append(i)
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
