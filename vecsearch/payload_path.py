"""Payload key paths, as Qdrant reads them: ``a.b``, ``a[].b``, ``a[0]``, ``"dotted.key".c``.

A path starts with a key and continues with ``.key``, ``[]`` (every element of an array) or
``[n]`` (one element). Reading follows Qdrant's rules:

* a key step applies to objects only (a key step on an array yields nothing: use ``[]``);
* ``[]`` on an array yields each element, ``[n]`` the n-th if it exists;
* the values at the end of the path are returned as they are (a leaf array is one value;
  conditions then look inside it one level, see :mod:`vecsearch.filters`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from vecsearch.errors import ValidationError
from vecsearch.json_limits import lone_surrogate_reason, printable

#: One path step: ("key", name) | ("index", n) | ("all", None)
Step = tuple[str, Any]

_SURROGATE = re.compile("[\ud800-\udfff]")
_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|([^.\[\]"]+)|\[(\d*)\]|(\.)')


@lru_cache(maxsize=4096)
def _parse(key: str) -> tuple[Step, ...] | str:
    steps: list[Step] = []
    pos = 0
    expect_key = True
    while pos < len(key):
        m = _TOKEN.match(key, pos)
        if not m:
            return f"unexpected character {key[pos]!r} at position {pos}"
        quoted, bare, index, dot = m.groups()
        if dot is not None:
            if expect_key:
                return f"empty key before '.' at position {pos}"
            expect_key = True
        elif index is not None:
            if expect_key:
                return f"'[' must follow a key, at position {pos}"
            steps.append(("all", None) if index == "" else ("index", int(index)))
        else:
            if not expect_key:
                return f"missing '.' before key at position {pos}"
            name = quoted.replace('\\"', '"') if quoted is not None else bare
            if not name:
                return "empty key"
            steps.append(("key", name))
            expect_key = False
        pos = m.end()
    if not steps or expect_key:
        return "path is empty or ends with '.'"
    return tuple(steps)


def parse_path(
    key: Any, field: str = "key", error: type[ValidationError] = ValidationError
) -> tuple[Step, ...]:
    """Parse a payload path, raising ``error`` (a :class:`ValidationError`) naming ``field``."""
    if not isinstance(key, str):
        raise error(field, f"expected a payload key string, got {key!r}")
    if _SURROGATE.search(key):
        raise error(field, lone_surrogate_reason(f"the key '{printable(key)}'"))
    parsed = _parse(key)
    if isinstance(parsed, str):
        raise error(field, f"malformed payload key {key!r}: {parsed}")
    return parsed


def get_values(payload: dict[str, Any], path: tuple[Step, ...]) -> list[Any]:
    """Values found at ``path`` in ``payload`` (possibly none)."""
    out: list[Any] = []
    _collect(payload, path, 0, out)
    return out


def _collect(value: Any, path: tuple[Step, ...], i: int, out: list[Any]) -> None:
    if i == len(path):
        out.append(value)
        return
    kind, arg = path[i]
    if kind == "key":
        if isinstance(value, dict) and arg in value:
            _collect(value[arg], path, i + 1, out)
    elif isinstance(value, list):
        if kind == "all":
            for item in value:
                _collect(item, path, i + 1, out)
        elif arg < len(value):
            _collect(value[arg], path, i + 1, out)


def iter_leaf_values(payload: dict[str, Any], path: tuple[Step, ...]) -> Iterator[Any]:
    """Values at ``path`` with leaf arrays opened one level (what match/range conditions see)."""
    for v in get_values(payload, path):
        if isinstance(v, list):
            yield from v
        else:
            yield v


def set_at(payload: dict[str, Any], path: tuple[Step, ...], value: Any) -> None:
    """Merge object ``value`` into the object at ``path`` (keys only), creating objects."""
    target: Any = payload
    for kind, arg in path:
        if kind != "key":
            raise ValidationError("key", "setting payload under an array index is not supported")
        nxt = target.get(arg)
        if not isinstance(nxt, dict):
            nxt = {}
            target[arg] = nxt
        target = nxt
    target.update(value)


def delete_at(payload: dict[str, Any], path: tuple[Step, ...]) -> None:
    """Remove whatever ``path`` addresses (every match for ``[]`` paths); missing is fine."""
    _delete(payload, path, 0)


def _delete(value: Any, path: tuple[Step, ...], i: int) -> None:
    kind, arg = path[i]
    last = i == len(path) - 1
    if kind == "key":
        if isinstance(value, dict) and arg in value:
            if last:
                del value[arg]
            else:
                _delete(value[arg], path, i + 1)
    elif isinstance(value, list):
        if kind == "all":
            if last:
                value.clear()
            else:
                for item in value:
                    _delete(item, path, i + 1)
        elif arg < len(value):
            if last:
                del value[arg]
            else:
                _delete(value[arg], path, i + 1)
