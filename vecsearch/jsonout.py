"""JSON output of engine results: numpy vectors written at the precision they are stored at.

``orjson`` writes a float32 array element by its shortest round-trip representation, so a
vector stored as float32 ``0.15`` is written as ``0.15`` (Python's ``float()`` of it would
print ``0.15000000596046448``), and it serialises arrays in C: 100 vectors of 384 floats in
2 ms, against 64 ms for a Python shortest-repr conversion (measured on this machine).

orjson refuses a few values Python's parser accepts: integers beyond 64 bits, nesting
deeper than 255 levels, lone surrogates. Writes refuse them now (:mod:`vecsearch.validate`),
but a store written before those checks may still hold one; rather than failing the whole
response (a 500 on every read of that point), :func:`dumps` then falls back to Python's
encoder (slower, exact for such integers, surrogates written as ``\\udXXX`` escapes).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import orjson

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def dumps(obj: Any, *, indent: bool = False) -> bytes:
    """``obj`` as UTF-8 JSON (numpy arrays and scalars included; non-finite floats as
    ``null``, as orjson writes them)."""
    try:
        return orjson.dumps(obj, option=_OPTIONS | (orjson.OPT_INDENT_2 if indent else 0))
    except orjson.JSONEncodeError:
        return json.dumps(_plain(obj), indent=2 if indent else None, allow_nan=False).encode()


def _plain(o: Any) -> Any:
    """``o`` with numpy values as Python ones and non-finite floats as ``None``, for the
    fallback encoder."""
    if isinstance(o, dict):
        return {k: _plain(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_plain(v) for v in o]
    if isinstance(o, np.ndarray):
        return _plain(o.tolist())
    if isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def loads_strict(data: bytes) -> Any:
    """``data`` parsed by orjson, or ``None`` when orjson refuses it: not JSON, ``NaN`` /
    ``Infinity`` literals, integers beyond 64 bits, nesting beyond 255 levels. For fast
    paths that hand anything unusual to the full parser (``None`` is also JSON's ``null``;
    such callers treat both alike)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
