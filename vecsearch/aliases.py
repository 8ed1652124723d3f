"""Collection aliases: other names under which a collection answers (Qdrant's aliases).

An alias maps a name to a collection; every operation that takes a collection name accepts
an alias instead (:meth:`vecsearch.database.Database.get_collection` resolves it). The
mapping is one small JSON file, ``DIR/aliases.json`` (``{"aliases": {alias: collection}}``),
rewritten atomically on every change (temporary file, fsync, rename, fsync of the
directory): after a crash it holds either the old mapping or the new one.

Rules, as Qdrant's server applies them (``update_aliases`` in
lib/storage/src/content_manager/toc/collection_meta_ops.rs, ``resolve_name`` in toc/mod.rs):

* ``create_alias``: the target must be a collection, not an alias (404 otherwise); the alias
  must not be the name of a collection (409, "Collection `x` already exists!": the server's
  ``validate_collection_not_exists`` is a StorageError::AlreadyExists, and Qdrant's own
  tests/openapi/test_alias.py expects 409); an alias of the same name is re-pointed;
* ``delete_alias``: removing an alias that does not exist is not an error;
* ``rename_alias``: the old alias must exist (404); an alias called like the new name is
  replaced;
* a name is resolved as an alias first, then as a collection; deleting a collection deletes
  its aliases; a collection cannot be created under an alias's name (400).

Deliberate deviations (both as qdrant-client's local mode does, which our congruence tests
compare with): a request's actions apply all or nothing (Qdrant's server applies and saves
them one by one, so a failing action leaves the earlier ones applied), and ``rename_alias``
refuses a new name that is a collection's (the server accepts it, and the alias then shadows
the collection).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vecsearch.errors import (
    AliasNotFoundError,
    CollectionExistsError,
    CollectionNotFoundError,
    StorageError,
    ValidationError,
)
from vecsearch.index_files import fsync_dir

FILE_NAME = "aliases.json"
_KINDS = {
    "create_alias": ("collection_name", "alias_name"),
    "delete_alias": ("alias_name",),
    "rename_alias": ("old_alias_name", "new_alias_name"),
}


@dataclass(frozen=True)
class AliasAction:
    """One parsed alias operation: ``kind`` is a key of Qdrant's operation object."""

    kind: str
    args: dict[str, str]
    field: str


def parse_actions(
    body: Any, check_name: Callable[[Any, str], str] | None = None
) -> list[AliasAction]:
    """Qdrant's ``{"actions": [{"create_alias": {...}}, ...]}`` -> actions (errors name the
    field, e.g. ``actions[1].rename_alias.new_alias_name``); ``check_name(value, field)``
    validates every name (collection-name rules)."""
    if not isinstance(body, Mapping) or set(body) - {"actions"}:
        extra = sorted(set(body) - {"actions"}) if isinstance(body, Mapping) else []
        raise ValidationError(extra[0] if extra else "", 'expected {"actions": [...]}')
    raw = body.get("actions")
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise ValidationError("actions", "expected a list of alias operations")
    out = []
    for i, op in enumerate(raw):
        field = f"actions[{i}]"
        if not isinstance(op, Mapping) or len(op) != 1 or next(iter(op)) not in _KINDS:
            raise ValidationError(
                field, "expected one of {create_alias}, {delete_alias}, {rename_alias}"
            )
        kind, spec = next(iter(op.items()))
        field = f"{field}.{kind}"
        if not isinstance(spec, Mapping):
            raise ValidationError(field, "expected an object")
        extra = set(spec) - set(_KINDS[kind])
        if extra:
            raise ValidationError(f"{field}.{sorted(extra)[0]}", "unknown field")
        args = {}
        for key in _KINDS[kind]:
            value = spec.get(key)
            if not isinstance(value, str):
                why = "missing" if value is None else "expected a string"
                raise ValidationError(f"{field}.{key}", why)
            args[key] = check_name(value, f"{field}.{key}") if check_name else value
        out.append(AliasAction(kind, args, field))
    return out


class AliasStore:
    """The alias mapping of one data directory (thread-safe; reads take no lock)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory) / FILE_NAME
        self._lock = threading.Lock()
        self._map: dict[str, str] = self._load()

    def _load(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text("utf-8"))
            return {str(k): str(v) for k, v in dict(data["aliases"]).items()}
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise StorageError(f"{self.path} is not a readable alias file: {exc}") from exc

    def _save(self, mapping: dict[str, str]) -> None:
        tmp = self.path.with_name(f".{FILE_NAME}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"aliases": mapping}, f, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        fsync_dir(self.path.parent)

    # -- reads (no lock: the mapping is replaced whole, never mutated in place) -----------------
    def get(self, alias: str) -> str | None:
        """The collection ``alias`` points at, or None."""
        return self._map.get(alias)

    def all(self) -> list[tuple[str, str]]:
        """``(alias, collection)`` pairs sorted by alias."""
        return sorted(self._map.items())

    def of(self, collection: str) -> list[str]:
        """Aliases of ``collection``, sorted (none for an unknown name, as in Qdrant)."""
        return sorted(a for a, c in self._map.items() if c == collection)

    # -- changes -------------------------------------------------------------------------------
    def apply(self, actions: Sequence[AliasAction], is_collection: Callable[[str], bool]) -> None:
        """Apply ``actions`` in order, all or nothing, then save (see module docstring)."""
        with self._lock:
            new = dict(self._map)
            for act in actions:
                a = act.args
                if act.kind == "create_alias":
                    target, alias = a["collection_name"], a["alias_name"]
                    if not is_collection(target):
                        raise CollectionNotFoundError(f"Collection `{target}` doesn't exist!")
                    if is_collection(alias):  # Qdrant: StorageError::AlreadyExists, 409
                        raise CollectionExistsError(
                            f"{act.field}.alias_name: Collection `{alias}` already exists!"
                        )
                    new[alias] = target
                elif act.kind == "delete_alias":
                    new.pop(a["alias_name"], None)
                else:
                    old, name = a["old_alias_name"], a["new_alias_name"]
                    if old not in new:
                        raise AliasNotFoundError(f"Alias {old} does not exists!")
                    if is_collection(name):
                        raise ValidationError(
                            f"{act.field}.new_alias_name", f"Collection `{name}` already exists!"
                        )
                    new[name] = new.pop(old)
            if new != self._map:
                self._save(new)
                self._map = new

    def drop_collection(self, collection: str) -> None:
        """Delete every alias of ``collection`` (it is being deleted)."""
        with self._lock:
            new = {a: c for a, c in self._map.items() if c != collection}
            if new != self._map:
                self._save(new)
                self._map = new
