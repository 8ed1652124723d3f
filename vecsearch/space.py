"""One vector space of a collection: its config, its index and the index's state.

A space owns the derived index files of its vectors (``spaces/<id>/index``, see
:mod:`vecsearch.index_files`) and keeps the index in step with the store:

* **open**: load the saved index if it matches the space's config, then bring it up to
  date: ids the index holds that the space's table no longer has are removed, vectors
  written after the save (``vseq > applied_seq``) are re-added (labels are never reused,
  so this set difference is exact); otherwise rebuild from the store;
* **writes**: the collection applies committed writes through :meth:`add` / :meth:`remove`
  under its exclusive lock;
* **rebuild**: :meth:`build` makes a fresh index from the store without touching the live
  one (the background rebuild of a PATCH uses it while the old index keeps answering), and
  :meth:`install` swaps it in.

Index types that learn from data (IVF-PQ, binary codes, SPANN) start untrained: until the
space holds ``min_train_points`` vectors, searches are exact over the stored vectors.

Search: :meth:`search` runs one planned search (:class:`vecsearch.planner.Plan`): the index
(with the filter as an ``allow`` mask) or an exact scan, by the index's own exact vectors
when it keeps them (``search_exact``), else over vectors gathered from the index or the
store. Distances are the index layer's (smaller is better); :meth:`scores` turns them into
Qdrant's scores.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from indexes.errors import UnknownIdError, UnsupportedOperationError
from vecsearch.config import SpaceConfig
from vecsearch.index_files import DATA, IndexFiles
from vecsearch.planner import Plan
from vecsearch.registry import get_index_type
from vecsearch.store import Store
from vecsearch.validate import check_multivector, check_query

log = logging.getLogger(__name__)

_F32 = np.dtype("<f4")
#: Rows per batch when (re)building an index from the store.
REBUILD_CHUNK = 10_000
#: Numba threads per search unless the request sets ``n_threads``: a server gets its
#: parallelism from concurrent requests, and a parallel region per query was measured
#: 15x slower than one thread on a loaded 2-core machine (flat, 50k x 50: 98 vs 6.6 ms).
SEARCH_THREADS = 1


def blob_vector(blob: bytes) -> np.ndarray:
    """A stored vector blob as a float32 array (a view)."""
    return np.frombuffer(blob, dtype=_F32)


def catch_up_index(
    index: Any,
    store: Store,
    space_id: int,
    seq: int,
    labels: np.ndarray,
    batches: Callable[[Iterator[tuple[int, bytes]]], Iterator[tuple[np.ndarray, Any]]],
) -> None:
    """Bring ``index`` (saved or built at store ``seq``) up to date: remove the ids the
    space's ``labels`` no longer has, re-add the vectors written after ``seq`` (grouped by
    the space's ``batches``). Labels are never reused, so the two together are exact. Shared
    by dense and sparse spaces."""
    held = np.asarray(index.slot_ids())
    gone = np.setdiff1d(held[held >= 0], labels)
    if gone.size:
        index.remove(gone)
    for lab, vecs in batches(store.iter_vectors(space_id, seq, writer=True)):
        index.add(vecs, lab)


class RebuildCancelled(Exception):
    """A background build was cancelled (superseded, or the collection is closing)."""


@dataclasses.dataclass
class BuiltIndex:
    """A freshly built index, not yet installed, and the store seq it was built at."""

    index: Any
    ready: bool
    seq: int
    labels: np.ndarray


class VectorSpace:
    """The index side of one vector space (see module docstring). Not thread-safe by
    itself: the collection holds its readers-writer lock around every call."""

    #: Dense space (a :class:`vecsearch.sparse_space.SparseSpace` says True).
    sparse = False

    def __init__(self, config: SpaceConfig, collection_dir: Path, collection: str) -> None:
        self.config = config
        self.itype = get_index_type(config.index.type)
        self.itype.classes()  # fails clearly if the index type is unavailable
        self.collection = collection
        self.dir = collection_dir / "spaces" / str(config.id)
        self.files = IndexFiles(self.dir)
        self.index: Any = None
        #: The index holds every vector (trained, when the type needs it).
        self.ready = False
        #: Which labels have a vector in this space, and how many.
        self.present = np.zeros(1024, dtype=bool)
        self.count = 0
        #: "loaded" (saved index brought up to date) or "rebuilt", for tests and logs.
        self.index_source = ""
        #: bumped before every change to the index; keys the slot cache of allow()
        self.epoch = 0
        self._slot_cache: tuple[int, bool, np.ndarray] | None = None
        self._train_buffer: list[tuple[Any, np.ndarray]] = []
        params_cls = self.itype.classes()[1]
        self._params_cls = params_cls
        self._has_threads = any(f.name == "n_threads" for f in dataclasses.fields(params_cls))

    # -- identity ------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """Qdrant's vector name (``""``: the unnamed vector)."""
        return self.config.name

    @property
    def multi(self) -> bool:
        """Points are lists of vectors (MaxSim)."""
        return self.config.is_multivector

    def field(self, base: str) -> str:
        """``base`` followed by this space's name when it has one (for error messages)."""
        return f"{base}.{self.name}" if self.name else base

    # -- values --------------------------------------------------------------------------------
    def check_query(self, value: Any, field: str) -> np.ndarray:
        """A validated query: float32 ``(size,)``, or ``(m, size)`` for multi-vectors
        (normalised for Cosine); errors name ``field``."""
        cosine = self.config.metric == "cosine"
        if self.multi:
            return check_multivector(value, self.config.size, field, cosine=cosine)
        return check_query(value, self.config.size, field, cosine=cosine)

    def decode(self, blob: bytes) -> np.ndarray:
        """A stored vector: ``(size,)``, or ``(m, size)`` for multi-vectors."""
        v = blob_vector(blob)
        return v.reshape(-1, self.config.size) if self.multi else v

    def search_params(self, given: Mapping[str, Any] | None, field: str) -> tuple[Any, bool]:
        """``(params object, exact)`` of a request's ``params``, with this engine's
        default thread count filled in."""
        params, exact = self.itype.search_params(given, field)
        if self._has_threads and (params is None or params.n_threads is None):
            params = dataclasses.replace(
                params if params is not None else self._params_cls(), n_threads=SEARCH_THREADS
            )
        return params, exact

    # -- state ---------------------------------------------------------------------------------
    def grow(self, size: int) -> None:
        """Make :attr:`present` at least ``size`` long (the collection's label space)."""
        if size > len(self.present):
            new = np.zeros(size, dtype=bool)
            new[: len(self.present)] = self.present
            self.present = new

    def open(self, store: Store, uuid: str) -> None:
        """Load the saved index (brought up to date) or rebuild it from the store."""
        labels = store.space_labels(self.config.id, writer=True)
        self.grow(max(len(self.present), int(labels.max(initial=-1)) + 1))
        self.present[:] = False
        self.present[labels] = True
        self.count = int(labels.size)
        state = self.files.state()
        usable = (
            state is not None
            and state.get("uuid") == uuid
            and state.get("index_type") == self.config.index.type
            and state.get("params") == self.config.index.params
            and int(state.get("applied_seq", -1)) <= store.seq
        )
        if usable:
            try:
                self.epoch += 1
                self.index = self.itype.load_index(self.files.dir / DATA, work_dir=self.dir)
                self.ready = True
                self._catch_up(store, int(state["applied_seq"]), labels)
                self.index_source = "loaded"
                return
            except Exception as exc:  # a damaged derived file: rebuild from the store
                log.warning(
                    "collection %s, vector %r: saved index unusable (%s); rebuilding",
                    self.collection,
                    self.name,
                    exc,
                )
        self.install(self.build(store, writer=True))
        self.index_source = "rebuilt"

    def _catch_up(self, store: Store, applied_seq: int, labels: np.ndarray) -> None:
        """Apply the writes made after the saved index's ``applied_seq``."""
        self.epoch += 1
        self._catch_up_index(self.index, store, applied_seq, labels)

    def build(
        self,
        store: Store,
        *,
        writer: bool = False,
        should_stop: Callable[[], bool] | None = None,
    ) -> BuiltIndex:
        """A fresh index over every stored vector of the space (trained first when the type
        needs it and there are enough vectors), not installed. ``writer=False`` reads through
        a reader connection (one consistent snapshot), so writes may continue meanwhile;
        ``should_stop`` is asked between batches (:class:`RebuildCancelled`)."""
        cfg = self.config
        seq = store.seq
        self.dir.mkdir(parents=True, exist_ok=True)  # the index's work files live here
        labels = store.space_labels(cfg.id, writer=writer)
        index = self.itype.make_index(cfg.size, cfg.metric, cfg.index.params, work_dir=self.dir)
        ready = not self.itype.needs_training
        if self.itype.needs_training:
            if labels.size < self.itype.min_train_points(cfg.index.params):
                return BuiltIndex(index, False, seq, labels)
            index.train(self._training_sample(store, labels, writer))
            ready = True
        for lab, vecs in self.batches(store.iter_vectors(cfg.id, writer=writer)):
            if should_stop is not None and should_stop():
                raise RebuildCancelled(self.name)
            index.add(vecs, lab)
        return BuiltIndex(index, ready, seq, labels)

    def install(self, built: BuiltIndex) -> None:
        """Make ``built`` the live index (exclusive lock held by the caller)."""
        self.epoch += 1
        self.index = built.index
        self.ready = built.ready
        self._train_buffer = []

    def catch_up_built(self, store: Store, built: BuiltIndex) -> None:
        """Bring an index built at ``built.seq`` up to the store's present state (writers
        blocked by the caller)."""
        if not built.ready:
            return
        labels = store.space_labels(self.config.id, writer=True)
        self._catch_up_index(built.index, store, built.seq, labels)

    def _catch_up_index(self, index: Any, store: Store, seq: int, labels: np.ndarray) -> None:
        """Remove from ``index`` the ids ``labels`` no longer has, re-add what was written
        after ``seq`` (labels are never reused, so the two together are exact)."""
        catch_up_index(index, store, self.config.id, seq, labels, self.batches)

    def _training_sample(
        self, store: Store, labels: np.ndarray, writer: bool, max_points: int = 100_000
    ) -> np.ndarray:
        if labels.size > max_points:
            labels = np.sort(np.random.default_rng(0).choice(labels, max_points, replace=False))
        blobs = store.vectors(self.config.id, labels.tolist(), writer=writer)
        return np.stack([blob_vector(blobs[int(lab)]) for lab in labels if int(lab) in blobs])

    def batches(self, rows: Iterator[tuple[int, bytes]]) -> Iterator[tuple[np.ndarray, Any]]:
        """Group ``(label, blob)`` rows into ``(labels, float32 (n, size))`` batches, or
        ``(labels, list of (m_i, size) arrays)`` for multi-vectors."""
        dim = self.config.size
        labels: list[int] = []
        blobs: list[bytes] = []

        def rows_of(blobs: list[bytes]) -> Any:
            if self.multi:
                return [blob_vector(b).reshape(-1, dim) for b in blobs]
            return np.frombuffer(b"".join(blobs), dtype=_F32).reshape(len(blobs), dim).copy()

        for label, blob in rows:
            labels.append(label)
            blobs.append(blob)
            if len(labels) == REBUILD_CHUNK:
                yield np.asarray(labels, np.int64), rows_of(blobs)
                labels, blobs = [], []
        if labels:
            yield np.asarray(labels, np.int64), rows_of(blobs)

    def save(self, store: Store, uuid: str) -> None:
        """Save the index with the sequence number it reflects (writers blocked)."""
        if not self.ready:
            self.files.remove()
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        state = {
            "uuid": uuid,
            "space": self.name,
            "space_id": self.config.id,
            "index_type": self.config.index.type,
            "params": self.config.index.params,
            "applied_seq": store.seq,
            "dim": self.config.size,
            "metric": self.config.metric,
        }
        self.files.save(self.index, state)

    # -- applying committed writes (exclusive lock held) ---------------------------------------
    def add(self, labels: np.ndarray, vectors: Any, store: Store) -> None:
        """Vectors of ``labels`` were written: mark them present and index them (training
        the index first when this write brings the space past the training threshold)."""
        self.count += int((~self.present[labels]).sum())
        self.present[labels] = True
        if self.ready:
            self.epoch += 1
            self.index.add(vectors, labels)
        elif self.count >= self.itype.min_train_points(self.config.index.params):
            self.install(self.build(store, writer=True))

    def remove(self, labels: np.ndarray) -> None:
        """The vectors of ``labels`` are gone (point deleted, vector deleted or replaced by
        a point without it); labels without a vector here are ignored."""
        labels = labels[labels < len(self.present)]
        labels = labels[self.present[labels]]
        if labels.size == 0:
            return
        self.present[labels] = False
        self.count -= int(labels.size)
        if self.ready:
            self.epoch += 1
            self.index.remove(labels)

    def bulk_add(self, vectors: np.ndarray, labels: np.ndarray) -> None:
        """Add rows already written to the store (bulk build, no concurrent readers). Types
        that need training buffer rows until they have enough to train on."""
        self.grow(int(labels.max()) + 1)
        self.count += int((~self.present[labels]).sum())
        self.present[labels] = True
        if self.ready:
            self.epoch += 1
            self.index.add(vectors, labels)
            return
        self._train_buffer.append((vectors, labels))
        if self.count >= self.itype.min_train_points(self.config.index.params):
            x = np.concatenate([v for v, _ in self._train_buffer])
            ids = np.concatenate([i for _, i in self._train_buffer])
            self._train_buffer = []
            self.index.train(x)
            self.ready = True
            self.epoch += 1
            self.index.add(x, ids)

    # -- search (shared lock held) -------------------------------------------------------------
    def indexed_count(self) -> int:
        """Vectors the index holds (0 while it is untrained)."""
        return int(self.index.ntotal) if self.ready else 0

    def search(
        self, q: np.ndarray, k: int, params: Any, plan: Plan, store: Store
    ) -> tuple[np.ndarray, np.ndarray]:
        """Labels and distances (ascending, float64) of the ``k`` best allowed points."""
        if plan.strategy == "index":
            allow = None if plan.mask is None else self.allow(plan.mask)
            ids, dists = self.index.search([q] if self.multi else q[None, :], k, params, allow)
            keep = ids[0] >= 0
            return ids[0][keep], dists[0][keep].astype(np.float64)
        return self.exact_search(q, k, plan.mask, store, getattr(params, "n_threads", None))

    def allow(self, mask: np.ndarray) -> np.ndarray:
        """The index's ``allow`` argument for a mask over labels (the index's ids).

        Indexes built in label order keep point ``label`` in slot ``label`` (free slots and
        tombstones aside). That fact is checked once per index change and cached, and while
        it holds the slot mask is the label mask AND the cached "slot holds a point" mask:
        10 us of CPU for 390k slots, against 278 us for translating through the slots' ids
        (``id_mask_allow``, the fallback) and 718 us for the numpy translation it replaces."""
        cache = self._slot_cache
        if cache is None or cache[0] != self.epoch:
            sid = np.asarray(self.index.slot_ids())
            valid = sid >= 0
            identity = bool(np.all((sid == np.arange(sid.shape[0])) | ~valid))
            cache = self._slot_cache = (self.epoch, identity, valid)
        _, identity, valid = cache
        if not identity:
            return self.index.id_mask_allow(mask)[0]
        n = valid.shape[0]
        if mask.shape[0] >= n:
            return mask[:n] & valid
        out = np.zeros(n, dtype=np.bool_)
        out[: mask.shape[0]] = mask
        out &= valid
        return out

    def exact_search(
        self,
        q: np.ndarray,
        k: int,
        mask: np.ndarray | None,
        store: Store,
        n_threads: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact search over the allowed points: by the index's own scan when it keeps exact
        vectors, else over vectors gathered from the index or the store."""
        if self.ready and self.index.keeps_vectors:
            allow = None if mask is None else self.allow(mask)
            query = [q] if self.multi else q[None, :]
            try:
                ids, dists = self.index.search_exact(query, k, allow, n_threads=n_threads)
            except UnsupportedOperationError:
                pass  # declared but not possible for this instance: gather vectors below
            else:
                keep = ids[0] >= 0
                return ids[0][keep], dists[0][keep].astype(np.float64)
        allowed = self.present if mask is None else mask & self.present[: len(mask)]
        labels = np.flatnonzero(allowed).astype(np.int64)
        if self.multi:
            return self._exact_maxsim(q, labels, k, store)
        labels, vecs = self.vectors_of(labels, store)
        if labels.size == 0:
            return labels, np.zeros(0)
        return self.ranked_exact(q, labels, vecs, k)

    def ranked_exact(
        self, q: np.ndarray, labels: np.ndarray, vecs: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best of ``labels`` (rows ``vecs``) by exact float64 distance to ``q``,
        ties by label; distances rounded through float32 like the indexes' results."""
        v = vecs.astype(np.float64)
        qq = q.astype(np.float64)
        metric = self.config.metric
        if metric == "l2":
            d = ((v - qq) ** 2).sum(axis=1)
        elif metric == "ip":
            d = -(v @ qq)
        else:
            d = 1.0 - v @ qq
        order = np.lexsort((labels, d))[:k]
        return labels[order], d[order].astype(np.float32).astype(np.float64)

    def _exact_maxsim(
        self, q: np.ndarray, labels: np.ndarray, k: int, store: Store
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact MaxSim top-``k`` over ``labels`` (distances ``-MaxSim``, ties by label), in
        chunks."""
        from indexes.muvera import maxsim_scores  # lazily: only multi-vector spaces

        out_l: list[np.ndarray] = []
        out_d: list[np.ndarray] = []
        qq = (q, np.array([0, q.shape[0]], dtype=np.int64))
        for s in range(0, labels.size, REBUILD_CHUNK):
            found, tokens, offsets = self.sets_of(labels[s : s + REBUILD_CHUNK], store)
            if found.size == 0:
                continue
            out_l.append(found)
            out_d.append(-maxsim_scores(qq, (tokens, offsets))[0])
        if not out_l:
            return np.zeros(0, np.int64), np.zeros(0)
        lab, d = np.concatenate(out_l), np.concatenate(out_d)
        order = np.lexsort((lab, d))[:k]
        return lab[order], d[order].astype(np.float32).astype(np.float64)

    def sets_of(
        self, labels: np.ndarray, store: Store
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(labels found, tokens, offsets)`` of multi-vector points: from the index when
        it holds all of them, else from the store."""
        if self.ready and self.index.keeps_vectors and labels.size:
            try:
                tokens, offsets = self.index.get_vectors(labels)
                return labels, np.ascontiguousarray(tokens, np.float32), offsets
            except (UnknownIdError, UnsupportedOperationError):
                pass  # not all in the index (or it keeps no tokens): read the store
        blobs = store.vectors(self.config.id, labels.tolist())
        kept = [lab for lab in labels.tolist() if lab in blobs]
        sets = [self.decode(blobs[lab]) for lab in kept]
        sizes = np.array([x.shape[0] for x in sets], dtype=np.int64)
        tokens = np.concatenate(sets) if sets else np.zeros((0, self.config.size), np.float32)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        return np.asarray(kept, dtype=np.int64), np.ascontiguousarray(tokens), offsets

    def vectors_of(self, labels: np.ndarray, store: Store) -> tuple[np.ndarray, np.ndarray]:
        """``(labels found, float32 rows)``: from the index when it keeps exact vectors and
        holds them all, else from the store."""
        if self.ready and self.index.keeps_vectors and labels.size:
            try:
                return labels, np.asarray(self.index.get_vectors(labels), dtype=np.float32)
            except (UnknownIdError, UnsupportedOperationError):
                pass  # not all in the index: read the store
        blobs = store.vectors(self.config.id, labels.tolist())
        kept = np.asarray([lab for lab in labels.tolist() if lab in blobs], dtype=np.int64)
        if kept.size == 0:
            return kept, np.zeros((0, self.config.size), dtype=np.float32)
        return kept, np.stack([blob_vector(blobs[lab]) for lab in kept.tolist()])

    def exact_scores(
        self, q: np.ndarray, labels: np.ndarray, store: Store
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact ``(labels, scores)`` of the given points that have a vector here, best
        first (the re-scoring step of staged queries)."""
        if self.multi:
            labels, d = self._exact_maxsim(q, labels, labels.size, store)
        else:
            labels, vecs = self.vectors_of(labels, store)
            if labels.size == 0:
                return labels, np.zeros(0)
            labels, d = self.ranked_exact(q, labels, vecs, labels.size)
        return labels, self.scores(d)

    def scores(self, dists: np.ndarray) -> np.ndarray:
        """Qdrant's scores of index distances: similarity for Cosine / Dot / MaxSim,
        Euclidean distance for Euclid."""
        if self.multi:
            return -dists  # distances are -MaxSim
        metric = self.config.metric
        if metric == "cosine":
            return 1.0 - dists
        if metric == "ip":
            return -dists
        return np.sqrt(np.maximum(dists, 0.0))
