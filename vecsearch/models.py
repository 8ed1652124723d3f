"""Result shapes and selectors, mirroring Qdrant's REST objects one to one.

``Record`` (retrieve / scroll), ``ScoredPoint`` (search and query), ``UpdateResult``
(writes), ``PayloadSelector`` (``with_payload``: bool, list of keys, ``{"include": [...]}``
or ``{"exclude": [...]}``) and ``VectorSelector`` (``with_vector``: bool or list of vector
names). ``to_dict`` gives the objects Qdrant returns, so the service can pass them through.

Vectors are float32 numpy arrays, exactly as stored: ``(size,)``, ``(m, size)`` for a
multi-vector, or for collections with named vectors a dict ``{name: array}`` of the vectors
the point has. Serialise with :func:`vecsearch.jsonout.dumps`, which writes each float32 by
its shortest representation (a stored ``0.15`` reads back as ``0.15``, not
``0.15000000596046448``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from vecsearch.errors import ValidationError
from vecsearch.ids import PointId
from vecsearch.payload_path import parse_path


@dataclass(frozen=True)
class Record:
    """A stored point as returned by retrieve and scroll."""

    id: PointId
    payload: dict[str, Any] | None = None
    vector: Any = None
    #: The payload value a scroll with ``order_by`` ordered the record by.
    order_value: int | float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Qdrant's ``Record`` JSON."""
        out = {"id": self.id, "payload": self.payload, "vector": self.vector}
        if self.order_value is not None:
            out["order_value"] = self.order_value
        return out


@dataclass(frozen=True)
class ScoredPoint:
    """A search hit; ``version`` is the sequence number of the point's last write.

    ``relevance`` (vecsearch extension): the calibrated relevance in [0, 1] of ``score`` when
    the collection has a fitted relevance model (see :mod:`vecsearch.relevance`), else None.
    ``order_value``: the payload value an ``order_by`` query ranked the hit by.
    """

    id: PointId
    version: int
    score: float
    payload: dict[str, Any] | None = None
    vector: Any = None
    relevance: float | None = None
    order_value: int | float | None = None

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
        if self.order_value is not None:
            out["order_value"] = self.order_value
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
    """Which payload to return: none, all, only ``include`` keys, or all but ``exclude``.

    Paths select nested parts as Qdrant does (and local mode): ``["country.name"]`` returns
    ``{"country": {"name": ...}}``; ``a[].b`` selects ``b`` in every element of array ``a``
    (an array is kept, its elements reduced); a key step into an array, or ``a[0]``, selects
    nothing inside it (the array comes back empty); a path that stops at a scalar keeps it.
    ``exclude`` removes the same parts and keeps the rest. Paths merge into one prefix tree
    (a shorter path wins over a longer one below it).
    """

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
            return _include(payload, _tree(self.include))
        if self.exclude is not None:
            return _exclude(payload, _tree(self.exclude))
        return payload


#: Marks a selected subtree in :func:`_tree`.
_ALL = True


@lru_cache(maxsize=256)
def _tree(paths: tuple[tuple, ...]) -> dict:
    """Prefix tree of parsed paths: key steps by name, ``[]`` as ``None``, ``[n]`` as ``n``;
    ``_ALL`` selects everything below. Cached (selectors repeat); never modified."""
    tree: dict = {}
    for path in paths:
        parts = [arg for kind, arg in path]  # ("key", name) | ("all", None) | ("index", n)
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if node is _ALL:
                break
        else:
            node[parts[-1]] = _ALL
    return tree


def _include(value: Any, tree: dict) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            sub = tree.get(key) if isinstance(key, str) else None
            if sub is not None:
                out[key] = item if sub is _ALL else _include(item, sub)
        return out
    if isinstance(value, list):
        sub = tree.get(None)
        if sub is None:
            return []
        return value if sub is _ALL else [_include(item, sub) for item in value]
    return value


def _exclude(value: Any, tree: dict) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            sub = tree.get(key)
            if sub is None:
                out[key] = item
            elif sub is not _ALL:
                out[key] = _exclude(item, sub)
        return out
    if isinstance(value, list):
        sub = tree.get(None)
        if sub is None:
            return value
        return [] if sub is _ALL else [_exclude(item, sub) for item in value]
    return value


@dataclass(frozen=True)
class VectorSelector:
    """Which vectors to return: none, all (``names is None``) or the named ones."""

    enabled: bool = False
    names: tuple[str, ...] | None = None

    @classmethod
    def parse(cls, value: Any, field: str = "with_vector") -> VectorSelector:
        """Accept ``bool`` or a list of vector names (Qdrant's ``with_vector``)."""
        if isinstance(value, VectorSelector):
            return value
        if value is None or value is False:
            return cls()
        if value is True:
            return cls(True)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return cls(bool(value), tuple(value))
        raise ValidationError(field, "expected a bool or a list of vector names")

    def wants(self, name: str) -> bool:
        """Whether vector ``name`` is to be returned."""
        return self.enabled and (self.names is None or name in self.names)


def parse_with_vector(value: Any, field: str = "with_vector") -> VectorSelector:
    """``with_vector``: a bool, or a list of vector names."""
    return VectorSelector.parse(value, field)
