"""Result and request shapes, mirroring Qdrant's REST objects one to one.

``Record`` (retrieve / scroll), ``ScoredPoint`` (search), ``UpdateResult`` (writes),
``PayloadSelector`` (``with_payload``: bool, list of keys, ``{"include": [...]}`` or
``{"exclude": [...]}``), ``SearchRequest`` (Qdrant's search body). ``to_dict`` gives the JSON
objects Qdrant returns, so the service can pass them through.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vecsearch.errors import ValidationError
from vecsearch.filters import Filter, parse_filter
from vecsearch.ids import PointId
from vecsearch.payload_path import delete_at, get_values, parse_path


@dataclass(frozen=True)
class Record:
    """A stored point as returned by retrieve and scroll."""

    id: PointId
    payload: dict[str, Any] | None = None
    vector: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Qdrant's ``Record`` JSON."""
        return {"id": self.id, "payload": self.payload, "vector": self.vector}


@dataclass(frozen=True)
class ScoredPoint:
    """A search hit; ``version`` is the sequence number of the point's last write.

    ``relevance`` (vecsearch extension): the calibrated relevance in [0, 1] of ``score`` when
    the collection has a fitted relevance model (see :mod:`vecsearch.relevance`), else None.
    """

    id: PointId
    version: int
    score: float
    payload: dict[str, Any] | None = None
    vector: list[float] | None = None
    relevance: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Qdrant's ``ScoredPoint`` JSON (plus ``relevance`` when there is one)."""
        out = {
            "id": self.id,
            "version": self.version,
            "score": self.score,
            "payload": self.payload,
            "vector": self.vector,
        }
        if self.relevance is not None:
            out["relevance"] = self.relevance
        return out


@dataclass(frozen=True)
class UpdateResult:
    """Outcome of a write: ``operation_id`` is the write's sequence number."""

    operation_id: int
    status: str = "completed"

    def to_dict(self) -> dict[str, Any]:
        """Qdrant's ``UpdateResult`` JSON."""
        return {"operation_id": self.operation_id, "status": self.status}


@dataclass(frozen=True)
class PayloadSelector:
    """Which payload to return: none, all, only ``include`` keys, or all but ``exclude``."""

    enabled: bool = True
    include: tuple[tuple, ...] | None = None
    exclude: tuple[tuple, ...] | None = None
    include_keys: tuple[str, ...] = field(default=())

    @classmethod
    def parse(cls, value: Any, field: str = "with_payload") -> PayloadSelector:
        """Accept ``bool``, a list of keys, ``{"include": [...]}`` or ``{"exclude": [...]}``."""
        if isinstance(value, PayloadSelector):
            return value
        if value is None or value is False:
            return cls(enabled=False)
        if value is True:
            return cls()

        def keys(items: Any, sub: str) -> tuple[tuple, ...]:
            if not isinstance(items, list):
                raise ValidationError(sub, "expected a list of payload keys")
            return tuple(parse_path(k, f"{sub}[{i}]") for i, k in enumerate(items))

        if isinstance(value, list):
            return cls(include=keys(value, field), include_keys=tuple(value))
        if isinstance(value, Mapping) and set(value) == {"include"}:
            return cls(
                include=keys(value["include"], f"{field}.include"),
                include_keys=tuple(value["include"]),
            )
        if isinstance(value, Mapping) and set(value) == {"exclude"}:
            return cls(exclude=keys(value["exclude"], f"{field}.exclude"))
        raise ValidationError(field, "expected a bool, a list of keys, {include} or {exclude}")

    def apply(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """The selected part of ``payload`` (``None`` when disabled)."""
        if not self.enabled:
            return None
        if self.include is not None:
            out: dict[str, Any] = {}
            for key, path in zip(self.include_keys, self.include, strict=True):
                if len(path) == 1:
                    if path[0][1] in payload:
                        out[path[0][1]] = payload[path[0][1]]
                else:
                    vals = get_values(payload, path)
                    if vals:
                        out[key] = vals[0] if len(vals) == 1 else vals
            return out
        if self.exclude is not None:
            out = copy.deepcopy(payload)
            for path in self.exclude:
                delete_at(out, path)
            return out
        return payload


def parse_with_vector(value: Any, field: str = "with_vector") -> bool:
    """``with_vector``: a bool, or a list of vector names (only the unnamed vector exists)."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return bool(value)
    raise ValidationError(field, "expected a bool or a list of vector names")


@dataclass(frozen=True)
class SearchRequest:
    """One search, Qdrant's shape (``vector``, ``limit``, ``offset``, ``filter``...)."""

    vector: Sequence[float] | Any
    limit: int = 10
    offset: int = 0
    filter: Filter | None = None
    params: Mapping[str, Any] | None = None
    score_threshold: float | None = None
    with_payload: PayloadSelector = field(default_factory=lambda: PayloadSelector(False))
    with_vector: bool = False
    #: vecsearch extension: keep hits whose calibrated relevance is at least this.
    relevance_threshold: float | None = None

    @classmethod
    def from_dict(cls, body: Mapping[str, Any], field: str = "") -> SearchRequest:
        """Parse Qdrant's search body; every error names its field."""
        pre = f"{field}." if field else ""
        if not isinstance(body, Mapping):
            raise ValidationError(field, "expected a search request object")
        known = {
            "vector",
            "limit",
            "offset",
            "filter",
            "params",
            "score_threshold",
            "relevance_threshold",
            "with_payload",
            "with_vector",
            "shard_key",
            "lookup_from",
        }
        unknown = set(body) - known
        if unknown:
            raise ValidationError(f"{pre}{sorted(unknown)[0]}", "unknown search request field")
        if "vector" not in body:
            raise ValidationError(f"{pre}vector", "missing")
        limit = body.get("limit", 10)
        offset = body.get("offset", 0) or 0
        return cls(
            vector=body["vector"],
            limit=limit,
            offset=offset,
            filter=parse_filter(body.get("filter"), f"{pre}filter"),
            params=body.get("params"),
            score_threshold=body.get("score_threshold"),
            with_payload=PayloadSelector.parse(body.get("with_payload"), f"{pre}with_payload"),
            with_vector=parse_with_vector(body.get("with_vector"), f"{pre}with_vector"),
            relevance_threshold=body.get("relevance_threshold"),
        )
