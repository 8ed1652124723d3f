"""Chunked readers of bulk-load inputs: ``.npy``, ``.fvecs`` / ``.bvecs``, ann-benchmarks
``.hdf5``, ``.parquet`` and ``.jsonl``.

Every reader yields :class:`Chunk` objects of at most ``size`` records, so memory is bounded
by the chunk size, not the file: ``.npy`` and ``.fvecs``/``.bvecs`` are memory-mapped, HDF5
datasets sliced, Parquet read batch by batch, JSON lines streamed. Rows are numbered from 0
in file order; errors name the file, the row and the problem (:class:`InputFileError`).

* ``.npy``: a 2-d numeric array; ids are row numbers.
* ``.fvecs`` / ``.bvecs``: TEXMEX records (int32 dimension, then float32 / uint8 values).
* ``.hdf5`` / ``.h5``: dataset ``train`` by default (ann-benchmarks layout), or ``dataset``.
* ``.parquet``: vector column (``vector_column``, else ``vector`` / ``embedding``, else the one
  list-typed column), optional id column (``id_column``, else ``id`` if present); every other
  column becomes payload.
* ``.jsonl``: one object per line: ``{"id": ..., "vector": [...], "payload": {...}}``; without
  ``payload``, keys other than ``id`` and ``vector`` are the payload. Blank lines are skipped.

``h5py`` and ``pyarrow`` are imported only when their formats are read.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vecsearch.errors import InputFileError

FORMATS = (".npy", ".fvecs", ".bvecs", ".hdf5", ".h5", ".parquet", ".jsonl", ".ndjson")


@dataclass
class Chunk:
    """Consecutive records starting at file row ``start``."""

    start: int
    vectors: Any  # (n, dim) array, or a list of per-row vectors (jsonl)
    ids: list[Any] | None = None  # None: ids are the row numbers
    payloads: list[Any] | None = None


class Reader:
    """Base class: ``path``, ``dim``, ``total`` (rows, if known) and ``chunks(size)``."""

    path: Path
    dim: int
    total: int | None

    def chunks(self, size: int) -> Iterator[Chunk]:
        raise NotImplementedError

    def chunks_between(self, size: int, start: int, stop: int) -> Iterator[Chunk]:
        """Chunks of rows ``start .. stop - 1`` only (a split of the file, for the
        distributed build). This default reads from the top and skips; the array formats
        seek, JSON lines skip lines without parsing them."""
        for c in self.chunks(size):
            n = len(c.vectors)
            if c.start + n <= start:
                continue
            if c.start >= stop:
                break
            yield _trim(c, max(start - c.start, 0), min(stop - c.start, n))

    def close(self) -> None:
        """Release file handles."""

    def error(self, problem: str, row: int | None = None) -> InputFileError:
        return InputFileError(str(self.path), problem, row)


def _trim(c: Chunk, lo: int, hi: int) -> Chunk:
    """Rows ``lo .. hi - 1`` of chunk ``c``."""
    if lo == 0 and hi == len(c.vectors):
        return c
    return Chunk(
        c.start + lo,
        c.vectors[lo:hi],
        None if c.ids is None else c.ids[lo:hi],
        None if c.payloads is None else c.payloads[lo:hi],
    )


class _Sliced(Reader):
    """Readers whose rows can be sliced directly (``_rows(start, stop)``)."""

    def _rows(self, start: int, stop: int) -> Chunk:
        raise NotImplementedError

    def chunks(self, size: int) -> Iterator[Chunk]:
        return self.chunks_between(size, 0, self.total or 0)

    def chunks_between(self, size: int, start: int, stop: int) -> Iterator[Chunk]:
        stop = min(stop, self.total or 0)
        for s in range(max(start, 0), stop, size):
            yield self._rows(s, min(s + size, stop))


class NpyReader(_Sliced):
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise self.error(f"not a readable .npy file: {exc}") from None
        if self.arr.ndim != 2 or not np.issubdtype(self.arr.dtype, np.number):
            raise self.error(f"expected a 2-d numeric array, got {self.arr.dtype} {self.arr.shape}")
        self.total, self.dim = (int(s) for s in self.arr.shape)

    def _rows(self, start: int, stop: int) -> Chunk:
        return Chunk(start, np.asarray(self.arr[start:stop]))


class VecsReader(_Sliced):
    """TEXMEX ``.fvecs`` (float32) / ``.bvecs`` (uint8) files."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.dtype = np.dtype("<f4") if path.suffix == ".fvecs" else np.dtype("u1")
        size = path.stat().st_size
        if size < 4:
            raise self.error("file is empty or truncated")
        self.raw = np.memmap(path, dtype=np.uint8, mode="r")
        self.dim = int(self.raw[:4].view("<i4")[0])
        if self.dim <= 0 or self.dim > 1 << 20:
            raise self.error(f"implausible dimension header {self.dim}", 0)
        self.rec = 4 + self.dim * self.dtype.itemsize
        self.total = size // self.rec
        if size % self.rec:
            raise self.error(
                f"file size {size} is not a multiple of the record size {self.rec} "
                f"(dimension {self.dim}): truncated record",
                self.total,
            )

    def _rows(self, s: int, stop: int) -> Chunk:
        n = stop - s
        block = np.asarray(self.raw[s * self.rec : (s + n) * self.rec]).reshape(n, self.rec)
        dims = block[:, :4].copy().view("<i4").ravel()
        bad = np.flatnonzero(dims != self.dim)
        if bad.size:
            r = int(bad[0])
            raise self.error(
                f"dimension header {int(dims[r])} differs from the first record's {self.dim}",
                s + r,
            )
        vecs = block[:, 4:].copy().view(self.dtype).reshape(n, self.dim)
        return Chunk(s, vecs)


