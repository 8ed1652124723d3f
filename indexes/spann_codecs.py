"""SPANN record codecs: what a posting record holds, and how a query scores it.

One class per record layout, chosen once when the index is built (``codec=`` of
:class:`indexes.spann.SPANNIndex`), all with the same methods: the record size, encoding
vectors into records, scanning a posting's records into a query's heap, rescoring the heap,
reading stored float vectors back, and the codec's own files and arrays. The index's
algorithm (:mod:`indexes.spann`) never asks which codec it holds.

Every record starts with ``(slot int64, id int64)`` (the id is there so that a search never
reads the slot -> id table), as 32-bit words ``slot low, slot high, id low, id high``.

* :class:`Float32Records` (``"float32"``): then the vector, float32 ``[dim]``: ``16 + 4 * dim``
  bytes. Scores are exact distances.
* :class:`BinaryRecords` (``"binary"``): then ``scale float32, |x^|^2 float32, code
  uint64[ceil(dim / 64)]`` -- 32 bytes at dim 50, 128 at dim 784 -- where the code is the sign
  pattern ``b`` of ``u = x - c`` around the training data's mean ``c``
  (:func:`indexes._kernels.bits.encode_recurrent` with one stage). The float vectors go to a
  second file, ``vectors.bin`` (:class:`indexes.disk_invlists.DiskRows`), which RAM never
  holds. A search scores the float query against the codes through per-query byte lookup
  tables (:func:`indexes._kernels.bits.byte_luts`), keeps the best ``ceil(oversampling * k)``
  and rescores those exactly from their float rows (see :mod:`indexes.spann`'s "Codecs").
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from indexes._kernels.bits import byte_luts, decode_recurrent, encode_recurrent
from indexes._kernels.spann import row_distances, scan_code_records, scan_records
from indexes.disk_invlists import DiskInvertedLists, DiskRows, slots_of
from indexes.errors import IndexFormatError

VECTORS_FILE = "vectors.bin"
#: Empty heap entries' slot: any real record beats it.
EMPTY_SLOT = np.iinfo(np.int64).max

Heap = tuple[np.ndarray, np.ndarray, np.ndarray]  # (distances, slots, ids), a max-heap


class RecordCodec:
    """The interface, and the header words every layout shares. Subclasses set ``name``
    and ``record_words`` and override what their layout needs; the defaults are those of a
    codec that keeps no state and no files besides the postings."""

    name: ClassVar[str] = ""
    #: Whether :meth:`scan` computes exact distances (the records hold the float vectors).
    records_exact: ClassVar[bool] = False

    def __init__(self, dim: int, metric: str, work_dir: str | None) -> None:
        self.dim = dim
        self.metric = metric
        self.work_dir = work_dir
        self.record_words = 4

    @property
    def record_bytes(self) -> int:
        """Bytes of one record (a multiple of 4)."""
        return 4 * self.record_words

    def _header(self, slots: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Records ``(n, record_words)`` uint32 with the slot and id words filled in."""
        rec = np.empty((slots.shape[0], self.record_words), dtype=np.uint32)
        s = slots.astype(np.int64, copy=False)
        rec[:, 0] = (s & 0xFFFFFFFF).astype(np.uint32)
        rec[:, 1] = (s >> 32).astype(np.uint32)
        rec[:, 2] = (ids & 0xFFFFFFFF).astype(np.uint32)
        rec[:, 3] = (ids >> 32).astype(np.uint32)
        return rec

    # -- training and writes -------------------------------------------------------------------
    def train(self, x: np.ndarray) -> None:
        """Learn what the codec needs from (prepared) training vectors."""

    def encode(self, slots: np.ndarray, ids: np.ndarray, vecs: np.ndarray) -> np.ndarray:
        """Records ``(n, record_words)`` uint32 for prepared vectors ``vecs``."""
        raise NotImplementedError

    def store_vectors(self, slots: np.ndarray, vecs: np.ndarray) -> None:
        """Keep the float vectors of ``slots`` outside the postings, if the codec does."""

    # -- search --------------------------------------------------------------------------------
    def query_state(self, q: np.ndarray) -> Any:
        """What :meth:`scan` scores records against, for one prepared query ``q``."""
        return q

    def shortlist(self, k: int, oversampling: float) -> int:
        """Heap size a search keeps while scanning, for ``k`` results."""
        return k

    def scan(
        self,
        state: Any,
        words: np.ndarray,
        floats: np.ndarray,
        metric: int,
        dead: np.ndarray,
        mask: np.ndarray,
        heap: Heap,
    ) -> int:
        """Fold records (``words``/``floats`` view one buffer) into ``heap``; returns how
        many were scored."""
        raise NotImplementedError

    def rescore(self, q: np.ndarray, metric: int, heap: Heap, stats: np.ndarray) -> None:
        """Turn the heap's scores into exact distances (adding the reads to ``stats``)."""

    # -- stored vectors ------------------------------------------------------------------------
    def vectors_of(self, rec: np.ndarray) -> np.ndarray:
        """Float vectors ``(n, dim)`` of records ``rec`` (``uint32`` words)."""
        raise NotImplementedError

    def read_slots(self, lists: DiskInvertedLists, slots: np.ndarray) -> np.ndarray:
        """Float vectors ``(n, dim)`` of live ``slots``, in the given order (``get_vectors``,
        exact scans)."""
        raise NotImplementedError

    # -- state and files -----------------------------------------------------------------------
    def open_work(self) -> None:
        """Start the codec's files afresh (a new index's heads were just chosen)."""

    def arrays(self) -> dict[str, np.ndarray]:
        """Arrays ``save`` writes for the codec."""
        return {}

    def files(self) -> tuple[str, ...]:
        """Files the codec keeps next to ``postings.bin``."""
        return ()

    def save_files(self, directory: Path, n_slots: int) -> None:
        """Write the codec's files into ``directory`` (fsynced)."""

    def open_saved(self, arrays: dict[str, np.ndarray], directory: Path, n_slots: int) -> None:
        """Restore the codec's state from saved arrays and read its files in ``directory``."""

    def make_writable(self, n_slots: int) -> None:
        """Make the codec's files private copies before a write."""

    def drop_page_cache(self) -> None:
        """Drop the codec's files from the page cache."""

    def close(self) -> None:
        """Release the codec's files."""

    def memory_bytes(self) -> int:
        """Bytes of RAM the codec holds."""
        return 0

    def disk_bytes(self, n_slots: int) -> int:
        """Bytes of the codec's files."""
        return 0


