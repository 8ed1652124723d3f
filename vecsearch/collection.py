"""A collection: points (id, vector, payload) in a durable store, a vector index over them,
payload indexes and Qdrant's operations (upsert, retrieve, delete, count, scroll, payload
updates, search, batch search).

Write path (one writer at a time per collection, readers never wait for the disk):

1. validate everything (a rejected request changes nothing);
2. commit to the SQLite store (durable when the call returns; the write gets a new ``seq``);
3. apply to the in-memory state (vector index, live-label mask, payload indexes) under the
   exclusive side of a readers-writer lock, in chunks of :attr:`Collection.APPLY_CHUNK`
   points so concurrent searches are delayed by at most one chunk.

A write is visible to every search that starts after the call returns. If the process dies
between 2 and 3, the next open brings the index up to date from the store (see
:mod:`vecsearch.index_files`); if step 3 fails in-process, the in-memory state is rebuilt
from the store.

Scores follow Qdrant: ``Cosine`` = cosine similarity, ``Dot`` = inner product (higher is
better), ``Euclid`` = Euclidean distance (lower is better); ``score_threshold`` keeps scores
at least (Cosine, Dot) or at most (Euclid) the threshold. For ``Cosine`` the stored and
returned vectors are unit-normalised, as Qdrant does.

Relevance calibration (Cosine collections): :meth:`Collection.fit_relevance` fits a
query-dependent monotone map from cosine to relevance in [0, 1] from labelled queries
(:mod:`vecsearch.relevance`) and stores it with the collection (store metadata, so it survives
reopening and travels in snapshots). While a model exists every hit carries ``relevance``, and
searches accept ``relevance_threshold``. The model's features come from the query's unfiltered
top-``depth`` scores, so a search computes at least ``depth`` hits (one more unfiltered search
when a filter is given); relevance does not depend on ``limit``, ``offset`` or the filter.

Multi-vector collections (``multivector_config: {"comparator": "max_sim"}``): a point's
vector, and a query, is a non-empty list of vectors (of any length per point), stored as one
blob of ``m x size`` float32 in the same SQLite column; the score is MaxSim, the sum over the
query's vectors of the best similarity (Cosine or Dot) among the point's vectors, higher is
better. The index is MUVERA (:class:`indexes.muvera.MuveraIndex`); exact search computes
MaxSim over every allowed point. Filters, thresholds, offsets, live writes, reopening and
snapshots work as for single vectors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from indexes.errors import UnsupportedOperationError
from vecsearch.config import CollectionConfig, Distance
from vecsearch.errors import (
    CollectionLockedError,
    CollectionNotFoundError,
    PointNotFoundError,
    RelevanceLabelError,
    RelevanceModelMissingError,
    RelevanceModelNotFoundError,
    RelevanceUnsupportedError,
    StorageError,
    ValidationError,
)
from vecsearch.filters import Filter, parse_filter
from vecsearch.ids import PointId, id_key, key_to_id, parse_point_id, parse_point_ids
from vecsearch.index_files import DATA, IndexFiles
from vecsearch.locks import RWLock
from vecsearch.models import (
    PayloadSelector,
    Record,
    ScoredPoint,
    SearchRequest,
    UpdateResult,
    parse_with_vector,
)
from vecsearch.payload_index import PayloadIndex, parse_schema
from vecsearch.payload_path import delete_at, parse_path, set_at
from vecsearch.planner import Plan, Selector, choose_plan
from vecsearch.registry import get_index_type
from vecsearch.relevance import (
    DEFAULT_COMPONENTS,
    DEFAULT_DEPTH,
    RelevanceFitError,
    RelevanceModel,
    TrainingSet,
)
from vecsearch.relevance import fit as fit_relevance_model
from vecsearch.store import Store
from vecsearch.validate import (
    check_int,
    check_multivector,
    check_multivectors,
    check_query,
    check_threshold,
    check_vectors,
    payload_json,
    unwrap_vector,
)

log = logging.getLogger(__name__)

STORE_FILE = "store.sqlite"
_OPTIMIZER_CONFIG = {
    "deleted_threshold": 0.2,
    "vacuum_min_vector_number": 1000,
    "default_segment_number": 1,
    "max_segment_size": None,
    "memmap_threshold": None,
    "indexing_threshold": 0,
    "flush_interval_sec": 0,
    "max_optimization_threads": None,
}
LOCK_FILE = "LOCK"
#: Store metadata key of the fitted relevance model (JSON, see vecsearch.relevance).
RELEVANCE_KEY = "relevance_model"
_F32 = np.dtype("<f4")


def _vec(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=_F32)


class Collection:
    """One collection of a :class:`vecsearch.database.Database` (thread-safe)."""

    #: Points applied to the in-memory index per exclusive-lock section.
    APPLY_CHUNK = 512
    #: Rows per batch when (re)building the index from the store.
    REBUILD_CHUNK = 10_000
    #: Filters allowing at most this many points are scrolled by sorting their ids.
    SCROLL_SORT_LIMIT = 20_000
    #: Numba threads per search unless the request sets ``n_threads``: a server gets its
    #: parallelism from concurrent requests, and a parallel region per query was measured
    #: 15x slower than one thread on a loaded 2-core machine (flat, 50k x 50: 98 vs 6.6 ms).
    SEARCH_THREADS = 1

    def __init__(self, name: str, path: str | os.PathLike[str], *, bulk: bool = False) -> None:
        """Open the collection stored in directory ``path`` (see :meth:`create`)."""
        self.name = name
        self.path = Path(path)
        self._lock_fd = _lock_dir(self.path, name)
        self.store: Store | None = None
        try:
            self.store = Store(self.path / STORE_FILE, bulk=bulk)
            raw = self.store.get_meta("config")
            if raw is None:
                raise StorageError(f"{self.path} is not a vecsearch collection (no config)")
            self.config = CollectionConfig.from_stored(json.loads(raw))
            self.uuid = str(self.store.get_meta("uuid"))
            self.itype = get_index_type(self.config.index.type)
            self.itype.classes()  # fails clearly if the index type is unavailable
            self._cosine = self.config.distance is Distance.COSINE
            self._multi = self.config.is_multivector
            self._write_lock = threading.RLock()
            self._persist_lock = threading.Lock()
            self._rw = RWLock()
            self._closed = False
            self._files = IndexFiles(self.path)
            self._files.cleanup()
            #: "loaded" (saved index brought up to date) or "rebuilt", for tests and logs.
            self.index_source = ""
            #: Strategy of the last search ("none", "index", "exact"), for tests and metrics.
            self.last_plan = ""
            self._train_buffer: list[tuple[np.ndarray, np.ndarray]] = []
            #: bumped before every change to the index; keys the slot cache of _allow()
            self._index_epoch = 0
            self._slot_cache: tuple[int, bool, np.ndarray] | None = None
            self._load_memory_state()
            self._relevance = self._load_relevance()
        except BaseException:
            if self.store is not None:
                self.store.close()
            _unlock(self._lock_fd)
            raise

    @classmethod
    def create(
        cls,
        name: str,
        path: str | os.PathLike[str],
        config: CollectionConfig,
        *,
        bulk: bool = False,
    ) -> Collection:
        """Initialise an empty collection in the (new) directory ``path`` and open it."""
        p = Path(path)
        p.mkdir(parents=True, exist_ok=False)
        store = Store(p / STORE_FILE, bulk=bulk)
        try:
            store.initialise(config.to_dict())
        finally:
            store.close()
        return cls(name, p, bulk=bulk)

    # ------------------------------------------------------------------------------------------
    # In-memory state
    # ------------------------------------------------------------------------------------------
    def _load_memory_state(self) -> None:
        store = self._store
        labels = np.fromiter((r[0] for r in store.iter_rows("label", writer=True)), np.int64)
        self._alive = np.zeros(max(1024, store.next_label, int(labels.max(initial=-1)) + 1), bool)
        self._alive[labels] = True
        self._n_points = int(labels.size)
        self._pindexes: dict[str, PayloadIndex] = {
            k: PayloadIndex(k, t) for k, t in store.payload_schema().items()
        }
        if self._pindexes:
            for label, raw in store.iter_rows("label, payload", writer=True):
                p = json.loads(raw)
                for idx in self._pindexes.values():
                    idx.update(label, p)
        self._load_or_rebuild_index()

    def _load_or_rebuild_index(self) -> None:
        store = self._store
        state = self._files.state()
        pruned = int(store.get_meta("tombstones_pruned_upto", 0))
        usable = (
            state is not None
            and state.get("uuid") == self.uuid
            and state.get("index_type") == self.config.index.type
            and state.get("params") == self.config.index.params
            and pruned <= int(state.get("applied_seq", -1)) <= store.seq
        )
        if usable:
            try:
                self._index_epoch += 1  # invalidates the slot cache (_allow)
                self._index = self.itype.load_index(
                    self._files.dir / DATA, work_dir=self._files.parent
                )
                self._index_ready = True
                self._catch_up(int(state["applied_seq"]))
                self.index_source = "loaded"
                return
            except Exception as exc:  # a damaged derived file: rebuild from the store
                log.warning("collection %s: saved index unusable (%s); rebuilding", self.name, exc)
        self._rebuild_index()
        self.index_source = "rebuilt"

    def _catch_up(self, applied_seq: int) -> None:
        """Re-apply the writes made after the saved index's ``applied_seq``."""
        store = self._store
        self._index_remove(np.asarray(store.tombstones_after(applied_seq), dtype=np.int64))
        rows = store.iter_rows("label, vector", "WHERE vseq > ?", (applied_seq,), writer=True)
        for labels, vecs in _batches(rows, self.REBUILD_CHUNK, self.config.size, self._multi):
            self._index_epoch += 1  # invalidates the slot cache (_allow)
            self._index.add(vecs, labels)

    def _rebuild_index(self) -> None:
        """A fresh index over every stored vector (trained first, when the type needs it)."""
        cfg = self.config
        self._index_epoch += 1  # invalidates the slot cache (_allow)
        self._index = self.itype.make_index(
            cfg.size, cfg.metric, cfg.index.params, work_dir=self._files.parent
        )
        self._index_ready = not self.itype.needs_training
        self._train_buffer = []
        if self.itype.needs_training:
            if self._n_points < self.itype.min_train_points(cfg.index.params):
                return
            self._index.train(self._training_sample())
            self._index_ready = True
        rows = self._store.iter_rows("label, vector", writer=True)
        for labels, vecs in _batches(rows, self.REBUILD_CHUNK, cfg.size, self._multi):
            self._index_epoch += 1  # invalidates the slot cache (_allow)
            self._index.add(vecs, labels)

    def _training_sample(self, max_points: int = 100_000) -> np.ndarray:
        labels = np.flatnonzero(self._alive)
        if labels.size > max_points:
            labels = np.sort(np.random.default_rng(0).choice(labels, max_points, replace=False))
        blobs = self._store.vectors(labels.tolist())
        return np.stack([_vec(blobs[int(lab)]) for lab in labels if int(lab) in blobs])

    def _index_remove(self, labels: np.ndarray) -> None:
        if not self._index_ready or labels.size == 0:
            return
        slot_ids = getattr(self._index, "slot_ids", None)
        if slot_ids is not None:
            labels = labels[np.isin(labels, slot_ids())]
        if labels.size:
            self._index_epoch += 1  # invalidates the slot cache (_allow)
            self._index.remove(labels)

    def _grow(self, max_label: int) -> None:
        if max_label >= len(self._alive):
            new = np.zeros(max(2 * len(self._alive), max_label + 1), dtype=bool)
            new[: len(self._alive)] = self._alive
            self._alive = new

    @property
    def _store(self) -> Store:
        if self._closed or self.store is None:
            raise CollectionNotFoundError(f"collection {self.name!r} is closed or was deleted")
        return self.store

    def _selector(self) -> Selector:
        return Selector(self._alive, self._pindexes, self._id_labels, self._payload_source)

    def _id_labels(self, ids: Iterable[PointId]) -> np.ndarray:
        found = self._store.lookup([id_key(i) for i in ids])
        return np.fromiter(found.values(), dtype=np.int64, count=len(found))

    def _payload_source(
        self, labels: np.ndarray | None
    ) -> Iterator[tuple[int, PointId, dict[str, Any]]]:
        store = self._store
        if labels is None:
            for label, key, raw in store.iter_rows("label, pid, payload"):
                yield label, key_to_id(bytes(key)), json.loads(raw)
            return
        for i in range(0, len(labels), 10_000):
            rows = store.rows(labels[i : i + 10_000].tolist())
            for label, key, _vec_blob, raw, _seq in rows.values():
                yield label, key_to_id(key), json.loads(raw)

    # ------------------------------------------------------------------------------------------
    # Applying committed writes to memory
    # ------------------------------------------------------------------------------------------
    def _apply(self, fn: Callable[[], None]) -> None:
        """Run an in-memory update; if it fails, rebuild memory state from the store."""
        try:
            fn()
        except Exception:
            log.exception("collection %s: in-memory update failed; rebuilding", self.name)
            try:
                with self._rw.write():
                    self._load_memory_state()
            except Exception as exc:
                raise StorageError(
                    f"collection {self.name!r}: cannot rebuild state: {exc}"
                ) from exc

    def _apply_upsert(
        self, labels: np.ndarray, vectors: np.ndarray, payloads: Sequence[dict[str, Any]]
    ) -> None:
        def run() -> None:
            for s in range(0, len(labels), self.APPLY_CHUNK):
                lab = labels[s : s + self.APPLY_CHUNK]
                with self._rw.write():
                    self._grow(int(lab.max()))
                    self._n_points += int((~self._alive[lab]).sum())
                    self._alive[lab] = True
                    if self._index_ready:
                        self._index_epoch += 1  # invalidates the slot cache (_allow)
                        self._index.add(vectors[s : s + len(lab)], lab)
                    for idx in self._pindexes.values():
                        for one, p in zip(lab.tolist(), payloads[s : s + len(lab)], strict=True):
                            idx.update(one, p)
            if not self._index_ready and self._n_points >= self.itype.min_train_points(
                self.config.index.params
            ):
                with self._rw.write():
                    self._rebuild_index()

        self._apply(run)

    def _apply_delete(self, labels: np.ndarray) -> None:
        def run() -> None:
            for s in range(0, len(labels), self.APPLY_CHUNK):
                lab = labels[s : s + self.APPLY_CHUNK]
                with self._rw.write():
                    self._index_remove(lab)
                    self._n_points -= int(self._alive[lab].sum())
                    self._alive[lab] = False
                    for idx in self._pindexes.values():
                        for one in lab.tolist():
                            idx.remove(one)

        self._apply(run)

    def _apply_payloads(self, items: Sequence[tuple[int, dict[str, Any]]]) -> None:
        if not self._pindexes:
            return

        def run() -> None:
            for s in range(0, len(items), self.APPLY_CHUNK):
                with self._rw.write():
                    for label, p in items[s : s + self.APPLY_CHUNK]:
                        for idx in self._pindexes.values():
                            idx.update(label, p)

        self._apply(run)

    # ------------------------------------------------------------------------------------------
    # Writes
    # ------------------------------------------------------------------------------------------
    def upsert(self, points: Sequence[Mapping[str, Any]]) -> UpdateResult:
        """Insert or replace points given as ``{"id", "vector", "payload"}`` (Qdrant's list form).

        Every point is validated first; a batch with one bad point changes nothing. When an id
        repeats within the batch, the last occurrence wins.
        """
        if isinstance(points, Mapping) or not isinstance(points, Sequence):
            raise ValidationError("points", "expected a list of points")
        ids, vectors, payloads = [], [], []
        for i, p in enumerate(points):
            if not isinstance(p, Mapping):
                raise ValidationError(f"points[{i}]", "expected an object {id, vector, payload}")
            extra = set(p) - {"id", "vector", "payload"}
            if extra:
                raise ValidationError(f"points[{i}].{sorted(extra)[0]}", "unknown point field")
            if "id" not in p:
                raise ValidationError(f"points[{i}].id", "missing")
            if "vector" not in p:
                raise ValidationError(f"points[{i}].vector", "missing")
            ids.append(p["id"])
            vectors.append(unwrap_vector(p["vector"], f"points[{i}].vector"))
            payloads.append(p.get("payload"))
        return self._upsert(ids, vectors, payloads, lambda i, f: f"points[{i}].{f}")

    def upsert_batch(
        self, ids: Sequence[Any], vectors: Any, payloads: Sequence[Any] | None = None
    ) -> UpdateResult:
        """Insert or replace points given column-wise (Qdrant's batch form); ``vectors`` may be
        a list of lists or a float ``(n, dim)`` numpy array."""
        if isinstance(ids, str | bytes) or not isinstance(ids, Sequence | np.ndarray):
            raise ValidationError("batch.ids", "expected a list of point ids")
        n = len(ids)
        if len(vectors) != n:
            raise ValidationError("batch.vectors", f"expected {n} vectors, got {len(vectors)}")
        if payloads is not None and len(payloads) != n:
            raise ValidationError("batch.payloads", f"expected {n} payloads, got {len(payloads)}")
        if not isinstance(vectors, np.ndarray):
            vectors = [unwrap_vector(v, f"batch.vectors[{i}]") for i, v in enumerate(vectors)]
        return self._upsert(
            list(ids),
            vectors,
            payloads if payloads is not None else [None] * n,
            lambda i, f: f"batch.{f}s[{i}]",
        )

    def _upsert(
        self,
        ids: list[Any],
        vectors: Any,
        payloads: Sequence[Any],
        field: Callable[[int, str], str],
    ) -> UpdateResult:
        pids = [parse_point_id(v, field(i, "id")) for i, v in enumerate(ids)]
        check = check_multivectors if self._multi else check_vectors
        vecs = check(vectors, self.config.size, lambda i: field(i, "vector"), cosine=self._cosine)
        texts = [payload_json(p, field(i, "payload")) for i, p in enumerate(payloads)]
        keys = [id_key(p) for p in pids]
        last = {k: i for i, k in enumerate(keys)}  # last occurrence wins
        if len(last) < len(keys):
            order = sorted(last.values())
            keys = [keys[i] for i in order]
            vecs = [vecs[i] for i in order] if self._multi else vecs[order]
            texts = [texts[i] for i in order]
        if not keys:
            return UpdateResult(self._store.seq)
        with self._write_lock:
            # decided under the lock: a payload index created meanwhile must see these points
            parsed = [json.loads(t) for t in texts] if self._pindexes else [{}] * len(keys)
            store = self._store
            seq, labels, _existed = store.upsert(keys, [v.tobytes() for v in vecs], texts)
            self._apply_upsert(np.asarray(labels, dtype=np.int64), vecs, parsed)
        return UpdateResult(seq)

    def delete(self, points: Sequence[Any] | None = None, filter: Any = None) -> UpdateResult:
        """Delete points by ids (missing ids are ignored) or by filter."""
        with self._write_lock:
            labels = self._targets(points, filter, strict=False)
            if labels.size == 0:
                return UpdateResult(self._store.seq)
            seq = self._store.delete(labels.tolist())
            self._apply_delete(labels)
        return UpdateResult(seq)

    def _targets(self, points: Any, filter: Any, *, strict: bool) -> np.ndarray:
        """Labels addressed by ``points`` (ids) or ``filter``; call with the write lock held."""
        if (points is None) == (filter is None):
            raise ValidationError("points", "give either points (ids) or filter, not both/neither")
        if points is not None:
            pids = parse_point_ids(points, "points")
            keys = list(dict.fromkeys(id_key(p) for p in pids))
            found = self._store.lookup(keys, writer=True)
            if strict and len(found) < len(keys):
                missing = next(key_to_id(k) for k in keys if k not in found)
                raise PointNotFoundError(f"no point with id {missing} in collection {self.name!r}")
            return np.fromiter(found.values(), dtype=np.int64, count=len(found))
        flt = parse_filter(filter, "filter")
        with self._rw.read():
            return np.flatnonzero(self._selector().mask(flt)).astype(np.int64)

    def _rewrite_payloads(
        self, points: Any, filter: Any, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> UpdateResult:
        with self._write_lock:
            labels = self._targets(points, filter, strict=True)
            if labels.size == 0:
                return UpdateResult(self._store.seq)
            rows = self._store.rows(labels.tolist(), writer=True)
            new = [(lab, change(json.loads(r[3]))) for lab, r in rows.items()]
            texts = [(lab, payload_json(p, "payload")) for lab, p in new]
            seq = self._store.set_payloads(texts)
            self._apply_payloads(new)
        return UpdateResult(seq)

    def set_payload(
        self,
        payload: Mapping[str, Any],
        points: Sequence[Any] | None = None,
        filter: Any = None,
        key: str | None = None,
    ) -> UpdateResult:
        """Merge ``payload`` into the points' payloads (at nested object ``key`` if given)."""
        if payload is None:
            raise ValidationError("payload", "missing")
        payload_json(payload, "payload")
        path = parse_path(key, "key") if key is not None else None

        def change(p: dict[str, Any]) -> dict[str, Any]:
            if path is None:
                p.update(payload)
            else:
                set_at(p, path, dict(payload))
            return p

        return self._rewrite_payloads(points, filter, change)

    def overwrite_payload(
        self, payload: Mapping[str, Any], points: Sequence[Any] | None = None, filter: Any = None
    ) -> UpdateResult:
        """Replace the points' payloads with ``payload``."""
        payload_json(payload, "payload")
        return self._rewrite_payloads(points, filter, lambda p: dict(payload or {}))

    def delete_payload(
        self, keys: Sequence[str], points: Sequence[Any] | None = None, filter: Any = None
    ) -> UpdateResult:
        """Remove payload ``keys`` (paths allowed) from the points."""
        if isinstance(keys, str) or not isinstance(keys, Sequence):
            raise ValidationError("keys", "expected a list of payload keys")
        paths = [parse_path(k, f"keys[{i}]") for i, k in enumerate(keys)]

        def change(p: dict[str, Any]) -> dict[str, Any]:
            for path in paths:
                delete_at(p, path)
            return p

        return self._rewrite_payloads(points, filter, change)

    def clear_payload(
        self, points: Sequence[Any] | None = None, filter: Any = None
    ) -> UpdateResult:
        """Remove every payload key from the points."""
        return self._rewrite_payloads(points, filter, lambda p: {})

    # -- payload indexes -----------------------------------------------------------------------
    def create_payload_index(self, field_name: str, field_schema: Any) -> UpdateResult:
        """Index payload field ``field_name`` (keyword, integer, float or bool)."""
        parse_path(field_name, "field_name")
        schema = parse_schema(field_schema)
        with self._write_lock:
            idx = PayloadIndex(field_name, schema)
            for label, raw in self._store.iter_rows("label, payload", writer=True):
                idx.update(label, json.loads(raw))
            seq = self._store.set_payload_schema(field_name, schema)
            with self._rw.write():
                self._pindexes = {**self._pindexes, field_name: idx}
        return UpdateResult(seq)

    def delete_payload_index(self, field_name: str) -> UpdateResult:
        """Drop the payload index on ``field_name`` (no error if there is none)."""
        with self._write_lock:
            seq = self._store.set_payload_schema(field_name, None)
            with self._rw.write():
                self._pindexes = {k: v for k, v in self._pindexes.items() if k != field_name}
        return UpdateResult(seq)

    def payload_schema(self) -> dict[str, dict[str, Any]]:
        """Qdrant's ``payload_schema``: ``{field: {"data_type", "points"}}``."""
        with self._rw.read():
            return {
                k: {"data_type": v.schema, "points": v.points} for k, v in self._pindexes.items()
            }

    # ------------------------------------------------------------------------------------------
    # Reads
    # ------------------------------------------------------------------------------------------
    def retrieve(
        self, ids: Sequence[Any], with_payload: Any = True, with_vector: Any = False
    ) -> list[Record]:
        """Points with the given ids, in request order; missing ids are skipped."""
        pids = parse_point_ids(ids, "ids")
        sel = PayloadSelector.parse(with_payload)
        wv = parse_with_vector(with_vector)
        keys = list(dict.fromkeys(id_key(p) for p in pids))
        with self._rw.read():  # also keeps close() from closing the store under us
            found = self._store.lookup(keys)
            rows = self._store.rows(list(found.values()))
        return [
            self._record(rows[found[k]], sel, wv) for k in keys if k in found and found[k] in rows
        ]

    def _record(self, row: tuple, sel: PayloadSelector, with_vector: bool) -> Record:
        _label, key, blob, raw, _seq = row
        return Record(
            id=key_to_id(key),
            payload=sel.apply(json.loads(raw)) if sel.enabled else None,
            vector=self._decode(blob).tolist() if with_vector else None,
        )

    def count(self, filter: Any = None) -> int:
        """Number of points passing ``filter`` (all points when ``None``); always exact."""
        flt = parse_filter(filter, "filter")
        with self._rw.read():
            self._store  # noqa: B018  (raises if closed)
            if flt is None:
                return self._n_points
            return int(self._selector().mask(flt).sum())

    def scroll(
        self,
        filter: Any = None,
        limit: int = 10,
        offset: Any = None,
        with_payload: Any = True,
        with_vector: Any = False,
    ) -> tuple[list[Record], PointId | None]:
        """Points in id order from id ``offset`` (inclusive); returns ``(records, next_offset)``."""
        flt = parse_filter(filter, "filter")
        limit = check_int(limit, "limit", minimum=1)
        start = id_key(parse_point_id(offset, "offset")) if offset is not None else None
        sel = PayloadSelector.parse(with_payload)
        wv = parse_with_vector(with_vector)
        with self._rw.read():
            store = self._store
            if flt is None:
                pairs = store.scroll_keys(start, limit + 1)
            else:
                mask = self._selector().mask(flt)
                pairs = self._scroll_filtered(mask, start, limit + 1)
            page = pairs[:limit]
            rows = store.rows([lab for lab, _ in page])
        records = [self._record(rows[lab], sel, wv) for lab, _ in page if lab in rows]
        nxt = key_to_id(pairs[limit][1]) if len(pairs) > limit else None
        return records, nxt

    def _scroll_filtered(
        self, mask: np.ndarray, start: bytes | None, want: int
    ) -> list[tuple[int, bytes]]:
        store = self._store
        card = int(mask.sum())
        if card <= self.SCROLL_SORT_LIMIT:
            keys = store.pids(np.flatnonzero(mask).tolist())
            pairs = sorted(
                ((lab, k) for lab, k in keys.items() if start is None or k >= start),
                key=lambda t: t[1],
            )
            return pairs[:want]
        out: list[tuple[int, bytes]] = []
        page = max(256, 4 * want)
        cursor = start
        while len(out) < want:
            batch = store.scroll_keys(cursor, page + (cursor is not None and cursor != start))
            if cursor is not None and cursor != start:
                batch = batch[1:]  # the cursor row itself was already seen
            if not batch:
                break
            out.extend((lab, k) for lab, k in batch if lab < len(mask) and mask[lab])
            if len(batch) < page:
                break
            cursor = batch[-1][1]
        return out[:want]

    # -- search --------------------------------------------------------------------------------
    def search(
        self,
        vector: Any,
        limit: int = 10,
        offset: int = 0,
        filter: Any = None,
        params: Mapping[str, Any] | None = None,
        score_threshold: float | None = None,
        with_payload: Any = False,
        with_vector: Any = False,
        relevance_threshold: float | None = None,
    ) -> list[ScoredPoint]:
        """The ``limit`` best points for ``vector`` after skipping ``offset``, best first.

        ``params``: ``{"exact": true}`` for exact search, and per-call index parameters
        (``hnsw_ef`` / ``ef``, ``nprobe``, ...). ``filter``: Qdrant filter JSON or a parsed
        :class:`Filter`. ``k`` results come back whenever ``k`` points pass the filter.
        ``relevance_threshold`` (needs a fitted relevance model) drops hits whose calibrated
        relevance is below it, so fewer than ``limit`` (or no) hits may come back; the order
        of the hits is the order of ``score`` either way.
        """
        req = SearchRequest(
            vector=vector,
            limit=limit,
            offset=offset,
            filter=parse_filter(filter, "filter"),
            params=params,
            score_threshold=score_threshold,
            with_payload=PayloadSelector.parse(with_payload),
            with_vector=parse_with_vector(with_vector),
            relevance_threshold=relevance_threshold,
        )
        return self._search(req, "")

    def search_batch(
        self, requests: Sequence[SearchRequest | Mapping[str, Any]]
    ) -> list[list[ScoredPoint]]:
        """Several searches; each request is a :class:`SearchRequest` or Qdrant's search body.

        Every request is validated before any runs, so one bad request fails the batch."""
        if isinstance(requests, Mapping) or not isinstance(requests, Sequence):
            raise ValidationError("searches", "expected a list of search requests")
        parsed = [
            r if isinstance(r, SearchRequest) else SearchRequest.from_dict(r, f"searches[{i}]")
            for i, r in enumerate(requests)
        ]
        prepared = [self._prepare(r, f"searches[{i}]") for i, r in enumerate(parsed)]
        return [self._run_search(*p) for p in prepared]

    def _prepare(self, req: SearchRequest, field: str) -> tuple:
        pre = f"{field}." if field else ""
        q = self.check_query_vector(req.vector, f"{pre}vector")
        limit = check_int(req.limit, f"{pre}limit", minimum=1)
        offset = check_int(req.offset, f"{pre}offset", minimum=0)
        params, exact = self.itype.search_params(req.params, f"{pre}params")
        params_cls = self.itype.classes()[1]
        has_threads = any(f.name == "n_threads" for f in dataclasses.fields(params_cls))
        if has_threads and getattr(params, "n_threads", None) is None:
            params = dataclasses.replace(
                params if params is not None else params_cls(), n_threads=self.SEARCH_THREADS
            )
        thr = check_threshold(req.score_threshold, f"{pre}score_threshold")
        rthr = check_threshold(req.relevance_threshold, f"{pre}relevance_threshold")
        if rthr is not None:
            if not 0.0 <= rthr <= 1.0:
                raise ValidationError(
                    f"{pre}relevance_threshold", f"expected a number in [0, 1], got {rthr!r}"
                )
            if self._relevance is None:
                raise RelevanceModelMissingError(
                    f"{pre}relevance_threshold",
                    f"collection {self.name!r} has no relevance model; fit one first "
                    "(Collection.fit_relevance, `vecsearch relevance fit` or "
                    "PUT /collections/{name}/relevance)",
                )
        return (
            q,
            limit,
            offset,
            req.filter,
            params,
            exact,
            thr,
            req.with_payload,
            req.with_vector,
            rthr,
        )

    def check_query_vector(self, value: Any, field: str = "vector") -> np.ndarray:
        """A validated query: float32 ``(size,)``, or ``(m, size)`` for multi-vector
        collections (normalised for Cosine); errors name ``field``."""
        if self._multi:
            return check_multivector(value, self.config.size, field, cosine=self._cosine)
        return check_query(value, self.config.size, field, cosine=self._cosine)

    def _decode(self, blob: bytes) -> np.ndarray:
        """A stored vector: ``(size,)``, or ``(m, size)`` for multi-vector collections."""
        v = _vec(blob)
        return v.reshape(-1, self.config.size) if self._multi else v

    def _search(self, req: SearchRequest, field: str) -> list[ScoredPoint]:
        return self._run_search(*self._prepare(req, field))

    def _run_search(
        self,
        q: np.ndarray,
        limit: int,
        offset: int,
        flt: Filter | None,
        params: Any,
        exact: bool,
        thr: float | None,
        sel: PayloadSelector,
        with_vector: bool,
        rthr: float | None = None,
    ) -> list[ScoredPoint]:
        with self._rw.read():
            store = self._store
            model = self._relevance
            # never more hits than points: a huge limit or offset must not size the result
            # arrays (limit=10**12 would otherwise try to allocate terabytes)
            k = min(limit + offset, self._n_points)
            if model is not None and flt is None:  # the same search yields the features
                k = max(k, min(model.depth, self._n_points))
            mask = self._selector().mask(flt) if flt is not None else None
            plan = choose_plan(
                mask,
                self._n_points,
                dim=self.config.size,
                full_scan_threshold_kb=self.config.full_scan_threshold_kb,
                index_exact=self.itype.exact,
                index_ready=self._index_ready,
                force_exact=exact,
            )
            self.last_plan = plan.strategy
            if plan.strategy == "none":
                return []
            if plan.strategy == "index":
                labels, dists = self._index_search(q, k, params, plan)
            else:
                labels, dists = self._exact_search(q, k, plan, getattr(params, "n_threads", None))
            scores = self._scores(dists)
            rel = None
            if model is not None:
                top = scores[: model.depth] if flt is None else self._top_scores(q, model.depth)[1]
                rel = model.relevance(q[None, :], [top], [scores])[0]
            keep = np.ones(len(scores), dtype=bool)
            if thr is not None:
                keep &= scores >= thr if self.config.distance.higher_is_better else scores <= thr
            if rthr is not None and rel is not None:
                keep &= rel >= rthr
            labels, scores = labels[keep], scores[keep]
            labels, scores = labels[offset : offset + limit], scores[offset : offset + limit]
            rels = rel[keep][offset : offset + limit].tolist() if rel is not None else None
            rows = store.rows(labels.tolist())
        out = []
        for i, (lab, score) in enumerate(zip(labels.tolist(), scores.tolist(), strict=True)):
            row = rows.get(lab)
            if row is None:
                continue  # deleted after the search saw it
            rel_i = float(rels[i]) if rels is not None else None
            out.append(self._scored_point(row, score, sel, with_vector, rel_i))
        return out

    def score_points(
        self, vector: Any, ids: Sequence[PointId], field: str = "query"
    ) -> list[tuple[PointId, float]]:
        """Exact scores of the points ``ids`` for ``vector`` (in Qdrant's scale: similarity
        for Cosine / Dot, distance for Euclid), best first; ids that do not exist are left
        out. The re-scoring step of staged queries (a nearest query over prefetch results)."""
        if self._multi:
            raise ValidationError(
                field, "re-scoring prefetched points is not supported for multi-vector collections"
            )
        q = check_query(vector, self.config.size, field, cosine=self._cosine)
        keys = list(dict.fromkeys(id_key(p) for p in ids))
        with self._rw.read():
            found = self._store.lookup(keys)
            if not found:
                return []
            id_of = {label: key for key, label in found.items()}
            labels, vecs = self._vectors_of(np.fromiter(found.values(), dtype=np.int64))
        if labels.size == 0:
            return []
        labels, d = self._ranked_exact(q, labels, vecs, len(labels))
        scores = self._scores(d)
        return [
            (key_to_id(id_of[lab]), float(s))
            for lab, s in zip(labels.tolist(), scores.tolist(), strict=True)
        ]

    def scored_points(
        self,
        hits: Sequence[tuple[PointId, float]],
        with_payload: Any = False,
        with_vector: Any = False,
    ) -> list[ScoredPoint]:
        """:class:`ScoredPoint` records for ``(id, score)`` pairs, in the given order, with
        payload and vector as asked; points deleted meanwhile are left out."""
        sel = PayloadSelector.parse(with_payload)
        wv = parse_with_vector(with_vector)
        keys = [id_key(p) for p, _ in hits]
        with self._rw.read():
            found = self._store.lookup(keys)
            rows = self._store.rows(list(found.values()))
        out = []
        for key, (_pid, score) in zip(keys, hits, strict=True):
            row = rows.get(found.get(key, -1))
            if row is None:
                continue
            out.append(self._scored_point(row, score, sel, wv))
        return out

    def _scored_point(
        self,
        row: tuple,
        score: float,
        sel: PayloadSelector,
        with_vector: bool,
        relevance: float | None = None,
    ) -> ScoredPoint:
        """A result record from a store row ``(label, key, vector blob, payload, seq)``."""
        _l, key, blob, raw, seq = row
        return ScoredPoint(
            id=key_to_id(key),
            version=int(seq),
            score=float(score),
            payload=sel.apply(json.loads(raw)) if sel.enabled else None,
            vector=self._decode(blob).tolist() if with_vector else None,
            relevance=relevance,
        )

    def _top_scores(self, q: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """Labels and scores of the unfiltered top ``depth`` hits of ``q`` (read lock held):
        the candidates that relevance features and training pairs are made of."""
        k = min(depth, self._n_points)
        plan = choose_plan(
            None,
            self._n_points,
            dim=self.config.size,
            full_scan_threshold_kb=self.config.full_scan_threshold_kb,
            index_exact=self.itype.exact,
            index_ready=self._index_ready,
            force_exact=False,
        )
        if plan.strategy == "none" or k == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        params, _exact = self.itype.search_params(None, "params")
        params_cls = self.itype.classes()[1]
        if any(f.name == "n_threads" for f in dataclasses.fields(params_cls)):
            params = dataclasses.replace(
                params if params is not None else params_cls(), n_threads=self.SEARCH_THREADS
            )
        if plan.strategy == "index":
            labels, dists = self._index_search(q, k, params, plan)
        else:
            labels, dists = self._exact_search(q, k, plan)
        return labels, self._scores(dists)

    # -- relevance calibration -----------------------------------------------------------------
    def _load_relevance(self) -> RelevanceModel | None:
        raw = self._store.get_meta(RELEVANCE_KEY)
        if raw is None:
            return None
        try:
            return RelevanceModel.from_dict(json.loads(raw))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("collection %s: stored relevance model unusable (%s)", self.name, exc)
            return None

    def fit_relevance(
        self,
        queries: Any,
        relevant: Sequence[Any],
        *,
        min_gain: float | None = None,
        depth: int = DEFAULT_DEPTH,
        n_components: int = DEFAULT_COMPONENTS,
        ridge: float | None = None,
        folds: int = 5,
        seed: int = 0,
    ) -> dict[str, Any]:
        """Fit, store and start using a relevance model from labelled queries.

        ``queries``: ``(n, dim)`` query vectors (list of lists or array). ``relevant[i]``: the
        relevant point ids of query ``i`` (a list), or judgements ``{id: gain}`` where a gain
        ``> 0`` (or ``>= min_gain`` when given) means relevant and lower gains are judged
        non-relevant. Every id must exist and every query needs a relevant id; otherwise
        :class:`RelevanceLabelError` names the offending entry and nothing changes.

        Each query's top-``depth`` hits are the training pairs (see :mod:`vecsearch.relevance`);
        ``folds``-fold cross-validation over queries gives the held-out report returned (and
        stored). ``ridge=None`` chooses the ridge strength by inner cross-validation.
        Deterministic for a given ``seed`` and collection content.
        """
        if self._multi:
            raise RelevanceUnsupportedError(
                "vectors.multivector_config",
                f"relevance calibration needs single-vector Cosine scores; collection "
                f"{self.name!r} is multi-vector (MaxSim)",
            )
        if not self._cosine:
            raise RelevanceUnsupportedError(
                "vectors.distance",
                f"relevance calibration needs Cosine distance; collection {self.name!r} uses "
                f"{self.config.distance.value}",
            )
        depth = check_int(depth, "depth", minimum=2)
        folds = check_int(folds, "folds", minimum=2)
        n_components = check_int(n_components, "n_components", minimum=0)
        seed = check_int(seed, "seed", minimum=0)
        if ridge is not None:
            ridge = check_threshold(ridge, "ridge")
            if ridge is None or ridge < 0:
                raise ValidationError("ridge", f"expected a number >= 0, got {ridge!r}")
        gain_floor = check_threshold(min_gain, "min_gain")
        if isinstance(queries, str | bytes | Mapping) or not isinstance(
            queries, Sequence | np.ndarray
        ):
            raise ValidationError("queries", "expected a list of query vectors")
        if len(queries) == 0:
            raise RelevanceLabelError("queries", "no labelled queries")
        qs = check_vectors(queries, self.config.size, lambda i: f"queries[{i}]", cosine=True)
        if isinstance(relevant, str | bytes | Mapping) or not isinstance(relevant, Sequence):
            raise RelevanceLabelError("relevant", "expected a list with one entry per query")
        if len(relevant) != len(qs):
            raise RelevanceLabelError(
                "relevant", f"expected {len(qs)} entries (one per query), got {len(relevant)}"
            )
        if len(qs) < folds:
            raise RelevanceLabelError(
                "queries", f"need at least folds={folds} labelled queries, got {len(qs)}"
            )
        wanted = [
            self._relevant_keys(item, f"relevant[{i}]", gain_floor)
            for i, item in enumerate(relevant)
        ]
        all_keys = list(dict.fromkeys(k for keys in wanted for k in keys))
        found = self._store.lookup(all_keys)
        for i, keys in enumerate(wanted):
            for key in keys:
                if key not in found:
                    raise RelevanceLabelError(
                        f"relevant[{i}]",
                        f"unknown point id {key_to_id(key)} in collection {self.name!r}",
                    )
        scores: list[np.ndarray] = []
        labels: list[np.ndarray] = []
        with self._rw.read():
            self._store  # noqa: B018  (raises if closed)
            for q, keys in zip(qs, wanted, strict=True):
                lab, sc = self._top_scores(q, depth)
                rel = np.fromiter((found[k] for k in keys), np.int64, count=len(keys))
                scores.append(sc.astype(np.float64))
                labels.append(np.isin(lab, rel).astype(np.float64))
            seq = self._store.seq
        data = TrainingSet(
            qs.astype(np.float64), scores, labels, np.array([len(k) for k in wanted], float)
        )
        try:
            with _one_blas_thread():
                model = fit_relevance_model(
                    data,
                    depth=depth,
                    n_components=n_components,
                    ridge=ridge,
                    folds=folds,
                    seed=seed,
                )
        except RelevanceFitError as exc:
            raise RelevanceLabelError("relevant", str(exc)) from None
        with self._write_lock:
            old = self._relevance
            model.meta.update(
                revision=(int(old.meta.get("revision", 0)) if old is not None else 0) + 1,
                collection_uuid=self.uuid,
                fitted_at_seq=seq,
                points_count=self._n_points,
                fitted_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                min_gain=gain_floor,
            )
            self._store.set_meta({RELEVANCE_KEY: json.dumps(model.to_dict())})
            with self._rw.write():
                self._relevance = model
        return self.relevance_info()

    @staticmethod
    def _relevant_keys(item: Any, field: str, gain_floor: float | None) -> list[bytes]:
        """Id keys judged relevant in one query's labels (see :meth:`fit_relevance`)."""
        if isinstance(item, Mapping):
            keys = []
            for pid, gain in item.items():
                key = id_key(parse_point_id(pid, f"{field}.{pid}"))
                g = check_threshold(gain, f"{field}.{pid}")
                if g is None:
                    raise RelevanceLabelError(f"{field}.{pid}", "gain must be a number")
                if (g > 0) if gain_floor is None else (g >= gain_floor):
                    keys.append(key)
        elif isinstance(item, Sequence | np.ndarray) and not isinstance(item, str | bytes):
            keys = [id_key(p) for p in parse_point_ids(list(item), field)]
        else:
            raise RelevanceLabelError(field, "expected a list of point ids or {id: gain}")
        if not keys:
            raise RelevanceLabelError(field, "no relevant point id (empty set)")
        return list(dict.fromkeys(keys))

    @property
    def relevance_model(self) -> RelevanceModel | None:
        """The fitted relevance model, or None."""
        return self._relevance

    def relevance_info(self) -> dict[str, Any]:
        """The fitted model's description and held-out report (``RelevanceModelNotFoundError``
        when there is none)."""
        model = self._relevance
        if model is None:
            raise RelevanceModelNotFoundError(f"collection {self.name!r} has no relevance model")
        d = model.to_dict()
        return {
            "format": d["format"],
            "version": d["version"],
            "revision": model.meta.get("revision"),
            "depth": model.depth,
            "feature_names": d["feature_names"],
            "ridge": model.ridge,
            "meta": model.meta,
            "report": model.report,
        }

    def delete_relevance(self) -> None:
        """Remove the relevance model (``RelevanceModelNotFoundError`` if there is none)."""
        with self._write_lock:
            if self._relevance is None:
                raise RelevanceModelNotFoundError(
                    f"collection {self.name!r} has no relevance model"
                )
            self._store.delete_meta(RELEVANCE_KEY)
            with self._rw.write():
                self._relevance = None

    def _index_search(
        self, q: np.ndarray, k: int, params: Any, plan: Plan
    ) -> tuple[np.ndarray, np.ndarray]:
        allow = None if plan.mask is None else self._allow(plan.mask)
        ids, dists = self._index.search([q] if self._multi else q[None, :], k, params, allow)
        keep = ids[0] >= 0
        return ids[0][keep], dists[0][keep].astype(np.float64)

    def _allow(self, mask: np.ndarray) -> np.ndarray:
        """The index's ``allow`` argument for a mask over labels (the index's ids).

        Indexes built in label order keep point ``label`` in slot ``label`` (free slots and
        tombstones aside). That fact is checked once per index change and cached, and while
        it holds the slot mask is the label mask AND the cached "slot holds a point" mask:
        10 us of CPU for 390k slots, against 278 us for translating through the slots' ids
        (``id_mask_allow``, the fallback) and 718 us for the numpy translation it replaces."""
        to_slots = getattr(self._index, "id_mask_allow", None)
        if to_slots is None:
            return np.flatnonzero(mask).astype(np.int64)
        cache = self._slot_cache
        if cache is None or cache[0] != self._index_epoch:
            sid = np.asarray(self._index.slot_ids())
            valid = sid >= 0
            identity = bool(np.all((sid == np.arange(sid.shape[0])) | ~valid))
            cache = self._slot_cache = (self._index_epoch, identity, valid)
        _, identity, valid = cache
        if not identity:
            return to_slots(mask)[0]
        n = valid.shape[0]
        if mask.shape[0] >= n:
            return mask[:n] & valid
        out = np.zeros(n, dtype=np.bool_)
        out[: mask.shape[0]] = mask
        out &= valid
        return out

    def _exact_search(
        self, q: np.ndarray, k: int, plan: Plan, n_threads: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact search over the allowed points: by the index's own scan when it keeps exact
        vectors (``search_exact``), else over vectors gathered from the index or the store."""
        if self._index_ready and not self._multi:
            allow = None if plan.mask is None else self._allow(plan.mask)
            try:
                ids, dists = self._index.search_exact(q[None, :], k, allow, n_threads=n_threads)
            except UnsupportedOperationError:
                pass  # the index keeps no exact vectors: gather them below
            else:
                keep = ids[0] >= 0
                return ids[0][keep], dists[0][keep].astype(np.float64)
        labels = np.flatnonzero(plan.mask if plan.mask is not None else self._alive)
        if self._multi:
            return self._exact_maxsim(q, labels.astype(np.int64), k)
        labels, vecs = self._vectors_of(labels.astype(np.int64))
        if labels.size == 0:
            return labels, np.zeros(0)
        return self._ranked_exact(q, labels, vecs, k)

    def _ranked_exact(
        self, q: np.ndarray, labels: np.ndarray, vecs: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best of ``labels`` (rows ``vecs``) by exact float64 distance to ``q``,
        ties by label; distances rounded through float32 like the indexes' results."""
        v = vecs.astype(np.float64)
        qq = q.astype(np.float64)
        if self.config.metric == "l2":
            d = ((v - qq) ** 2).sum(axis=1)
        elif self.config.metric == "ip":
            d = -(v @ qq)
        else:
            d = 1.0 - v @ qq
        order = np.lexsort((labels, d))[:k]
        return labels[order], d[order].astype(np.float32).astype(np.float64)

    def _exact_maxsim(
        self, q: np.ndarray, labels: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact MaxSim top-``k`` over ``labels`` (distances ``-MaxSim``, ties by label), from
        the index's token vectors when it has them all, else from the store, in chunks."""
        from indexes.muvera import maxsim_scores  # lazily: only multi-vector collections

        out_l: list[np.ndarray] = []
        out_d: list[np.ndarray] = []
        qq = (q, np.array([0, q.shape[0]], dtype=np.int64))
        for s in range(0, labels.size, self.REBUILD_CHUNK):
            part = labels[s : s + self.REBUILD_CHUNK]
            found, tokens, offsets = self._sets_of(part)
            if found.size == 0:
                continue
            scores = maxsim_scores(qq, (tokens, offsets))[0]
            out_l.append(found)
            out_d.append(-scores)
        if not out_l:
            return np.zeros(0, np.int64), np.zeros(0)
        lab, d = np.concatenate(out_l), np.concatenate(out_d)
        order = np.lexsort((lab, d))[:k]
        return lab[order], d[order].astype(np.float32).astype(np.float64)

    def _sets_of(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(labels found, tokens, offsets)`` of multi-vector points."""
        get = getattr(self._index, "get_sets", None)
        if get is not None and self._index_ready and labels.size:
            found, tokens, offsets = get(labels)
            if found.size == labels.size:
                return found, tokens, offsets
        blobs = self._store.vectors(labels.tolist())
        kept = [lab for lab in labels.tolist() if lab in blobs]
        sets = [self._decode(blobs[lab]) for lab in kept]
        sizes = np.array([x.shape[0] for x in sets], dtype=np.int64)
        tokens = np.concatenate(sets) if sets else np.zeros((0, self.config.size), np.float32)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        return np.asarray(kept, dtype=np.int64), np.ascontiguousarray(tokens), offsets

    def _vectors_of(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stored vectors of ``labels`` (from the index when it keeps exact vectors)."""
        get = getattr(self._index, "get_vectors", None)
        if get is not None and self._index_ready and labels.size:
            try:
                vecs = np.asarray(get(labels), dtype=np.float32)
                if vecs.shape == (labels.size, self.config.size):
                    return labels, vecs
            except Exception:
                pass
        blobs = self._store.vectors(labels.tolist())
        kept = np.asarray([lab for lab in labels.tolist() if lab in blobs], dtype=np.int64)
        if kept.size == 0:
            return kept, np.zeros((0, self.config.size), dtype=np.float32)
        return kept, np.stack([_vec(blobs[lab]) for lab in kept.tolist()])

    def _scores(self, dists: np.ndarray) -> np.ndarray:
        if self._multi:
            return -dists  # distances are -MaxSim
        metric = self.config.metric
        if metric == "cosine":
            return 1.0 - dists
        if metric == "ip":
            return -dists
        return np.sqrt(np.maximum(dists, 0.0))

    # ------------------------------------------------------------------------------------------
    # Persistence and lifecycle
    # ------------------------------------------------------------------------------------------
    def save_index(self) -> None:
        """Save the index with the sequence number it reflects; prune obsolete tombstones.

        Blocks writers of this collection for the duration (searches continue)."""
        with self._persist_lock, self._write_lock:
            self._save_index_locked()

    def _save_index_locked(self) -> None:
        """Save with the persist and write locks held (see :meth:`save_index`)."""
        store = self._store
        if not self._index_ready:
            self._files.remove()
            return
        state = {
            "uuid": self.uuid,
            "index_type": self.config.index.type,
            "params": self.config.index.params,
            "applied_seq": store.seq,
            "dim": self.config.size,
            "metric": self.config.metric,
        }
        self._files.save(self._index, state)
        store.prune_tombstones(store.seq)

    flush = save_index

    def rebuild_index(self) -> None:
        """Rebuild the index from the store and save it (e.g. after changing index code).

        Searches wait while the new index is built."""
        with self._persist_lock, self._write_lock:
            with self._rw.write():
                self._rebuild_index()
            self._save_index_locked()

    def close(self, *, save_index: bool = True) -> None:
        """Save the index (unless ``save_index=False``) and release the collection."""
        with self._persist_lock, self._write_lock:  # same order as save_index()
            if self._closed:
                return
            try:
                if save_index:
                    self._save_index_locked()
            finally:
                with self._rw.write():
                    self._closed = True
                if self.store is not None:
                    self.store.close()
                _unlock(self._lock_fd)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def info(self) -> dict[str, Any]:
        """Qdrant-shaped collection info, plus a ``vecsearch`` section."""
        with self._rw.read():
            store = self._store
            n = self._n_points
            indexed = int(getattr(self._index, "ntotal", 0)) if self._index_ready else 0
        params = {
            "vectors": self.config.vectors_dict(),
            "shard_number": 1,
            "replication_factor": 1,
            "write_consistency_factor": 1,
            "on_disk_payload": True,
        }
        hnsw = {
            "m": 0,  # Qdrant's way of saying "no HNSW graph"
            "ef_construct": 0,
            "full_scan_threshold": self.config.full_scan_threshold_kb,
            "max_indexing_threads": 0,
            "on_disk": False,
        }
        if self.config.index.type == "hnsw":
            hnsw.update(
                m=self.config.index.params.get("M", 16),
                ef_construct=self.config.index.params.get("ef_construction", 200),
            )
        return {
            "status": "green",
            "optimizer_status": "ok",
            "points_count": n,
            "indexed_vectors_count": indexed,
            "segments_count": 1,
            "config": {
                "params": params,
                "hnsw_config": hnsw,
                # fixed values: an embedded single-segment engine has no optimizer or WAL
                # settings, but Qdrant clients expect these objects
                "optimizer_config": dict(_OPTIMIZER_CONFIG),
                "wal_config": {"wal_capacity_mb": 0, "wal_segments_ahead": 0},
                "quantization_config": None,
            },
            "payload_schema": self.payload_schema(),
            "vecsearch": {
                "index": {
                    "type": self.config.index.type,
                    "params": self.config.index.params,
                    "ready": self._index_ready,
                },
                "seq": store.seq,
                "uuid": self.uuid,
                "relevance": (
                    {"fitted": True, "revision": self._relevance.meta.get("revision")}
                    if self._relevance is not None
                    else {"fitted": False}
                ),
            },
        }

    # -- bulk loading (vecsearch build) --------------------------------------------------------
    def bulk_index_add(self, vectors: np.ndarray, labels: np.ndarray) -> None:
        """Add rows already written to the store (bulk build, no concurrent readers).

        Types that need training buffer rows until they have enough to train on."""
        if self._multi:
            raise ValidationError("vectors", "bulk build does not take multi-vector points")
        with self._rw.write():
            self._grow(int(labels.max()))
            self._n_points += int((~self._alive[labels]).sum())
            self._alive[labels] = True
            if self._index_ready:
                self._index_epoch += 1  # invalidates the slot cache (_allow)
                self._index.add(vectors, labels)
                return
            self._train_buffer.append((vectors, labels))
            if self._n_points >= self.itype.min_train_points(self.config.index.params):
                x = np.concatenate([v for v, _ in self._train_buffer])
                ids = np.concatenate([i for _, i in self._train_buffer])
                self._train_buffer = []
                self._index.train(x)
                self._index_ready = True
                self._index_epoch += 1  # invalidates the slot cache (_allow)
                self._index.add(x, ids)


def _batches(
    rows: Iterator[tuple[int, bytes]], size: int, dim: int, multi: bool = False
) -> Iterator[tuple[np.ndarray, Any]]:
    """Group ``(label, vector blob)`` rows into ``(labels, float32 (n, dim))`` batches, or
    ``(labels, list of (m_i, dim) arrays)`` for multi-vector points."""
    labels: list[int] = []
    blobs: list[bytes] = []

    def rows_of(blobs: list[bytes]) -> Any:
        if multi:
            return [_vec(b).reshape(-1, dim) for b in blobs]
        return _F32_rows(blobs, dim)

    for label, blob in rows:
        labels.append(label)
        blobs.append(blob)
        if len(labels) == size:
            yield np.asarray(labels, np.int64), rows_of(blobs)
            labels, blobs = [], []
    if labels:
        yield np.asarray(labels, np.int64), rows_of(blobs)


def _F32_rows(blobs: list[bytes], dim: int) -> np.ndarray:
    return np.frombuffer(b"".join(blobs), dtype=_F32).reshape(len(blobs), dim).copy()


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Limit BLAS to one thread while fitting (threadpoolctl, when installed): the fit's
    small matrix products were measured 10-70x slower with OpenBLAS threads on a loaded
    2-core machine (an 93 x 384 SVD: 0.1 s idle, 3.6 s under load)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


def _lock_dir(path: Path, name: str) -> int:
    """Take an exclusive advisory lock on the collection directory (one process at a time)."""
    try:
        fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:
        raise CollectionNotFoundError(f"collection {name!r} does not exist") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise CollectionLockedError(
            f"collection {name!r} is open in another process or Database object"
        ) from None
    return fd


def _unlock(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