class Hdf5Reader(_Sliced):
    def __init__(self, path: Path, dataset: str) -> None:
        import h5py  # optional dependency, needed for this format only

        self.path = path
        try:
            self.file = h5py.File(path, "r")
        except OSError as exc:
            raise self.error(f"not a readable HDF5 file: {exc}") from None
        if dataset not in self.file:
            names = sorted(self.file.keys())
            self.file.close()
            raise self.error(f"no dataset {dataset!r}; datasets: {names}")
        self.ds = self.file[dataset]
        if self.ds.ndim != 2:
            shape = self.ds.shape
            self.file.close()
            raise self.error(f"dataset {dataset!r} has shape {shape}, expected 2-d")
        self.total, self.dim = (int(s) for s in self.ds.shape)

    def _rows(self, start: int, stop: int) -> Chunk:
        return Chunk(start, np.asarray(self.ds[start:stop]))

    def close(self) -> None:
        self.file.close()


def _jsonable(v: Any) -> Any:
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    return v


class ParquetReader(Reader):
    def __init__(self, path: Path, vector_column: str | None, id_column: str | None) -> None:
        import pyarrow as pa  # optional dependency, needed for this format only
        import pyarrow.parquet as pq

        self.path = path
        self.pa = pa
        try:
            self.file = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as exc:
            raise self.error(f"not a readable Parquet file: {exc}") from None
        schema = self.file.schema_arrow
        names = schema.names
        lists = [
            f.name
            for f in schema
            if pa.types.is_list(f.type)
            or pa.types.is_fixed_size_list(f.type)
            or pa.types.is_large_list(f.type)
        ]
        if vector_column is None:
            named = [n for n in ("vector", "embedding") if n in names]
            if named:
                vector_column = named[0]
            elif len(lists) == 1:
                vector_column = lists[0]
            else:
                raise self.error(f"cannot tell the vector column; list columns: {lists}")
        if vector_column not in names:
            raise self.error(f"no column {vector_column!r}; columns: {names}")
        if vector_column not in lists:
            raise self.error(f"column {vector_column!r} is not a list of numbers")
        if id_column is None and "id" in names:
            id_column = "id"
        if id_column is not None and id_column not in names:
            raise self.error(f"no id column {id_column!r}; columns: {names}")
        self.vector_column, self.id_column = vector_column, id_column
        self.payload_columns = [n for n in names if n not in (vector_column, id_column)]
        self.total = int(self.file.metadata.num_rows)
        first = next(self.file.iter_batches(batch_size=1, columns=[vector_column]), None)
        if first is None or first.num_rows == 0:
            raise self.error("file holds no rows")
        v0 = first.column(0)[0].as_py()
        if v0 is None:
            raise self.error("vector is null", 0)
        self.dim = len(v0)

    def chunks(self, size: int) -> Iterator[Chunk]:
        pa = self.pa
        start = 0
        for batch in self.file.iter_batches(batch_size=size):
            col = batch.column(batch.schema.get_field_index(self.vector_column))
            n = batch.num_rows
            if col.null_count:
                bad = np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))
                raise self.error("vector is null", start + int(bad[0]))
            if pa.types.is_fixed_size_list(col.type):
                lengths = np.full(n, col.type.list_size)
            else:
                lengths = np.diff(col.offsets.to_numpy())
            bad = np.flatnonzero(lengths != self.dim)
            if bad.size:
                r = int(bad[0])
                raise self.error(
                    f"vector has dimension {int(lengths[r])}, expected {self.dim}", start + r
                )
            values = col.flatten()
            if values.null_count:
                lens = np.asarray(lengths)
                pos = int(np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))[0])
                raise self.error(
                    "vector holds a null value",
                    start + int(np.searchsorted(np.cumsum(lens), pos, side="right")),
                )
            if not (pa.types.is_floating(values.type) or pa.types.is_integer(values.type)):
                raise self.error(f"vector values have type {values.type}, expected numbers")
            vecs = values.to_numpy(zero_copy_only=False).reshape(n, self.dim)
            ids = None
            if self.id_column is not None:
                ids = batch.column(batch.schema.get_field_index(self.id_column)).to_pylist()
            payloads = None
            if self.payload_columns:
                payloads = [_jsonable(r) for r in batch.select(self.payload_columns).to_pylist()]
            yield Chunk(start, vecs, ids, payloads)
            start += n


