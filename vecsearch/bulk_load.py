"""Loading validated rows into a new collection opened in bulk mode: the shared inner loop of
``vecsearch build`` (:mod:`vecsearch.build`) and of the distributed build's shard tasks
(:mod:`vecsearch.cluster.build`).

Both cores work: a background thread writes each batch to SQLite while the caller's thread
adds it to the index (the index kernels release the GIL). The whole load is the store's
write 1; labels are handed out in arrival order from 0.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from vecsearch.collection import Collection
from vecsearch.errors import ValidationError
from vecsearch.sparse_space import encode, text_meta
from vecsearch.text.bm25 import TextStats


class BulkLoader:
    """Adds batches of rows to ``coll`` (created with ``bulk=True``, no readers yet).

    Call :meth:`add` per batch, then :meth:`finish` (index saved, store durable) or
    :meth:`abort` (waits for the store thread; the caller removes the directory)."""

    def __init__(self, coll: Collection) -> None:
        self.coll = coll
        self.store = coll.store
        self.sid = coll.space("").config.id
        self.store.seq = 1  # the whole build is one write
        self.done = 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vecsearch-build-store")
        self._pending: Future | None = None

    def use_trained(self, index: Any, using: str = "") -> None:
        """Make ``index`` (trained elsewhere, holding no vectors) the space's index, so
        that every row added is encoded with the shared model (distributed build)."""
        space = self.coll.space(using, "vector")
        if self.done or space.count:
            raise ValidationError("index", "a trained index must be installed before any row")
        if int(index.ntotal) != 0 or int(index.dim) != space.config.size:
            raise ValidationError("index", "the trained index must be empty and of the same dim")
        space.index = index
        space.ready = True
        space.epoch += 1

    def add(
        self,
        vecs: np.ndarray,
        keys: list[bytes],
        payloads: list[str],
        sparse: tuple[str, list[int], list[Any]] | None = None,
    ) -> np.ndarray:
        """Store and index one batch (``vecs`` validated float32 ``(n, dim)``, storage keys,
        payload JSON texts; ``sparse``: ``(space, row offsets in the batch, vectors)``).
        Returns the batch's labels."""
        n = len(keys)
        labels = np.arange(self.done, self.done + n, dtype=np.int64)
        lab = labels.tolist()
        rows = list(zip(lab, keys, payloads, strict=True))
        vectors: dict[int, list] = {
            self.sid: list(zip(lab, (v.tobytes() for v in vecs), strict=True))
        }
        sparse_labels = None
        if sparse is not None:
            name, offsets, svecs = sparse
            sparse_labels = [self.done + i for i in offsets]
            sparse_id = self.coll.space(name, "sparse").config.id
            pairs = zip(sparse_labels, svecs, strict=True)
            vectors[sparse_id] = [(lb, encode(v)) for lb, v in pairs]
        if self._pending is not None:
            self._pending.result()
        self._pending = self._pool.submit(self.store.bulk_insert, rows, vectors)
        self.coll.bulk_index_add(vecs, labels)
        if sparse is not None and sparse_labels:
            self.coll.bulk_index_add(sparse[2], np.asarray(sparse_labels, np.int64), sparse[0])
        self.done += n
        return labels

    def finish(self, text: tuple[str, TextStats] | None = None) -> None:
        """Wait for the last batch, record the counters, save the index, make the store
        durable and close the collection."""
        self._wait()
        self.store.next_label = self.done
        self.store.set_meta({"seq": 1, "next_label": self.done})
        if text is not None:
            name, stats = text
            self.store.set_meta(text_meta(1, stats))
            self.coll.spaces[name].text_stats = stats  # type: ignore[union-attr]
        self.coll.save_index()
        self.store.make_durable()
        self.coll.close(save_index=False)

    def abort(self) -> None:
        """Stop after a failure: the store thread may still be inside a transaction, so it
        finishes before the collection is closed (closing under it crashed SQLite)."""
        self._pool.shutdown(wait=True)
        self.coll.close(save_index=False)

    def _wait(self) -> None:
        if self._pending is not None:
            self._pending.result()
            self._pending = None
        self._pool.shutdown(wait=True)
