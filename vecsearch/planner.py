"""Filter selection and search planning.

:class:`Selector` turns a parsed filter into the exact set of points that pass it, as a
boolean mask over the collection's label space:

1. every sub-condition a payload index (declared, or else automatic:
   :mod:`vecsearch.payload_index_auto`; or the id map, for ``has_id``; the vector spaces'
   presence masks, for ``has_vector``) can answer exactly is answered as a set, and sets
   combine by mask algebra (``must`` = AND, ``should`` = OR, ``must_not`` = AND NOT,
   ``min_should`` = counting);
2. if some condition needs the payload itself (unindexed field, ``is_empty``, ``nested``...),
   the answerable top-level ``must`` conditions narrow the candidates and the whole filter is
   evaluated on the candidates' payloads (:func:`vecsearch.filter_eval.matches`).

The mask is exact, so its population *is* the filter's cardinality. :func:`choose_plan`
then picks, as Qdrant does with ``full_scan_threshold``: exact search over the allowed
points when they are few (their vectors fit in the threshold), filtered index search
otherwise. Exact indexes (flat) always take the index path, which is exact and honours the
allow mask. Either way, ``k`` results come back whenever ``k`` points pass the filter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from vecsearch.filter_eval import matches
from vecsearch.filters import (
    Condition,
    FieldCondition,
    Filter,
    HasId,
    HasVector,
    MinShould,
    Not,
)
from vecsearch.ids import PointId
from vecsearch.payload_index import AnyIndex

PayloadSource = Callable[[np.ndarray | None], Iterator[tuple[int, PointId, dict[str, Any]]]]


class Selector:
    """Computes filter masks over labels ``0 .. len(alive)-1`` (see module docstring)."""

    def __init__(
        self,
        alive: np.ndarray,
        payload_indexes: Mapping[str, AnyIndex],
        id_labels: Callable[[Iterable[PointId]], np.ndarray],
        payload_source: PayloadSource,
        vector_masks: Mapping[str, np.ndarray] | None = None,
        auto_index: Callable[[FieldCondition], AnyIndex | None] | None = None,
    ) -> None:
        self.alive = alive
        self.indexes = payload_indexes
        self.id_labels = id_labels
        self.payload_source = payload_source
        #: Vector name -> which labels have that vector (``has_vector``).
        self.vector_masks = vector_masks or {}
        #: Field condition -> an automatic index that answers it as the payload scan would
        #: (:mod:`vecsearch.payload_index_auto`), tried when no declared index answers.
        self.auto_index = auto_index
        #: How the last mask was computed ("index" or "scan"), for tests and metrics.
        self.last_method = "index"

    def _labels_mask(self, labels: np.ndarray) -> np.ndarray:
        m = np.zeros(len(self.alive), dtype=np.bool_)
        labels = labels[(labels >= 0) & (labels < len(m))]
        m[labels] = True
        m &= self.alive
        return m

    def _cond_mask(self, c: Condition) -> np.ndarray | None:
        """A fresh mask (never ``self.alive`` itself) of live labels passing ``c``, or ``None``
        when ``c`` needs payloads."""
        if isinstance(c, FieldCondition):
            m = self._field_mask(c)
            if m is not None:
                m &= self.alive
            return m
        if isinstance(c, HasId):
            return self._labels_mask(self.id_labels(c.ids))
        if isinstance(c, HasVector):
            m = np.zeros(len(self.alive), dtype=np.bool_)
            have = self.vector_masks.get(c.name)
            if have is not None:
                n = min(len(m), len(have))
                m[:n] = have[:n]
            m &= self.alive
            return m
        if isinstance(c, Filter):
            return self._filter_mask(c)
        if isinstance(c, Not):
            inner = self._cond_mask(c.condition)
            return None if inner is None else self.alive & ~inner
        return None  # is_empty, is_null, nested: need payloads

    def _field_mask(self, c: FieldCondition) -> np.ndarray | None:
        """A declared index's answer to ``c``, else an automatic index's, else ``None``."""
        idx = self.indexes.get(c.key)
        m = idx.answer_mask(c, len(self.alive)) if idx is not None else None
        if m is None and self.auto_index is not None:
            auto = self.auto_index(c)
            m = auto.answer_mask(c, len(self.alive)) if auto is not None else None
        return m

    def _filter_mask(self, f: Filter) -> np.ndarray | None:
        out: np.ndarray | None = None  # None: every live label (copied only when needed)
        for clause, combine in ((f.must, "and"), (f.should, "or"), (f.must_not, "not")):
            if clause is None or (combine == "or" and not clause):
                continue  # an empty should is no constraint (Qdrant)
            masks = [self._cond_mask(c) for c in clause]
            if any(m is None for m in masks):
                return None
            if out is None:
                out = masks.pop(0) if combine == "and" and masks else self.alive.copy()
            if combine == "and":
                for m in masks:
                    out &= m
            else:
                union = np.zeros_like(out)
                for m in masks:
                    union |= m
                out &= union if combine == "or" else ~union
        if out is None:
            out = self.alive.copy()
        if f.min_should is not None:
            masks = [self._cond_mask(c) for c in f.min_should.conditions]
            if any(m is None for m in masks):
                return None
            counts = np.zeros(len(out), dtype=np.int64)
            for m in masks:
                counts += m
            out &= counts >= f.min_should.min_count
        return out

    def mask(self, flt: Filter | None) -> np.ndarray:
        """Boolean mask of live labels passing ``flt`` (every live label when ``None``)."""
        if flt is None or flt.is_empty:
            self.last_method = "index"
            return self.alive.copy()
        exact = self._filter_mask(flt)
        if exact is not None:
            self.last_method = "index"
            return exact
        self.last_method = "scan"
        cand = self.alive.copy()
        for c in flt.must or ():
            m = self._cond_mask(c)
            if m is not None:
                cand &= m
        out = np.zeros(len(self.alive), dtype=np.bool_)
        n_cand = int(np.count_nonzero(cand))
        if n_cand == 0:
            return out
        labels = None if n_cand == int(np.count_nonzero(self.alive)) else np.flatnonzero(cand)
        masks = self.vector_masks
        known = self._index_answers(flt)
        current = 0

        def resolve(c: FieldCondition) -> bool | None:
            m = known.get(id(c))
            return None if m is None else bool(m[current])

        for label, pid, payload in self.payload_source(labels):
            if label < len(out) and cand[label]:
                names = frozenset(n for n, m in masks.items() if label < len(m) and m[label])
                current = label
                if matches(flt, payload, pid, names, resolve if known else None):
                    out[label] = True
        return out

    def _index_answers(self, flt: Filter) -> dict[int, np.ndarray]:
        """Masks of the field conditions (outside ``nested``) that payload indexes answer,
        by ``id`` of the condition, so the payload scan keeps each index's meaning (a text
        index's tokenizer, a uuid index's comparison) rather than re-reading the field."""
        out: dict[int, np.ndarray] = {}

        def walk(c: Condition | MinShould) -> None:
            if isinstance(c, FieldCondition):
                m = self._field_mask(c)
                if m is not None:
                    out[id(c)] = m
            elif isinstance(c, Filter):
                for clause in (c.must, c.should, c.must_not):
                    for sub in clause or ():
                        walk(sub)
                if c.min_should is not None:
                    walk(c.min_should)
            elif isinstance(c, MinShould):
                for sub in c.conditions:
                    walk(sub)
            elif isinstance(c, Not):
                walk(c.condition)

        walk(flt)
        return out


@dataclass(frozen=True)
class Plan:
    """How to run one search: ``"none"`` (nothing passes), ``"index"`` or ``"exact"``."""

    strategy: str
    #: Allowed labels as a mask (``None``: no filter).
    mask: np.ndarray | None
    cardinality: int


def choose_plan(
    mask: np.ndarray | None,
    n_points: int,
    *,
    dim: int,
    full_scan_threshold_kb: int,
    index_exact: bool,
    index_ready: bool,
    force_exact: bool = False,
) -> Plan:
    """Pick exact or index search for a filter of cardinality ``mask.sum()``."""
    card = n_points if mask is None else int(np.count_nonzero(mask))
    if card == 0:
        return Plan("none", mask, 0)
    if index_exact and index_ready:
        return Plan("index", mask, card)
    if force_exact or not index_ready:
        return Plan("exact", mask, card)
    if mask is not None and card * dim * 4 <= full_scan_threshold_kb * 1024:
        return Plan("exact", mask, card)
    return Plan("index", mask, card)
