"""Qdrant's filter language: JSON -> parsed model (evaluation on one point:
:mod:`vecsearch.filter_eval`).

Supported (semantics follow Qdrant's condition checker and qdrant-client's local mode, the
reference the congruence tests compare with):

* clauses ``must`` (all), ``should`` (at least one; an empty list is no constraint),
  ``must_not`` (none), ``min_should`` ``{"conditions": [...], "min_count": n >= 1}``; each
  clause takes a list or a single condition; filters nest as conditions;
* field conditions ``{"key": path, ...}`` with
  - ``match``: ``value`` (string / integer / bool), ``any`` / ``except`` (list of strings or
    of integers), full text ``text`` (every query token is a token of the value),
    ``text_any`` (some token is), ``phrase`` (the tokens occur consecutively), and
    ``prefix`` / ``substring`` (case-sensitive string tests);
  - ``range``: ``gt`` / ``gte`` / ``lt`` / ``lte``, numbers, or date-time strings in
    Qdrant's formats (:mod:`vecsearch.datetimes`; no offset means UTC);
  - ``values_count``: bounds on the number of values (array length, 1 for a scalar, 0 for
    null or a missing field, so ``{"lt": 1}`` matches points without the field);
  - ``geo_radius`` / ``geo_bounding_box`` / ``geo_polygon`` on ``{"lon", "lat"}`` values
    (:mod:`vecsearch.geo`: haversine metres, antimeridian boxes, polygons with holes;
    coordinates, radius and rings are validated);
  - the shorthand ``"is_empty": true`` / ``"is_null": true``;
* ``{"is_empty": {"key": ...}}`` (missing, null or ``[]`` everywhere the path leads),
  ``{"is_null": {"key": ...}}`` (some value is null, or an array holding a null),
  ``{"has_id": [ids]}``, ``{"has_vector": "name"}`` (the point has a vector of that name;
  ``""`` is the unnamed one), ``{"nested": {"key": path, "filter": {...}}}`` (the filter
  must hold for one object of the array at ``path``);
* paths with dots and ``[]`` / ``[n]`` (see :mod:`vecsearch.payload_path`).

A field condition looks at every value at its path, opening a leaf array one level, and
holds if *any* value matches. Types are strict: integer ``1`` matches neither ``1.0`` nor
``true``. ``except`` holds for a value not in the list (null never; values of another type
always), so it does not match points that lack the field.

Full text without a text index tokenizes as local mode does (runs of letters and digits,
lowercased) and matches each string value alone; with a text index on the key the index's
tokenizer and options decide, and a point's strings form one document (Qdrant's server;
see :mod:`vecsearch.payload_index_text`). Older Qdrant servers matched ``text`` without an
index by substrings; local mode 1.20 and this module use whole tokens (qdrant#10341).

Not supported: ``slice`` conditions (Qdrant 1.20) are refused with "not supported".
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

from vecsearch import geo
from vecsearch.datetimes import parse_datetime
from vecsearch.errors import FilterError, InvalidPointIdError
from vecsearch.ids import parse_point_id
from vecsearch.json_limits import lone_surrogate_path, lone_surrogate_reason
from vecsearch.payload_path import Step, parse_path

I64_MIN, I64_MAX = -(2**63), 2**63 - 1


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatchValue:
    """Exact value: a string, an integer or a bool."""

    value: str | int | bool


@dataclass(frozen=True)
class MatchAny:
    """Any of the listed strings (``kind == "str"``) or integers (``kind == "int"``)."""

    values: frozenset
    kind: str


@dataclass(frozen=True)
class MatchExcept:
    """Not any of the listed strings or integers."""

    values: frozenset
    kind: str


@dataclass(frozen=True)
class MatchText:
    """Full text: every query token is a token of the value (tokens: see module docstring)."""

    text: str


@dataclass(frozen=True)
class MatchTextAny:
    """Full text: some query token is a token of the value."""

    text_any: str


@dataclass(frozen=True)
class MatchPhrase:
    """Full text: the query tokens occur consecutively, in order, in the value's tokens."""

    phrase: str


@dataclass(frozen=True)
class MatchPrefix:
    """The string value starts with ``prefix`` (case-sensitive)."""

    prefix: str


@dataclass(frozen=True)
class MatchSubstring:
    """The string value contains ``substring`` (case-sensitive)."""

    substring: str


Match = (
    MatchValue
    | MatchAny
    | MatchExcept
    | MatchText
    | MatchTextAny
    | MatchPhrase
    | MatchPrefix
    | MatchSubstring
)
#: Full-text matches (a text index answers them with its own tokenizer).
TEXT_MATCHES = (MatchText, MatchTextAny, MatchPhrase)


