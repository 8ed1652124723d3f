"""Points in a write: Qdrant's point and vector forms -> validated arrays per vector space.

A point's ``vector`` (Qdrant's ``VectorStruct``) is one of

* a list of numbers: the unnamed vector (or, for a multi-vector space, a list of such lists);
* an object ``{name: vector, ...}``: named vectors; names must exist in the collection;
  ``""`` names the unnamed vector; a named space may be left out (optional vectors), and
  ``{}`` is a point without vectors (as in Qdrant), except in a collection of the unnamed
  form with no other vector (there a point always has its one vector).

The column form of upsert (Qdrant's ``Batch``) gives ``vectors`` as a list (the unnamed
vector of each point) or ``{name: [vector of point 0, ...]}``; ``None`` entries leave that
point without that vector.

A sparse space's value is ``{"indices": [...], "values": [...]}`` (checked by
:func:`vecsearch.sparse_space.check_sparse`) or a BM25 inference object ``{"text", "model":
"qdrant/bm25", "options"}`` (:mod:`vecsearch.text.bm25`), tokenised here and turned into a
vector by :meth:`SparseColumn.resolved` under the collection's write lock, where the space's
average document length is known. Inference objects for dense spaces are refused (no
embedding models run on the server).

Everything is validated before anything is written; errors name the field
(``points[3].vector.image: expected dimension 512, got 511``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vecsearch.config import CollectionConfig, SpaceConfig, SparseSpaceConfig
from vecsearch.errors import ValidationError
from vecsearch.ids import id_key, parse_point_id
from vecsearch.sparse_space import SparseVector, check_sparse, encode
from vecsearch.text.bm25 import Document, TextStats, doc_vector, is_inference_object, parse_document
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


@dataclass(frozen=True)
class SparseColumn:
    """The validated vectors of one sparse space in a write: ``vectors[j]`` for the point
    at ``positions[j]``; entries given as BM25 documents are ``None`` until
    :meth:`resolved` fills them in (``docs``: ``(j, document, tokens)``)."""

    space: SparseSpaceConfig
    positions: np.ndarray
    vectors: list[SparseVector | None]
    docs: tuple[tuple[int, Document, list[str]], ...] = ()

    def resolved(self, stats: TextStats) -> tuple[SparseColumn, TextStats]:
        """The column with its documents turned into BM25 vectors, and the space's
        statistics after this write (the average length includes these documents)."""
        if not self.docs:
            return self, stats
        new = stats.with_batch([len(tokens) for _, _, tokens in self.docs])
        vectors = list(self.vectors)
        for j, doc, tokens in self.docs:
            avg = doc.options.avg_len if doc.options.avg_len is not None else new.avg_len
            vectors[j] = doc_vector(tokens, doc.options, avg)
        return SparseColumn(self.space, self.positions, vectors), new

    def blobs(self) -> list[bytes]:
        """The vectors as store blobs (resolved first)."""
        if self.docs or any(v is None for v in self.vectors):
            raise AssertionError("unresolved BM25 documents")  # pragma: no cover
        return [encode(v) for v in self.vectors]  # type: ignore[arg-type]


def _sparse_column(
    space: SparseSpaceConfig, positions: list[int], values: list[Any], sub: Callable[[int], str]
) -> SparseColumn:
    vectors: list[SparseVector | None] = []
    docs = []
    for j, v in enumerate(values):
        if is_inference_object(v):
            doc = parse_document(v, sub(j))
            docs.append((j, doc, doc.tokens()))
            vectors.append(None)
        else:
            vectors.append(check_sparse(v, sub(j)))
    return SparseColumn(space, np.asarray(positions, dtype=np.int64), vectors, tuple(docs))


def _reject_value(value: Any, field: str) -> None:
    """Clear errors for the vector forms a dense space does not take (others fail
    validation)."""
    if isinstance(value, Mapping):
        if "indices" in value or "values" in value:
            raise ValidationError(
                field, "a sparse vector was given for a dense vector; name a sparse vector"
            )
        if is_inference_object(value):
            raise ValidationError(
                field,
                "server-side inference is available for sparse vectors with model "
                "'qdrant/bm25' only; dense vectors must be given as numbers",
            )
        raise ValidationError(field, "expected a list of numbers")


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
                raise ValidationError(
                    field_of(i),
                    "a sparse vector needs its name: {name: {indices, values}}",
                )
            if is_inference_object(v) and "model" not in names:
                raise ValidationError(
                    field_of(i), "an inference object needs its vector name: {name: {text, model}}"
                )
            if not v and not config.named and len(names) == 1:
                raise ValidationError(field_of(i), "missing: this collection has one vector")
            for name, value in v.items():
                sub = f"{field_of(i)}.{name}" if name else field_of(i)
                if name not in names:
                    config.space(name, sub)  # raises, naming the vectors that exist
                if value is None:
                    continue
                if config.sparse_space(name) is None:
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


AnyColumn = Column | SparseColumn


def point_columns(
    config: CollectionConfig,
    vectors: Sequence[Any],
    field_of: Callable[[int], str],
    *,
    required: bool = True,
) -> list[AnyColumn]:
    """Validated columns of the per-point vectors ``vectors`` (list form of upsert, update
    vectors); ``field_of(i)`` names point ``i``'s vector field."""
    out: list[AnyColumn] = []
    for name, (pos, vals) in _split(config, vectors, field_of, required=required).items():

        def sub(j: int, pos: list[int] = pos, name: str = name) -> str:
            return f"{field_of(pos[j])}.{name}" if name else field_of(pos[j])

        sparse = config.sparse_space(name)
        if sparse is not None:
            out.append(_sparse_column(sparse, pos, vals, sub))
            continue
        space = config.space(name)
        out.append(Column(space, np.asarray(pos, dtype=np.int64), _check(space, vals, sub)))
    return out


