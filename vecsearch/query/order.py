"""Queries that rank by something other than a vector: ``order_by`` (payload order),
``sample: "random"`` and the filter-only query (id order).

``order_by`` follows Qdrant's semantics: every value at ``key`` (numbers; RFC 3339
date-times, which order as microseconds since the epoch; other values are skipped) puts the
point in the order once per distinct value, so a point with ``[1, 5]`` appears twice;
``start_from`` is inclusive; ties are broken by point id (ascending in both directions).
With an integer, float or datetime payload index on ``key`` the order comes from the index
(its values: an integer index holds no floats, as on Qdrant's server), sorted with numpy;
without one (Qdrant's server refuses the query then, local mode does not) the values are
read from the payloads of the allowed points, which costs a payload read per point.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np

from vecsearch.datetimes import parse_datetime
from vecsearch.errors import ValidationError
from vecsearch.ids import key_to_id
from vecsearch.models import PayloadSelector, Record, VectorSelector
from vecsearch.payload_path import iter_leaf_values, parse_path
from vecsearch.query.model import OrderBy
from vecsearch.records import RecordReader, scroll_filtered
from vecsearch.store import Store

#: Filters allowing at most this many points are scanned by sorting their ids.
SORT_LIMIT = 20_000


def datetime_micros(value: str) -> int | None:
    """Microseconds since the epoch of a date-time string in the formats Qdrant reads
    (:func:`vecsearch.datetimes.parse_datetime`, as filters use), or None when it is not
    one (a float64 timestamp rounds back to the exact microsecond for centuries around now)."""
    t = parse_datetime(value)
    return None if t is None else round(t * 1_000_000)


def order_value(value: Any) -> int | float | None:
    """The order value of a payload value (Qdrant's ``OrderValue``), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value  # (np.isfinite fails on integers beyond 64 bits)
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, str):
        return datetime_micros(value)
    return None


def parse_start(value: Any, field: str) -> int | float | None:
    """A checked ``start_from``: a number or an RFC 3339 date-time."""
    if value is None:
        return None
    out = order_value(value)
    if out is None:
        raise ValidationError(field, f"expected a number or an RFC 3339 date-time, got {value!r}")
    if isinstance(out, int) and not -(2**63) <= out < 2**63:
        raise ValidationError(field, f"integer {out} is outside the 64-bit range")
    return out


def ordered(
    store: Store, allowed: np.ndarray, order: OrderBy, want: int, index: Any = None
) -> tuple[np.ndarray, np.ndarray, list[int | float]]:
    """The first ``want`` ``(labels, id keys, order values)`` of the allowed labels in
    ``order``. ``index``: a payload index on the key that can order (integer, float,
    datetime): its values are used, as Qdrant's server orders by the index (an integer
    index holds no floats); without one, every number and date-time at the key counts, read
    from the payloads (local mode's semantics)."""
    entries: list[tuple[int | float, bytes, int]] = []

    def add(lab: int, key: bytes, values: Any) -> None:
        seen: set[int | float] = set()
        for ov in values:
            if ov is None or ov in seen:
                continue
            if order.start_from is not None and (
                ov > order.start_from if order.descending else ov < order.start_from
            ):
                continue
            seen.add(ov)
            entries.append((ov, key, lab))

    labels = allowed.tolist()
    if index is not None:
        lab_arr, val_arr = index.order_pairs(allowed)
        if order.start_from is not None:
            s = float(order.start_from)
            keep = val_arr <= s if order.descending else val_arr >= s
            lab_arr, val_arr = lab_arr[keep], val_arr[keep]
        # only the first ``want`` and those tied with the last need their exact values and
        # id keys (the tie-breakers)
        rank = np.argsort(-val_arr if order.descending else val_arr, kind="stable")
        if rank.size > want:
            last = val_arr[rank[want - 1]]
            rank = rank[: want + int(np.count_nonzero(val_arr[rank[want:]] == last))]
        chosen = lab_arr[rank]
        keys = store.pids(list(dict.fromkeys(chosen.tolist())))
        for lab in dict.fromkeys(chosen.tolist()):
            if lab in keys:
                vals = [v for v in index.order_values(lab) if _ranked(v, val_arr[rank])]
                add(lab, keys[lab], vals)
    else:
        path = parse_path(order.key, "order_by.key")
        for s in range(0, len(labels), 4096):
            rows = store.rows(labels[s : s + 4096])
            for lab, row in rows.items():
                payload = json.loads(row[2]) if row[2] else {}
                add(lab, row[1], (order_value(v) for v in iter_leaf_values(payload, path)))
    # ties by id key ascending whatever the direction: sort by key, then stably by value
    entries.sort(key=lambda e: e[1])
    entries.sort(key=lambda e: e[0], reverse=order.descending)
    top = entries[:want]
    return (
        np.asarray([e[2] for e in top], dtype=np.int64),
        np.asarray([e[1] for e in top], dtype=object),
        [e[0] for e in top],
    )


def _ranked(value: int | float, chosen: np.ndarray) -> bool:
    """Whether an exact value is among the float values chosen (a point's other values may
    rank beyond the cut)."""
    return bool(np.any(chosen == float(value)))


def id_order(store: Store, allowed: np.ndarray, alive: int, want: int) -> np.ndarray:
    """The first ``want`` allowed labels in id order (``alive``: how many live points there
    are, to choose between sorting the allowed ids and paging through the id order)."""
    if allowed.size == alive:
        return np.asarray([lab for lab, _ in store.scroll_keys(None, want)], dtype=np.int64)
    mask = np.zeros(int(allowed.max()) + 1 if allowed.size else 0, dtype=bool)
    mask[allowed] = True
    pairs = scroll_filtered(store, mask, None, want, SORT_LIMIT)
    return np.asarray([lab for lab, _ in pairs], dtype=np.int64)


def sample(allowed: np.ndarray, want: int, rng: np.random.Generator) -> np.ndarray:
    """``want`` distinct allowed labels in random order."""
    if allowed.size <= want:
        return rng.permutation(allowed)
    return rng.choice(allowed, size=want, replace=False)


def scroll_ordered(
    store: Store,
    records: RecordReader,
    allowed: np.ndarray,
    order: OrderBy,
    limit: int,
    sel: PayloadSelector,
    wv: VectorSelector,
    index: Any = None,
) -> list[Record]:
    """The first ``limit`` records of a scroll with ``order_by`` (each with its
    ``order_value``; a point with several values appears once per value)."""
    labels, keys, values = ordered(store, allowed, order, limit, index)
    found = iter(records.records(labels.tolist(), sel, wv))
    out: list[Record] = []
    rec = next(found, None)
    for key, value in zip(keys.tolist(), values, strict=True):
        if rec is None:
            break
        if rec.id == key_to_id(key):  # points deleted since they were ordered are missing
            out.append(replace(rec, order_value=value))
            rec = next(found, None)
    return out
