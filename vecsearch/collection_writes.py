"""The write methods of a collection (:class:`WriteMethods`, a mixin of
:class:`vecsearch.collection.Collection`): upserts, vector updates, deletes, payload changes
and payload indexes, and how each reaches the store and the in-memory state.

The write path is described in :mod:`vecsearch.collection`: validate, commit (by-id writes
through the group committer, :mod:`vecsearch.group_commit`), then apply to memory. A write
*stage* writes through the store only and returns ``(result, apply)``; ``apply`` updates
the in-memory state after the commit.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from vecsearch import payload_changes
from vecsearch.batch_update import apply_batch
from vecsearch.config import CollectionConfig
from vecsearch.errors import PointNotFoundError, ValidationError
from vecsearch.filters import parse_filter
from vecsearch.group_commit import GroupCommitter, Staged
from vecsearch.ids import id_key, key_to_id, parse_point_ids
from vecsearch.locks import RWLock
from vecsearch.memory import MemoryState
from vecsearch.models import UpdateResult
from vecsearch.payload_index import make_index
from vecsearch.payload_path import parse_path
from vecsearch.payload_schema import parse_index_spec
from vecsearch.point_input import PointWrite, parse_batch, parse_points, parse_vector_updates
from vecsearch.space import VectorSpace
from vecsearch.sparse_space import SparseSpace
from vecsearch.store import Store
from vecsearch.text.bm25 import TextStats
from vecsearch.validate import payload_json


def _nothing() -> None:
    """The in-memory update of a write that changed nothing."""


class _UpsertStage:
    """The stage of a plain upsert (:mod:`vecsearch.group_commit`); the store runs
    consecutive ones of a group as one :meth:`~vecsearch.store.Store.upsert_many` (one
    statement of each kind for the group instead of a few per write)."""

    def __init__(self, coll: WriteMethods, write: PointWrite) -> None:
        self.coll = coll
        self.write = write

    def __call__(self) -> Staged:
        return self.run_many([self])[0]

    def run_many(self, stages: Sequence[_UpsertStage]) -> list[Staged]:
        """The stages' writes in one store call, each with its own seq."""
        coll = self.coll
        got = coll.store.upsert_many(
            [
                (s.write.keys, s.write.payloads, s.write.store_columns(), s.write.meta)
                for s in stages
            ]
        )
        return [
            (UpdateResult(seq), coll._upserted(s.write, labels, existed))
            for s, (seq, labels, existed) in zip(stages, got, strict=True)
        ]


