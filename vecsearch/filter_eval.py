"""Evaluation of a parsed filter (:mod:`vecsearch.filters`) on one point.

The semantics are described in :mod:`vecsearch.filters`: a field condition looks at every
value at its path, opening a leaf array one level, and holds if any value matches; types are
strict. The planner (:mod:`vecsearch.planner`) calls :func:`matches` on the points no payload
index answered; the congruence tests compare it with qdrant-client's local mode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vecsearch import geo
from vecsearch.datetimes import parse_datetime
from vecsearch.filters import (
    Condition,
    FieldCondition,
    Filter,
    HasId,
    HasVector,
    IsEmpty,
    IsNull,
    Match,
    MatchAny,
    MatchExcept,
    MatchPhrase,
    MatchPrefix,
    MatchText,
    MatchTextAny,
    MatchValue,
    Nested,
    Not,
    Range,
)
from vecsearch.ids import PointId
from vecsearch.payload_path import Step, get_values
from vecsearch.text.tokenizers import has_phrase, unindexed_tokens

#: Answers a field condition for the point being evaluated (``None``: evaluate the payload).
Resolver = Callable[["FieldCondition"], "bool | None"]


def matches(
    flt: Filter | None,
    payload: dict[str, Any],
    pid: PointId | None,
    vectors: frozenset[str] | None = None,
    resolve: Resolver | None = None,
) -> bool:
    """Whether a point with ``payload``, id ``pid`` and vectors named ``vectors`` passes
    ``flt`` (None passes all). ``vectors=None``: the point's vectors are unknown, and a
    ``has_vector`` condition does not hold. ``resolve`` answers field conditions a payload
    index has answered (so an index with its own meaning, a text index, keeps it)."""
    if flt is None:
        return True
    return _check_filter(flt, payload, pid, vectors, resolve)


def _check_filter(
    f: Filter,
    payload: dict[str, Any],
    pid: PointId | None,
    vectors: frozenset[str] | None,
    resolve: Resolver | None = None,
) -> bool:
    def check(c: Condition) -> bool:
        return check_condition(c, payload, pid, vectors, resolve)

    if f.should and not any(check(c) for c in f.should):
        return False
    if f.min_should is not None:
        hits = 0
        for c in f.min_should.conditions:
            if hits >= f.min_should.min_count:
                break
            hits += check(c)
        if hits < f.min_should.min_count:
            return False
    if f.must is not None and not all(check(c) for c in f.must):
        return False
    return not (f.must_not is not None and any(check(c) for c in f.must_not))


def check_condition(
    c: Condition,
    payload: dict[str, Any],
    pid: PointId | None,
    vectors: frozenset[str] | None = None,
    resolve: Resolver | None = None,
) -> bool:
    """Evaluate one condition on one point."""
    if isinstance(c, FieldCondition):
        if resolve is not None:
            known = resolve(c)
            if known is not None:
                return known
        return _check_field(c, payload)
    if isinstance(c, Filter):
        return _check_filter(c, payload, pid, vectors, resolve)
    if isinstance(c, HasId):
        return pid is not None and pid in c.ids
    if isinstance(c, HasVector):
        return vectors is not None and c.name in vectors
    if isinstance(c, IsEmpty):
        return all(v is None or v == [] for v in get_values(payload, c.path))
    if isinstance(c, IsNull):
        return any(
            v is None or (isinstance(v, list) and None in v) for v in get_values(payload, c.path)
        )
    if isinstance(c, Nested):
        return any(
            isinstance(obj, dict) and _check_filter(c.filter, obj, None, None)
            for obj in get_values(payload, c.path)
        )
    if isinstance(c, Not):
        return not check_condition(c.condition, payload, pid, vectors, resolve)
    raise TypeError(f"not a condition: {c!r}")


def values_count_of(payload: dict[str, Any], path: tuple[Step, ...]) -> list[int]:
    """The counts ``values_count`` tests: per value at the path, an array's length, 0 for
    null, else 1; ``[0]`` when the path leads nowhere or only to nulls (so a missing field
    counts as 0, as in Qdrant's local mode)."""
    values = get_values(payload, path)
    if all(v is None for v in values):
        return [0]
    return [0 if v is None else len(v) if isinstance(v, list) else 1 for v in values]


def _check_field(c: FieldCondition, payload: dict[str, Any]) -> bool:
    if c.values_count is not None and any(
        c.values_count.contains(n) for n in values_count_of(payload, c.path)
    ):
        return True
    m, r, g = c.match, c.range, c.geo
    if m is None and r is None and g is None:
        return False
    for value in get_values(payload, c.path):
        for v in value if isinstance(value, list) else (value,):
            if m is not None and match_value(m, v):
                return True
            if r is not None and range_value(r, v):
                return True
            if g is not None and (point := geo.as_geo_point(v)) is not None and g.contains(*point):
                return True
    return False


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def match_value(m: Match, v: Any) -> bool:
    """Whether one (non-array-opened) value satisfies a match."""
    if isinstance(m, MatchValue):
        want = m.value
        if isinstance(want, bool):
            return isinstance(v, bool) and v == want
        if isinstance(want, str):
            return isinstance(v, str) and v == want
        return _is_int(v) and v == want
    if isinstance(m, MatchAny):
        if m.kind == "str":
            return isinstance(v, str) and v in m.values
        return _is_int(v) and v in m.values
    if isinstance(m, MatchExcept):
        if v is None:
            return False
        if m.kind == "str" and isinstance(v, str):
            return v not in m.values
        if m.kind == "int" and _is_int(v):
            return v not in m.values
        return True
    if not isinstance(v, str):
        return False
    if isinstance(m, MatchText):
        want = unindexed_tokens(m.text)
        have = set(unindexed_tokens(v))
        return bool(want) and all(t in have for t in want)
    if isinstance(m, MatchTextAny):
        have = set(unindexed_tokens(v))
        return any(t in have for t in unindexed_tokens(m.text_any))
    if isinstance(m, MatchPhrase):
        return has_phrase(unindexed_tokens(v), unindexed_tokens(m.phrase))
    if isinstance(m, MatchPrefix):
        return v.startswith(m.prefix)
    return m.substring in v


def range_value(r: Range, v: Any) -> bool:
    """Whether one value lies in the range (numbers, or date-time strings for datetime ranges)."""
    if r.datetime:
        if not isinstance(v, str):
            return False
        ts = parse_datetime(v)
        return ts is not None and r.contains(ts)
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    return r.contains(float(v))
