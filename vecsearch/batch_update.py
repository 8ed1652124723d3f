"""Qdrant's batch update (``POST /collections/{name}/points/batch``): a list of point
operations applied in order, atomically.

Operations (Qdrant's ``UpdateOperation``, one key per object)::

    {"upsert": {"points": [...]}}  or  {"upsert": {"batch": {"ids", "vectors", "payloads"}}}
    {"delete": {"points": [ids]}}  or  {"delete": {"filter": {...}}}
    {"set_payload": {"payload", "points" | "filter", "key"?}}
    {"overwrite_payload": {"payload", "points" | "filter"}}
    {"delete_payload": {"keys", "points" | "filter"}}
    {"clear_payload": {"points" | "filter"}}
    {"update_vectors": {"points": [{"id", "vector"}]}}
    {"delete_vectors": {"vector": [names], "points" | "filter"}}

Semantics:

* **validated first**: every operation is parsed and checked (shapes, ids, vectors,
  filters, payloads, vector names) before anything is written; errors name the field as
  ``operations[2].upsert.points[0].vector``;
* **in order**: each operation sees the earlier ones (a delete by filter after an upsert
  deletes the upserted points; a ``set_payload`` may address a point upserted before it);
* **atomic**: the operations run in one store transaction (:meth:`vecsearch.store.Store.batch`)
  that commits, durably, only when all succeeded. An operation addressing a missing id
  (``set_payload``, ``update_vectors``, ... by ids: 404) is caught before anything is written,
  by following which ids exist through the operations (upserts add ids, deletes by id remove
  them). Only after a delete by filter, whose ids are known when it runs, can an operation
  fail while applying: then the store rolls back and the in-memory state is reloaded from it
  (which costs a load of the collection), so the collection is exactly as before the request;
* **isolated**: the batch holds the collection's exclusive lock from its first write to its
  commit, so no search sees a partly applied batch (searches of that collection wait for the
  batch; single writes hold it only per chunk of points);
* the result is one ``UpdateResult`` per operation, as Qdrant answers; each operation that
  writes takes its own sequence number (one that changes nothing reports the current one,
  as single writes do).

Deliberate deviation: Qdrant's server (and qdrant-client's local mode) apply the operations
one by one and keep those before a failing one; we keep none of them. A client that retries
a failed batch then never applies its first operations twice, and "applied in order" holds
whenever the batch succeeds, so every successful batch answers exactly as Qdrant's does.

An empty list is accepted and changes nothing (as qdrant-client's local mode does).
Unsupported options (``shard_key``, ``update_filter``, ``update_mode`` other than
``upsert``) are refused with 400, as on the single-operation routes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from vecsearch import payload_changes
from vecsearch.errors import PointNotFoundError, ValidationError
from vecsearch.filters import parse_filter
from vecsearch.ids import id_key, key_to_id, parse_point_ids
from vecsearch.models import UpdateResult
from vecsearch.point_input import parse_batch, parse_points, parse_vector_updates
from vecsearch.sparse_space import SparseSpace

#: Qdrant's operation names, in its documentation's order.
OPERATIONS = (
    "upsert",
    "delete",
    "set_payload",
    "overwrite_payload",
    "delete_payload",
    "clear_payload",
    "update_vectors",
    "delete_vectors",
)


@dataclass(frozen=True)
class Step:
    """A parsed operation: ``run(collection)`` applies it (inside the batch); the id keys it
    ``adds`` (upsert), ``removes`` (delete by ids) and ``requires`` to exist (by-id updates);
    ``unknown``: it removes points that only running it tells (delete by filter)."""

    run: Callable[[Any], UpdateResult]
    adds: tuple[bytes, ...] = ()
    removes: tuple[bytes, ...] = ()
    requires: tuple[bytes, ...] = ()
    unknown: bool = False


def _keys(points: Any) -> tuple[bytes, ...]:
    return tuple(dict.fromkeys(id_key(p) for p in parse_point_ids(points)))


@contextmanager
def _named(prefix: str) -> Iterator[None]:
    """Re-raise validation errors with their field under ``prefix``."""
    try:
        yield
    except ValidationError as exc:
        field = f"{prefix}.{exc.field}" if exc.field else prefix
        try:
            new = type(exc)(field, exc.reason)
        except TypeError:  # pragma: no cover - a subclass with another signature
            new = ValidationError(field, exc.reason)
        raise new from exc


def _fields(body: Any, allowed: set[str], field: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ValidationError(field, "expected an object")
    extra = sorted(set(body) - allowed)
    if extra:
        raise ValidationError(f"{field}.{extra[0]}", "unknown field")
    return body


def _unsupported(body: Mapping[str, Any], field: str, *names: str) -> None:
    for name in names:
        if body.get(name) is not None:
            raise ValidationError(f"{field}.{name}", "is not supported by vecsearch")


def _selector(body: Mapping[str, Any], field: str) -> tuple[Any, Any]:
    """``(points, filter)`` of a points-or-filter selection, checked."""
    points, flt = body.get("points"), body.get("filter")
    if (points is None) == (flt is None):
        raise ValidationError(field, "give either points (ids) or filter, not both/neither")
    if points is not None:
        parse_point_ids(points, f"{field}.points")
    else:
        parse_filter(flt, f"{field}.filter")
    return points, flt


def _upsert(coll: Any, body: Any, field: str) -> Step:
    body = _fields(body, {"points", "batch", "shard_key", "update_filter", "update_mode"}, field)
    _unsupported(body, field, "shard_key", "update_filter")
    if body.get("update_mode") not in (None, "upsert"):
        raise ValidationError(f"{field}.update_mode", "only 'upsert' is supported")
    if (body.get("points") is None) == (body.get("batch") is None):
        raise ValidationError(field, "give either points (list form) or batch (column form)")
    with _named(field):
        if body.get("points") is not None:
            write = parse_points(coll.config, body["points"])
        else:
            b = _fields(body["batch"], {"ids", "vectors", "payloads"}, f"{field}.batch")
            if "ids" not in b or "vectors" not in b:
                raise ValidationError("batch", "expected ids and vectors")
            write = parse_batch(coll.config, b["ids"], b["vectors"], b.get("payloads"))
    return Step(lambda c: c._upsert(write), adds=tuple(write.keys))


def _delete(coll: Any, body: Any, field: str) -> Step:
    body = _fields(body, {"points", "filter", "shard_key"}, field)
    _unsupported(body, field, "shard_key")
    points, flt = _selector(body, field)
    run = lambda c: c.delete(points=points, filter=flt)  # noqa: E731
    return Step(run, unknown=True) if points is None else Step(run, removes=_keys(points))


def _payload_change(coll: Any, body: Any, field: str, kind: str) -> Step:
    keys = {"points", "filter", "shard_key"}
    keys |= {"set_payload": {"payload", "key"}, "overwrite_payload": {"payload", "key"}}.get(
        kind, {"keys"} if kind == "delete_payload" else set()
    )
    body = _fields(body, keys, field)
    _unsupported(body, field, "shard_key")
    points, flt = _selector(body, field)
    with _named(field):
        if kind == "set_payload":
            change = payload_changes.merge(body.get("payload"), body.get("key"))
        elif kind == "overwrite_payload":
            if body.get("key") is not None:
                raise ValidationError("key", "is not supported when overwriting payloads")
            if body.get("payload") is None:
                raise ValidationError("payload", "missing")
            change = payload_changes.overwrite(body["payload"])
        elif kind == "delete_payload":
            if "keys" not in body:
                raise ValidationError("keys", "missing")
            change = payload_changes.delete_keys(body["keys"])
        else:
            change = payload_changes.clear()
    return Step(
        lambda c: c._rewrite_payloads(points, flt, change),
        requires=() if points is None else _keys(points),
    )


def _update_vectors(coll: Any, body: Any, field: str) -> Step:
    body = _fields(body, {"points", "shard_key", "update_filter"}, field)
    _unsupported(body, field, "shard_key", "update_filter")
    with _named(field):
        write = parse_vector_updates(coll.config, body.get("points"))
    return Step(lambda c: c._update_vectors(write), requires=tuple(write.keys))


def _delete_vectors(coll: Any, body: Any, field: str) -> Step:
    body = _fields(body, {"points", "filter", "vector", "shard_key"}, field)
    _unsupported(body, field, "shard_key")
    points, flt = _selector(body, field)
    names = body.get("vector")
    if isinstance(names, str) or not isinstance(names, Sequence) or not names:
        raise ValidationError(f"{field}.vector", "expected a non-empty list of vector names")
    for i, name in enumerate(names):
        coll.space(name, f"{field}.vector[{i}]")
    return Step(
        lambda c: c.delete_vectors(list(names), points=points, filter=flt),
        requires=() if points is None else _keys(points),
    )


def parse_operations(coll: Any, operations: Any, field: str = "operations") -> list[Step]:
    """Check every operation of a batch against ``coll`` (nothing is written); errors name
    ``operations[i]...``."""
    if isinstance(operations, Mapping | str) or not isinstance(operations, Sequence):
        raise ValidationError(field, "expected a list of update operations")
    steps: list[Step] = []
    for i, op in enumerate(operations):
        at = f"{field}[{i}]"
        if not isinstance(op, Mapping) or len(op) != 1:
            raise ValidationError(at, f"expected an object with one operation, one of {OPERATIONS}")
        ((kind, body),) = op.items()
        if kind not in OPERATIONS:
            raise ValidationError(at, f"unknown operation {kind!r}; expected one of {OPERATIONS}")
        at = f"{at}.{kind}"
        if kind == "upsert":
            steps.append(_upsert(coll, body, at))
        elif kind == "delete":
            steps.append(_delete(coll, body, at))
        elif kind == "update_vectors":
            steps.append(_update_vectors(coll, body, at))
        elif kind == "delete_vectors":
            steps.append(_delete_vectors(coll, body, at))
        else:
            steps.append(_payload_change(coll, body, at, kind))
    return steps


def check_ids(coll: Any, steps: Sequence[Step]) -> None:
    """Raise :class:`PointNotFoundError` for the first by-id operation whose id will not
    exist when it runs, following the ids through the batch (up to its first delete by
    filter); call with the collection's write lock held."""
    wanted = list(dict.fromkeys(k for s in steps for k in (*s.requires, *s.removes, *s.adds)))
    exist = set(coll.store.lookup(wanted, writer=True)) if wanted else set()
    for step in steps:
        if step.unknown:
            return
        missing = next((k for k in step.requires if k not in exist), None)
        if missing is not None:
            raise PointNotFoundError(
                f"no point with id {key_to_id(missing)} in collection {coll.name!r}"
            )
        exist.difference_update(step.removes)
        exist.update(step.adds)


def apply_batch(coll: Any, operations: Any) -> list[UpdateResult]:
    """Validate then apply ``operations`` to collection ``coll`` in order, atomically (see
    the module docstring); returns one result per operation."""
    steps = parse_operations(coll, operations)
    if not steps:
        return []
    with coll._write_lock:
        check_ids(coll, steps)
        return _apply(coll, steps)


def _apply(coll: Any, steps: Sequence[Step]) -> list[UpdateResult]:
    with coll._rw.write():
        store = coll.store
        stats = {n: s.text_stats for n, s in coll.spaces.items() if isinstance(s, SparseSpace)}
        try:
            with store.batch():
                return [step.run(coll) for step in steps]
        except BaseException:
            # the store is as before the batch: so must the derived state be
            coll._state.load()
            for name, st in stats.items():
                space = coll.spaces[name]
                assert isinstance(space, SparseSpace)
                space.text_stats = st
            raise