class WriteMethods:
    """Writes of a collection (mixed into :class:`vecsearch.collection.Collection`, which
    provides the attributes below)."""

    name: str
    config: CollectionConfig
    _write_lock: threading.RLock
    _rw: RWLock
    _state: MemoryState
    _committer: GroupCommitter

    if TYPE_CHECKING:  # provided by Collection

        @property
        def store(self) -> Store: ...

        def space(self, name: str | None, field: str = "using") -> VectorSpace | SparseSpace: ...

        def _text_stats(self, name: str) -> TextStats: ...

        def _install_stats(self, stats: Mapping[str, TextStats]) -> None: ...

    # ------------------------------------------------------------------------------------------
    # Writes: points and vectors
    # ------------------------------------------------------------------------------------------
    def upsert(self, points: Sequence[Mapping[str, Any]]) -> UpdateResult:
        """Insert or replace points given as ``{"id", "vector", "payload"}`` (Qdrant's list
        form; ``vector`` may be ``{name: vector}``, see :mod:`vecsearch.point_input`).

        Every point is validated first; a batch with one bad point changes nothing. When an id
        repeats within the batch, the last occurrence wins.
        """
        return self._upsert(parse_points(self.config, points))

    def upsert_batch(
        self, ids: Sequence[Any], vectors: Any, payloads: Sequence[Any] | None = None
    ) -> UpdateResult:
        """Insert or replace points given column-wise (Qdrant's batch form); ``vectors`` is a
        list of lists or a float ``(n, dim)`` array (the unnamed vector), or ``{name: list of
        vectors}``."""
        return self._upsert(parse_batch(self.config, ids, vectors, payloads))

    def _commit(self, stage: Callable[[], Staged], points: int = 1) -> Any:
        """Run a write ``stage`` (:mod:`vecsearch.group_commit`): inside the open batch of
        this thread (:mod:`vecsearch.batch_update`), else in the next group commit."""
        if self.store.in_batch():
            result, apply = stage()
            apply()
            return result
        if self._write_lock._is_owned():  # type: ignore[attr-defined]
            # this thread holds the write lock (a leader waiting for it would deadlock with
            # us): commit alone, now
            (outcome,) = self.store.group([stage])
            if isinstance(outcome, Exception):
                raise outcome
            result, apply = outcome
            apply()
            return result
        return self._committer.submit(stage, points)

    @staticmethod
    def _has_documents(write: PointWrite) -> bool:
        """Whether the write carries BM25 documents (their statistics are in-memory state
        that the next write reads, so such writes run alone)."""
        return any(getattr(c, "docs", ()) for c in write.columns)

    def _upsert(self, write: PointWrite) -> UpdateResult:
        if not write.keys:
            return UpdateResult(self.store.seq)
        assert write.payloads is not None
        if self._has_documents(write):
            with self._write_lock:
                write, stats = write.resolved(self._text_stats)
                seq, labels, existed = self.store.upsert(
                    write.keys, write.payloads, write.store_columns(), write.meta
                )
                self._install_stats(stats)
                self._upserted(write, labels, existed)()
            return UpdateResult(seq)

        return self._commit(_UpsertStage(self, write), len(write.keys))

    def _upserted(
        self, write: PointWrite, labels: Sequence[int], existed: Sequence[bool]
    ) -> Callable[[], None]:
        """The in-memory update of a committed upsert (payload texts are decoded there, under
        the exclusive lock, only if some payload index needs them)."""
        assert write.payloads is not None
        return self._state.upserted(
            np.asarray(labels, dtype=np.int64),
            write.columns,  # type: ignore[arg-type]
            np.asarray(existed, dtype=bool),
            write.payloads,
        )

    def update_vectors(self, points: Sequence[Mapping[str, Any]]) -> UpdateResult:
        """Set some vectors of existing points, ``[{"id", "vector": {name: vector}}]``; their
        other vectors and payloads stay as they are (404 for an unknown id)."""
        return self._update_vectors(parse_vector_updates(self.config, points))

    def _update_vectors(self, write: PointWrite) -> UpdateResult:
        if self._has_documents(write):
            with self._write_lock:
                labels = self._labels_of(write.keys)
                write, stats = write.resolved(self._text_stats)
                seq = self.store.set_vectors(labels.tolist(), write.store_columns(), write.meta)
                self._install_stats(stats)
                self._state.apply_vectors(labels, write.columns)
            return UpdateResult(seq)

        def stage() -> Staged:
            labels = self._labels_of(write.keys)
            seq = self.store.set_vectors(labels.tolist(), write.store_columns(), write.meta)
            return UpdateResult(seq), lambda: self._state.apply_vectors(labels, write.columns)

        return self._commit(stage, len(write.keys))

    def batch_update(self, operations: Sequence[Mapping[str, Any]]) -> list[UpdateResult]:
        """Qdrant's batch update: the operations, all validated first, applied in order and
        atomically (see :mod:`vecsearch.batch_update`); one result per operation."""
        return apply_batch(self, operations)

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
            self._state.apply_vector_removal(labels, spaces)
        return UpdateResult(seq)

    def delete(self, points: Sequence[Any] | None = None, filter: Any = None) -> UpdateResult:
        """Delete points by ids (missing ids are ignored) or by filter."""
        if points is not None and filter is None:
            keys = self._keys(points)

            def stage() -> Staged:
                found = self.store.lookup(keys, writer=True)
                labels = np.fromiter(found.values(), dtype=np.int64, count=len(found))
                if labels.size == 0:
                    return UpdateResult(self.store.seq), _nothing
                seq = self.store.delete(labels.tolist())
                return UpdateResult(seq), lambda: self._state.apply_delete(labels)

            return self._commit(stage, len(keys))
        with self._write_lock:
            labels = self._targets(points, filter, strict=False)
            if labels.size == 0:
                return UpdateResult(self.store.seq)
            seq = self.store.delete(labels.tolist())
            self._state.apply_delete(labels)
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

    @staticmethod
    def _keys(points: Any) -> list[bytes]:
        """The distinct id keys of a ``points`` list (checked)."""
        return list(dict.fromkeys(id_key(p) for p in parse_point_ids(points, "points")))

    def _targets(self, points: Any, filter: Any, *, strict: bool) -> np.ndarray:
        """Labels addressed by ``points`` (ids) or ``filter``; call with the write lock held."""
        if (points is None) == (filter is None):
            raise ValidationError("points", "give either points (ids) or filter, not both/neither")
        if points is not None:
            keys = self._keys(points)
            if strict:
                return self._labels_of(keys)
            found = self.store.lookup(keys, writer=True)
            return np.fromiter(found.values(), dtype=np.int64, count=len(found))
        flt = parse_filter(filter, "filter")
        with self._rw.read():
            return np.flatnonzero(self._state.mask(flt)).astype(np.int64)

    # ------------------------------------------------------------------------------------------
    # Writes: payloads and payload indexes
    # ------------------------------------------------------------------------------------------
    def _rewrite_payloads(
        self, points: Any, filter: Any, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> UpdateResult:
        def stage() -> Staged:
            labels = self._targets(points, filter, strict=True)
            if labels.size == 0:
                return UpdateResult(self.store.seq), _nothing
            rows = self.store.rows(labels.tolist(), writer=True)
            new = [(lab, change(json.loads(r[2]))) for lab, r in rows.items()]
            texts = [(lab, payload_json(p, "payload")) for lab, p in new]
            seq = self.store.set_payloads(texts)
            return UpdateResult(seq), lambda: self._state.apply_payloads(new)

        if points is not None and filter is None:  # by ids: group commit
            self._keys(points)  # a bad id list is refused before it queues
            return self._commit(stage)
        with self._write_lock:  # by filter (reads the in-memory state) or refused: alone
            result, apply = stage()
            apply()
        return result

    def set_payload(
        self,
        payload: Mapping[str, Any],
        points: Sequence[Any] | None = None,
        filter: Any = None,
        key: str | None = None,
    ) -> UpdateResult:
        """Merge ``payload`` into the points' payloads (at nested object ``key`` if given)."""
        return self._rewrite_payloads(points, filter, payload_changes.merge(payload, key))

    def overwrite_payload(
        self, payload: Mapping[str, Any], points: Sequence[Any] | None = None, filter: Any = None
    ) -> UpdateResult:
        """Replace the points' payloads with ``payload``."""
        return self._rewrite_payloads(points, filter, payload_changes.overwrite(payload))

    def delete_payload(
        self, keys: Sequence[str], points: Sequence[Any] | None = None, filter: Any = None
    ) -> UpdateResult:
        """Remove payload ``keys`` (paths allowed) from the points."""
        return self._rewrite_payloads(points, filter, payload_changes.delete_keys(keys))

    def clear_payload(
        self, points: Sequence[Any] | None = None, filter: Any = None
    ) -> UpdateResult:
        """Remove every payload key from the points."""
        return self._rewrite_payloads(points, filter, payload_changes.clear())

    def create_payload_index(self, field_name: str, field_schema: Any) -> UpdateResult:
        """Index payload field ``field_name`` (see :mod:`vecsearch.payload_schema` for the
        types and params); a new index of a field replaces the old one, as in Qdrant."""
        parse_path(field_name, "field_name")
        spec = parse_index_spec(field_schema)
        with self._write_lock:
            idx = make_index(field_name, spec)
            for label, raw in self.store.iter_rows("label, payload", writer=True):
                idx.update(label, json.loads(raw))
            seq = self.store.set_payload_schema(field_name, spec.stored())
            with self._rw.write():
                self._state.pindexes = {**self._state.pindexes, field_name: idx}  # copy on write
        return UpdateResult(seq)

    def delete_payload_index(self, field_name: str) -> UpdateResult:
        """Drop the payload index on ``field_name`` (no error if there is none)."""
        with self._write_lock:
            seq = self.store.set_payload_schema(field_name, None)
            with self._rw.write():
                self._state.pindexes = {
                    k: v for k, v in self._state.pindexes.items() if k != field_name
                }
        return UpdateResult(seq)