class JsonlReader(Reader):
    def __init__(self, path: Path) -> None:
        self.path = path
        with open(path, "rb") as fh:
            self.total = sum(1 for line in fh if line.strip())
        self.dim = 0
        for chunk in self._records(1):
            self.dim = len(chunk.vectors[0])
            break
        if not self.dim:
            raise self.error("file holds no records")

    def _records(self, size: int, start: int = 0, stop: int | None = None) -> Iterator[Chunk]:
        row = 0
        ids: list[Any] = []
        vecs: list[Any] = []
        pays: list[Any] = []
        with open(self.path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                if row < start:  # before the split: counted, not parsed
                    row += 1
                    continue
                if stop is not None and row >= stop:
                    break
                try:
                    rec = json.loads(line)
                except ValueError as exc:
                    raise self.error(f"line {lineno}: invalid JSON: {exc}", row) from None
                if not isinstance(rec, dict):
                    raise self.error(f"line {lineno}: expected a JSON object", row)
                if "vector" not in rec:
                    raise self.error(f"line {lineno}: no 'vector'", row)
                v = rec["vector"]
                if not isinstance(v, list) or not v:
                    raise self.error(f"line {lineno}: 'vector' must be a non-empty list", row)
                ids.append(rec.get("id", row))
                vecs.append(v)
                if "payload" in rec:
                    pays.append(rec["payload"])
                else:
                    pays.append({k: x for k, x in rec.items() if k not in ("id", "vector")})
                row += 1
                if len(vecs) == size:
                    yield Chunk(row - len(vecs), vecs, ids, pays)
                    ids, vecs, pays = [], [], []
        if vecs:
            yield Chunk(row - len(vecs), vecs, ids, pays)

    def chunks(self, size: int) -> Iterator[Chunk]:
        return self._records(size)

    def chunks_between(self, size: int, start: int, stop: int) -> Iterator[Chunk]:
        return self._records(size, start, stop)


def open_reader(
    path: str | os.PathLike[str],
    *,
    vector_column: str | None = None,
    id_column: str | None = None,
    dataset: str = "train",
) -> Reader:
    """A reader for ``path``, chosen by its extension."""
    p = Path(path)
    if not p.is_file():
        raise InputFileError(str(p), "no such file")
    ext = p.suffix.lower()
    if ext == ".npy":
        return NpyReader(p)
    if ext in (".fvecs", ".bvecs"):
        return VecsReader(p)
    if ext in (".hdf5", ".h5"):
        return Hdf5Reader(p, dataset)
    if ext == ".parquet":
        return ParquetReader(p, vector_column, id_column)
    if ext in (".jsonl", ".ndjson"):
        return JsonlReader(p)
    raise InputFileError(str(p), f"unsupported format {ext!r}; expected one of {FORMATS}")