def batch_columns(config: CollectionConfig, vectors: Any, n: int, field: str) -> list[AnyColumn]:
    """Validated columns of the column form's ``vectors`` for ``n`` points."""
    if isinstance(vectors, Mapping):
        out: list[AnyColumn] = []
        for name, values in vectors.items():
            sparse = config.sparse_space(name)
            space = None if sparse is not None else config.space(name, f"{field}.{name}")
            if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
                raise ValidationError(f"{field}.{name}", "expected a list of vectors")
            if len(values) != n:
                raise ValidationError(f"{field}.{name}", f"expected {n} vectors, got {len(values)}")
            pos = [i for i, v in enumerate(values) if v is not None]
            vals = values if len(pos) == n else [values[i] for i in pos]
            if sparse is not None:
                out.append(
                    _sparse_column(
                        sparse, pos, list(vals), lambda j, p=pos, nm=name: f"{field}.{nm}[{p[j]}]"
                    )
                )
                continue
            assert space is not None
            for i in pos:
                _reject_value(values[i], f"{field}.{name}[{i}]")
            checked = _check(space, vals, lambda j, p=pos, nm=name: f"{field}.{nm}[{p[j]}]")
            out.append(Column(space, np.asarray(pos, dtype=np.int64), checked))
        if len(config.names) == 1 and not any(c.space.name == "" for c in out):
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


def take(columns: list[AnyColumn], order: Sequence[int]) -> list[AnyColumn]:
    """The columns restricted to the batch positions ``order`` (renumbered 0..len-1); used
    when repeated ids in one write keep only their last occurrence."""
    new_pos = {old: new for new, old in enumerate(order)}
    out: list[AnyColumn] = []
    for c in columns:
        keep = [j for j, p in enumerate(c.positions.tolist()) if p in new_pos]
        pos = np.asarray([new_pos[int(c.positions[j])] for j in keep], dtype=np.int64)
        vecs = [c.vectors[j] for j in keep] if isinstance(c.vectors, list) else c.vectors[keep]
        if isinstance(c, SparseColumn):
            renum = {old: new for new, old in enumerate(keep)}
            docs = tuple((renum[j], d, t) for j, d, t in c.docs if j in renum)
            out.append(SparseColumn(c.space, pos, vecs, docs))
        else:
            out.append(Column(c.space, pos, vecs))
    return out


@dataclass(frozen=True)
class PointWrite:
    """A validated write of whole points (upsert) or of some of their vectors: id keys,
    vector columns, and payload JSON texts (``None`` for vector updates). An id that repeats
    keeps its last occurrence."""

    keys: list[bytes]
    columns: list[AnyColumn]
    payloads: list[str] | None = None
    #: Store meta entries written with the points (BM25 statistics; see :meth:`resolved`).
    meta: dict[str, str] | None = None

    @classmethod
    def of(
        cls, pids: Sequence[Any], columns: list[AnyColumn], payloads: list[str] | None
    ) -> PointWrite:
        keys = [id_key(p) for p in pids]
        last = {k: i for i, k in enumerate(keys)}
        if len(last) < len(keys):
            order = sorted(last.values())
            keys = [keys[i] for i in order]
            payloads = None if payloads is None else [payloads[i] for i in order]
            columns = take(columns, order)
        return cls(keys, columns, payloads)

    def resolved(self, stats_of: Callable[[str], TextStats]) -> tuple[PointWrite, dict]:
        """The write with its BM25 documents turned into vectors (call under the write lock:
        ``stats_of(space name)`` is the space's current statistics), and ``{space name: new
        statistics}`` to install once the write is committed."""
        if not any(isinstance(c, SparseColumn) and c.docs for c in self.columns):
            return self, {}
        from vecsearch.sparse_space import text_meta

        columns: list[AnyColumn] = []
        stats: dict[str, TextStats] = {}
        meta: dict[str, str] = {}
        for c in self.columns:
            if isinstance(c, SparseColumn) and c.docs:
                c, new = c.resolved(stats_of(c.space.name))
                stats[c.space.name] = new
                meta.update(text_meta(c.space.id, new))
            columns.append(c)
        return PointWrite(self.keys, columns, self.payloads, meta), stats

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
    columns = point_columns(config, vectors, lambda i: f"points[{i}].vector")
    keys = [id_key(pid) for pid in ids]
    if len(set(keys)) == len(keys):
        return PointWrite.of(ids, columns, None)
    # An id given more than once: its entries apply in order, as Qdrant (and local mode)
    # apply them one by one, so each vector keeps the last value given for it; the entries
    # were checked above under their own names.
    merged: dict[bytes, tuple[Any, dict[str, Any]]] = {}
    for pid, key, v in zip(ids, keys, vectors, strict=True):
        named = dict(v) if isinstance(v, Mapping) else {"": v}
        merged[key] = (pid, {**merged[key][1], **named} if key in merged else named)
    ids = [pid for pid, _ in merged.values()]
    vectors = [vs for _, vs in merged.values()]
    return PointWrite.of(ids, point_columns(config, vectors, lambda i: "points"), None)
