"""A collection: points (id, named vectors, payload) in a durable store, one vector space
per vector name, payload indexes, and Qdrant's operations.

This class is the facade: it owns the store (:mod:`vecsearch.store`), the vector spaces
(:mod:`vecsearch.space`), the payload indexes and the locks, and runs the write path. Queries
go to the query module (:mod:`vecsearch.query`), relevance fitting to
:mod:`vecsearch.relevance_fit`, background index rebuilds to :mod:`vecsearch.rebuild`;
Qdrant's collection-info JSON is the service's business (it calls :meth:`describe`).

Write path (one writer at a time per collection, readers never wait for the disk):

1. validate everything (a rejected request changes nothing);
2. commit to the SQLite store (durable when the call returns; the write gets a new ``seq``);
3. apply to the in-memory state (spaces' indexes, live-label mask, payload indexes) under the
   exclusive side of a readers-writer lock, in chunks of :attr:`Collection.APPLY_CHUNK`
   points so concurrent searches are delayed by at most one chunk.

A write is visible to every search that starts after the call returns. If the process dies
between 2 and 3, the next open brings each index up to date from the store; if step 3 fails
in-process, the in-memory state is rebuilt from the store.

Scores follow Qdrant: ``Cosine`` = cosine similarity, ``Dot`` = inner product (higher is
better), ``Euclid`` = Euclidean distance (lower is better), multi-vector spaces MaxSim (the
sum over the query's vectors of the best similarity among the point's vectors).
``score_threshold`` keeps scores at least (similarities) or at most (Euclid) the
threshold. For ``Cosine`` the stored and returned vectors are unit-normalised, as Qdrant
does.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from vecsearch.config import CollectionConfig
from vecsearch.config_qdrant import parse_patch
from vecsearch.errors import (
    CollectionNotFoundError,
    PointNotFoundError,
    RelevanceModelMissingError,
    RelevanceModelNotFoundError,
    StorageError,
    ValidationError,
)
from vecsearch.filters import Filter, parse_filter
from vecsearch.ids import PointId, id_key, key_to_id, parse_point_id, parse_point_ids
from vecsearch.index_files import fsync_dir
from vecsearch.locks import RWLock, lock_dir, unlock
from vecsearch.models import (
    PayloadSelector,
    Record,
    ScoredPoint,
    UpdateResult,
    VectorSelector,
)
from vecsearch.payload_index import PayloadIndex, parse_schema
from vecsearch.payload_path import delete_at, parse_path, set_at
from vecsearch.planner import Selector
from vecsearch.point_input import Column, batch_columns, point_columns, take
from vecsearch.query import Query, parse_query, parse_search, run
from vecsearch.rebuild import Rebuilder
from vecsearch.relevance import DEFAULT_COMPONENTS, DEFAULT_DEPTH, RelevanceModel
from vecsearch.relevance_fit import RELEVANCE_KEY, fit_model, load_model, model_info, model_using
from vecsearch.space import VectorSpace
from vecsearch.store import Store
from vecsearch.validate import check_int, check_threshold, payload_json

log = logging.getLogger(__name__)

STORE_FILE = "store.sqlite"


class Collection:
    """One collection of a :class:`vecsearch.database.Database` (thread-safe)."""

    #: Points applied to the in-memory indexes per exclusive-lock section.
    APPLY_CHUNK = 512
    #: Filters allowing at most this many points are scrolled by sorting their ids.
    SCROLL_SORT_LIMIT = 20_000

    def __init__(self, name: str, path: str | os.PathLike[str], *, bulk: bool = False) -> None:
        """Open the collection stored in directory ``path`` (see :meth:`create`)."""
        self.name = name
        self.path = Path(path)
        self._lock_fd = lock_dir(self.path, name)
        self._store: Store | None = None
        try:
            self._store = Store(self.path / STORE_FILE, bulk=bulk)
            raw = self._store.get_meta("config")
            if raw is None:
                raise StorageError(f"{self.path} is not a vecsearch collection (no config)")
            self.config = CollectionConfig.from_stored(json.loads(raw))
            self.uuid = str(self._store.get_meta("uuid"))
            self._write_lock = threading.RLock()
            self._persist_lock = threading.Lock()
            self._rw = RWLock()
            self._closed = False
            _adopt_schema1_index(self.path)
            self.spaces: dict[str, VectorSpace] = {
                s.name: VectorSpace(s, self.path, name) for s in self.config.spaces
            }
            for space in self.spaces.values():
                space.files.cleanup()
            #: Strategy of the last search ("none", "index", "exact"), for tests and metrics.
            self.last_plan = ""
            self._load_memory_state()
            self._relevance = load_model(self._store.get_meta(RELEVANCE_KEY), name)
            self.rebuilder = Rebuilder(self)
        except BaseException:
            if self._store is not None:
                self._store.close()
            unlock(self._lock_fd)
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
            store.initialise(config.to_dict(), [s.id for s in config.spaces])
        finally:
            store.close()
        return cls(name, p, bulk=bulk)

    # ------------------------------------------------------------------------------------------
    # In-memory state
    # ------------------------------------------------------------------------------------------
    def _load_memory_state(self) -> None:
        store = self.store
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
        for space in self.spaces.values():
            space.grow(len(self._alive))
            space.open(store, self.uuid)
            self._grow(len(space.present) - 1)

    def _grow(self, max_label: int) -> None:
        """Room for label ``max_label`` in the live mask and every space's mask (which are
        kept the same length, so masks combine without copies)."""
        if max_label >= len(self._alive):
            new = np.zeros(max(2 * len(self._alive), max_label + 1), dtype=bool)
            new[: len(self._alive)] = self._alive
            self._alive = new
        for space in self.spaces.values():
            space.grow(len(self._alive))

    @property
    def store(self) -> Store:
        """The durable store (:class:`CollectionNotFoundError` once closed)."""
        if self._closed or self._store is None:
            raise CollectionNotFoundError(f"collection {self.name!r} is closed or was deleted")
        return self._store

    def space(self, name: str | None, field: str = "using") -> VectorSpace:
        """The vector space ``name`` (``None`` / ``""``: the unnamed vector)."""
        space = self.spaces.get(name or "")
        if space is None:
            self.config.space(name, field)  # raises, naming the vectors that exist
            raise AssertionError("config and spaces disagree")  # pragma: no cover
        return space

    @property
    def index_source(self) -> str:
        """How the first space's index came up at open ("loaded" or "rebuilt")."""
        return next(iter(self.spaces.values())).index_source

    @property
    def point_count(self) -> int:
        """Number of points (live)."""
        return self._n_points

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Hold the shared lock (and fail clearly if the collection is closed)."""
        with self._rw.read():
            self.store  # noqa: B018  (raises if closed)
            yield

    def _selector(self) -> Selector:
        return Selector(
            self._alive,
            self._pindexes,
            self._id_labels,
            self._payload_source,
            {name: s.present for name, s in self.spaces.items()},
        )

    def filter_mask(self, flt: Filter) -> np.ndarray:
        """Boolean mask of the live labels passing ``flt`` (shared lock held)."""
        return self._selector().mask(flt)

    def _id_labels(self, ids: Iterable[PointId]) -> np.ndarray:
        found = self.store.lookup([id_key(i) for i in ids])
        return np.fromiter(found.values(), dtype=np.int64, count=len(found))

    def _payload_source(
        self, labels: np.ndarray | None
    ) -> Iterator[tuple[int, PointId, dict[str, Any]]]:
        store = self.store
        if labels is None:
            for label, key, raw in store.iter_rows("label, pid, payload"):
                yield label, key_to_id(bytes(key)), json.loads(raw)
            return
        for i in range(0, len(labels), 10_000):
            rows = store.rows(labels[i : i + 10_000].tolist())
            for label, key, raw, _seq in rows.values():
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

    def _apply_vectors(
        self,
        labels: np.ndarray,
        columns: Sequence[Column],
        *,
        replace_points: np.ndarray | None = None,
        payloads: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        """Apply written vectors (and, for upserts, payloads and the removal of the vectors
        that replaced points no longer have) in chunks under the exclusive lock."""
        store = self.store
        has = {}
        if replace_points is not None:  # which batch positions give each space a vector
            for space in self.spaces.values():
                has[space.name] = np.zeros(len(labels), dtype=bool)
            for col in columns:
                has[col.space.name][col.positions] = True

        def run() -> None:
            for s in range(0, len(labels), self.APPLY_CHUNK):
                e = min(s + self.APPLY_CHUNK, len(labels))
                lab = labels[s:e]
                with self._rw.write():
                    if payloads is not None:
                        self._grow(int(lab.max()))
                        self._n_points += int((~self._alive[lab]).sum())
                        self._alive[lab] = True
                    for col in columns:
                        lo, hi = np.searchsorted(col.positions, [s, e])
                        if hi > lo:
                            self.spaces[col.space.name].add(
                                labels[col.positions[lo:hi]], col.vectors[lo:hi], store
                            )
                    if replace_points is not None:  # replaced points lose what they lack
                        for space in self.spaces.values():
                            gone = replace_points[s:e] & ~has[space.name][s:e]
                            if gone.any():
                                space.remove(lab[gone])
                    if payloads is not None:
                        for idx in self._pindexes.values():
                            for one, p in zip(lab.tolist(), payloads[s:e], strict=True):
                                idx.update(one, p)

        self._apply(run)

    def _apply_delete(self, labels: np.ndarray) -> None:
        def run() -> None:
            for s in range(0, len(labels), self.APPLY_CHUNK):
                lab = labels[s : s + self.APPLY_CHUNK]
                with self._rw.write():
                    for space in self.spaces.values():
                        space.remove(lab)
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
    # Writes: points and vectors
    # ------------------------------------------------------------------------------------------
    def upsert(self, points: Sequence[Mapping[str, Any]]) -> UpdateResult:
        """Insert or replace points given as ``{"id", "vector", "payload"}`` (Qdrant's list
        form; ``vector`` may be ``{name: vector}``, see :mod:`vecsearch.point_input`).

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
            if "vector" not in p and not self.config.named:
                raise ValidationError(f"points[{i}].vector", "missing")
            ids.append(p["id"])
            vectors.append(p.get("vector"))
            payloads.append(p.get("payload"))
        pids = [parse_point_id(v, f"points[{i}].id") for i, v in enumerate(ids)]
        columns = point_columns(self.config, vectors, lambda i: f"points[{i}].vector")
        texts = [payload_json(p, f"points[{i}].payload") for i, p in enumerate(payloads)]
        return self._upsert(pids, columns, texts)

    def upsert_batch(
        self, ids: Sequence[Any], vectors: Any, payloads: Sequence[Any] | None = None
    ) -> UpdateResult:
        """Insert or replace points given column-wise (Qdrant's batch form); ``vectors`` is a
        list of lists or a float ``(n, dim)`` array (the unnamed vector), or ``{name: list of
        vectors}``."""
        if isinstance(ids, str | bytes) or not isinstance(ids, Sequence | np.ndarray):
            raise ValidationError("batch.ids", "expected a list of point ids")
        n = len(ids)
        if payloads is not None and len(payloads) != n:
            raise ValidationError("batch.payloads", f"expected {n} payloads, got {len(payloads)}")
        pids = [parse_point_id(v, f"batch.ids[{i}]") for i, v in enumerate(ids)]
        columns = batch_columns(self.config, vectors, n, "batch.vectors")
        texts = [
            payload_json(p, f"batch.payloads[{i}]") for i, p in enumerate(payloads or [None] * n)
        ]
        return self._upsert(pids, columns, texts)

    def _upsert(self, pids: list[PointId], columns: list[Column], texts: list[str]) -> UpdateResult:
        keys = [id_key(p) for p in pids]
        last = {k: i for i, k in enumerate(keys)}  # last occurrence wins
        if len(last) < len(keys):
            order = sorted(last.values())
            keys = [keys[i] for i in order]
            texts = [texts[i] for i in order]
            columns = take(columns, order)
        if not keys:
            return UpdateResult(self.store.seq)
        with self._write_lock:
            # decided under the lock: a payload index created meanwhile must see these points
            parsed = [json.loads(t) for t in texts] if self._pindexes else [{}] * len(keys)
            vectors = {c.space.id: (c.positions.tolist(), c.blobs()) for c in columns}
            seq, labels, existed = self.store.upsert(keys, texts, vectors)
            self._apply_vectors(
                np.asarray(labels, dtype=np.int64),
                columns,
                replace_points=np.asarray(existed, dtype=bool),
                payloads=parsed,
            )
        return UpdateResult(seq)

    def update_vectors(self, points: Sequence[Mapping[str, Any]]) -> UpdateResult:
        """Set some vectors of existing points, ``[{"id", "vector": {name: vector}}]``; their
        other vectors and payloads stay as they are (404 for an unknown id)."""
        if isinstance(points, Mapping) or not isinstance(points, Sequence) or not points:
            raise ValidationError("points", "expected a non-empty list of {id, vector}")
        ids, vectors = [], []
        for i, p in enumerate(points):
            if not isinstance(p, Mapping) or set(p) - {"id", "vector"} or "id" not in p:
                raise ValidationError(f"points[{i}]", "expected an object {id, vector}")
            if p.get("vector") is None or p.get("vector") == {}:
                raise ValidationError(f"points[{i}].vector", "missing: give the vectors to set")
            ids.append(parse_point_id(p["id"], f"points[{i}].id"))
            vectors.append(p["vector"])
        columns = point_columns(self.config, vectors, lambda i: f"points[{i}].vector")
        keys = [id_key(p) for p in ids]
        last = {k: i for i, k in enumerate(keys)}
        if len(last) < len(keys):
            order = sorted(last.values())
            keys, columns = [keys[i] for i in order], take(columns, order)
        with self._write_lock:
            labels = self._labels_of(keys)
            vecs = {c.space.id: (c.positions.tolist(), c.blobs()) for c in columns}
            seq = self.store.set_vectors(labels.tolist(), vecs)
            self._apply_vectors(labels, columns)
        return UpdateResult(seq)

    def delete_vectors(
        self, vectors: Sequence[str], points: Sequence[Any] | None = None, filter: Any = None
    ) -> UpdateResult:
        """Remove the named vectors from the points chosen by ids or filter (the points and
        their other vectors stay)."""
        if isinstance(vectors, str) or not isinstance(vectors, Sequence) or not vectors:
            raise ValidationError("vector", "expected a non-empty list of vector names")
        spaces = [self.space(v, f"vector[{i}]") for i, v in enumerate(vectors)]
        with self._write_lock:
            labels = self._targets(points, filter, strict=True)
            if labels.size == 0:
                return UpdateResult(self.store.seq)
            seq = self.store.delete_vectors(labels.tolist(), [s.config.id for s in spaces])

            def run() -> None:
                for s in range(0, len(labels), self.APPLY_CHUNK):
                    with self._rw.write():
                        for space in spaces:
                            space.remove(labels[s : s + self.APPLY_CHUNK])

            self._apply(run)
        return UpdateResult(seq)

    def delete(self, points: Sequence[Any] | None = None, filter: Any = None) -> UpdateResult:
        """Delete points by ids (missing ids are ignored) or by filter."""
        with self._write_lock:
            labels = self._targets(points, filter, strict=False)
            if labels.size == 0:
                return UpdateResult(self.store.seq)
            seq = self.store.delete(labels.tolist())
            self._apply_delete(labels)
        return UpdateResult(seq)

    def _labels_of(self, keys: list[bytes]) -> np.ndarray:
        """Labels of existing id keys, in order (:class:`PointNotFoundError` otherwise)."""
        found = self.store.lookup(keys, writer=True)
        missing = next((k for k in keys if k not in found), None)
        if missing is not None:
            raise PointNotFoundError(
                f"no point with id {key_to_id(missing)} in collection {self.name!r}"
            )
        return np.asarray([found[k] for k in keys], dtype=np.int64)

    def _targets(self, points: Any, filter: Any, *, strict: bool) -> np.ndarray:
        """Labels addressed by ``points`` (ids) or ``filter``; call with the write lock held."""
        if (points is None) == (filter is None):
            raise ValidationError("points", "give either points (ids) or filter, not both/neither")
        if points is not None:
            pids = parse_point_ids(points, "points")
            keys = list(dict.fromkeys(id_key(p) for p in pids))
            if strict:
                return self._labels_of(keys)
            found = self.store.lookup(keys, writer=True)
            return np.fromiter(found.values(), dtype=np.int64, count=len(found))
        flt = parse_filter(filter, "filter")
        with self._rw.read():
            return np.flatnonzero(self._selector().mask(flt)).astype(np.int64)

    # ------------------------------------------------------------------------------------------
    # Writes: payloads and payload indexes
    # ------------------------------------------------------------------------------------------
    def _rewrite_payloads(
        self, points: Any, filter: Any, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> UpdateResult:
        with self._write_lock:
            labels = self._targets(points, filter, strict=True)
            if labels.size == 0:
                return UpdateResult(self.store.seq)
            rows = self.store.rows(labels.tolist(), writer=True)
            new = [(lab, change(json.loads(r[2]))) for lab, r in rows.items()]
            texts = [(lab, payload_json(p, "payload")) for lab, p in new]
            seq = self.store.set_payloads(texts)
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

    def create_payload_index(self, field_name: str, field_schema: Any) -> UpdateResult:
        """Index payload field ``field_name`` (keyword, integer, float or bool)."""
        parse_path(field_name, "field_name")
        schema = parse_schema(field_schema)
        with self._write_lock:
            idx = PayloadIndex(field_name, schema)
            for label, raw in self.store.iter_rows("label, payload", writer=True):
                idx.update(label, json.loads(raw))
            seq = self.store.set_payload_schema(field_name, schema)
            with self._rw.write():
                self._pindexes = {**self._pindexes, field_name: idx}
        return UpdateResult(seq)

    def delete_payload_index(self, field_name: str) -> UpdateResult:
        """Drop the payload index on ``field_name`` (no error if there is none)."""
        with self._write_lock:
            seq = self.store.set_payload_schema(field_name, None)
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
    # Reads: records
    # ------------------------------------------------------------------------------------------
    def _vectors_by_label(
        self, labels: Sequence[int], sel: VectorSelector
    ) -> dict[int, Any] | None:
        """The selected vectors of ``labels``: the unnamed vector itself for collections
        created with one unnamed vector, else ``{name: vector}`` of those the point has."""
        if not sel.enabled:
            return None
        store = self.store
        wanted = [s for s in self.spaces.values() if sel.wants(s.name)]
        blobs = {s.name: store.vectors(s.config.id, labels) for s in wanted}
        if not self.config.named:
            only = blobs.get("", {})
            space = self.spaces[""]
            return {lab: space.decode(only[lab]) if lab in only else None for lab in labels}
        return {
            lab: {s.name: s.decode(blobs[s.name][lab]) for s in wanted if lab in blobs[s.name]}
            for lab in labels
        }

    def hits(
        self,
        labels: np.ndarray,
        scores: np.ndarray,
        relevance: np.ndarray | None,
        with_payload: PayloadSelector,
        with_vector: VectorSelector,
    ) -> list[ScoredPoint]:
        """Result records of ranked labels (shared lock held); points deleted after the
        search saw them are left out."""
        lab = labels.tolist()
        rows = self.store.rows(lab)
        vectors = self._vectors_by_label(lab, with_vector)
        out = []
        for i, (label, score) in enumerate(zip(lab, scores.tolist(), strict=True)):
            row = rows.get(label)
            if row is None:
                continue
            _l, key, raw, seq = row
            out.append(
                ScoredPoint(
                    id=key_to_id(key),
                    version=int(seq),
                    score=float(score),
                    payload=with_payload.apply(json.loads(raw)) if with_payload.enabled else None,
                    vector=None if vectors is None else vectors[label],
                    relevance=None if relevance is None else float(relevance[i]),
                )
            )
        return out

    def _records(
        self, labels: list[int], rows: Mapping[int, tuple], sel: PayloadSelector, wv: VectorSelector
    ) -> list[Record]:
        vectors = self._vectors_by_label([lab for lab in labels if lab in rows], wv)
        out = []
        for lab in labels:
            row = rows.get(lab)
            if row is None:
                continue
            out.append(
                Record(
                    id=key_to_id(row[1]),
                    payload=sel.apply(json.loads(row[2])) if sel.enabled else None,
                    vector=None if vectors is None else vectors[lab],
                )
            )
        return out

    def retrieve(
        self, ids: Sequence[Any], with_payload: Any = True, with_vector: Any = False
    ) -> list[Record]:
        """Points with the given ids, in request order; missing ids are skipped."""
        pids = parse_point_ids(ids, "ids")
        sel = PayloadSelector.parse(with_payload)
        wv = VectorSelector.parse(with_vector)
        keys = list(dict.fromkeys(id_key(p) for p in pids))
        with self.reading():  # also keeps close() from closing the store under us
            found = self.store.lookup(keys)
            labels = [found[k] for k in keys if k in found]
            return self._records(labels, self.store.rows(labels), sel, wv)

    def point_vector(self, pid: PointId, using: str, field: str) -> tuple[int, np.ndarray]:
        """``(label, vector)`` of point ``pid`` in space ``using`` (a by-id query)."""
        space = self.space(using, field)
        with self.reading():
            found = self.store.lookup([id_key(pid)])
            if not found:
                raise PointNotFoundError(f"{field}: no point with id {pid} in {self.name!r}")
            label = next(iter(found.values()))
            blob = self.store.vectors(space.config.id, [label]).get(label)
        if blob is None:
            what = f"vector {using!r}" if using else "a vector"
            raise ValidationError(field, f"point {pid} has no {what}")
        return label, space.decode(blob)

    def count(self, filter: Any = None) -> int:
        """Number of points passing ``filter`` (all points when ``None``); always exact."""
        flt = parse_filter(filter, "filter")
        with self.reading():
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
        wv = VectorSelector.parse(with_vector)
        with self.reading():
            store = self.store
            if flt is None:
                pairs = store.scroll_keys(start, limit + 1)
            else:
                mask = self._selector().mask(flt)
                pairs = self._scroll_filtered(mask, start, limit + 1)
            page = [lab for lab, _ in pairs[:limit]]
            records = self._records(page, store.rows(page), sel, wv)
        nxt = key_to_id(pairs[limit][1]) if len(pairs) > limit else None
        return records, nxt

    def _scroll_filtered(
        self, mask: np.ndarray, start: bytes | None, want: int
    ) -> list[tuple[int, bytes]]:
        store = self.store
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

    # ------------------------------------------------------------------------------------------
    # Reads: search and query (the engine's query module)
    # ------------------------------------------------------------------------------------------
    def query(self, body: Mapping[str, Any] | Query) -> list[ScoredPoint]:
        """Qdrant's Query API (``POST /points/query``; see :mod:`vecsearch.query.parse`)."""
        q = body if isinstance(body, Query) else parse_query(self, body)
        return run(self, [q])[0]

    def query_batch(
        self, bodies: Sequence[Mapping[str, Any] | Query], field: str = "searches"
    ) -> list[list[ScoredPoint]]:
        """Several queries, every one checked before any runs; one lock for the batch.
        Errors name ``field[i]`` (``field=""``: a single request, errors name its fields)."""
        return run(self, self._parse_batch(bodies, parse_query, field))

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
        using: str | None = None,
    ) -> list[ScoredPoint]:
        """The ``limit`` best points for ``vector`` in space ``using`` after skipping
        ``offset``, best first.

        ``params``: ``{"exact": true}`` for exact search, and per-call index parameters
        (``hnsw_ef`` / ``ef``, ``nprobe``, ...). ``filter``: Qdrant filter JSON or a parsed
        :class:`Filter`. ``k`` results come back whenever ``k`` points pass the filter.
        ``relevance_threshold`` (needs a fitted relevance model) drops hits whose calibrated
        relevance is below it, so fewer than ``limit`` (or no) hits may come back.
        """
        body = {
            "vector": vector if using is None else {"name": using, "vector": vector},
            "limit": limit,
            "offset": offset,
            "filter": filter,
            "params": params,
            "score_threshold": score_threshold,
            "with_payload": with_payload,
            "with_vector": with_vector,
            "relevance_threshold": relevance_threshold,
        }
        return run(self, [parse_search(self, body)])[0]

    def search_batch(
        self, requests: Sequence[Mapping[str, Any] | Query], field: str = "searches"
    ) -> list[list[ScoredPoint]]:
        """Several searches (Qdrant's search bodies); every request is validated before any
        runs, so one bad request fails the batch."""
        return run(self, self._parse_batch(requests, parse_search, field))

    def _parse_batch(self, bodies: Any, parse: Callable[..., Query], field: str) -> list[Query]:
        if isinstance(bodies, Mapping) or not isinstance(bodies, Sequence):
            raise ValidationError(field, "expected a list of requests")
        return [
            b if isinstance(b, Query) else parse(self, b, f"{field}[{i}]" if field else "")
            for i, b in enumerate(bodies)
        ]

    def check_relevance_threshold(self, value: Any, using: str, field: str) -> float | None:
        """A checked ``relevance_threshold`` (it needs a model fitted on space ``using``)."""
        rthr = check_threshold(value, field)
        if rthr is None:
            return None
        if not 0.0 <= rthr <= 1.0:
            raise ValidationError(field, f"expected a number in [0, 1], got {rthr!r}")
        if self.relevance_for(using) is None:
            raise RelevanceModelMissingError(
                field,
                f"collection {self.name!r} has no relevance model"
                + (f" for vector {using!r}" if using else "")
                + "; fit one first (Collection.fit_relevance, `vecsearch relevance fit` or "
                "PUT /collections/{name}/relevance)",
            )
        return rthr

    # ------------------------------------------------------------------------------------------
    # Relevance calibration (vecsearch.relevance_fit)
    # ------------------------------------------------------------------------------------------
    def relevance_for(self, using: str) -> RelevanceModel | None:
        """The relevance model of space ``using``, if one is fitted."""
        model = self._relevance
        return model if model is not None and model_using(model) == using else None

    @property
    def relevance_model(self) -> RelevanceModel | None:
        """The fitted relevance model, or None."""
        return self._relevance

    def fit_relevance(
        self,
        queries: Any,
        relevant: Sequence[Any],
        *,
        using: str = "",
        min_gain: float | None = None,
        depth: int = DEFAULT_DEPTH,
        n_components: int = DEFAULT_COMPONENTS,
        ridge: float | None = None,
        folds: int = 5,
        seed: int = 0,
    ) -> dict[str, Any]:
        """Fit, store and start using a relevance model from labelled queries.

        ``queries``: ``(n, dim)`` query vectors. ``relevant[i]``: the relevant point ids of
        query ``i`` (a list), or judgements ``{id: gain}`` where a gain ``> 0`` (or ``>=
        min_gain`` when given) means relevant. Every id must exist and every query needs a
        relevant id; otherwise :class:`RelevanceLabelError` names the offending entry and
        nothing changes. ``using`` names the (Cosine, single-vector) space. Each query's
        top-``depth`` hits are the training pairs; ``folds``-fold cross-validation gives the
        held-out report returned (and stored). ``ridge=None`` chooses the ridge strength by
        inner cross-validation. Deterministic for a given ``seed`` and collection content.
        """
        model, _seq = fit_model(
            self,
            self.name,
            queries,
            relevant,
            using=using,
            min_gain=min_gain,
            depth=depth,
            n_components=n_components,
            ridge=ridge,
            folds=folds,
            seed=seed,
        )
        with self._write_lock:
            old = self._relevance
            model.meta.update(
                revision=(int(old.meta.get("revision", 0)) if old is not None else 0) + 1,
                collection_uuid=self.uuid,
                points_count=self._n_points,
            )
            self.store.set_meta({RELEVANCE_KEY: json.dumps(model.to_dict())})
            with self._rw.write():
                self._relevance = model
        return self.relevance_info()

    def relevance_info(self) -> dict[str, Any]:
        """The fitted model's description and held-out report (``RelevanceModelNotFoundError``
        when there is none)."""
        if self._relevance is None:
            raise RelevanceModelNotFoundError(f"collection {self.name!r} has no relevance model")
        return model_info(self._relevance)

    def delete_relevance(self) -> None:
        """Remove the relevance model (``RelevanceModelNotFoundError`` if there is none)."""
        with self._write_lock:
            if self._relevance is None:
                raise RelevanceModelNotFoundError(
                    f"collection {self.name!r} has no relevance model"
                )
            self.store.delete_meta(RELEVANCE_KEY)
            with self._rw.write():
                self._relevance = None

    # ------------------------------------------------------------------------------------------
    # Configuration changes (PATCH)
    # ------------------------------------------------------------------------------------------
    def update_config(self, changes: Mapping[str, Any]) -> UpdateResult:
        """Apply Qdrant's collection update (``PATCH /collections/{name}``; see
        :func:`vecsearch.config_qdrant.parse_patch`). The new settings are durable when this
        returns; spaces whose index changed are rebuilt in the background while their old
        index keeps answering (:mod:`vecsearch.rebuild`)."""
        with self._write_lock:
            new, changed = parse_patch(self.config, changes)
            seq = self.store.set_config(new.to_dict())
            with self._rw.write():
                self.config = new
                for space in self.spaces.values():
                    cfg = new.space(space.name)
                    if space.name in changed:  # the rebuild installs the new index config
                        cfg = dataclasses.replace(cfg, index=space.config.index)
                    space.config = cfg
        for name in changed:
            self.rebuilder.start(name)
        return UpdateResult(seq)

    # ------------------------------------------------------------------------------------------
    # Persistence and lifecycle
    # ------------------------------------------------------------------------------------------
    def save_index(self) -> None:
        """Save every space's index with the sequence number it reflects.

        Blocks writers of this collection for the duration (searches continue)."""
        with self._persist_lock, self._write_lock:
            self._save_locked()

    flush = save_index

    def _save_locked(self) -> None:
        for space in self.spaces.values():
            space.save(self.store, self.uuid)

    def rebuild_index(self) -> None:
        """Rebuild every index from the store and save it (e.g. after changing index code).

        Searches wait while the new indexes are built."""
        with self._persist_lock, self._write_lock:
            with self._rw.write():
                for space in self.spaces.values():
                    space.install(space.build(self.store, writer=True))
            self._save_locked()

    def close(self, *, save_index: bool = True) -> None:
        """Stop background rebuilds, save the indexes (unless ``save_index=False``) and
        release the collection."""
        self.rebuilder.stop()
        with self._persist_lock, self._write_lock:  # same order as save_index()
            if self._closed:
                return
            try:
                if save_index:
                    self._save_locked()
            finally:
                with self._rw.write():
                    self._closed = True
                if self._store is not None:
                    self._store.close()
                unlock(self._lock_fd)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def describe(self) -> dict[str, Any]:
        """What the collection holds and how its indexes stand (the engine's facts behind
        Qdrant's collection info, which the service formats)."""
        with self.reading():
            spaces = {
                name: {
                    "vectors_count": s.count,
                    "indexed_vectors_count": s.indexed_count(),
                    "index": {
                        "type": s.config.index.type,
                        "params": dict(s.config.index.params),
                        "ready": s.ready,
                    },
                    "rebuilding": self.rebuilder.running(name),
                }
                for name, s in self.spaces.items()
            }
            model = self._relevance
            return {
                "points_count": self._n_points,
                "config": self.config,
                "spaces": spaces,
                "payload_schema": {
                    k: {"data_type": v.schema, "points": v.points}
                    for k, v in self._pindexes.items()
                },
                "seq": self.store.seq,
                "uuid": self.uuid,
                "optimizer_error": self.rebuilder.error(),
                "relevance": (
                    {
                        "fitted": True,
                        "revision": model.meta.get("revision"),
                        "using": model_using(model),
                    }
                    if model is not None
                    else {"fitted": False}
                ),
            }

    # -- bulk loading (vecsearch build) --------------------------------------------------------
    def bulk_index_add(self, vectors: np.ndarray, labels: np.ndarray, using: str = "") -> None:
        """Add rows already written to the store (bulk build, no concurrent readers)."""
        space = self.space(using, "vector")
        if space.multi:
            raise ValidationError("vectors", "bulk build does not take multi-vector points")
        with self._rw.write():
            self._grow(int(labels.max()))
            self._n_points += int((~self._alive[labels]).sum())
            self._alive[labels] = True
            space.bulk_add(vectors, labels)


def _adopt_schema1_index(path: Path) -> None:
    """A schema-1 collection kept its one index in ``index/``; it is the unnamed space's
    (id 0) and moves to ``spaces/0/index`` by one rename (idempotent)."""
    old, new = path / "index", path / "spaces" / "0" / "index"
    if old.is_dir() and not new.exists():
        new.parent.mkdir(parents=True, exist_ok=True)
        os.replace(old, new)
        fsync_dir(new.parent)
    elif old.is_dir():
        shutil.rmtree(old, ignore_errors=True)
