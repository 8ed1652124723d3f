"""One sparse vector space of a collection: its inverted index, term statistics and BM25
document statistics.

Values: a sparse vector is Qdrant's ``{"indices": [...], "values": [...]}``: indices are
unique integers in ``[0, 2**32)``, values finite numbers, both lists of the same length
(possibly empty). Indices may come in any order; they are kept sorted, with their values,
as Qdrant does. Stored as one blob: the ``n`` uint32 indices then the ``n`` float32 values
(little-endian). A BM25 inference object (:mod:`vecsearch.text.bm25`) becomes such a vector
at write time (:class:`~vecsearch.point_input.SparseColumn`).

Scores: the dot product of the query with the point's vector; only points sharing a term
with the query are returned (Qdrant's behaviour). With ``modifier: "idf"`` every query weight
is multiplied by Qdrant's inverse document frequency of its term,
``ln((N - n + 0.5) / (n + 0.5) + 1)``, where ``N`` is the number of points that have a
vector in this space and ``n`` the number of those whose vector holds the term. The counts
are kept up to date with every insert, replacement and delete (exact at every moment).

The index (:class:`indexes.sparse.SparseIndex`) is exact, so there is no exact/approximate
plan: a filter becomes the index's ``allow`` mask. Saved and loaded like a dense space's
index (``spaces/<id>/index``, memory-mapped on load; see :mod:`vecsearch.index_files`),
brought up to date from the store at open.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from indexes.errors import UnknownIdError
from indexes.sparse import SparseIndex, SparseParams
from vecsearch.config import SparseSpaceConfig
from vecsearch.errors import ValidationError
from vecsearch.index_files import DATA, IndexFiles
from vecsearch.space import REBUILD_CHUNK, BuiltIndex, RebuildCancelled, catch_up_index
from vecsearch.store import Store
from vecsearch.text.bm25 import TextStats
from vecsearch.validate import MAX_VECTOR_NORM, check_int, norm_reason

log = logging.getLogger(__name__)

SparseVector = tuple[np.ndarray, np.ndarray]  # (uint32 indices ascending, float32 values)
_EMPTY: SparseVector = (np.zeros(0, np.uint32), np.zeros(0, np.float32))
MAX_INDEX = 2**32 - 1
#: Longest sparse vector accepted (non-zero entries); bounds a request's memory.
MAX_NNZ = 1_000_000


def encode(vec: SparseVector) -> bytes:
    """The store blob of a sparse vector."""
    idx, val = vec
    return idx.astype("<u4").tobytes() + val.astype("<f4").tobytes()


def decode(blob: bytes) -> SparseVector:
    """A sparse vector from its store blob (views of the blob)."""
    n = len(blob) // 8
    return (
        np.frombuffer(blob, dtype="<u4", count=n),
        np.frombuffer(blob, dtype="<f4", count=n, offset=4 * n),
    )


def _numbers(items: Any, field: str, what: str) -> np.ndarray:
    if isinstance(items, np.ndarray):
        arr = items
    else:
        if isinstance(items, str | bytes | Mapping) or not isinstance(items, Sequence):
            raise ValidationError(field, f"expected a list of {what}")
        if len(items) > MAX_NNZ:
            raise ValidationError(field, f"at most {MAX_NNZ} entries per sparse vector")
        for i, x in enumerate(items):
            if isinstance(x, bool) or not isinstance(x, int | float):
                raise ValidationError(f"{field}[{i}]", f"expected a number, got {x!r}")
            if what == "numbers" and isinstance(x, int) and abs(x) > sys.float_info.max:
                raise ValidationError(f"{field}[{i}]", f"must be a finite float32, got {x!r}")
        arr = np.asarray(items, dtype=np.float64 if what == "numbers" else object)
    return arr


def check_sparse(value: Any, field: str) -> SparseVector:
    """A checked sparse vector from ``{"indices", "values"}`` (or an ``(indices, values)``
    pair of arrays); errors name ``field`` and the offending entry."""
    if isinstance(value, tuple) and len(value) == 2:
        raw_idx, raw_val = value
    elif isinstance(value, Mapping):
        extra = sorted(set(value) - {"indices", "values"})
        if extra:
            raise ValidationError(f"{field}.{extra[0]}", "unknown field of a sparse vector")
        if "indices" not in value or "values" not in value:
            missing = "indices" if "indices" not in value else "values"
            raise ValidationError(f"{field}.{missing}", "missing")
        raw_idx, raw_val = value["indices"], value["values"]
    else:
        raise ValidationError(field, 'expected a sparse vector {"indices": [...], "values": [...]}')
    idx = _numbers(raw_idx, f"{field}.indices", "integers")
    val = _numbers(raw_val, f"{field}.values", "numbers")
    if idx.ndim != 1 or val.ndim != 1:
        raise ValidationError(field, "indices and values must be flat lists")
    if idx.shape[0] != val.shape[0]:
        raise ValidationError(
            field,
            f"indices and values differ in length ({idx.shape[0]} indices, {val.shape[0]} values)",
        )
    if idx.shape[0] == 0:
        return _EMPTY
    for i, x in enumerate(idx.tolist()):
        if isinstance(x, float) and not x.is_integer():
            raise ValidationError(f"{field}.indices[{i}]", f"expected an integer, got {x!r}")
        if not 0 <= x <= MAX_INDEX:
            raise ValidationError(
                f"{field}.indices[{i}]", f"must be in [0, {MAX_INDEX}], got {x!r}"
            )
    idx64 = np.asarray([int(x) for x in idx.tolist()], dtype=np.int64)
    val64 = np.asarray(val, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(val64) | (np.abs(val64) > np.finfo(np.float32).max))
    if bad.size:
        raise ValidationError(
            f"{field}.values[{bad[0]}]", f"must be a finite float32, got {val64[bad[0]]!r}"
        )
    norm = float(np.sqrt(np.dot(val64, val64)))
    if norm > MAX_VECTOR_NORM:  # scores must stay finite in float32 (vecsearch.validate)
        raise ValidationError(f"{field}.values", norm_reason(norm))
    order = np.argsort(idx64, kind="stable")
    idx64, val64 = idx64[order], val64[order]
    dup = np.flatnonzero(idx64[1:] == idx64[:-1])
    if dup.size:
        raise ValidationError(f"{field}.indices", f"must be unique; {idx64[dup[0]]} repeats")
    return idx64.astype(np.uint32), val64.astype(np.float32)


def stats_key(space_id: int) -> str:
    """Store meta key of a space's BM25 document statistics."""
    return f"text_stats:{space_id}"


