"""External point ids (Qdrant's: unsigned 64-bit integer or UUID) and their storage keys.

A point's external id is what users see. Internally every point also has an int64 *label*
(allocated by the store, never reused) that the vector index knows it by.

Storage key: 17 bytes or fewer, compared bytewise by SQLite, which gives Qdrant's scroll
order: every integer id before every UUID, integers numerically, UUIDs by their bytes.

* integer ``n``: ``b"\\x00" + n.to_bytes(8, "big")``
* UUID ``u``: ``b"\\x01" + u.bytes``
"""

from __future__ import annotations

import uuid
from typing import Any

from vecsearch.errors import InvalidPointIdError

PointId = int | str
U64_MAX = 2**64 - 1

_INT_TAG = b"\x00"
_UUID_TAG = b"\x01"


def parse_point_id(value: Any, field: str = "id") -> PointId:
    """Canonical form of an external id: a Python ``int`` or a lowercase hyphenated UUID.

    Accepts ``int`` (0 .. 2**64-1, not ``bool``), :class:`uuid.UUID` and UUID strings in any
    form :class:`uuid.UUID` reads. Anything else raises :class:`InvalidPointIdError` naming
    ``field``.
    """
    if isinstance(value, bool):
        raise InvalidPointIdError(
            field, "a point id must be an unsigned integer or a UUID, got a bool"
        )
    if isinstance(value, int):
        if 0 <= value <= U64_MAX:
            return int(value)
        raise InvalidPointIdError(field, f"integer point id {value} is outside 0..2**64-1")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise InvalidPointIdError(
                field, f"{value!r} is neither an unsigned integer nor a UUID"
            ) from None
    # numpy integers are common in Python callers; accept them without importing numpy here
    if hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu" and value.ndim == 0:
        return parse_point_id(int(value), field)
    raise InvalidPointIdError(
        field, f"a point id must be an unsigned integer or a UUID, got {type(value).__name__}"
    )


def id_key(pid: PointId) -> bytes:
    """Storage key of a canonical id (see module docstring)."""
    if isinstance(pid, int):
        return _INT_TAG + pid.to_bytes(8, "big")
    return _UUID_TAG + uuid.UUID(pid).bytes


def key_to_id(key: bytes) -> PointId:
    """Inverse of :func:`id_key`."""
    if key[:1] == _INT_TAG:
        return int.from_bytes(key[1:], "big")
    return str(uuid.UUID(bytes=bytes(key[1:])))


def parse_point_ids(values: Any, field: str = "ids") -> list[PointId]:
    """Parse a list of ids, naming the bad element (``ids[3]``) on error; keeps order."""
    if isinstance(values, str | bytes | int) or not hasattr(values, "__iter__"):
        raise InvalidPointIdError(field, "expected a list of point ids")
    return [parse_point_id(v, f"{field}[{i}]") for i, v in enumerate(values)]