@dataclass(frozen=True)
class Range:
    """Bounds on numbers (or on date-times when ``datetime``; bounds are then UTC timestamps)."""

    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    datetime: bool = False

    def contains(self, x: float) -> bool:
        """Whether ``x`` satisfies every bound."""
        return (
            (self.gt is None or x > self.gt)
            and (self.gte is None or x >= self.gte)
            and (self.lt is None or x < self.lt)
            and (self.lte is None or x <= self.lte)
        )


@dataclass(frozen=True)
class ValuesCount:
    """Bounds on the number of values (array length, or 1 for a scalar)."""

    gt: int | None = None
    gte: int | None = None
    lt: int | None = None
    lte: int | None = None

    def contains(self, n: int) -> bool:
        """Whether the count ``n`` satisfies every bound."""
        return Range(self.gt, self.gte, self.lt, self.lte).contains(n)


@dataclass(frozen=True)
class FieldCondition:
    """A condition on the values at ``key``; set members are OR-ed, as in Qdrant."""

    key: str
    path: tuple[Step, ...]
    match: Match | None = None
    range: Range | None = None
    values_count: ValuesCount | None = None
    geo: geo.GeoShape | None = None


@dataclass(frozen=True)
class IsEmpty:
    """The path leads nowhere, or only to nulls and empty arrays."""

    key: str
    path: tuple[Step, ...]


@dataclass(frozen=True)
class IsNull:
    """Some value at the path is null."""

    key: str
    path: tuple[Step, ...]


@dataclass(frozen=True)
class HasId:
    """The point's id is one of ``ids``."""

    ids: frozenset


@dataclass(frozen=True)
class HasVector:
    """The point has a vector named ``name`` (Qdrant's optional named vectors)."""

    name: str


@dataclass(frozen=True)
class Nested:
    """``filter`` holds for at least one object of the array at ``key``."""

    key: str
    path: tuple[Step, ...]
    filter: Filter


@dataclass(frozen=True)
class Not:
    """Negation (from the ``"is_empty": false`` shorthand)."""

    condition: Condition


@dataclass(frozen=True)
class MinShould:
    """At least ``min_count`` of ``conditions``."""

    conditions: tuple[Condition, ...]
    min_count: int


@dataclass(frozen=True)
class Filter:
    """A boolean combination of conditions; ``None`` clauses are absent (always true)."""

    must: tuple[Condition, ...] | None = None
    should: tuple[Condition, ...] | None = None
    must_not: tuple[Condition, ...] | None = None
    min_should: MinShould | None = None

    @property
    def is_empty(self) -> bool:
        """True if no clause is present (the filter matches every point)."""
        return (
            self.must is None
            and self.should is None
            and self.must_not is None
            and (self.min_should is None)
        )


Condition = Union[FieldCondition, IsEmpty, IsNull, HasId, HasVector, Nested, Not, Filter]  # noqa: UP007


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------

_FILTER_KEYS = frozenset({"must", "should", "must_not", "min_should"})
_FIELD_KEYS = frozenset(
    {
        "key",
        "match",
        "range",
        "values_count",
        "is_empty",
        "is_null",
        "geo_bounding_box",
        "geo_radius",
        "geo_polygon",
    }
)


#: Deepest nesting of filters: the top filter is level 1, and each filter given as a condition
#: of another (in must / should / must_not / min_should, or as a ``nested`` filter) adds one.
MAX_FILTER_DEPTH = 64


def parse_filter(data: Any, field: str = "filter") -> Filter | None:
    """Parse a filter (``None`` stays ``None``); errors name the offending field."""
    return _parse_filter(data, field, field, 1)


def parse_condition(data: Any, field: str) -> Condition:
    """Parse one condition (field, is_empty, is_null, has_id, nested, or a nested filter)."""
    return _parse_condition(data, field, field, 1)


