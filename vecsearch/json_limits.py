"""Limits on JSON values that reach the engine: nesting depth and valid Unicode.

* **Depth.** Deeply nested JSON costs recursion everywhere it goes (the parser, validation,
  filter evaluation, ``json.dumps``, orjson's encoder, which stops at 255 levels). A payload
  may nest :data:`MAX_PAYLOAD_DEPTH` levels of objects and arrays (the payload object itself
  is level 1). :func:`json_depth` measures the depth of a JSON *text* in C-speed passes
  (``bytes.translate`` keeps the brackets and quotes, numpy drops what is quoted and
  counts), so a 32 MB body is scanned without a Python loop over its characters.
* **Unicode.** JSON's ``\\ud800`` escapes can encode a lone UTF-16 surrogate, which Python's
  parser accepts but no UTF-8 encoder (SQLite, the response writer) can write.
  :func:`lone_surrogate_path` finds the first string or key that holds one and names its
  path in the engine's style (``points[0].payload.city``).
* **Integers.** Python's parser reads integers of any size, the response writer (orjson)
  only 64-bit ones: :func:`wide_int_path` finds a payload integer outside :data:`INT_RANGE`
  (Qdrant's parser would read it as a float).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

#: Deepest nesting of objects and arrays in a payload (the payload object is level 1).
MAX_PAYLOAD_DEPTH = 64

_QUOTE = ord('"')
# Every byte except the brackets and the quote, for bytes.translate(None, delete=...).
_NOT_SYNTAX = bytes(b for b in range(256) if b not in b'[]{}"')
_OPENS = np.zeros(256, dtype=np.int8) - 1
_OPENS[[ord("["), ord("{")]] = 1
_CHUNK = 1 << 20
# A surrogate escape that is not half of a valid pair: a high one not followed by a low one,
# or a low one not preceded by a high one (an escaped backslash before "u" can make this a
# false alarm; callers then look at the parsed value, which is exact).
_LONE_ESCAPE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
# A surrogate in UTF-8 form (ED A0..BF ..): never valid UTF-8, yet json.loads accepts it.
_SURROGATE_BYTES = re.compile(rb"\xed[\xa0-\xbf]")
_WIDE_DIGITS = re.compile(r"[0-9]{19}")

#: Integers a payload may hold: what 64 bits hold (signed or unsigned), as orjson writes them.
INT_RANGE = (-(2**63), 2**64 - 1)


def json_depth(text: bytes | str, limit: int | None = None) -> int:
    """The nesting depth of objects and arrays in the JSON ``text`` (``0`` for a scalar).

    With ``limit`` the answer is only exact enough to compare with it: a result ``<= limit``
    means the depth is within the limit (it is then an upper bound), a result above means it
    is exceeded (the scan stops there). Brackets inside strings do not count. Meant for valid
    JSON; for invalid text the result is an estimate.
    """
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    opens = data.count(b"[") + data.count(b"{")
    if limit is not None and opens <= limit:
        return opens  # an upper bound that is within the limit: no need to look closer
    # drop escaped backslashes, then escaped quotes: every quote left delimits a string
    if b"\\\\" in data:
        data = data.replace(b"\\\\", b"")
    if b'\\"' in data:
        data = data.replace(b'\\"', b"")
    syntax = np.frombuffer(data.translate(None, _NOT_SYNTAX), np.uint8)  # usually small
    quotes = syntax == _QUOTE
    if quotes.any():  # a bracket is inside a string when an odd number of quotes precede it
        inside = np.cumsum(quotes, dtype=np.uint8) & 1  # (uint8 wraps; parity survives)
        syntax = syntax[~quotes & (inside == 0)]
    depth = peak = 0
    for start in range(0, len(syntax), _CHUNK):
        steps = _OPENS[syntax[start : start + _CHUNK]]
        levels = np.cumsum(steps, dtype=np.int64) + depth
        peak = max(peak, int(levels.max()))
        depth = int(levels[-1])
        if limit is not None and peak > limit:
            break
    return peak


def value_depth(value: Any, limit: int) -> int:
    """Nesting depth of a parsed JSON value (objects and arrays; ``0`` for a scalar), found
    without recursion and without looking deeper than ``limit + 1`` levels."""
    peak = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, Mapping):
            children: Any = v.values()
        elif isinstance(v, list | tuple):
            children = v
        else:
            continue
        d += 1
        peak = max(peak, d)
        if peak > limit:
            return peak
        stack.extend((c, d) for c in children if isinstance(c, Mapping | list | tuple))
    return peak


def may_hold_lone_surrogate(body: bytes) -> bool:
    """Whether the JSON text ``body`` may hold a lone surrogate, as an escape or as the
    bytes Python's parser lets through (``json.loads`` decodes bytes with
    ``surrogatepass``); a fast, C-speed test: false alarms possible, misses impossible."""
    if b"\\u" in body and _LONE_ESCAPE.search(body) is not None:
        return True
    return b"\xed" in body and _SURROGATE_BYTES.search(body) is not None


def _nodes(value: Any, field: str) -> Iterator[tuple[str, str, Any]]:
    """``(path, kind, item)`` for every object key (``kind`` "key", path of its object) and
    every scalar (``kind`` "value"), depth first in document order, without recursion."""
    stack: list[tuple[Any, str]] = [(value, field)]
    while stack:
        v, path = stack.pop()
        if isinstance(v, Mapping):
            items = list(v.items())
            for k, _ in items:
                yield path or "value", "key", k
            stack.extend((c, f"{path}.{k}" if path else str(k)) for k, c in reversed(items))
        elif isinstance(v, list | tuple):
            stack.extend((c, f"{path}[{i}]") for i, c in reversed(list(enumerate(v))))
        else:
            yield path or "value", "value", v


def lone_surrogate_path(value: Any, field: str = "") -> tuple[str, str] | None:
    """``(path, what)`` of the first string (or object key) in ``value`` that holds a lone
    surrogate, or ``None``; ``path`` extends ``field`` in the engine's style, and ``what``
    shows the offending string with the surrogate written as an escape (safe to print)."""
    for path, kind, item in _nodes(value, field):
        if isinstance(item, str) and _SURROGATE.search(item):
            return path, f"the {'key' if kind == 'key' else 'string'} '{printable(item)}'"
    return None


def may_hold_wide_int(text: str) -> bool:
    """Whether the JSON ``text`` may hold an integer outside :data:`INT_RANGE` (a run of 19
    or more digits; false alarms possible, for instance inside strings)."""
    return _WIDE_DIGITS.search(text) is not None


def wide_int_path(value: Any, field: str = "") -> tuple[str, int] | None:
    """``(path, number)`` of the first integer in ``value`` outside :data:`INT_RANGE`."""
    lo, hi = INT_RANGE
    for path, kind, item in _nodes(value, field):
        if kind == "value" and type(item) is int and not lo <= item <= hi:
            return path, item
    return None


def printable(text: str, limit: int = 40) -> str:
    """``text`` with lone surrogates written as ``\\udXXX`` escapes (encodable as UTF-8),
    shortened to about ``limit`` characters."""
    if len(text) > limit:
        m = _SURROGATE.search(text)
        start = max(0, (m.start() if m else 0) - limit // 2)
        end = start + limit
        text = ("..." if start else "") + text[start:end] + ("..." if end < len(text) else "")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def lone_surrogate_reason(text: str) -> str:
    """The error reason for a string holding a lone surrogate."""
    return (
        f"{text} holds a lone UTF-16 surrogate, which is not valid Unicode "
        "(escape characters outside the BMP as a surrogate pair, or send UTF-8)"
    )