class Float32Records(RecordCodec):
    """Records ``(slot, id, vector float32[dim])``; scans compute exact distances."""

    name = "float32"
    records_exact = True

    def __init__(self, dim: int, metric: str, work_dir: str | None) -> None:
        super().__init__(dim, metric, work_dir)
        self.record_words = dim + 4

    def encode(self, slots: np.ndarray, ids: np.ndarray, vecs: np.ndarray) -> np.ndarray:
        rec = self._header(slots, ids)
        rec[:, 4:] = np.ascontiguousarray(vecs, dtype=np.float32).view(np.uint32)
        return rec

    def scan(
        self,
        state: Any,
        words: np.ndarray,
        floats: np.ndarray,
        metric: int,
        dead: np.ndarray,
        mask: np.ndarray,
        heap: Heap,
    ) -> int:
        return scan_records(state, words, floats, metric, dead, mask, *heap)

    def vectors_of(self, rec: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(rec[:, 4:]).view(np.float32)

    def read_slots(self, lists: DiskInvertedLists, slots: np.ndarray) -> np.ndarray:
        return self.vectors_of(lists.read_slots(slots))


class BinaryRecords(RecordCodec):
    """Records ``(slot, id, scale, |x^|^2, 1-bit code)``; float rows in ``vectors.bin``."""

    name = "binary"

    def __init__(self, dim: int, metric: str, work_dir: str | None) -> None:
        super().__init__(dim, metric, work_dir)
        self.n_words = (dim + 63) // 64  # uint64 words of a 1-bit code
        self.n_bytes = (dim + 7) // 8  # bytes of a code the lookup tables cover
        self.record_words = 6 + 2 * self.n_words
        self.center: np.ndarray | None = None  # centre of the codes
        self.rows: DiskRows | None = None  # float vectors by slot (``open_work``, ``load``)

    def train(self, x: np.ndarray) -> None:
        self.center = x.mean(axis=0, dtype=np.float64).astype(np.float32)

    def encode(self, slots: np.ndarray, ids: np.ndarray, vecs: np.ndarray) -> np.ndarray:
        assert self.center is not None
        rec = self._header(slots, ids)
        vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        codes, scales = encode_recurrent(vecs, self.center, 1, self.n_words)
        a = scales[:, 0]  # mean |u_j| of u = x - c: x^ = c + a b is u's projection on b
        xhat = decode_recurrent(codes, scales, self.center)
        if self.metric == "cosine":
            # RaBitQ's estimator <q, u> ~ <q, b> |u|^2 / <u, b> (<u, b> = a dim): measured
            # +3 points of recall@10 on GloVe over the projection a <q, b>; for l2 it lost
            # 18-34 points on Fashion-MNIST, so l2 keeps the distance to x^.
            u = vecs - self.center
            nz = np.maximum(a, np.float32(1e-30))
            a = (np.einsum("ij,ij->i", u, u) / (self.dim * nz)).astype(np.float32)
        rec[:, 4] = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
        rec[:, 5] = np.einsum("ij,ij->i", xhat, xhat).astype(np.float32).view(np.uint32)
        rec[:, 6:] = np.ascontiguousarray(codes[:, 0, :]).view(np.uint32)
        return rec

    def store_vectors(self, slots: np.ndarray, vecs: np.ndarray) -> None:
        assert self.rows is not None
        self.rows.write(slots, vecs)

    def query_state(self, q: np.ndarray) -> Any:
        return byte_luts(q[None, :], self.n_bytes)[0]

    def shortlist(self, k: int, oversampling: float) -> int:
        return max(k, math.ceil(oversampling * k))

    def scan(
        self,
        state: Any,
        words: np.ndarray,
        floats: np.ndarray,
        metric: int,
        dead: np.ndarray,
        mask: np.ndarray,
        heap: Heap,
    ) -> int:
        recs = words.reshape(-1).view(np.uint64).reshape(words.shape[0], -1)
        return scan_code_records(state, recs, floats, metric, dead, mask, *heap)

    def rescore(self, q: np.ndarray, metric: int, heap: Heap, stats: np.ndarray) -> None:
        """Replace the code scores in ``heap`` by exact distances to the float vectors, read
        from the vectors file (only the candidates' rows, in slot order)."""
        assert self.rows is not None
        hd, hs, _ = heap
        good = np.flatnonzero(hs != EMPTY_SLOT)
        if good.size == 0:
            return
        good = good[np.argsort(hs[good], kind="stable")]
        vecs, pages, nbytes = self.rows.read(hs[good])
        hd[good] = row_distances(q, vecs, metric)
        stats[1] += pages
        stats[2] += nbytes

    def vectors_of(self, rec: np.ndarray) -> np.ndarray:
        assert self.rows is not None
        return self.rows.read(slots_of(rec))[0]

    def read_slots(self, lists: DiskInvertedLists, slots: np.ndarray) -> np.ndarray:
        assert self.rows is not None
        return self.rows.read_runs(slots)

    def open_work(self) -> None:
        self.close()
        self.rows = DiskRows(self.dim, self.work_dir)

    def arrays(self) -> dict[str, np.ndarray]:
        assert self.center is not None
        return {"center": self.center}

    def files(self) -> tuple[str, ...]:
        return (VECTORS_FILE,)

    def save_files(self, directory: Path, n_slots: int) -> None:
        assert self.rows is not None
        self.rows.save_copy(directory / VECTORS_FILE, n_slots)

    def open_saved(self, arrays: dict[str, np.ndarray], directory: Path, n_slots: int) -> None:
        if "center" not in arrays:
            raise IndexFormatError(f"{directory.parent}: binary codec without its centre")
        self.center = np.array(arrays["center"], dtype=np.float32)
        self.close()
        self.rows = DiskRows.open_saved(
            self.dim, directory / VECTORS_FILE, directory.parent, n_slots, self.work_dir
        )

    def make_writable(self, n_slots: int) -> None:
        assert self.rows is not None
        self.rows.make_writable(n_slots)

    def drop_page_cache(self) -> None:
        if self.rows is not None:
            self.rows.drop_page_cache()

    def close(self) -> None:
        if self.rows is not None:
            self.rows.close()
            self.rows = None

    def memory_bytes(self) -> int:
        return 0 if self.center is None else int(self.center.nbytes)

    def disk_bytes(self, n_slots: int) -> int:
        return 4 * self.dim * n_slots


#: Codec classes by name (``SPANNConfig.codec``).
CODECS: dict[str, type[RecordCodec]] = {c.name: c for c in (Float32Records, BinaryRecords)}