def _parse_filter(data: Any, field: str, root: str, level: int) -> Filter | None:
    """A filter at nesting ``level`` of the filter named ``root`` (which deep errors name)."""
    if data is None:
        return None
    if isinstance(data, Filter):
        return data
    if level > MAX_FILTER_DEPTH:
        raise FilterError(
            root,
            f"filter nested deeper than {MAX_FILTER_DEPTH} levels (the limit; each filter "
            "inside must, should, must_not, min_should or nested adds a level)",
        )
    if not isinstance(data, Mapping):
        raise FilterError(field, f"expected an object, got {type(data).__name__}")
    unknown = set(data) - _FILTER_KEYS
    if unknown:
        raise FilterError(
            f"{field}.{sorted(unknown)[0]}",
            "unknown filter clause; expected must, should, must_not or min_should",
        )

    def clause(name: str) -> tuple[Condition, ...] | None:
        raw = data.get(name)
        if raw is None:
            return None
        items = raw if isinstance(raw, list) else [raw]
        sub = f"{field}.{name}"
        return tuple(
            _parse_condition(c, f"{sub}[{i}]" if isinstance(raw, list) else sub, root, level)
            for i, c in enumerate(items)
        )

    min_should = None
    raw_ms = data.get("min_should")
    if raw_ms is not None:
        sub = f"{field}.min_should"
        if not isinstance(raw_ms, Mapping) or set(raw_ms) - {"conditions", "min_count"}:
            raise FilterError(sub, "expected {conditions: [...], min_count: n}")
        conds = raw_ms.get("conditions")
        if not isinstance(conds, list):
            raise FilterError(f"{sub}.conditions", "expected a list of conditions")
        count = raw_ms.get("min_count")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise FilterError(f"{sub}.min_count", f"expected an integer >= 1, got {count!r}")
        min_should = MinShould(
            tuple(
                _parse_condition(c, f"{sub}.conditions[{i}]", root, level)
                for i, c in enumerate(conds)
            ),
            count,
        )
    return Filter(clause("must"), clause("should"), clause("must_not"), min_should)


def _parse_condition(data: Any, field: str, root: str, level: int) -> Condition:
    """A condition of a filter at nesting ``level``."""
    if not isinstance(data, Mapping):
        raise FilterError(field, f"expected a condition object, got {type(data).__name__}")
    if "key" in data:
        return _parse_field_condition(data, field)
    keys = set(data)
    if keys == {"is_empty"} or keys == {"is_null"}:
        (name,) = keys
        inner = data[name]
        if not isinstance(inner, Mapping) or set(inner) != {"key"}:
            raise FilterError(f"{field}.{name}", 'expected {"key": "<payload key>"}')
        path = parse_path(inner["key"], f"{field}.{name}.key", error=FilterError)
        return (IsEmpty if name == "is_empty" else IsNull)(inner["key"], path)
    if keys == {"has_id"}:
        ids = data["has_id"]
        if not isinstance(ids, list):
            raise FilterError(f"{field}.has_id", "expected a list of point ids")
        try:
            parsed = [parse_point_id(v, f"{field}.has_id[{i}]") for i, v in enumerate(ids)]
        except InvalidPointIdError as exc:
            raise FilterError(exc.field, exc.reason) from None
        return HasId(frozenset(parsed))
    if keys == {"nested"}:
        inner = data["nested"]
        if not isinstance(inner, Mapping) or set(inner) != {"key", "filter"}:
            raise FilterError(f"{field}.nested", 'expected {"key": ..., "filter": {...}}')
        key = inner["key"]
        path = parse_path(key, f"{field}.nested.key", error=FilterError)
        if path[-1] != ("all", None):
            path = (*path, ("all", None))
        sub = _parse_filter(inner["filter"], f"{field}.nested.filter", root, level + 1)
        return Nested(key, path, sub or Filter())
    if keys <= _FILTER_KEYS:
        return _parse_filter(data, field, root, level + 1) or Filter()
    if "slice" in keys:
        raise FilterError(f"{field}.slice", "slice conditions are not supported")
    if keys == {"has_vector"}:
        name = data["has_vector"]
        if not isinstance(name, str):
            raise FilterError(f"{field}.has_vector", "expected a vector name (a string)")
        return HasVector(name)
    raise FilterError(
        f"{field}.{sorted(keys)[0]}",
        "unknown condition; expected key, is_empty, is_null, has_id, has_vector, nested or a "
        "filter",
    )


def _parse_field_condition(data: Mapping[str, Any], field: str) -> Condition:
    unknown = set(data) - _FIELD_KEYS
    if unknown:
        raise FilterError(f"{field}.{sorted(unknown)[0]}", "unknown field condition member")
    shape = None
    for name, parse in _GEO_PARSERS.items():
        if data.get(name) is not None:
            if shape is not None:
                raise FilterError(f"{field}.{name}", "only one geo condition per field condition")
            shape = parse(data[name], f"{field}.{name}")
    key = data["key"]
    path = parse_path(key, f"{field}.key", error=FilterError)
    match = _parse_match(data["match"], f"{field}.match") if data.get("match") is not None else None
    rng = _parse_range(data["range"], f"{field}.range") if data.get("range") is not None else None
    vc = None
    if data.get("values_count") is not None:
        vc = ValuesCount(**_bounds(data["values_count"], f"{field}.values_count", count=True))
    shorthand: list[Condition] = []
    for name, cls in (("is_empty", IsEmpty), ("is_null", IsNull)):
        flag = data.get(name)
        if flag is None:
            continue
        if not isinstance(flag, bool):
            raise FilterError(f"{field}.{name}", "expected true or false")
        shorthand.append(cls(key, path) if flag else Not(cls(key, path)))
    if match is None and rng is None and vc is None and shape is None:
        if len(shorthand) == 1:
            return shorthand[0]
        raise FilterError(
            field, "a field condition needs one of match, range, values_count or a geo condition"
        )
    if shorthand:
        raise FilterError(field, "is_empty / is_null cannot be combined with match or range")
    return FieldCondition(key, path, match, rng, vc, shape)


