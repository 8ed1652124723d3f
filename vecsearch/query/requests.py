"""The request bodies of Qdrant's read routes, by kind, as checked queries, and the
``with_lookup`` step of grouped answers.

Kinds: ``query`` (``/points/query``), ``search`` (``/points/search``), ``recommend`` and
``discover`` (the legacy ``/points/recommend`` and ``/points/discover`` bodies, turned into
the equivalent Query API bodies), each also grouped (``.../groups``: ``group_by``,
``group_size``, ``with_lookup``; ``limit`` counts groups).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from vecsearch.errors import CollectionNotFoundError, ValidationError
from vecsearch.ids import parse_point_id
from vecsearch.models import ScoredPoint
from vecsearch.query.model import Groups, Query
from vecsearch.query.parse import (
    GROUP_KEYS,
    Resolver,
    Source,
    legacy_query,
    parse_groups,
    parse_query,
    parse_query_groups,
    parse_search,
)

KINDS = ("query", "search", "recommend", "discover")


def parse_request(
    src: Source,
    body: Mapping[str, Any],
    field: str = "",
    *,
    kind: str = "query",
    resolve: Resolver | None = None,
) -> Query:
    """A read body of ``kind`` as a checked :class:`Query`."""
    if kind == "search":
        return parse_search(src, body, field)
    if kind in ("recommend", "discover"):
        if not isinstance(body, Mapping):
            raise ValidationError(field, f"expected a {kind} request object")
        return parse_query(src, legacy_query(body, kind, field), field, resolve)
    return parse_query(src, body, field, resolve)


def parse_group_request(
    src: Source,
    body: Mapping[str, Any],
    field: str = "",
    *,
    kind: str = "query",
    resolve: Resolver | None = None,
) -> Query:
    """A groups body of ``kind`` as a checked grouped :class:`Query`."""
    if not isinstance(body, Mapping):
        raise ValidationError(field, f"expected a {kind} groups request object")
    if kind in ("recommend", "discover"):
        return parse_query_groups(src, legacy_query(body, kind, field, groups=True), field, resolve)
    if kind == "search":
        plain = {k: v for k, v in body.items() if k not in GROUP_KEYS}
        if "offset" in plain:  # groups have no offset
            pre = f"{field}." if field else ""
            raise ValidationError(f"{pre}offset", "unknown search groups request field")
        groups = parse_groups(body, field)
        q = parse_search(src, plain, field)
        if q.relevance_threshold is not None:
            raise ValidationError("relevance_threshold", "is not supported with groups")
        return replace(q, groups=groups)
    return parse_query_groups(src, body, field, resolve)


def group_answers(
    groups: list[tuple[Any, list[ScoredPoint]]], spec: Groups, resolve: Resolver | None
) -> list[dict[str, Any]]:
    """Qdrant's ``PointGroup`` objects ``{"id", "hits", "lookup"}``: with ``with_lookup``,
    ``lookup`` is the point of the lookup collection whose id is the group's value (null
    when there is none, or when the value is no valid point id)."""
    out = []
    other = None
    if spec.lookup is not None:
        if resolve is None:
            raise ValidationError("with_lookup", "is not available here (no database)")
        try:
            other = resolve(spec.lookup.collection)
        except CollectionNotFoundError:  # Qdrant's words (its test_group.py checks them)
            name = spec.lookup.collection
            raise CollectionNotFoundError(
                f"with_lookup.collection: Collection {name} not found"
            ) from None
    for value, hits in groups:
        group: dict[str, Any] = {"id": value, "hits": [h.to_dict() for h in hits]}
        if other is not None and spec.lookup is not None:
            try:
                pid = parse_point_id(value, "group id")
            except ValidationError:
                records = []
            else:
                records = other.retrieve([pid], spec.lookup.with_payload, spec.lookup.with_vector)
            group["lookup"] = records[0].to_dict() if records else None
        out.append(group)
    return out
