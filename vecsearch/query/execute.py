"""Running parsed queries over a collection's vector spaces.

:func:`run` executes a batch of :class:`~vecsearch.query.model.Query` objects under one
shared lock of the collection, so every query of a batch sees the same state. Within a
batch each distinct filter is evaluated once (filters are frozen values; the mask is
cached by the filter), whichever query or prefetch uses it.

A nearest stage is one planned search in its space (:func:`vecsearch.planner.choose_plan`:
filtered index search, or exact search when the filter admits few points; a sparse space's
inverted index is exact and takes the filter as its mask); a point-id query fetches one
extra hit and drops the point itself (cheaper than a ``must_not`` filter, which would force
a masked search). A fusion stage combines the ranked lists of its prefetches by reciprocal
rank (``rrf``) or by normalised scores (``dbsf``); a re-scoring stage scores the union of
its prefetches' points exactly with its own vector, in its own space. Thresholds apply to
each stage's own scores; ``offset`` and the relevance filter to the top stage only.

A :class:`Control` lets the caller stop a batch whose answer nobody waits for any more (the
HTTP client has gone): it is checked before every query of a batch and before every
prefetch stage, i.e. between kernel calls (one kernel call is not interrupted), and
:class:`Cancelled` is raised there; it also counts the queries answered and skipped.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import numpy as np

from vecsearch.config import CollectionConfig
from vecsearch.filters import Filter
from vecsearch.ids import PointId, key_to_id
from vecsearch.models import PayloadSelector, ScoredPoint, VectorSelector
from vecsearch.payload_path import iter_leaf_values, parse_path
from vecsearch.planner import choose_plan
from vecsearch.query.kinds import MAX_MMR_CANDIDATES
from vecsearch.query.model import Examples, Fusion, Nearest, OrderBy, Query, Sample, Scan, Stage
from vecsearch.query.order import id_order, ordered, sample
from vecsearch.query.scoring import best_examples, mmr_order
from vecsearch.space import VectorSpace
from vecsearch.sparse_space import SparseSpace
from vecsearch.store import Store

_EMPTY = (np.zeros(0, dtype=np.int64), np.zeros(0))
AnySpace = VectorSpace | SparseSpace


class Reader(Protocol):
    """What running a query needs from a collection (its read side)."""

    config: CollectionConfig
    last_plan: str

    def reading(self) -> AbstractContextManager[Any]: ...

    def space(self, name: str | None, field: str = "using") -> AnySpace: ...

    @property
    def point_count(self) -> int: ...

    @property
    def store(self) -> Store: ...

    def filter_mask(self, flt: Filter) -> np.ndarray: ...

    def relevance_for(self, using: str) -> Any: ...

    def order_index(self, key: str) -> Any: ...

    def hits(
        self,
        labels: np.ndarray,
        scores: np.ndarray,
        relevance: np.ndarray | None,
        with_payload: PayloadSelector,
        with_vector: VectorSelector,
        order_values: Sequence[Any] | None = None,
    ) -> list[ScoredPoint]: ...


class Cancelled(Exception):
    """Raised between two searches of a batch once its :class:`Control` is cancelled."""


class Control:
    """Cancellation and progress of one batch, shared by the thread that runs it and the one
    that learns the caller has gone (``cancel`` is thread-safe).

    ``on_done(n)`` is called after each ``n`` queries answered, ``on_skip(n)`` once with the
    number of queries (and prefetch stages) left unrun when the batch stops."""

    def __init__(
        self,
        on_done: Callable[[int], None] | None = None,
        on_skip: Callable[[int], None] | None = None,
    ) -> None:
        self._cancelled = threading.Event()
        self.on_done = on_done
        self.on_skip = on_skip
        #: Queries answered so far.
        self.done = 0

    def cancel(self) -> None:
        """Ask the batch to stop at its next check."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def check(self, remaining: int) -> None:
        """Raise :class:`Cancelled` (counting ``remaining`` as skipped) if cancelled."""
        if self._cancelled.is_set():
            if self.on_skip is not None:
                self.on_skip(remaining)
            raise Cancelled(f"cancelled with {remaining} searches left")

    def answered(self, n: int = 1) -> None:
        self.done += n
        if self.on_done is not None:
            self.on_done(n)