_GEO_PARSERS = {
    "geo_radius": geo.parse_radius,
    "geo_bounding_box": geo.parse_box,
    "geo_polygon": geo.parse_polygon,
}
_TEXT_KINDS = {
    "text": MatchText,
    "text_any": MatchTextAny,
    "phrase": MatchPhrase,
    "prefix": MatchPrefix,
    "substring": MatchSubstring,
}
_MATCH_KINDS = "value, any, except, text, text_any, phrase, prefix, substring"


def _parse_match(data: Any, field: str) -> Match:
    if not isinstance(data, Mapping) or len(data) != 1:
        raise FilterError(field, f"expected exactly one of {_MATCH_KINDS}")
    ((kind, value),) = data.items()
    _valid_unicode(value, f"{field}.{kind}")
    if kind == "value":
        if isinstance(value, bool | str):
            return MatchValue(value)
        if isinstance(value, int):
            if not I64_MIN <= value <= I64_MAX:
                raise FilterError(f"{field}.value", "integer outside the 64-bit range")
            return MatchValue(value)
        raise FilterError(
            f"{field}.value",
            f"expected a string, integer or bool (use range for floats), got {value!r}",
        )
    if kind in ("any", "except"):
        if not isinstance(value, list):
            raise FilterError(f"{field}.{kind}", "expected a list of strings or of integers")
        if all(isinstance(v, str) for v in value):
            vkind = "str"
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            vkind = "int"
        else:
            raise FilterError(
                f"{field}.{kind}", "expected only strings or only integers (no bools, floats)"
            )
        cls = MatchAny if kind == "any" else MatchExcept
        return cls(frozenset(value), vkind)
    if kind in _TEXT_KINDS:
        if not isinstance(value, str):
            raise FilterError(f"{field}.{kind}", "expected a string")
        return _TEXT_KINDS[kind](value)
    raise FilterError(f"{field}.{kind}", f"unknown match type; expected {_MATCH_KINDS}")


def _valid_unicode(value: Any, field: str) -> None:
    """Refuse match values holding a lone surrogate (no UTF-8 encoder can write them)."""
    if isinstance(value, str | list) and (found := lone_surrogate_path(value, field)):
        raise FilterError(found[0], lone_surrogate_reason(found[1]))


def _bounds(data: Any, field: str, *, count: bool = False) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise FilterError(field, "expected an object with gt, gte, lt, lte")
    unknown = set(data) - {"gt", "gte", "lt", "lte"}
    if unknown:
        raise FilterError(f"{field}.{sorted(unknown)[0]}", "unknown bound; use gt, gte, lt, lte")
    out = {}
    for name, v in data.items():
        if v is None:
            continue
        ok = isinstance(v, int) and v >= 0 if count else isinstance(v, int | float | str)
        if isinstance(v, bool) or not ok:
            want = "a non-negative integer" if count else "a number or a date-time string"
            raise FilterError(f"{field}.{name}", f"expected {want}, got {v!r}")
        out[name] = v
    return out


def _parse_range(data: Any, field: str) -> Range:
    bounds = _bounds(data, field)
    if any(isinstance(v, str) for v in bounds.values()):
        stamps = {}
        for name, v in bounds.items():
            ts = parse_datetime(v) if isinstance(v, str) else None
            if ts is None:
                raise FilterError(f"{field}.{name}", f"expected an RFC 3339 date-time, got {v!r}")
            stamps[name] = ts
        return Range(**stamps, datetime=True)
    for name, v in bounds.items():
        if v != v:  # NaN
            raise FilterError(f"{field}.{name}", "NaN is not a valid bound")
        if isinstance(v, int) and abs(v) > sys.float_info.max:  # float() would overflow
            raise FilterError(f"{field}.{name}", "number out of range of a 64-bit float")
    return Range(**{k: float(v) for k, v in bounds.items()})
