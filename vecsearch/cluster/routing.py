"""Which shard holds a point: a stable hash of its id, and Qdrant's custom shard keys.

Pure (no Ray): the cluster collection, the bulk build and the tests share it.

A point id is canonicalised as :func:`vecsearch.ids.parse_point_id` does (an ``int`` or a
lowercase hyphenated UUID, so ``"550E8400-..."`` and ``uuid.UUID(...)`` route alike) and
hashed through its storage key (:func:`vecsearch.ids.id_key`) with MurmurHash3 (x64, 128
bits, seed 0; ``mmh3`` is a core dependency), never with Python's ``hash`` (salted per
process). The 64-bit hash picks a shard with jump consistent hashing (Lamping & Veach,
2014): the same id always lands on the same shard for a given shard count, in every process
and after restarts, and growing from ``n`` to ``n + 1`` shards moves only ``1 / (n + 1)`` of
the points (what a future resharding needs).

Custom sharding (Qdrant's ``sharding_method: "custom"``): every shard key (a string or an
integer, as Qdrant's ``ShardKey``) owns its own set of shards; a point written with a key goes
to one shard of that set (by the same id hash), and a read naming keys goes only to their
shards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import mmh3

from vecsearch.errors import ValidationError
from vecsearch.ids import PointId, id_key, parse_point_id

ShardKey = str | int

_JUMP_MUL = 2862933555777941757
_U64 = (1 << 64) - 1


def point_hash(pid: Any) -> int:
    """The stable unsigned 64-bit hash of point id ``pid`` (any form the engine accepts)."""
    return key_hash(id_key(parse_point_id(pid)))


def key_hash(key: bytes) -> int:
    """:func:`point_hash` of the point whose storage key is ``key``."""
    return mmh3.hash64(key, 0, signed=False)[0]


def jump_hash(key: int, buckets: int) -> int:
    """Jump consistent hash of the unsigned 64-bit ``key`` into ``0 .. buckets - 1``."""
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * _JUMP_MUL + 1) & _U64
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def shard_of(pid: Any, shard_number: int) -> int:
    """The shard (``0 .. shard_number - 1``) of point ``pid`` in an automatically sharded
    collection."""
    return jump_hash(point_hash(pid), shard_number)


def check_shard_key(value: Any, field: str = "shard_key") -> ShardKey:
    """A shard key as Qdrant accepts it: a string or a non-negative integer."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationError(field, "a shard key must be a string or an integer")
    if isinstance(value, int) and value < 0:
        raise ValidationError(field, "an integer shard key must not be negative")
    return value


class ShardRouter:
    """Maps point ids (and shard keys) to shard numbers for one collection.

    ``shard_number`` shards are the automatic ones (``0 .. shard_number - 1``), used when
    ``shard_keys`` is empty. With ``shard_keys`` (``{key: number of shards}``), shards are
    numbered key by key in the mapping's order and every write must name a key.
    """

    def __init__(self, shard_number: int, shard_keys: Mapping[ShardKey, int] | None = None):
        if shard_keys:
            self.custom = True
            self.key_shards: dict[ShardKey, tuple[int, ...]] = {}
            nxt = 0
            for key, count in shard_keys.items():
                check_shard_key(key, "shard_keys")
                if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                    raise ValidationError(f"shard_keys.{key}", "expected a shard count >= 1")
                self.key_shards[key] = tuple(range(nxt, nxt + count))
                nxt += count
            self.shard_number = nxt
        else:
            if not isinstance(shard_number, int) or isinstance(shard_number, bool):
                raise ValidationError("shard_number", "expected an integer")
            if shard_number < 1:
                raise ValidationError("shard_number", "must be at least 1")
            self.custom = False
            self.key_shards = {}
            self.shard_number = shard_number

    def _key_set(self, key: Any, field: str) -> tuple[int, ...]:
        key = check_shard_key(key, field)
        try:
            return self.key_shards[key]
        except KeyError:
            raise ValidationError(field, f"shard key {key!r} does not exist") from None

    def shard(self, pid: Any, shard_key: Any = None) -> int:
        """The shard point ``pid`` is written to (``shard_key`` required in custom mode and
        refused otherwise, as Qdrant does)."""
        if not self.custom:
            if shard_key is not None:
                raise ValidationError("shard_key", "the collection has no custom shard keys")
            return shard_of(pid, self.shard_number)
        if shard_key is None:
            raise ValidationError("shard_key", "custom sharding: every write needs a shard key")
        shards = self._key_set(shard_key, "shard_key")
        return shards[jump_hash(point_hash(pid), len(shards))]

    def group(self, ids: Iterable[Any], shard_key: Any = None) -> dict[int, list[int]]:
        """Positions of ``ids`` by shard (``{shard: [position, ...]}``, positions ascending)."""
        out: dict[int, list[int]] = {}
        for i, pid in enumerate(ids):
            out.setdefault(self.shard(pid, shard_key), []).append(i)
        return out

    def read_shards(self, shard_key: Any = None) -> list[int]:
        """The shards a read (or a write by filter) goes to: every shard, or the shards of
        the named key(s) (``shard_key``: one key or a list of keys)."""
        if shard_key is None:
            return list(range(self.shard_number))
        if not self.custom:
            raise ValidationError("shard_key", "the collection has no custom shard keys")
        keys: Sequence[Any] = shard_key if isinstance(shard_key, list) else [shard_key]
        found: dict[int, None] = {}
        for i, key in enumerate(keys):
            field = f"shard_key[{i}]" if isinstance(shard_key, list) else "shard_key"
            found.update(dict.fromkeys(self._key_set(key, field)))
        return sorted(found)


def canonical_ids(ids: Iterable[Any], field: str = "ids") -> list[PointId]:
    """Canonical forms of ``ids`` (errors name ``field[i]``)."""
    return [parse_point_id(v, f"{field}[{i}]") for i, v in enumerate(ids)]
