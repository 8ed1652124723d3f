"""Automatic in-memory payload indexes: filters on fields without a declared payload index
must not decode every point's JSON payload on every query.

The first time a filter has a field condition that no declared index answers, and an index
type exists that answers it with the meaning of the payload scan (the scan's meaning, not an
index's own: a ``keyword`` index for string ``match.value`` / ``match.any`` / ``prefix`` /
``substring``, ``integer`` for integer ``match.value`` / ``match.any``, ``bool`` for a bool
``match.value``, ``float`` for a numeric ``range``, ``datetime`` for a date-time ``range``),
an index of that type is built over the field from the store (one pass over the payloads,
the cost of one scanning query) and kept current by every later write, like a declared one.
It is not stored and not shown in ``payload_schema``; it is dropped when the collection is
closed. Conditions no such index answers exactly (``match.except``, full text, ``geo``,
``values_count``, ``is_empty``, ``nested``, ...) still read payloads.

Memory is bounded: a collection of ``n`` points keeps at most
``min(MAX_INDEXES, POINT_BUDGET // n)`` automatic indexes (:class:`AutoIndexes`: 8, and
1,000,000 point entries; checked whenever one is built, the least recently used one is
dropped to make room), so none for a collection of more than 1,000,000 points (those keep
scanning payloads: declare a payload index there). An index costs what a declared index of
its type costs, measured at 190-410 bytes per point that has the field (keyword 194, integer
222, float with distinct values 406), so at most about 400 MB per collection.

Numeric ranges compare values as float64 in both the index and the scan
(:func:`vecsearch.filter_eval.range_value`), so integers beyond 2**53 round the same way in both.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from vecsearch.filters import (
    FieldCondition,
    MatchAny,
    MatchPrefix,
    MatchSubstring,
    MatchValue,
)
from vecsearch.payload_index import PayloadIndex


def auto_type(c: FieldCondition) -> str | None:
    """The index type that answers ``c`` exactly as the payload scan does, if any."""
    if c.values_count is not None or c.geo is not None or (c.match is None) == (c.range is None):
        return None
    if c.range is not None:
        return "datetime" if c.range.datetime else "float"
    m = c.match
    if isinstance(m, MatchValue):
        if isinstance(m.value, bool):
            return "bool"
        return "keyword" if isinstance(m.value, str) else "integer"
    if isinstance(m, MatchAny):
        return "keyword" if m.kind == "str" else "integer"
    if isinstance(m, MatchPrefix | MatchSubstring):
        return "keyword"
    return None


class AutoIndex(PayloadIndex):
    """A :class:`PayloadIndex` built automatically (``used``: when it last answered)."""

    def __init__(self, key: str, schema: str) -> None:
        super().__init__(key, schema)
        self.used = 0


class AutoIndexes:
    """The automatic indexes of one collection (see module docstring). Readers look them up
    and build missing ones while holding the collection's shared lock; writers update them
    under the exclusive lock, so a build never races a write's in-memory update."""

    #: At most this many automatic indexes per collection (least recently used dropped).
    MAX_INDEXES = 8
    #: Automatic indexes times points stay within this (none past this many points).
    POINT_BUDGET = 1_000_000

    def __init__(self) -> None:
        #: ``(field, index type) -> index``; replaced, never changed in place (readers
        #: iterate it without a lock).
        self.indexes: dict[tuple[str, str], AutoIndex] = {}
        self._build_lock = threading.Lock()
        self._clock = itertools.count(1)
        #: Indexes built since the collection opened (for tests and metrics).
        self.built = 0

    def lookup(
        self, c: FieldCondition, n_points: int, fill: Callable[[AutoIndex], None]
    ) -> AutoIndex | None:
        """The automatic index that answers ``c``, built with ``fill(index)`` (which adds every
        stored point) if missing; ``None`` when no index type answers ``c`` exactly or the
        collection is too large."""
        kind = auto_type(c)
        if kind is None:
            return None
        key = (c.key, kind)
        idx = self.indexes.get(key)
        if idx is None:
            room = min(self.MAX_INDEXES, self.POINT_BUDGET // max(n_points, 1))
            if room < 1:
                return None
            with self._build_lock:  # concurrent readers wait for one build
                idx = self.indexes.get(key)
                if idx is None:
                    idx = AutoIndex(c.key, kind)
                    fill(idx)
                    kept = dict(self.indexes)
                    while len(kept) >= room:
                        del kept[min(kept, key=lambda k: kept[k].used)]
                    kept[key] = idx
                    self.indexes = kept
                    self.built += 1
        idx.used = next(self._clock)
        return idx

    def update(self, label: int, payload: dict[str, Any]) -> None:
        """A point's new payload (exclusive lock held)."""
        for idx in self.indexes.values():
            idx.update(label, payload)

    def remove(self, label: int) -> None:
        """A deleted point (exclusive lock held)."""
        for idx in self.indexes.values():
            idx.remove(label)