class SparseSpace:
    """The index side of one sparse space (same duties as :class:`vecsearch.space.
    VectorSpace`, which see; the collection holds its locks around every call)."""

    multi = False
    sparse = True

    def __init__(self, config: SparseSpaceConfig, collection_dir: Path, collection: str) -> None:
        self.config = config
        self.collection = collection
        self.dir = collection_dir / "spaces" / str(config.id)
        self.files = IndexFiles(self.dir)
        self.index = SparseIndex()
        self.ready = True
        self.present = np.zeros(1024, dtype=bool)
        self.count = 0
        self.index_source = ""
        self.epoch = 0
        #: Terms (ascending) and how many present vectors hold each (for IDF).
        self._terms = np.zeros(0, np.uint32)
        self._df = np.zeros(0, np.int64)
        #: BM25 documents written into this space (for the average length).
        self.text_stats = TextStats()

    # -- identity ------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.config.name

    def field(self, base: str) -> str:
        return f"{base}.{self.name}"

    def decode(self, blob: bytes) -> dict[str, np.ndarray]:
        """A stored vector as Qdrant's ``{"indices", "values"}``."""
        idx, val = decode(blob)
        return {"indices": idx, "values": val}

    def check_query(self, value: Any, field: str) -> SparseVector:
        """A checked sparse query vector."""
        if isinstance(value, Mapping) and set(value) == {"indices", "values"}:
            idx, val = value["indices"], value["values"]
            if isinstance(idx, np.ndarray) and isinstance(val, np.ndarray):
                return check_sparse((idx, val), field)
        return check_sparse(value, field)

    def search_params(self, given: Mapping[str, Any] | None, field: str) -> tuple[Any, bool]:
        """``(SparseParams, exact)``: the search is exact, so only ``exact`` (ignored) and
        ``n_threads`` are taken; Qdrant's dense-index parameters are refused."""
        if given is None:
            return SparseParams(n_threads=1), False
        if not isinstance(given, Mapping):
            raise ValidationError(field, "expected an object")
        threads = 1
        exact = False
        for key, value in given.items():
            if value is None:
                continue
            if key == "exact":
                if not isinstance(value, bool):
                    raise ValidationError(
                        f"{field}.exact", f"expected true or false, got {value!r}"
                    )
                exact = value
            elif key == "n_threads":
                threads = check_int(value, f"{field}.n_threads", minimum=1, maximum=64)
            elif key in ("indexed_only", "quantization"):
                continue  # Qdrant flags with no meaning for an exact sparse index
            else:
                raise ValidationError(
                    f"{field}.{key}", "not a parameter of sparse search (it is always exact)"
                )
        return SparseParams(n_threads=threads), exact

    # -- state ---------------------------------------------------------------------------------
    def grow(self, size: int) -> None:
        if size > len(self.present):
            new = np.zeros(size, dtype=bool)
            new[: len(self.present)] = self.present
            self.present = new

    def indexed_count(self) -> int:
        return int(self.index.ntotal)

    def open(self, store: Store, uuid: str) -> None:
        """Load the saved index (brought up to date) or rebuild it from the store."""
        labels = store.space_labels(self.config.id, writer=True)
        self.grow(max(len(self.present), int(labels.max(initial=-1)) + 1))
        self.present[:] = False
        self.present[labels] = True
        self.count = int(labels.size)
        raw = store.get_meta(stats_key(self.config.id))
        if raw:
            d = json.loads(raw)
            self.text_stats = TextStats(int(d["docs"]), int(d["tokens"]))
        state = self.files.state()
        usable = (
            state is not None
            and state.get("uuid") == uuid
            and state.get("index_type") == SparseSpaceConfig.INDEX_TYPE
            and int(state.get("applied_seq", -1)) <= store.seq
        )
        if usable:
            try:
                index = SparseIndex.load(self.files.dir / DATA, mmap=True)
                self._catch_up_index(index, store, int(state["applied_seq"]), labels)
                self._set_index(index)
                self.index_source = "loaded"
                return
            except Exception as exc:  # a damaged derived file: rebuild from the store
                log.warning(
                    "collection %s, sparse vector %r: saved index unusable (%s); rebuilding",
                    self.collection,
                    self.name,
                    exc,
                )
        self.install(self.build(store, writer=True))
        self.index_source = "rebuilt"

    def _set_index(self, index: SparseIndex) -> None:
        self.epoch += 1
        self.index = index
        self._terms, self._df = index.document_frequencies()

    def build(
        self,
        store: Store,
        *,
        writer: bool = False,
        should_stop: Callable[[], bool] | None = None,
    ) -> BuiltIndex:
        """A fresh index over every stored vector of the space, not installed."""
        seq = store.seq
        labels = store.space_labels(self.config.id, writer=writer)
        index = SparseIndex()
        for lab, rows in self.batches(store.iter_vectors(self.config.id, writer=writer)):
            if should_stop is not None and should_stop():
                raise RebuildCancelled(self.name)
            index.add(rows, lab)
        return BuiltIndex(index, True, seq, labels)

    def install(self, built: BuiltIndex) -> None:
        self._set_index(built.index)

    def catch_up_built(self, store: Store, built: BuiltIndex) -> None:
        labels = store.space_labels(self.config.id, writer=True)
        self._catch_up_index(built.index, store, built.seq, labels)

    def _catch_up_index(
        self, index: SparseIndex, store: Store, seq: int, labels: np.ndarray
    ) -> None:
        catch_up_index(index, store, self.config.id, seq, labels, self.batches)

    @staticmethod
    def batches(rows: Iterator[tuple[int, bytes]]) -> Iterator[tuple[np.ndarray, list]]:
        """``(labels, [(indices, values)])`` batches of stored rows."""
        labels: list[int] = []
        vecs: list[SparseVector] = []
        for label, blob in rows:
            labels.append(label)
            vecs.append(decode(blob))
            if len(labels) == REBUILD_CHUNK:
                yield np.asarray(labels, np.int64), vecs
                labels, vecs = [], []
        if labels:
            yield np.asarray(labels, np.int64), vecs

    def save(self, store: Store, uuid: str) -> None:
        """Save the index (writers blocked). Slots still in the index's forward-row tail
        are sealed into the inverted lists first: the tail is scored row by row, and on
        Vaswani a tail of the last 1,429 documents made the kernel 5x slower per BM25 query
        (profiled: 335 vs 69 µs)."""
        if self.index.unsealed:
            self.epoch += 1
            self.index.seal()
        self.dir.mkdir(parents=True, exist_ok=True)
        state = {
            "uuid": uuid,
            "space": self.name,
            "space_id": self.config.id,
            "index_type": SparseSpaceConfig.INDEX_TYPE,
            "params": {},
            "applied_seq": store.seq,
        }
        self.files.save(self.index, state)

    # -- term statistics -----------------------------------------------------------------------
    def _count_terms(self, rows: Sequence[SparseVector], sign: int) -> None:
        """Add (``sign=1``) or remove (``-1``) rows' terms from the document frequencies."""
        parts = [r[0] for r in rows if r[0].shape[0]]
        if not parts:
            return
        t, c = np.unique(np.concatenate(parts), return_counts=True)
        merged = np.union1d(self._terms, t).astype(np.uint32)
        df = np.zeros(merged.shape[0], np.int64)
        df[np.searchsorted(merged, self._terms)] = self._df
        df[np.searchsorted(merged, t)] += sign * c
        keep = df > 0
        self._terms, self._df = merged[keep], df[keep]

    def idf(self, terms: np.ndarray) -> np.ndarray:
        """Qdrant's IDF of ``terms`` over the present vectors (float64)."""
        pos = np.searchsorted(self._terms, terms)
        pos = np.minimum(pos, max(self._terms.shape[0] - 1, 0))
        n = np.zeros(terms.shape[0], np.float64)
        if self._terms.shape[0]:
            hit = self._terms[pos] == terms
            n[hit] = self._df[pos[hit]]
        big_n = float(self.count)
        return np.log((big_n - n + 0.5) / (n + 0.5) + 1.0)

    def document_frequency(self, term: int) -> int:
        """How many present vectors hold ``term``."""
        pos = int(np.searchsorted(self._terms, term))
        ok = pos < self._terms.shape[0] and int(self._terms[pos]) == term
        return int(self._df[pos]) if ok else 0

    # -- applying committed writes (exclusive lock held) ---------------------------------------
    def add(self, labels: np.ndarray, vectors: Sequence[SparseVector], store: Store) -> None:
        """Vectors of ``labels`` were written (replacing any they had here)."""
        labels = np.asarray(labels, np.int64)
        old = labels[self.present[labels]]
        if old.size:
            self._count_terms(self.index.get_vectors(old), -1)
        self.count += int(labels.size - old.size)
        self.present[labels] = True
        self.epoch += 1
        self.index.add(list(vectors), labels)
        self._count_terms(vectors, 1)

    def remove(self, labels: np.ndarray) -> None:
        """The vectors of ``labels`` are gone; labels without a vector here are ignored."""
        labels = labels[labels < len(self.present)]
        labels = labels[self.present[labels]]
        if labels.size == 0:
            return
        self._count_terms(self.index.get_vectors(labels), -1)
        self.present[labels] = False
        self.count -= int(labels.size)
        self.epoch += 1
        self.index.remove(labels)

    def bulk_add(self, vectors: Sequence[SparseVector], labels: np.ndarray) -> None:
        """Rows already written to the store (bulk build)."""
        self.grow(int(labels.max()) + 1)
        self.add(labels, vectors, None)  # type: ignore[arg-type]

    # -- search (shared lock held) -------------------------------------------------------------
    def weighted(self, q: SparseVector) -> SparseVector:
        """The query as scored: weights times IDF when the space has the modifier."""
        idx, val = q
        if not self.config.idf or idx.shape[0] == 0:
            return q
        big = float(np.finfo(np.float32).max)  # a weight near the float32 limit stays finite
        return idx, np.clip(val.astype(np.float64) * self.idf(idx), -big, big).astype(np.float32)

    def search(
        self, q: SparseVector, k: int, params: Any, mask: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Labels and scores (descending dot products) of the ``k`` best allowed points."""
        if k <= 0 or self.index.ntotal == 0:
            return np.zeros(0, np.int64), np.zeros(0)
        allow = None if mask is None else self.index.id_mask_allow(mask)[0]
        ids, dists = self.index.search([self.weighted(q)], k, params, allow)
        keep = ids[0] >= 0
        return ids[0][keep], -dists[0][keep].astype(np.float64)

    def exact_scores(
        self, q: SparseVector, labels: np.ndarray, store: Store
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(labels, scores)`` of the given points that have a vector here, best first
        (re-scoring a prefetch's candidates); points sharing no term are left out."""
        labels = labels[labels < len(self.present)]
        labels = labels[self.present[labels]]
        if labels.size == 0:
            return labels, np.zeros(0)
        try:
            rows = self.index.get_vectors(labels)
        except UnknownIdError:  # pragma: no cover - present and index agree under the lock
            rows = [decode(store.vectors(self.config.id, [int(x)])[int(x)]) for x in labels]
        qi, qv = self.weighted(q)
        scores = np.zeros(labels.size)
        shares = np.zeros(labels.size, dtype=bool)
        for j, (idx, val) in enumerate(rows):
            common, a, b = np.intersect1d(qi, idx, assume_unique=True, return_indices=True)
            if common.size:
                shares[j] = True
                scores[j] = float(np.dot(qv[a].astype(np.float64), val[b].astype(np.float64)))
        labels, scores = labels[shares], scores[shares]
        order = np.lexsort((labels, -scores))
        return labels[order], scores[order].astype(np.float32).astype(np.float64)

    @staticmethod
    def scores(values: np.ndarray) -> np.ndarray:
        """Scores are already dot products (higher is better)."""
        return values


def text_meta(space_id: int, stats: TextStats) -> dict[str, str]:
    """The store meta entry of a space's BM25 statistics."""
    return {stats_key(space_id): json.dumps({"docs": stats.docs, "tokens": stats.tokens})}
