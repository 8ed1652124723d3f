"""What crosses the wire between the cluster collection and its replicas, besides Ray's own
pickling: the engine's refusals.

The engine's errors (:mod:`vecsearch.errors`) take several constructor arguments, which
plain pickling cannot rebuild; a replica that refuses a request (a bad filter, a missing
point) returns :func:`pack_error` of the error and the caller raises :func:`unpack_error`,
the same class with the same attributes and message, so a refusal reads the same in cluster
mode as in single-node mode. Storage errors are not refusals: they say the replica is broken
(see :func:`is_refusal`).
"""

from __future__ import annotations

from typing import Any

from vecsearch import errors
from vecsearch.errors import StorageError, VecsearchError

#: Tag of a reply that carries a refusal.
REFUSED = "refused"
#: Tag of a reply that carries a result.
OK = "ok"


def is_refusal(exc: BaseException) -> bool:
    """Whether ``exc`` is the engine refusing a request (the same on every replica), not a
    replica failing."""
    return isinstance(exc, VecsearchError) and not isinstance(exc, StorageError)


def pack_error(exc: VecsearchError) -> dict[str, Any]:
    """A plain description of the engine error ``exc``."""
    return {
        "class": type(exc).__name__,
        "message": str(exc),
        "attrs": {k: v for k, v in vars(exc).items() if isinstance(v, str | int | None)},
    }


def unpack_error(data: dict[str, Any]) -> Exception:
    """The engine error described by :func:`pack_error` (``EngineError`` for an unknown
    class)."""
    cls = getattr(errors, str(data.get("class")), None)
    if not (isinstance(cls, type) and issubclass(cls, VecsearchError)):
        cls = errors.EngineError
    exc = cls.__new__(cls)
    Exception.__init__(exc, data.get("message", ""))
    vars(exc).update(data.get("attrs", {}))
    return exc


def unwrap(reply: tuple[str, Any]) -> Any:
    """The result of a replica's reply, raising the engine error it carries."""
    tag, value = reply
    if tag == REFUSED:
        raise unpack_error(value)
    return value
