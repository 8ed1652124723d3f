"""Points in a write: Qdrant's point and vector forms -> validated arrays per vector space.

A point's ``vector`` (Qdrant's ``VectorStruct``) is one of

* a list of numbers: the unnamed vector (or, for a multi-vector space, a list of such lists);
* an object ``{name: vector, ...}``: named vectors; names must exist in the collection;
  ``""`` names the unnamed vector; a named space may be left out (optional vectors), and
  ``{}`` is a point without vectors (named collections only).

The column form of upsert (Qdrant's ``Batch``) gives ``vectors`` as a list (the unnamed
vector of each point) or ``{name: [vector of point 0, ...]}``; ``None`` entries leave that
point without that vector.

Everything is validated before anything is written; errors name the field
(``points[3].vector.image: expected dimension 512, got 511``). Sparse vectors
(``{"indices", "values"}``) and inference objects (``{"text", "model"}``) are rejected
with a clear message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vecsearch.config import CollectionConfig, SpaceConfig
from vecsearch.errors import ValidationError
from vecsearch.ids import id_key, parse_point_id
from vecsearch.validate import check_multivectors, check_vectors, payload_json


@dataclass(frozen=True)
class Column:
    """The validated vectors of one space in a write: for the points at ``positions`` (of
    the write's batch), ``vectors`` float32 ``(n, size)`` or a list of ``(m_i, size)``."""

    space: SpaceConfig
    positions: np.ndarray
    vectors: Any

    def blobs(self) -> list[bytes]:
        """The vectors as store blobs."""
        return [v.tobytes() for v in self.vectors]


def _reject_value(value: Any, field: str) -> None:
    """Clear errors for the vector forms vecsearch does not take (others fail validation)."""
    if isinstance(value, Mapping):
        if "indices" in value or "values" in value:
            raise ValidationError(field, "sparse vectors are not supported yet")
        raise ValidationError(
            field,
            "expected a list of numbers (server-side inference objects are not supported)",
        )


def _split(
    config: CollectionConfig,
    vectors: Sequence[Any],
    field_of: Callable[[int], str],
    *,
    required: bool,
) -> dict[str, tuple[list[int], list[Any]]]:
    """Per space name: the positions and raw values of the points that give it."""
    out: dict[str, tuple[list[int], list[Any]]] = {}
    names = set(config.names)
    for i, v in enumerate(vectors):
        if v is None:
            if required and not config.named:
                raise ValidationError(field_of(i), "missing")
            continue
        if isinstance(v, Mapping):
            if set(v) == {"indices", "values"} and "indices" not in names:
                raise ValidationError(field_of(i), "sparse vectors are not supported yet")
            if "model" in v and "model" not in names:
                raise ValidationError(
                    field_of(i), "server-side inference objects are not supported"
                )
            if not v and not config.named:
                raise ValidationError(field_of(i), "missing: this collection has one vector")
            for name, value in v.items():
                sub = f"{field_of(i)}.{name}" if name else field_of(i)
                if name not in names:
                    config.space(name, sub)  # raises, naming the vectors that exist
                if value is None:
                    continue
                _reject_value(value, sub)
                pos, vals = out.setdefault(name, ([], []))
                pos.append(i)
                vals.append(value)
            continue
        _reject_value(v, field_of(i))
        if "" not in names:
            have = ", ".join(repr(n) for n in config.names)
            raise ValidationError(
                field_of(i), f"this collection has named vectors ({have}); give {{name: vector}}"
            )
        pos, vals = out.setdefault("", ([], []))
        pos.append(i)
        vals.append(v)
    return out


def _check(space: SpaceConfig, values: Any, field_of: Callable[[int], str]) -> Any:
    check = check_multivectors if space.is_multivector else check_vectors
    return check(values, space.size, field_of, cosine=space.metric == "cosine")


def point_columns(
    config: CollectionConfig,
    vectors: Sequence[Any],
    field_of: Callable[[int], str],
    *,
    required: bool = True,
) -> list[Column]:
    """Validated columns of the per-point vectors ``vectors`` (list form of upsert, update
    vectors); ``field_of(i)`` names point ``i``'s vector field."""
    out = []
    for name, (pos, vals) in _split(config, vectors, field_of, required=required).items():
        space = config.space(name)

        def sub(j: int, pos: list[int] = pos, name: str = name) -> str:
            return f"{field_of(pos[j])}.{name}" if name else field_of(pos[j])

        out.append(Column(space, np.asarray(pos, dtype=np.int64), _check(space, vals, sub)))
    return out


def batch_columns(config: CollectionConfig, vectors: Any, n: int, field: str) -> list[Column]:
    """Validated columns of the column form's ``vectors`` for ``n`` points."""
    if isinstance(vectors, Mapping):
        out = []
        for name, values in vectors.items():
            space = config.space(name, f"{field}.{name}")
            if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
                raise ValidationError(f"{field}.{name}", "expected a list of vectors")
            if len(values) != n:
                raise ValidationError(f"{field}.{name}", f"expected {n} vectors, got {len(values)}")
            pos = [i for i, v in enumerate(values) if v is not None]
            vals = values if len(pos) == n else [values[i] for i in pos]
            for i in pos:
                _reject_value(values[i], f"{field}.{name}[{i}]")
            checked = _check(space, vals, lambda j, p=pos, nm=name: f"{field}.{nm}[{p[j]}]")
            out.append(Column(space, np.asarray(pos, dtype=np.int64), checked))
        if not config.named and not any(c.space.name == "" for c in out):
            raise ValidationError(field, "missing: this collection has one vector")
        return out
    if isinstance(vectors, str | bytes) or not isinstance(vectors, Sequence | np.ndarray):
        raise ValidationError(field, "expected a list of vectors or {name: [vectors]}")
    if len(vectors) != n:
        raise ValidationError(field, f"expected {n} vectors, got {len(vectors)}")
    if "" not in config.names:
        have = ", ".join(repr(nm) for nm in config.names)
        raise ValidationError(
            field, f"this collection has named vectors ({have}); give {{name: [vectors]}}"
        )
    space = config.space("")
    if not isinstance(vectors, np.ndarray):
        for i, v in enumerate(vectors):
            _reject_value(v, f"{field}[{i}]")
    checked = _check(space, vectors, lambda i: f"{field}[{i}]")
    return [Column(space, np.arange(n, dtype=np.int64), checked)]


def take(columns: list[Column], order: Sequence[int]) -> list[Column]:
    """The columns restricted to the batch positions ``order`` (renumbered 0..len-1); used
    when repeated ids in one write keep only their last occurrence."""
    new_pos = {old: new for new, old in enumerate(order)}
    out = []
    for c in columns:
        keep = [j for j, p in enumerate(c.positions.tolist()) if p in new_pos]
        pos = np.asarray([new_pos[int(c.positions[j])] for j in keep], dtype=np.int64)
        vecs = [c.vectors[j] for j in keep] if isinstance(c.vectors, list) else c.vectors[keep]
        out.append(Column(c.space, pos, vecs))
    return out


@dataclass(frozen=True)
class PointWrite:
    """A validated write of whole points (upsert) or of some of their vectors: id keys,
    vector columns, and payload JSON texts (``None`` for vector updates). An id that repeats
    keeps its last occurrence."""

    keys: list[bytes]
    columns: list[Column]
    payloads: list[str] | None = None

    @classmethod
    def of(
        cls, pids: Sequence[Any], columns: list[Column], payloads: list[str] | None
    ) -> PointWrite:
        keys = [id_key(p) for p in pids]
        last = {k: i for i, k in enumerate(keys)}
        if len(last) < len(keys):
            order = sorted(last.values())
            keys = [keys[i] for i in order]
            payloads = None if payloads is None else [payloads[i] for i in order]
            columns = take(columns, order)
        return cls(keys, columns, payloads)

    def store_columns(self) -> dict[int, tuple[list[int], list[bytes]]]:
        """``{space id: (positions, blobs)}`` for the store."""
        return {c.space.id: (c.positions.tolist(), c.blobs()) for c in self.columns}


def parse_points(config: CollectionConfig, points: Any) -> PointWrite:
    """The list form of upsert: ``[{"id", "vector", "payload"}]``."""
    if isinstance(points, Mapping) or not isinstance(points, Sequence):
        raise ValidationError("points", "expected a list of points")
    ids, vectors, payloads = [], [], []
    for i, p in enumerate(points):
        if not isinstance(p, Mapping):
            raise ValidationError(f"points[{i}]", "expected an object {id, vector, payload}")
        extra = set(p) - {"id", "vector", "payload"}
        if extra:
            raise ValidationError(f"points[{i}].{sorted(extra)[0]}", "unknown point field")
        if "id" not in p:
            raise ValidationError(f"points[{i}].id", "missing")
        if "vector" not in p and not config.named:
            raise ValidationError(f"points[{i}].vector", "missing")
        ids.append(p["id"])
        vectors.append(p.get("vector"))
        payloads.append(p.get("payload"))
    pids = [parse_point_id(v, f"points[{i}].id") for i, v in enumerate(ids)]
    columns = point_columns(config, vectors, lambda i: f"points[{i}].vector")
    texts = [payload_json(p, f"points[{i}].payload") for i, p in enumerate(payloads)]
    return PointWrite.of(pids, columns, texts)


def parse_batch(
    config: CollectionConfig, ids: Any, vectors: Any, payloads: Sequence[Any] | None
) -> PointWrite:
    """The column form of upsert: ``ids[i]``, ``vectors[i]`` (or ``{name: [...]}``),
    ``payloads[i]``."""
    if isinstance(ids, str | bytes) or not isinstance(ids, Sequence | np.ndarray):
        raise ValidationError("batch.ids", "expected a list of point ids")
    n = len(ids)
    if payloads is not None and len(payloads) != n:
        raise ValidationError("batch.payloads", f"expected {n} payloads, got {len(payloads)}")
    pids = [parse_point_id(v, f"batch.ids[{i}]") for i, v in enumerate(ids)]
    columns = batch_columns(config, vectors, n, "batch.vectors")
    texts = [payload_json(p, f"batch.payloads[{i}]") for i, p in enumerate(payloads or [None] * n)]
    return PointWrite.of(pids, columns, texts)


def parse_vector_updates(config: CollectionConfig, points: Any) -> PointWrite:
    """Vectors to set on existing points: ``[{"id", "vector": {name: vector}}]``."""
    if isinstance(points, Mapping) or not isinstance(points, Sequence) or not points:
        raise ValidationError("points", "expected a non-empty list of {id, vector}")
    ids, vectors = [], []
    for i, p in enumerate(points):
        if not isinstance(p, Mapping) or set(p) - {"id", "vector"} or "id" not in p:
            raise ValidationError(f"points[{i}]", "expected an object {id, vector}")
        if p.get("vector") is None or p.get("vector") == {}:
            raise ValidationError(f"points[{i}].vector", "missing: give the vectors to set")
        ids.append(parse_point_id(p["id"], f"points[{i}].id"))
        vectors.append(p["vector"])
    return PointWrite.of(ids, point_columns(config, vectors, lambda i: f"points[{i}].vector"), None)
