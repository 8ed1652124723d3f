"""Result records of a collection's reads: Qdrant's ``Record`` (retrieve, scroll) and
``ScoredPoint`` (search, query) from store rows, with the selected payload and vectors.

A point's row and its selected vectors are read by one statement (:meth:`Store.rows`), so
they come from one snapshot even while writes commit. Points deleted after a search saw them
are left out. Vectors come back as stored (float32 arrays): the unnamed vector itself for
collections created with the unnamed form, else ``{name: vector}`` of the selected vectors
the point has (also for a collection of the unnamed form that has sparse vectors, whose
unnamed vector is then ``""``, except that a point with only its unnamed vector selected gets
the vector itself, as in Qdrant and qdrant-client's local mode). Sparse vectors come back as
``{"indices", "values"}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vecsearch.ids import key_to_id
from vecsearch.models import PayloadSelector, Record, ScoredPoint, VectorSelector
from vecsearch.space import VectorSpace
from vecsearch.sparse_space import SparseSpace
from vecsearch.store import Store


class RecordReader:
    """Builds records for one collection (its store, spaces and vector form)."""

    def __init__(
        self, store: Store, spaces: Mapping[str, VectorSpace | SparseSpace], named: bool
    ) -> None:
        self.store = store
        self.spaces = spaces
        self.named = named

    def _rows(
        self, labels: Sequence[int], wv: VectorSelector
    ) -> tuple[dict, list[VectorSpace | SparseSpace]]:
        wanted = [s for s in self.spaces.values() if wv.wants(s.name)]
        return self.store.rows(labels, [s.config.id for s in wanted]), wanted

    def _vector(
        self, row: tuple, wanted: list[VectorSpace | SparseSpace], wv: VectorSelector
    ) -> Any:
        if not wv.enabled:
            return None
        blobs = row[4:]
        if not self.named and all(s.name == "" for s in wanted):
            blob = blobs[0] if blobs else None
            return None if blob is None else wanted[0].decode(blob)
        out = {s.name: s.decode(b) for s, b in zip(wanted, blobs, strict=True) if b is not None}
        if not self.named and set(out) == {""}:
            return out[""]  # only the unnamed vector: itself, as Qdrant and local mode answer
        return out

    def records(
        self, labels: Sequence[int], sel: PayloadSelector, wv: VectorSelector
    ) -> list[Record]:
        """Records of ``labels`` in the given order (missing labels left out)."""
        rows, wanted = self._rows(labels, wv)
        out = []
        for lab in labels:
            row = rows.get(lab)
            if row is not None:
                out.append(
                    Record(
                        id=key_to_id(row[1]),
                        payload=sel.apply(json.loads(row[2])) if sel.enabled else None,
                        vector=self._vector(row, wanted, wv),
                    )
                )
        return out

    def hits(
        self,
        labels: np.ndarray,
        scores: np.ndarray,
        relevance: np.ndarray | None,
        sel: PayloadSelector,
        wv: VectorSelector,
        order_values: Sequence[Any] | None = None,
    ) -> list[ScoredPoint]:
        """Scored points of ranked ``labels``, in order (points deleted meanwhile left out);
        ``order_values``: the ``order_value`` of each hit (``order_by`` queries)."""
        lab = labels.tolist()
        rows, wanted = self._rows(lab, wv)
        out = []
        for i, (label, score) in enumerate(zip(lab, scores.tolist(), strict=True)):
            row = rows.get(label)
            if row is None:
                continue
            out.append(
                ScoredPoint(
                    id=key_to_id(row[1]),
                    version=int(row[3]),
                    score=float(score),
                    payload=sel.apply(json.loads(row[2])) if sel.enabled else None,
                    vector=self._vector(row, wanted, wv),
                    relevance=None if relevance is None else float(relevance[i]),
                    order_value=None if order_values is None else order_values[i],
                )
            )
        return out


def scroll_filtered(
    store: Store, mask: np.ndarray, start: bytes | None, want: int, sort_limit: int
) -> list[tuple[int, bytes]]:
    """Up to ``want`` ``(label, key)`` of the points in ``mask``, in id order from ``start``:
    by sorting their ids when at most ``sort_limit`` pass, else by paging through the id
    order and keeping the allowed ones."""
    card = int(mask.sum())
    if card <= sort_limit:
        keys = store.pids(np.flatnonzero(mask).tolist())
        pairs = sorted(
            ((lab, k) for lab, k in keys.items() if start is None or k >= start),
            key=lambda t: t[1],
        )
        return pairs[:want]
    out: list[tuple[int, bytes]] = []
    page = max(256, 4 * want)
    cursor = start
    while len(out) < want:
        batch = store.scroll_keys(cursor, page + (cursor is not None and cursor != start))
        if cursor is not None and cursor != start:
            batch = batch[1:]  # the cursor row itself was already seen
        if not batch:
            break
        out.extend((lab, k) for lab, k in batch if lab < len(mask) and mask[lab])
        if len(batch) < page:
            break
        cursor = batch[-1][1]
    return out[:want]
