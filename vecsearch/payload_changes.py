"""The payload updates of Qdrant's point API as checked functions ``payload -> payload``:
set (merge, optionally at a nested key), overwrite, delete keys, clear. Each is validated
when made, before any point is touched, so a bad request changes nothing."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from vecsearch.errors import ValidationError
from vecsearch.payload_path import delete_at, parse_path, set_at
from vecsearch.validate import payload_json

Change = Callable[[dict[str, Any]], dict[str, Any]]


def merge(payload: Mapping[str, Any] | None, key: str | None = None) -> Change:
    """Merge ``payload`` into a point's payload (into the object at path ``key`` if given)."""
    if payload is None:
        raise ValidationError("payload", "missing")
    payload_json(payload, "payload")
    path = parse_path(key, "key") if key is not None else None

    def change(p: dict[str, Any]) -> dict[str, Any]:
        if path is None:
            p.update(payload)
        else:
            set_at(p, path, dict(payload))
        return p

    return change


def overwrite(payload: Mapping[str, Any] | None) -> Change:
    """Replace a point's payload with ``payload``."""
    payload_json(payload, "payload")
    return lambda p: dict(payload or {})


def delete_keys(keys: Sequence[str]) -> Change:
    """Remove ``keys`` (paths allowed) from a point's payload."""
    if isinstance(keys, str) or not isinstance(keys, Sequence):
        raise ValidationError("keys", "expected a list of payload keys")
    paths = [parse_path(k, f"keys[{i}]") for i, k in enumerate(keys)]

    def change(p: dict[str, Any]) -> dict[str, Any]:
        for path in paths:
            delete_at(p, path)
        return p

    return change


def clear() -> Change:
    """Remove every key of a point's payload."""
    return lambda p: {}