def run(
    src: Reader, queries: Sequence[Query], control: Control | None = None
) -> list[list[ScoredPoint]]:
    """The hits of every query, in order (see :class:`Control` for ``control``)."""
    return _each(src, queries, control, _Batch.answer)


def run_groups(
    src: Reader, queries: Sequence[Query], control: Control | None = None
) -> list[list[tuple[Any, list[ScoredPoint]]]]:
    """The groups ``(value, hits)`` of every grouped query, in order."""
    return _each(src, queries, control, _Batch.answer_groups)


def _each(
    src: Reader,
    queries: Sequence[Query],
    control: Control | None,
    answer: Callable[[_Batch, Query], Any],
) -> list[Any]:
    """``answer`` for every query of one batch under one shared lock, checking ``control``
    before each."""
    with src.reading():
        batch = _Batch(src, control)
        out = []
        for i, q in enumerate(queries):
            batch.check(len(queries) - i)
            out.append(answer(batch, q))
            if control is not None:
                control.answered()
        return out


def _in_space(space: AnySpace, labels: np.ndarray) -> np.ndarray:
    """The labels that have a vector in ``space``."""
    labels = labels[labels < len(space.present)]
    return labels[space.present[labels]]


def _group(
    store: Store, labels: np.ndarray, key: str
) -> tuple[dict[Any, list[int]], dict[int, PointId]]:
    """Positions of ``labels`` by group value, groups in order of first appearance, and
    the point id of each label.

    A point joins the group of every distinct string or integer value at ``key`` (leaf
    arrays opened); a point with a value of any other type (bool, float, object, null)
    joins none, as in Qdrant. ``True`` and ``1`` are different groups."""
    path = parse_path(key, "group_by")
    rows = store.rows(labels.tolist())
    out: dict[Any, list[int]] = {}
    ids = {lab: key_to_id(row[1]) for lab, row in rows.items()}
    for i, lab in enumerate(labels.tolist()):
        row = rows.get(lab)
        if row is None:
            continue
        values = list(iter_leaf_values(json.loads(row[2]) if row[2] else {}, path))
        if not values or any(type(v) not in (str, int) for v in values):
            continue
        for v in dict.fromkeys(values):
            out.setdefault(v, []).append(i)
    return out, ids


