"""A collection: points (id, named vectors, payload) in a durable store, one vector space
per vector name, payload indexes, and Qdrant's operations.

This class is the facade: it owns the store (:mod:`vecsearch.store`), the vector spaces
(:mod:`vecsearch.space`), the payload indexes and the locks, and runs the write path. Queries
go to the query module (:mod:`vecsearch.query`), relevance fitting to
:mod:`vecsearch.relevance_fit`, background index rebuilds to :mod:`vecsearch.rebuild`;
Qdrant's collection-info JSON is the service's business (it calls :meth:`describe`).

Write path (one writer at a time per collection, readers never wait for the disk):

1. validate everything (a rejected request changes nothing);
2. commit to the SQLite store (durable when the call returns; the write gets a new ``seq``).
   Upserts, vector updates and deletes / payload changes by id go through the group
   committer (:mod:`vecsearch.group_commit`): writes that arrive while one commit is in
   progress share the next one (one fsync for all of them, a ``SAVEPOINT`` each so one
   failing write fails alone). Writes that read the in-memory state (by filter), BM25
   documents (whose statistics the next write reads) and schema changes run alone under the
   write lock, as before. Readers never hold the writer back here: WAL lets them read while
   the commit runs;
3. apply to the in-memory state (spaces' indexes, live-label mask, payload indexes) under the
   exclusive side of a readers-writer lock, in chunks of :attr:`MemoryState.APPLY_CHUNK`
   points so concurrent searches are delayed by at most one chunk (a group of small writes
   is applied in one exclusive section). The write returns after this step.

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
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from vecsearch.collection_query import QueryMethods
from vecsearch.collection_writes import WriteMethods
from vecsearch.config import CollectionConfig
from vecsearch.config_qdrant import parse_patch
from vecsearch.errors import (
    CollectionNotFoundError,
    PointNotFoundError,
    StorageError,
    ValidationError,
)
from vecsearch.filters import Filter, parse_filter
from vecsearch.group_commit import GroupCommitter
from vecsearch.ids import PointId, id_key, key_to_id, parse_point_id, parse_point_ids
from vecsearch.index_files import adopt_schema1_index
from vecsearch.locks import RWLock, lock_dir, unlock
from vecsearch.memory import MemoryState
from vecsearch.models import (
    PayloadSelector,
    Record,
    ScoredPoint,
    UpdateResult,
    VectorSelector,
)
from vecsearch.query.kinds import parse_order_by
from vecsearch.query.order import scroll_ordered
from vecsearch.rebuild import Rebuilder
from vecsearch.records import RecordReader, scroll_filtered
from vecsearch.relevance import RelevanceModel
from vecsearch.relevance_fit import RelevanceSlot, fit_model, model_using
from vecsearch.space import VectorSpace
from vecsearch.sparse_space import SparseSpace
from vecsearch.store import Store
from vecsearch.text.bm25 import TextStats
from vecsearch.validate import check_int

log = logging.getLogger(__name__)


STORE_FILE = "store.sqlite"


class Collection(WriteMethods, QueryMethods):
    """One collection of a :class:`vecsearch.database.Database` (thread-safe); its write
    methods come from :class:`vecsearch.collection_writes.WriteMethods`, its search and
    query methods from :class:`vecsearch.collection_query.QueryMethods`."""

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
            adopt_schema1_index(self.path)
            self.spaces: dict[str, VectorSpace | SparseSpace] = {
                s.name: VectorSpace(s, self.path, name) for s in self.config.spaces
            }
            for sp in self.config.sparse:
                self.spaces[sp.name] = SparseSpace(sp, self.path, name)
            for space in self.spaces.values():
                space.files.cleanup()
            #: Strategy of the last search ("none", "index", "exact"), for tests and metrics.
            self.last_plan = ""
            self._state = MemoryState(name, self._store, self.spaces, self.uuid, self._rw)
            self._state.load()
            self._committer = GroupCommitter(
                lambda: self.store, self._write_lock, self._rw, MemoryState.APPLY_CHUNK
            )
            self._relevance = RelevanceSlot(
                name, self.uuid, self._store, self._write_lock, self._rw
            )
            self.rebuilder = Rebuilder(self)
            self._records = RecordReader(self._store, self.spaces, self.config.named)
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
            store.initialise(config.to_dict(), [s.id for s in (*config.spaces, *config.sparse)])
        finally:
            store.close()
        return cls(name, p, bulk=bulk)

    @property
    def store(self) -> Store:
        """The durable store (:class:`CollectionNotFoundError` once closed)."""
        if self._closed or self._store is None:
            raise CollectionNotFoundError(f"collection {self.name!r} is closed or was deleted")
        return self._store

    def space(self, name: str | None, field: str = "using") -> VectorSpace | SparseSpace:
        """The dense or sparse vector space ``name`` (``None`` / ``""``: the unnamed
        vector)."""
        space = self.spaces.get(name or "")
        if space is None:
            self.config.any_space(name, field)  # raises, naming the vectors that exist
            raise AssertionError("config and spaces disagree")  # pragma: no cover
        return space

    @property
    def index_source(self) -> str:
        """How the first space's index came up at open ("loaded" or "rebuilt")."""
        return next(iter(self.spaces.values())).index_source

    def _text_stats(self, name: str) -> TextStats:
        space = self.spaces[name]
        assert isinstance(space, SparseSpace)
        return space.text_stats

    def _install_stats(self, stats: Mapping[str, TextStats]) -> None:
        for name, st in stats.items():
            space = self.spaces[name]
            assert isinstance(space, SparseSpace)
            space.text_stats = st

    @property
    def point_count(self) -> int:
        """Number of points (live)."""
        return self._state.n_points

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Hold the shared lock (and fail clearly if the collection is closed)."""
        with self._rw.read():
            self.store  # noqa: B018  (raises if closed)
            yield

    def filter_mask(self, flt: Filter) -> np.ndarray:
        """Boolean mask of the live labels passing ``flt`` (shared lock held)."""
        return self._state.mask(flt)

    def order_index(self, key: str) -> Any:
        """The payload index on ``key`` if it can serve ``order_by`` (integer, float or
        datetime), else None (shared lock held)."""
        idx = self._state.pindexes.get(key)
        return idx if getattr(idx, "orders", False) else None

    def payload_schema(self) -> dict[str, dict[str, Any]]:
        """Qdrant's ``payload_schema``: ``{field: {"data_type", "points"}}``."""
        with self._rw.read():
            return self._state.payload_schema()

    # ------------------------------------------------------------------------------------------
    # Reads: records
    # ------------------------------------------------------------------------------------------
    def hits(
        self,
        labels: np.ndarray,
        scores: np.ndarray,
        relevance: np.ndarray | None,
        with_payload: PayloadSelector,
        with_vector: VectorSelector,
        order_values: Sequence[Any] | None = None,
    ) -> list[ScoredPoint]:
        """Result records of ranked labels (shared lock held)."""
        return self._records.hits(
            labels, scores, relevance, with_payload, with_vector, order_values
        )

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
            return self._records.records([found[k] for k in keys if k in found], sel, wv)

    def point_vector(self, pid: PointId, using: str, field: str) -> tuple[int, np.ndarray]:
        """``(label, vector)`` of point ``pid`` in space ``using`` (a by-id query). A
        missing point is reported before an unknown vector name (404 first, as Qdrant,
        which retrieves the point and then picks its vector)."""
        with self.reading():
            found = self.store.lookup([id_key(pid)])
            if not found:
                raise PointNotFoundError(f"{field}: no point with id {pid} in {self.name!r}")
            space = self.space(using, field)
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
                return self._state.n_points
            return int(self._state.mask(flt).sum())

    def facet(
        self, key: Any, filter: Any = None, limit: Any = None, exact: Any = None
    ) -> list[Any]:
        """Facet counts of payload ``key`` (:func:`vecsearch.facets.facet`); a method so
        that the service calls single-node and cluster collections alike."""
        from vecsearch.facets import facet  # the facets module reads this class's state

        return facet(self, key, filter, limit, exact)

    def scroll(
        self,
        filter: Any = None,
        limit: int = 10,
        offset: Any = None,
        with_payload: Any = True,
        with_vector: Any = False,
        order_by: Any = None,
    ) -> tuple[list[Record], PointId | None]:
        """Points in id order from id ``offset`` (inclusive); returns ``(records, next_offset)``.
        With ``order_by`` (Qdrant's ``OrderBy``; no ``offset``, page on with ``start_from``)
        the points in payload order, each with its ``order_value``, and no next offset."""
        flt = parse_filter(filter, "filter")
        limit = check_int(limit, "limit", minimum=1)
        start = id_key(parse_point_id(offset, "offset")) if offset is not None else None
        sel = PayloadSelector.parse(with_payload)
        wv = VectorSelector.parse(with_vector)
        order = None if order_by is None else parse_order_by(order_by, "order_by")
        if order is not None and offset is not None:
            raise ValidationError("offset", "cannot be used with order_by: use start_from")
        with self.reading():
            store = self.store
            if order is not None:  # a point with several values is listed once per value
                allowed = np.flatnonzero(self._state.mask(flt if flt else Filter()))
                idx = self.order_index(order.key)
                got = scroll_ordered(store, self._records, allowed, order, limit, sel, wv, idx)
                return got, None
            limit = min(limit, self._state.n_points + 1)  # 2**63 must not reach SQLite
            if flt is None:
                pairs = store.scroll_keys(start, limit + 1)
            else:
                mask = self._state.mask(flt)
                pairs = scroll_filtered(store, mask, start, limit + 1, self.SCROLL_SORT_LIMIT)
            records = self._records.records([lab for lab, _ in pairs[:limit]], sel, wv)
        nxt = key_to_id(pairs[limit][1]) if len(pairs) > limit else None
        return records, nxt

    def check_relevance_threshold(self, value: Any, using: str, field: str) -> float | None:
        """A checked ``relevance_threshold`` (it needs a model fitted on space ``using``)."""
        return self._relevance.check_threshold(value, using, field)

    # ------------------------------------------------------------------------------------------
    # Relevance calibration (vecsearch.relevance_fit)
    # ------------------------------------------------------------------------------------------
    def relevance_for(self, using: str) -> RelevanceModel | None:
        """The relevance model of space ``using``, if one is fitted."""
        return self._relevance.for_space(using)

    @property
    def relevance_model(self) -> RelevanceModel | None:
        """The fitted relevance model, or None."""
        return self._relevance.model

    def fit_relevance(self, queries: Any, relevant: Sequence[Any], **options: Any) -> dict:
        """Fit, store and start using a relevance model from labelled queries (see
        :func:`vecsearch.relevance_fit.fit_model` for ``queries``, ``relevant`` and the
        options ``using``, ``min_gain``, ``depth``, ``n_components``, ``ridge``, ``folds``,
        ``seed``); returns the model's description and held-out report. Nothing changes if
        the labels are bad (:class:`RelevanceLabelError` names the entry)."""
        model, _seq = fit_model(self, self.name, queries, relevant, **options)
        return self._relevance.install(model, self._state.n_points)

    def relevance_info(self) -> dict[str, Any]:
        """The fitted model's description and held-out report (``RelevanceModelNotFoundError``
        when there is none)."""
        return self._relevance.info()

    def delete_relevance(self) -> None:
        """Remove the relevance model (``RelevanceModelNotFoundError`` if there is none)."""
        self._relevance.delete()

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
                    if isinstance(space, SparseSpace):  # modifier and echoed settings only
                        sparse_cfg = new.sparse_space(space.name)
                        assert sparse_cfg is not None
                        space.config = sparse_cfg
                        continue
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

    def _space_saved(self, space: VectorSpace | SparseSpace) -> bool:
        """Whether the space's saved index is what a save would write now (same uuid,
        sequence number and index config); writers blocked by the caller."""
        state = space.files.state()
        if not space.ready:  # an untrained index is not saved (save() removes the files)
            return state is None
        if state is None or state.get("uuid") != self.uuid:
            return False
        if int(state.get("applied_seq", -1)) != self.store.seq:
            return False
        if isinstance(space, SparseSpace):
            return True
        index = space.config.index
        return state.get("index_type") == index.type and state.get("params") == index.params

    def needs_save(self) -> bool:
        """Whether some space's saved index is older than the store (changes since the last
        save, or never saved): what :meth:`close` would save."""
        with self._persist_lock, self._write_lock:
            if self._closed:
                return False
            return not all(self._space_saved(s) for s in self.spaces.values())

    @property
    def busy(self) -> bool:
        """Whether a background rebuild is running (the pool does not close it then)."""
        return self.rebuilder.running()

    def close(self, *, save_index: bool = True) -> None:
        """Stop background rebuilds, save the indexes whose saved copy is not current
        (unless ``save_index=False``: an unchanged collection writes nothing) and release
        the collection. The store and the lock are released even if a save fails."""
        self.rebuilder.stop()
        with self._persist_lock, self._write_lock:  # same order as save_index()
            if self._closed:
                return
            try:
                if save_index:
                    for space in self.spaces.values():
                        if not self._space_saved(space):
                            space.save(self.store, self.uuid)
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
            model = self._relevance.model
            return {
                "points_count": self._state.n_points,
                "config": self.config,
                "spaces": spaces,
                "payload_schema": self._state.payload_schema(),
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
        self._state.bulk_add(space, vectors, labels)
