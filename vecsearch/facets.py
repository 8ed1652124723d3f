"""Facet counts (Qdrant's ``POST /collections/{name}/facet``): how many points (passing a
filter) hold each value of a payload key.

As on Qdrant's server, the key needs a payload index of type ``keyword``, ``integer``,
``bool`` or ``uuid`` (400 otherwise), and the values counted are those the index holds:
values of the index's type at the key's path (array elements included). A point counts
once per distinct value it has. Hits are ordered by count (descending), then value
(ascending), and cut at ``limit`` (default 10).

Counts are always exact (``exact`` is accepted: Qdrant may approximate without it; the
answer is then the same or better). qdrant-client's local mode needs no index and counts
values of any of the three types; with an index of the right type both agree.

Counting reads the index's postings (value -> labels): without a filter a count is a
posting's size, with one it is the posting's overlap with the filter's mask.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np

from vecsearch.errors import ValidationError
from vecsearch.filters import parse_filter
from vecsearch.payload_index import PayloadIndex
from vecsearch.payload_path import parse_path
from vecsearch.validate import check_int

#: Payload index types a facet can read (Qdrant's server: the same four).
FACET_INDEX_TYPES = ("keyword", "integer", "bool", "uuid")


@dataclass(frozen=True)
class FacetHit:
    """Qdrant's ``FacetValueHit``."""

    value: str | int | bool
    count: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"value": self.value, "count": self.count}


def _value(schema: str, key: Any) -> str | int | bool:
    """A facet value from a posting key of the index (see vecsearch.payload_index: bools
    are keyed ``("b", value)``, uuids by their 128-bit integer)."""
    if isinstance(key, tuple):
        return key[1]
    if schema == "uuid":
        return str(uuid.UUID(int=key))
    return key


def facet(
    coll: Any, key: Any, filter: Any = None, limit: Any = None, exact: Any = None
) -> list[FacetHit]:
    """The facet of payload ``key`` over the points of ``coll`` passing ``filter``."""
    parse_path(key, "key")
    flt = parse_filter(filter, "filter")
    limit = 10 if limit is None else check_int(limit, "limit", minimum=1)
    if exact is not None and not isinstance(exact, bool):
        raise ValidationError("exact", f"expected a bool, got {exact!r}")
    with coll.reading():
        idx = coll._state.pindexes.get(key)
        if not isinstance(idx, PayloadIndex) or idx.schema not in FACET_INDEX_TYPES:
            types = ", ".join(FACET_INDEX_TYPES)
            raise ValidationError(
                "key",
                f'Index required but not found for "{key}" of one of the following types: '
                f"[{types}]. Help: Create an index for this key.",
            )
        mask = None if flt is None else coll.filter_mask(flt)
        counts: list[tuple[Any, int]] = []
        for pkey, labels in idx._postings.items():
            if mask is None:
                n = len(labels)
            else:
                arr = np.fromiter(labels, dtype=np.int64, count=len(labels))
                n = int(mask[arr[arr < mask.shape[0]]].sum())
            if n:
                counts.append((_value(idx.schema, pkey), n))
    counts.sort(key=lambda vc: (-vc[1], vc[0]))
    return [FacetHit(v, n) for v, n in counts[:limit]]