class _Batch:
    """One batch under one lock: the filter-mask cache and the stage runners."""

    def __init__(self, src: Reader, control: Control | None = None) -> None:
        self.src = src
        self.store = src.store
        self.n_points = src.point_count
        self._masks: dict[Filter, np.ndarray] = {}
        self.control = control

    def check(self, remaining: int) -> None:
        """Stop here (:class:`Cancelled`) if the caller has gone."""
        if self.control is not None:
            self.control.check(remaining)

    def mask(self, flt: Filter | None) -> np.ndarray | None:
        if flt is None or flt.is_empty:
            return None
        try:
            m = self._masks.get(flt)
        except TypeError:  # an unhashable filter value: evaluate without caching
            return self.src.filter_mask(flt)
        if m is None:
            m = self._masks[flt] = self.src.filter_mask(flt)
        return m

    # -- the top stage -------------------------------------------------------------------------
    def answer(self, q: Query) -> list[ScoredPoint]:
        st = q.stage
        want = q.offset + st.limit
        rel = None
        t = st.target
        if not st.prefetch and isinstance(t, Nearest) and t.mmr is None:
            labels, scores, rel = self.nearest_top(st, want, q.relevance_threshold)
        else:
            labels, scores = self.stage(st, want)
        end = q.offset + st.limit
        labels, scores = labels[q.offset : end], scores[q.offset : end]
        if rel is not None:
            rel = rel[q.offset : end]
        return self.hits(st, labels, scores, rel, q)

    def hits(
        self,
        st: Stage,
        labels: np.ndarray,
        scores: np.ndarray,
        rel: np.ndarray | None,
        q: Query,
    ) -> list[ScoredPoint]:
        """Result records; an ``order_by`` stage's "scores" are its order values (the hits
        then score 1, as in Qdrant)."""
        if isinstance(st.target, OrderBy):
            ones = np.ones(labels.size)
            return self.src.hits(labels, ones, None, q.with_payload, q.with_vector, list(scores))
        return self.src.hits(labels, scores.astype(np.float64), rel, q.with_payload, q.with_vector)

    def answer_groups(self, q: Query) -> list[tuple[Any, list[ScoredPoint]]]:
        """``(group value, hits)`` of a grouped query, best group first.

        The stage is run for more and more hits until its first ``limit`` groups are full
        or it has no more hits; as groups are ranked by their first hit and a full group
        takes no more, later hits could not change the answer (Qdrant's result over all
        hits)."""
        st, g = q.stage, q.groups
        assert g is not None
        want = min(max(64, 4 * st.limit * g.size), max(self.n_points, 1))
        while True:
            self.check(1)
            labels, scores = self.stage(st, want)
            members, ids = _group(self.store, labels, g.key)
            firsts = list(members)[: st.limit]
            full = len(firsts) == st.limit and all(len(members[v]) >= g.size for v in firsts)
            if full or labels.size < want or want >= self.n_points:
                break
            want = min(4 * want, max(self.n_points, 1))
        keep = sorted({i for v in firsts for i in members[v][: g.size]})
        found = iter(self.hits(st, labels[keep], scores[keep], None, q))
        hits: dict[int, ScoredPoint] = {}
        hit = next(found, None)
        for i in keep:  # align: points deleted since the search are missing from the hits
            if hit is not None and hit.id == ids[int(labels[i])]:
                hits[i] = hit
                hit = next(found, None)
        return [(v, [hits[i] for i in members[v][: g.size] if i in hits]) for v in firsts]

    def nearest_top(
        self, st: Stage, want: int, rthr: float | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """A top-level nearest search, with the relevance model of its space if there is
        one (its features need the unfiltered top ``depth`` scores)."""
        model = self.src.relevance_for(st.using)
        if model is None:
            labels, scores = self.nearest(st, want)
            return labels, scores, None
        space = self.src.space(st.using)
        flt = st.filter if st.filter is not None and not st.filter.is_empty else None
        depth = min(model.depth, space.count)
        assert isinstance(st.target, Nearest)
        q = st.target.vector
        top = None
        if flt is not None:  # first, so that last_plan tells the filtered search's plan
            unfiltered = Stage(st.field, st.using, st.target, None, st.params, False, None, 1)
            top = self.nearest(unfiltered, depth, threshold=False)[1]
        labels, scores = self.nearest(
            st, max(want, depth) if flt is None else want, threshold=False
        )
        if top is None:
            top = scores[:depth]
        rel = model.relevance(q[None, :], [top], [scores])[0]
        keep = self._kept(space, st.threshold, scores)
        if rthr is not None:
            keep &= rel >= rthr
        return labels[keep], scores[keep], rel[keep]

    # -- stages --------------------------------------------------------------------------------
    def stage(self, st: Stage, want: int) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``want`` ``(labels, scores)`` of a stage, best first (an ``order_by``
        stage's scores are its order values, an object array)."""
        t = st.target
        # never more hits than points (a limit of 2**63 must not reach numpy or SQLite),
        # except for order_by, which lists a point once per distinct value (plain slicing)
        if not isinstance(t, OrderBy):
            want = min(want, max(self.n_points, 1))
        if not st.prefetch:
            return self.target(st, want, None)
        lists = []
        for i, p in enumerate(st.prefetch):
            self.check(len(st.prefetch) - i)  # between prefetch stages
            lists.append(self.stage(p, p.limit))
        if isinstance(t, Fusion):
            fuse = _dbsf if t.method == "dbsf" else _rrf
            labels, scores = fuse(lists, t)
            if st.threshold is not None:
                keep = scores >= st.threshold
                labels, scores = labels[keep], scores[keep]
            return labels[:want], scores[:want]
        union = [lab for labels, _ in lists for lab in labels.tolist()]
        return self.target(st, want, np.fromiter(dict.fromkeys(union), dtype=np.int64))

    def target(
        self, st: Stage, want: int, candidates: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Run a stage's query kind over the whole collection (filtered) or, when
        ``candidates`` are given (its prefetches' points), over those only."""
        t = st.target
        if isinstance(t, Nearest):
            if t.mmr is None:
                return self._nearest_over(st, want, candidates)
            # default: the limit, at most MAX_MMR_CANDIDATES (each chosen point is compared
            # with every candidate, so the re-ranking costs limit x candidates)
            cand = t.mmr.candidates if t.mmr.candidates is not None else st.limit
            cand = min(cand, MAX_MMR_CANDIDATES)
            labels, scores = self._nearest_over(st, cand, candidates)
            space = self.src.space(st.using)
            order = mmr_order(space, t.vector, labels, t.mmr.diversity, want, self.store)
            return labels[order], scores[order]
        allowed = candidates if candidates is not None else self.allowed(st.filter)
        if isinstance(t, Examples):
            space = self.src.space(st.using)
            labels, scores = best_examples(space, t, _in_space(space, allowed), want, self.store)
            if st.threshold is not None:
                keep = scores >= st.threshold
                labels, scores = labels[keep], scores[keep]
            return labels, scores
        if isinstance(t, OrderBy):
            index = self.src.order_index(t.key)
            labels, _keys, values = ordered(self.store, allowed, t, want, index)
            return labels, np.asarray(values, dtype=object)
        if isinstance(t, Sample):
            labels = sample(allowed, want, np.random.default_rng())
        else:
            assert isinstance(t, Scan)
            labels = id_order(self.store, allowed, self.n_points, want)
        return labels, np.ones(labels.size)

    def allowed(self, flt: Filter | None) -> np.ndarray:
        """Labels of the live points passing ``flt`` (all live points without one)."""
        m = self.mask(flt)
        return np.flatnonzero(m if m is not None else self.src.filter_mask(Filter()))

    def _nearest_over(
        self, st: Stage, want: int, candidates: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        if candidates is None:
            return self.nearest(st, want)
        target = st.target
        assert isinstance(target, Nearest)
        ids = candidates
        if target.exclude:
            ids = ids[~np.isin(ids, np.asarray(target.exclude, dtype=np.int64))]
        space = self.src.space(st.using)
        labels, scores = space.exact_scores(target.vector, ids, self.store)
        labels, scores = self._threshold(space, st.threshold, labels, scores)
        return labels[:want], scores[:want]

    def nearest(
        self, st: Stage, want: int, *, threshold: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """One planned search in the stage's space: up to ``want`` hits, best first."""
        target = st.target
        assert isinstance(target, Nearest)
        space = self.src.space(st.using)
        mask = self.mask(st.filter)
        if mask is not None and space.count != self.n_points:
            mask = mask & space.present[: len(mask)]
        n = space.count
        extra = len(target.exclude)
        # never more hits than vectors: a huge limit or offset must not size the result
        # arrays (limit=10**12 would otherwise try to allocate terabytes)
        k = min(want + extra, n)
        if isinstance(space, SparseSpace):  # exact inverted index: the filter is its mask
            self.src.last_plan = "index"
            labels, scores = space.search(target.vector, k, st.params, mask)
        else:
            labels, scores = self._dense(space, st, mask, n, k)
        if extra:
            keep = ~np.isin(labels, np.asarray(target.exclude, dtype=np.int64))
            labels, scores = labels[keep][:want], scores[keep][:want]
        if threshold:
            labels, scores = self._threshold(space, st.threshold, labels, scores)
        return labels, scores

    def _dense(
        self, space: VectorSpace, st: Stage, mask: np.ndarray | None, n: int, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """One planned search in a dense space: labels and scores, best first."""
        assert isinstance(st.target, Nearest)
        plan = choose_plan(
            mask,
            n,
            dim=space.config.size,
            full_scan_threshold_kb=space.config.full_scan_threshold_kb,
            index_exact=space.itype.exact,
            index_ready=space.ready,
            force_exact=st.exact,
        )
        self.src.last_plan = plan.strategy
        if plan.strategy == "none" or k == 0:
            return _EMPTY
        labels, dists = space.search(st.target.vector, k, st.params, plan, self.store)
        return labels, space.scores(dists)

    @staticmethod
    def _kept(space: AnySpace, thr: float | None, scores: np.ndarray) -> np.ndarray:
        """Which scores are at least (similarities) or at most (distances) ``thr``."""
        if thr is None:
            return np.ones(len(scores), dtype=bool)
        if isinstance(space, SparseSpace):
            return scores >= thr
        better = space.config.distance.higher_is_better or space.multi
        return scores >= thr if better else scores <= thr

    def _threshold(
        self, space: AnySpace, thr: float | None, labels: np.ndarray, scores: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        if thr is None:
            return labels, scores
        keep = self._kept(space, thr, scores)
        return labels[keep], scores[keep]


def _rrf(lists: list[tuple[np.ndarray, np.ndarray]], f: Fusion) -> tuple[np.ndarray, np.ndarray]:
    """Reciprocal rank fusion (see :class:`~vecsearch.query.model.Fusion`); ties keep the
    order in which points were first seen."""
    fused: dict[int, float] = {}
    for i, (labels, _scores) in enumerate(lists):
        w = 1.0 if f.weights is None else f.weights[i]
        for pos, lab in enumerate(labels.tolist()):
            fused[lab] = fused.get(lab, 0.0) + 1.0 / ((pos + 1) / w + f.k - 1)
    ranked = sorted(fused.items(), key=lambda kv: -kv[1])  # stable sort
    if not ranked:
        return _EMPTY
    labels, scores = zip(*ranked, strict=True)
    return np.asarray(labels, dtype=np.int64), np.asarray(scores, dtype=np.float64)


def _dbsf(lists: list[tuple[np.ndarray, np.ndarray]], f: Fusion) -> tuple[np.ndarray, np.ndarray]:
    """Distribution-based score fusion (see :class:`~vecsearch.query.model.Fusion`); ties
    keep the order in which points were first seen."""
    fused: dict[int, float] = {}
    for labels, scores in lists:
        if labels.size == 0:
            continue
        s = scores.astype(np.float64)
        if s.size == 1:
            norm = np.full(1, 0.5)
        else:
            mean, std = float(s.mean()), float(s.std(ddof=1))
            norm = np.full(s.size, 0.5) if std == 0 else (s - (mean - 3 * std)) / (6 * std)
        for lab, v in zip(labels.tolist(), norm.tolist(), strict=True):
            fused[lab] = fused.get(lab, 0.0) + v
    ranked = sorted(fused.items(), key=lambda kv: -kv[1])  # stable sort
    if not ranked:
        return _EMPTY
    out_l, out_s = zip(*ranked, strict=True)
    return np.asarray(out_l, dtype=np.int64), np.asarray(out_s, dtype=np.float64)


def top_hits(src: Reader, using: str, q: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores of the unfiltered top ``depth`` hits of ``q`` in space ``using``
    (default search parameters; the caller holds the collection's shared lock): the
    candidates that relevance training pairs are made of."""
    space = src.space(using)
    params, _ = space.search_params(None, "params")
    stage = Stage("", using, Nearest(q), None, params, False, None, max(1, depth))
    return _Batch(src).nearest(stage, depth)
