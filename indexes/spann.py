"""SPANN: a small head index in memory, balanced posting lists in one file on disk.

After "SPANN: Highly-efficient Billion-scale Approximate Nearest Neighbor Search" (Chen et al.,
NeurIPS 2021) and, for updates, "SPFresh" (Xu et al., SOSP 2023). Parameter names map to the
reference implementation (SPTAG's SPANN) as follows:

=========================  =======================================================================
``head_ratio``             SelectHead ``Ratio``: heads = ``ratio * n`` (~1/ratio points a head)
``replica_count``          ``ReplicaCount``: most postings one vector is written to (default 8)
``rng_factor``             ``RNGFactor``: RNG rule strength (1.0 = the plain RNG rule)
``closure_ratio``          the paper's closure rule ``1 + eps1``: only heads whose squared distance
                           is ``<= closure_ratio *`` that of the nearest head get a replica
``posting_vector_limit``   ``PostingVectorLimit``: cap on a posting's length
``build_candidates``       ``InternalResultNum`` at build: nearest heads considered per vector
``SPANNParams.n_probe``    ``SearchInternalResultNum``: heads the head index returns per query
``SPANNParams.max_dist_ratio``  ``MaxDistRatio``: probe only heads within this (squared) distance
                           ratio of the closest head (query-aware pruning)
=========================  =======================================================================

**Build** (:meth:`SPANNIndex.build`, or ``train`` + the first ``add``). Heads come from
hierarchical balanced k-means over a sample (at most ``max_train_points`` rows): the sample is
split into ``branching`` balanced clusters, each cluster is given a share of the head budget
proportional to its size and split again, until a cluster's share is at most ``branching``
heads, which balanced k-means produces directly. Heads are the centroids (SPTAG replaces each
by the nearest data vector; we do not, so heads are not data points and every vector lives in
a posting). The head index is an :class:`indexes.hnsw.HNSWIndex` over the heads (squared L2).
Each vector is then written to up to ``replica_count`` of its ``build_candidates`` nearest
heads, kept in ascending distance order when they pass the closure rule and the RNG rule (skip
head ``j`` when ``rng_factor * |c_j - c_chosen|^2 < |x - c_j|^2`` for a head already chosen).
Postings longer than ``posting_vector_limit`` keep their closest records, replicas dropped
before a vector's nearest-head record; postings whose nearest-head records alone exceed the cap
are split (as in updates). The build streams: pass 1 reads the source in chunks of
``chunk_rows`` rows and spills each vector's chosen heads to a temporary file; the caps are
computed from the spill; pass 2 reads the source again and writes every posting at its place.
Memory: heads, per-head counters, one chunk and the spill's page cache -- not the data set.
(The per-slot tables below cost 10 bytes per vector; see "Memory".)

**Layout.** One file of records ``(slot int64, id int64, vector float32[dim])``
(``16 + 4 * dim`` bytes; the id is there so that a search never reads the slot -> id table);
each posting is a contiguous run of records starting on a 4 KiB page boundary, with
``slack`` spare capacity for inserts. RAM holds the offsets table (offset, length, capacity:
24 bytes per head). Vectors are float32 only: PQ / binary codes with float rescoring are **not
implemented** (the issue lists them as an option).

**Search.** The head index returns ``n_probe`` heads (beam ``ef_heads``); heads farther than
``max_dist_ratio`` times the closest head's squared distance are pruned; the postings are read
with ``os.preadv`` straight into one buffer and scanned by a Numba kernel (exact distances,
duplicates across replicas skipped, tombstones and ``allow`` honoured, top-k by
``(distance, slot)``). If fewer than ``min(k, allowed points)`` hits are found (tiny index or
a selective filter), further heads are probed in order of distance until enough are found or
every posting was read. :meth:`SPANNIndex.search_with_stats` also returns postings, pages and
bytes read per query.

**Updates** (SPFresh, simplified). ``add`` assigns new vectors with the build rules and
appends their records to the postings; a posting without room is relocated to the end of the
file with twice the room (the old region becomes garbage until compaction). A posting longer
than ``posting_vector_limit`` is split: its live records are clustered by balanced 2-means,
the head is replaced by one centroid and a new head is added for the other; then every vector
of the split posting is *reassigned*: it goes to its nearest head among the head index's
``reassign_candidates`` nearest heads (which need not be one of the two new ones), and also to
the other new head when that one passes the closure and RNG rules and the vector has fewer
than ``replica_count`` replicas. Simplifications next to SPFresh: vectors of *neighbouring*
postings are not re-examined, and a reassigned vector can land in a posting that already
holds a replica of it (search skips such duplicates). ``remove`` marks slots dead
(tombstones); records of dead slots are dropped when a posting is split, by :meth:`compact`
(run automatically once dead slots exceed ``compact_fraction`` of the slots, or garbage
exceeds half of the file) and in the copy written by ``save``. Dead slots are reused only after
a compaction.

**Files.** A new index keeps its postings in an anonymous temporary file in ``work_dir``
(default: the system's temporary directory); ``save(path)`` writes a compacted copy into
``path/postings/postings.bin`` next to the arrays and the head index (``path/heads``).
``load`` reads the saved file in place; the first write copies it to a temporary file in
``work_dir`` (default: the parent of ``path``), so a saved index never changes under it.

**Memory** (:meth:`SPANNIndex.memory_report`): the head index (head vectors, stored once,
and its graph), the offsets table, and per slot:
dead flag (1 byte, read by every search), replica count (1 byte) and slot -> id table
(8 bytes). After ``load(mmap=True)`` the last two stay memory-mapped on disk: searches never
read them (ids are in the records); updates, filters and id lookups do.

Metrics: ``l2`` (squared) and ``cosine`` (normalised vectors, heads clustered by L2,
distance ``1 - cos``). ``ip`` raises :class:`UnsupportedOperationError`: the closure and
distance-ratio rules assume non-negative distances.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from indexes._kernels.spann import live_records, scan_records, select_replicas
from indexes._threads import numba_threads
from indexes.base import (
    METRIC_CODES,
    BaseIndex,
    SearchParams,
    as_ids,
    check_k,
    check_params,
)
from indexes.errors import (
    DimensionMismatchError,
    IndexFormatError,
    InvalidParameterError,
    NotTrainedError,
    UnknownIdError,
    UnsupportedOperationError,
)
from indexes.hnsw import HNSWIndex, HNSWParams
from indexes.kmeans import KMeans, assign_balanced

PAGE = 4096
POSTINGS_FILE = "postings.bin"
_EMPTY_MASK = np.zeros(0, dtype=np.bool_)
_EMPTY_SLOT = np.iinfo(np.int64).max


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) <= 0:
        raise InvalidParameterError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _positive_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
        raise InvalidParameterError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not (np.isfinite(v) and v > 0):
        raise InvalidParameterError(f"{name} must be a finite number > 0, got {value!r}")
    return v


@dataclass(frozen=True, slots=True)
class SPANNParams(SearchParams):
    """Per-call SPANN search parameters.

    ``n_probe``: heads asked of the head index (SPTAG's SearchInternalResultNum), i.e. the
    most postings read. ``max_dist_ratio``: probe only heads whose squared distance is at most
    this times the closest head's (SPTAG's MaxDistRatio; ``inf`` disables pruning).
    ``ef_heads``: head-index beam width (default ``max(2 * n_probe, 64)``).
    """

    n_probe: int = 32
    max_dist_ratio: float = 8.0
    ef_heads: int | None = None

    def __post_init__(self) -> None:
        _positive_int("n_probe", self.n_probe)
        if self.ef_heads is not None:
            _positive_int("ef_heads", self.ef_heads)
        r = self.max_dist_ratio
        if isinstance(r, bool) or not isinstance(r, int | float) or not r >= 1.0:
            raise InvalidParameterError(f"max_dist_ratio must be a number >= 1, got {r!r}")


@dataclass(frozen=True, slots=True)
class SearchStats:
    """Per-query I/O of one search call (arrays of length n_queries)."""

    postings: np.ndarray
    pages: np.ndarray
    bytes: np.ndarray
    records: np.ndarray


class _PostingsCopy:
    """A child written into the save directory: the compacted postings file."""

    kind = "spann-postings"

    def __init__(self, writer: Any) -> None:
        self._writer = writer

    def save(self, path: str | os.PathLike[str]) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        self._writer(Path(path) / POSTINGS_FILE)


def _copy_fd(src: int, dst: int, nbytes: int) -> None:
    """Copy ``nbytes`` from the start of ``src`` to the start of ``dst``."""
    done = 0
    while done < nbytes:
        try:
            n = os.copy_file_range(src, dst, nbytes - done, done, done)
        except OSError:
            n = 0
        if n <= 0:  # fall back to read/write
            chunk = os.pread(src, min(1 << 24, nbytes - done), done)
            if not chunk:
                raise IndexFormatError("postings file is shorter than its offsets table")
            n = os.pwrite(dst, chunk, done)
        done += n


class SPANNIndex(BaseIndex):
    """SPANN-style disk index; see the module docstring for the algorithm and parameters."""

    kind = "spann"
    format_version = 1

    def __init__(
        self,
        dim: int,
        metric: str = "l2",
        *,
        head_ratio: float = 0.02,
        replica_count: int = 8,
        rng_factor: float = 1.0,
        closure_ratio: float = 4.0,
        posting_vector_limit: int = 256,
        build_candidates: int = 64,
        reassign_candidates: int = 8,
        branching: int = 16,
        head_M: int = 16,
        head_ef_construction: int = 200,
        slack: float = 0.25,
        max_train_points: int = 100_000,
        chunk_rows: int = 65_536,
        kmeans_iter: int = 10,
        compact_fraction: float = 0.2,
        seed: int = 0,
        work_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(dim, metric)
        if self.metric == "ip":
            raise UnsupportedOperationError(
                "SPANNIndex supports the l2 and cosine metrics, not ip (its closure and "
                "distance-ratio rules need non-negative distances)"
            )
        if not (isinstance(head_ratio, int | float) and 0.0 < head_ratio <= 1.0):
            raise InvalidParameterError(f"head_ratio must be in (0, 1], got {head_ratio!r}")
        self.head_ratio = float(head_ratio)
        self.replica_count = _positive_int("replica_count", replica_count)
        if self.replica_count > 255:
            raise InvalidParameterError("replica_count must be at most 255")
        self.rng_factor = _positive_float("rng_factor", rng_factor)
        cr = closure_ratio
        if isinstance(cr, bool) or not isinstance(cr, int | float) or not cr >= 1.0:
            raise InvalidParameterError(f"closure_ratio must be a number >= 1, got {cr!r}")
        self.closure_ratio = float(cr)
        self.posting_vector_limit = _positive_int("posting_vector_limit", posting_vector_limit)
        if self.posting_vector_limit < 4:
            raise InvalidParameterError("posting_vector_limit must be at least 4")
        self.build_candidates = _positive_int("build_candidates", build_candidates)
        self.reassign_candidates = _positive_int("reassign_candidates", reassign_candidates)
        self.branching = _positive_int("branching", branching)
        if self.branching < 2:
            raise InvalidParameterError("branching must be at least 2")
        self.head_M = _positive_int("head_M", head_M)
        self.head_ef_construction = _positive_int("head_ef_construction", head_ef_construction)
        if not (isinstance(slack, int | float) and 0.0 <= slack <= 10.0):
            raise InvalidParameterError(f"slack must be in [0, 10], got {slack!r}")
        self.slack = float(slack)
        self.max_train_points = _positive_int("max_train_points", max_train_points)
        self.chunk_rows = _positive_int("chunk_rows", chunk_rows)
        self.kmeans_iter = _positive_int("kmeans_iter", kmeans_iter)
        if not (isinstance(compact_fraction, int | float) and 0.0 < compact_fraction <= 1.0):
            raise InvalidParameterError(
                f"compact_fraction must be in (0, 1], got {compact_fraction!r}"
            )
        self.compact_fraction = float(compact_fraction)
        self.seed = int(seed)
        self.work_dir = None if work_dir is None else str(work_dir)
        self._rec_words = self.dim + 4
        self.record_bytes = 4 * self._rec_words
        # heads
        self._n_heads = 0
        self._head_slot = np.zeros(0, dtype=np.int64)  # head id -> slot in the head index
        self._head_index: HNSWIndex | None = None
        self._poff = np.zeros(0, dtype=np.int64)
        self._plen = np.zeros(0, dtype=np.int64)
        self._pcap = np.zeros(0, dtype=np.int64)
        # slots
        self._n_slots = 0
        self._ntotal = 0
        self._n_dead = 0  # dead slots whose records may still be in postings
        self._slot_ids = np.zeros(0, dtype=np.int64)
        self._dead = np.zeros(0, dtype=np.bool_)
        self._nrep = np.zeros(0, dtype=np.uint8)
        self._order: np.ndarray | None = None  # argsort of slot ids, for lookups
        # file
        self._fd = -1
        self._file: Any = None  # keeps an anonymous temporary file open
        self._writable = True
        self._file_end = 0
        self._garbage = 0
        self._lock = threading.Lock()
        self._tls = threading.local()  # per-thread scratch buffer for posting reads
        self._io = np.zeros(4, dtype=np.int64)  # cumulative postings, pages, bytes, queries

    # -- protocol ------------------------------------------------------------------------------
    @property
    def is_trained(self) -> bool:
        """Whether heads have been chosen."""
        return self._head_index is not None

    @property
    def ntotal(self) -> int:
        """Number of live vectors."""
        return self._ntotal

    @property
    def n_heads(self) -> int:
        """Number of heads (postings)."""
        return self._n_heads

    def slot_ids(self) -> np.ndarray:
        """Id held by each slot (``-1`` for a free or deleted slot)."""
        return self._slot_ids[: self._n_slots]

    def memory_report(self) -> dict[str, int]:
        """Bytes by part. ``dead_flags`` is read by every search, so it counts as resident
        even when memory-mapped; the slot -> id table and replica counts are read only by
        updates, filters and id lookups, and count under ``mapped`` when memory-mapped."""

        def ram(a: np.ndarray) -> int:
            return 0 if _is_mapped(a) else int(a.nbytes)

        def mapped(a: np.ndarray) -> int:
            return int(a.nbytes) if _is_mapped(a) else 0

        h = self._n_heads
        return {
            "head_index": 0 if self._head_index is None else self._head_index.memory_bytes(),
            "offsets": int(3 * 8 * h),
            "dead_flags": int(self._dead.nbytes),
            "slot_ids": ram(self._slot_ids),
            "replicas": ram(self._nrep),
            "mapped": mapped(self._slot_ids) + mapped(self._nrep),
        }

    def memory_bytes(self) -> int:
        """Bytes this index holds in RAM (see :meth:`memory_report`; mapped arrays excluded)."""
        rep = self.memory_report()
        return int(sum(v for k, v in rep.items() if k != "mapped"))

    def disk_bytes(self) -> int:
        """Size of the postings file (including slack and relocation garbage)."""
        return int(self._file_end)

    def io_counters(self) -> dict[str, int]:
        """Cumulative postings, pages and bytes read by searches, and queries answered."""
        p, g, b, q = (int(v) for v in self._io)
        return {"postings": p, "pages": g, "bytes": b, "queries": q}

    def posting_lengths(self) -> np.ndarray:
        """Records (live or dead) in each posting."""
        return self._plen[: self._n_heads].copy()

    def posting_slots(self, head: int) -> np.ndarray:
        """Slots of the records of posting ``head`` (dead ones included), for inspection."""
        if not 0 <= head < self._n_heads:
            raise InvalidParameterError(f"head {head} out of range [0, {self._n_heads})")
        words, _, _, _ = self._read([head])
        return _slots_of(words)

    def posting_vectors(self, head: int) -> np.ndarray:
        """Vectors of the records of posting ``head``, in record order."""
        _words, vecs, _, _ = self._read([head])
        return np.ascontiguousarray(vecs[:, 4:])

    def heads(self) -> np.ndarray:
        """The head vectors (a copy)."""
        return self._head_vectors()[self._head_slot[: self._n_heads]]

    def _head_vectors(self) -> np.ndarray:
        """The head index's vector storage (indexed by its slots; see ``_head_slot``).

        Heads are stored once, in the head index; this reads its storage array directly."""
        assert self._head_index is not None
        return self._head_index._vectors

    def _refresh_head_slots(self) -> None:
        """Recompute head id -> head-index slot after the head index changed."""
        assert self._head_index is not None
        sid = self._head_index.slot_ids()
        live = np.flatnonzero(sid >= 0)
        slot = np.full(max(self._n_heads, 1), -1, dtype=np.int64)
        slot[sid[live]] = live
        self._head_slot = slot

    # -- training: head selection --------------------------------------------------------------
    def train(self, x: Any, *, n_total: int | None = None) -> None:
        """Choose heads from ``x`` by hierarchical balanced k-means and build the head index.

        ``round(head_ratio * n_total)`` heads (``n_total`` defaults to ``len(x)``; pass the
        data set's size when ``x`` is a sample). Refused once the index holds vectors.
        """
        if self._n_slots:
            raise UnsupportedOperationError("cannot retrain an index that holds vectors")
        data = self.prepare(x, what="training vectors")
        n = data.shape[0]
        if n == 0:
            raise InvalidParameterError("training needs at least one vector")
        total = n if n_total is None else _positive_int("n_total", n_total)
        n_heads = int(min(n, max(1, round(self.head_ratio * total))))
        heads = self._select_heads(data, n_heads)
        self._set_heads(heads)

    def _select_heads(self, x: np.ndarray, n_heads: int) -> np.ndarray:
        """Hierarchical balanced k-means: ``n_heads`` centroids of balanced clusters."""
        out: list[np.ndarray] = []
        stack: list[tuple[np.ndarray, int, int]] = [(np.arange(x.shape[0]), n_heads, 0)]
        calls = 0
        while stack:
            rows, target, depth = stack.pop()
            sub = np.ascontiguousarray(x[rows])
            if target <= 1 or rows.shape[0] <= 1:
                out.append(sub.mean(axis=0, dtype=np.float64).astype(np.float32)[None, :])
                continue
            target = min(target, rows.shape[0])
            k = target if target <= self.branching else self.branching
            calls += 1
            km = KMeans(
                k,
                n_iter=self.kmeans_iter,
                seed=self.seed + calls,
                balanced=True,
                max_points_per_centroid=256,
            )
            cent = km.fit(sub).centroids
            if k == target:
                out.append(np.ascontiguousarray(cent, dtype=np.float32))
                continue
            bound = int(np.ceil(1.2 * rows.shape[0] / k))
            labels = assign_balanced(sub, cent, bound)
            sizes = np.bincount(labels, minlength=k)
            # share of the head budget: largest remainder, at least one head per non-empty part
            share = target * sizes / rows.shape[0]
            alloc = np.floor(share).astype(np.int64)
            rest = target - int(alloc.sum())
            if rest > 0:
                alloc[np.argsort(-(share - alloc), kind="stable")[:rest]] += 1
            alloc = np.where(sizes > 0, np.maximum(alloc, 1), 0)
            for c in range(k - 1, -1, -1):
                if sizes[c]:
                    stack.append((rows[labels == c], int(alloc[c]), depth + 1))
        return np.ascontiguousarray(np.concatenate(out), dtype=np.float32)

    def _set_heads(self, heads: np.ndarray) -> None:
        h = heads.shape[0]
        self._n_heads = h
        self._poff = np.zeros(h, dtype=np.int64)
        self._plen = np.zeros(h, dtype=np.int64)
        self._pcap = np.zeros(h, dtype=np.int64)
        self._head_index = HNSWIndex(
            self.dim,
            "l2",
            M=self.head_M,
            ef_construction=self.head_ef_construction,
            seed=self.seed,
        )
        self._head_index.add(np.ascontiguousarray(heads), np.arange(h, dtype=np.int64))
        self._refresh_head_slots()
        self._open_work_file()

    # -- assignment rules ----------------------------------------------------------------------
    def _candidates(self, x: np.ndarray, c: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``c`` nearest heads of each row by the head index (squared L2), ascending."""
        assert self._head_index is not None
        c = min(c, self._n_heads)
        ids, d = self._head_index.search(x, c, HNSWParams(ef=max(2 * c, 64)))
        return ids, d

    def _assign(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Replica heads of each row: ``(heads (n, R), sq. distances (n, R), counts (n,))``."""
        cand, cand_d = self._candidates(x, self.build_candidates)
        return select_replicas(
            x,
            cand,
            np.ascontiguousarray(cand_d, dtype=np.float32),
            self._head_vectors(),
            self._head_slot,
            self.replica_count,
            np.float32(self.closure_ratio),
            np.float32(self.rng_factor),
        )

    # -- the postings file ---------------------------------------------------------------------
    def _tmp_dir(self) -> str | None:
        return self.work_dir

    def _open_work_file(self) -> None:
        """Start an empty anonymous postings file (deleted when closed or on a crash)."""
        self._close_file()
        self._file = tempfile.TemporaryFile(dir=self._tmp_dir(), prefix=".spann-postings-")  # noqa: SIM115
        self._fd = self._file.fileno()
        self._writable = True
        self._file_end = 0
        self._garbage = 0

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
        elif self._fd >= 0:
            os.close(self._fd)
        self._file = None
        self._fd = -1

    def close(self) -> None:
        """Release the postings file (the index is unusable afterwards)."""
        self._close_file()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown
            self._close_file()

    def _make_writable(self) -> None:
        """Copy a loaded (read-only) postings file to a private temporary file."""
        if self._writable:
            return
        f = tempfile.TemporaryFile(dir=self._tmp_dir(), prefix=".spann-postings-")  # noqa: SIM115
        try:
            _copy_fd(self._fd, f.fileno(), self._file_end)
        except BaseException:
            f.close()
            raise
        os.close(self._fd)
        self._file = f
        self._fd = f.fileno()
        self._writable = True
        self._slot_ids = np.array(self._slot_ids)
        self._dead = np.array(self._dead)
        self._nrep = np.array(self._nrep)
        self._poff, self._plen, self._pcap = (
            np.array(a) for a in (self._poff, self._plen, self._pcap)
        )

    def _pages_for(self, count: int) -> int:
        if count <= 0:
            return 0
        return -(-int(np.ceil(count * (1.0 + self.slack) * self.record_bytes)) // PAGE)

    def _layout(self, counts: np.ndarray, start: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
        """Page-aligned offsets and capacities for postings of ``counts`` records."""
        counts = np.asarray(counts, dtype=np.int64)
        need = np.ceil(counts * (1.0 + self.slack) * self.record_bytes).astype(np.int64)
        pages = np.where(counts > 0, -(-need // PAGE), 0)
        off = start + PAGE * np.concatenate(([0], np.cumsum(pages)[:-1])).astype(np.int64)
        cap = pages * PAGE // self.record_bytes
        return off, cap.astype(np.int64), int(start + PAGE * int(pages.sum()))

    def _records(self, slots: np.ndarray, vecs: np.ndarray) -> np.ndarray:
        """Records ``(n, dim + 4)`` uint32: slot and id (each as low, high words), then the
        vector's bits. Ids come from the slot table (the slots must be live)."""
        n = slots.shape[0]
        rec = np.empty((n, self._rec_words), dtype=np.uint32)
        s = slots.astype(np.int64, copy=False)
        ids = self._slot_ids[s]
        rec[:, 0] = (s & 0xFFFFFFFF).astype(np.uint32)
        rec[:, 1] = (s >> 32).astype(np.uint32)
        rec[:, 2] = (ids & 0xFFFFFFFF).astype(np.uint32)
        rec[:, 3] = (ids >> 32).astype(np.uint32)
        rec[:, 4:] = np.ascontiguousarray(vecs, dtype=np.float32).view(np.uint32)
        return rec

    def _read(
        self, heads: Any, *, scratch: bool = False
    ) -> tuple[np.ndarray, np.ndarray, int, int]:
        """Records of ``heads`` read into one buffer: ``(words, floats, pages, bytes)``.

        ``scratch``: read into this thread's reusable buffer (valid until its next scratch
        read), which spares searches a large allocation and its page faults per query."""
        heads = np.asarray(heads, dtype=np.int64)
        rb = self.record_bytes
        nbytes = self._plen[heads] * rb
        total = int(nbytes.sum())
        if scratch:
            buf = getattr(self._tls, "buf", None)
            if buf is None or buf.shape[0] < total:
                buf = np.empty(max(total, 2 * (0 if buf is None else buf.shape[0])), np.uint8)
                self._tls.buf = buf
            buf = buf[:total]
        else:
            buf = np.empty(total, dtype=np.uint8)
        mv = memoryview(buf)
        pos = 0
        fd = self._fd
        for h, b in zip(heads.tolist(), nbytes.tolist(), strict=True):
            if b:
                got = os.preadv(fd, [mv[pos : pos + b]], int(self._poff[h]))
                if got != b:
                    raise IndexFormatError(
                        f"short read from the postings file ({got} of {b} bytes at posting {h})"
                    )
                pos += b
        pages = int((-(-nbytes // PAGE)).sum())
        words = buf.view(np.uint32).reshape(-1, self._rec_words)
        return words, buf.view(np.float32).reshape(-1, self._rec_words), pages, total

    def _write_posting(self, h: int, rec: np.ndarray, *, append: bool) -> None:
        """Write records to posting ``h`` (appended, or replacing its content)."""
        n = rec.shape[0]
        start = int(self._plen[h]) if append else 0
        if start + n > self._pcap[h]:
            self._relocate(h, start + n, keep=start)
        if n:
            data = np.ascontiguousarray(rec)
            os.pwrite(self._fd, data, int(self._poff[h]) + start * self.record_bytes)
        self._plen[h] = start + n

    def _relocate(self, h: int, need: int, *, keep: int) -> None:
        """Move posting ``h`` to the end of the file with room for ``2 * need`` records."""
        old_pages = -(-int(self._pcap[h]) * self.record_bytes // PAGE) if self._pcap[h] else 0
        kept = b""
        if keep:
            kept = os.pread(self._fd, keep * self.record_bytes, int(self._poff[h]))
        pages = max(1, -(-2 * need * self.record_bytes // PAGE))
        off = self._file_end
        if kept:
            os.pwrite(self._fd, kept, off)
        self._garbage += old_pages * PAGE
        self._poff[h] = off
        self._pcap[h] = pages * PAGE // self.record_bytes
        self._file_end = off + pages * PAGE
        os.ftruncate(self._fd, self._file_end)

    # -- slots ---------------------------------------------------------------------------------
    def _grow_slots(self, need: int) -> None:
        cap = self._slot_ids.shape[0]
        if need <= cap and not _is_mapped(self._slot_ids):
            return
        new_cap = max(need, 2 * cap, 1024)
        ids = np.full(new_cap, -1, dtype=np.int64)
        dead = np.zeros(new_cap, dtype=np.bool_)
        nrep = np.zeros(new_cap, dtype=np.uint8)
        n = self._n_slots
        ids[:n], dead[:n], nrep[:n] = self._slot_ids[:n], self._dead[:n], self._nrep[:n]
        self._slot_ids, self._dead, self._nrep = ids, dead, nrep

    def _alloc_slots(self, n: int) -> np.ndarray:
        """Free slots (compacted away) first, then new ones."""
        free = np.zeros(0, dtype=np.int64)
        if self._n_slots > self._ntotal + self._n_dead:
            live = self._slot_ids[: self._n_slots]
            free = np.flatnonzero((live < 0) & ~self._dead[: self._n_slots])[:n]
        extra = n - free.shape[0]
        self._grow_slots(self._n_slots + extra)
        fresh = np.arange(self._n_slots, self._n_slots + extra, dtype=np.int64)
        self._n_slots += extra
        return np.concatenate((free, fresh))

    def _lookup(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Slots of ``ids`` and whether each is present (live)."""
        present = self._slot_ids[: self._n_slots]
        if present.shape[0] == 0:
            return np.zeros(ids.shape[0], dtype=np.int64), np.zeros(ids.shape[0], dtype=bool)
        if self._order is None:
            self._order = np.argsort(present, kind="stable")
        order = self._order
        pos = np.minimum(np.searchsorted(present, ids, sorter=order), present.shape[0] - 1)
        slots = order[pos]
        return slots, (present[slots] == ids) & (ids >= 0)

    def _kill(self, slots: np.ndarray) -> None:
        """Tombstone ``slots`` (their records stay until compaction)."""
        self._slot_ids[slots] = -1
        self._dead[slots] = True
        self._n_dead += int(slots.shape[0])
        self._ntotal -= int(slots.shape[0])
        self._order = None

    # -- building ------------------------------------------------------------------------------
    def build(self, source: Any, ids: Any = None) -> None:
        """Streaming build from an array-like ``(n, dim)`` (``np.memmap``, array, or a path to
        a ``.npy`` file, memory-mapped) with ``ids`` (default ``0..n-1``).

        Trains heads on a sample first if the index is untrained. Reads ``source`` twice in
        chunks of ``chunk_rows`` rows; needs an empty index.
        """
        if self._n_slots:
            raise UnsupportedOperationError("build needs an empty index; use add")
        if isinstance(source, str | os.PathLike):
            source = np.load(source, mmap_mode="r")
        shape = getattr(source, "shape", None)
        if shape is None or len(shape) != 2:
            raise InvalidParameterError("source must be a 2-d array-like (n, dim)")
        n = int(shape[0])
        if shape[1] != self.dim:
            raise DimensionMismatchError(
                f"vectors have dimension {shape[1]}, index expects {self.dim}"
            )
        ids_arr = np.arange(n, dtype=np.int64) if ids is None else as_ids(ids, n)
        if n == 0:
            return
        if not self.is_trained:
            rng = np.random.default_rng(self.seed)
            m = min(n, self.max_train_points)
            rows = np.arange(n) if m == n else np.sort(rng.choice(n, m, replace=False))
            self.train(np.asarray(source[rows]), n_total=n)
        self._bulk(source, ids_arr)

    def _bulk(self, source: Any, ids: np.ndarray) -> None:
        """Two-pass streaming build into an empty index (see the module docstring)."""
        n = ids.shape[0]
        r = self.replica_count
        h_total = self._n_heads
        step = self.chunk_rows
        spill = tempfile.TemporaryFile(dir=self._tmp_dir(), prefix=".spann-spill-")  # noqa: SIM115
        try:
            spill.truncate(n * r * 8)
            sp_h = np.memmap(spill, dtype=np.int32, mode="r+", shape=(n, r))
            sp_d = np.memmap(spill, dtype=np.float32, mode="r+", shape=(n, r), offset=n * r * 4)
            counts = np.zeros(h_total, dtype=np.int64)
            prim = np.zeros(h_total, dtype=np.int64)
            for s in range(0, n, step):  # pass 1: choose replicas, spill them
                x = self.prepare(source[s : s + step])
                hh, dd, _ = self._assign(x)
                sp_h[s : s + x.shape[0]] = hh
                sp_d[s : s + x.shape[0]] = dd
                valid = hh[hh >= 0]
                counts += np.bincount(valid, minlength=h_total)
                prim += np.bincount(hh[:, 0], minlength=h_total)
            limit = self.posting_vector_limit
            over = counts > limit
            if over.any():
                self._apply_caps(sp_h, sp_d, over, prim, limit)
                counts = np.zeros(h_total, dtype=np.int64)
                for s in range(0, n, step):
                    hh = np.asarray(sp_h[s : s + step])
                    counts += np.bincount(hh[hh >= 0], minlength=h_total)
            off, cap, end = self._layout(counts)
            self._poff, self._pcap = off, cap
            self._plen = np.zeros(h_total, dtype=np.int64)
            self._file_end = end
            os.ftruncate(self._fd, end)
            self._grow_slots(n)
            self._slot_ids[:n] = ids
            self._n_slots = n
            self._ntotal = n
            self._order = None
            for s in range(0, n, step):  # pass 2: write records at their place
                x = self.prepare(source[s : s + step])
                hh = np.asarray(sp_h[s : s + x.shape[0]])
                self._nrep[s : s + x.shape[0]] = (hh >= 0).sum(axis=1)
                rows, ranks = np.nonzero(hh >= 0)
                self._append_grouped(hh[rows, ranks].astype(np.int64), s + rows, x[rows])
            del sp_h, sp_d
        finally:
            spill.close()
        self._split_oversized(np.flatnonzero(self._plen > self.posting_vector_limit))

    def _apply_caps(
        self, sp_h: np.ndarray, sp_d: np.ndarray, over: np.ndarray, prim: np.ndarray, limit: int
    ) -> None:
        """Drop the farthest records of over-full postings (replicas before nearest-head
        records) so that each keeps ``max(limit, its nearest-head records)``."""
        n = sp_h.shape[0]
        heads_l, rows_l, ranks_l, d_l = [], [], [], []
        for s in range(0, n, self.chunk_rows):
            hh = np.asarray(sp_h[s : s + self.chunk_rows])
            sel = (hh >= 0) & over[np.maximum(hh, 0)]
            rows, ranks = np.nonzero(sel)
            heads_l.append(hh[rows, ranks])
            rows_l.append(rows + s)
            ranks_l.append(ranks)
            d_l.append(np.asarray(sp_d[s : s + self.chunk_rows])[rows, ranks])
        heads = np.concatenate(heads_l)
        rows = np.concatenate(rows_l)
        ranks = np.concatenate(ranks_l)
        dists = np.concatenate(d_l)
        order = np.lexsort((rows, dists, ranks > 0, heads))
        heads, rows, ranks = heads[order], rows[order], ranks[order]
        starts = np.flatnonzero(np.r_[True, heads[1:] != heads[:-1]])
        pos = np.arange(heads.shape[0]) - np.repeat(starts, np.diff(np.r_[starts, heads.size]))
        keep_n = np.maximum(limit, prim[heads])
        drop = pos >= keep_n
        dr, dk = rows[drop], ranks[drop]
        # remove dropped replicas, keeping each row's remaining heads in order
        for row in np.unique(dr).tolist():
            hh = np.array(sp_h[row])
            dd = np.array(sp_d[row])
            gone = np.zeros(hh.shape[0], dtype=bool)
            gone[dk[dr == row]] = True
            keep = (hh >= 0) & ~gone
            m = int(keep.sum())
            sp_h[row, :m], sp_d[row, :m] = hh[keep], dd[keep]
            sp_h[row, m:], sp_d[row, m:] = -1, np.inf

    def _append_grouped(self, heads: np.ndarray, slots: np.ndarray, vecs: np.ndarray) -> None:
        """Append records ``(slots, vecs)`` to their ``heads``, one write per posting."""
        if heads.shape[0] == 0:
            return
        order = np.argsort(heads, kind="stable")
        hs = heads[order]
        rec = self._records(slots[order], vecs[order])
        cut = np.flatnonzero(np.r_[True, hs[1:] != hs[:-1], True])
        for a, b in zip(cut[:-1].tolist(), cut[1:].tolist(), strict=True):
            self._write_posting(int(hs[a]), rec[a:b], append=True)

    # -- updates -------------------------------------------------------------------------------
    def add(self, x: Any, ids: Any) -> None:
        """Add vectors under ``ids``; an id already present is replaced (upsert).

        An empty index takes the streaming bulk path; later adds append to postings and split
        postings that grow past ``posting_vector_limit``.
        """
        self._require_trained()
        vecs = self.prepare(x)
        ids_arr = as_ids(ids, vecs.shape[0])
        n = vecs.shape[0]
        if n == 0:
            return
        self._make_writable()
        if self._n_slots == 0:
            self._bulk(vecs, ids_arr)
            return
        slots_old, found = self._lookup(ids_arr)
        if found.any():
            self._kill(slots_old[found])
        slots = self._alloc_slots(n)
        self._slot_ids[slots] = ids_arr
        self._dead[slots] = False
        self._ntotal += n
        self._order = None
        hh, _dd, counts = self._assign(vecs)
        self._nrep[slots] = counts
        rows, ranks = np.nonzero(hh >= 0)
        self._append_grouped(hh[rows, ranks], slots[rows], vecs[rows])
        self._split_oversized(
            np.flatnonzero(self._plen[: self._n_heads] > self.posting_vector_limit)
        )
        self._maybe_compact()

    def remove(self, ids: Any) -> None:
        """Remove points by id (tombstones); every id must be present, else nothing changes."""
        ids_arr = as_ids(ids)
        if ids_arr.size == 0:
            return
        slots, found = self._lookup(ids_arr)
        if not found.all():
            missing = ids_arr[~found]
            raise UnknownIdError(
                f"{missing.size} id(s) not in the index, for example {int(missing[0])}"
            )
        self._make_writable()
        self._kill(slots)
        self._maybe_compact()

    def _maybe_compact(self) -> None:
        if (self._n_slots and self._n_dead > self.compact_fraction * self._n_slots) or (
            self._file_end and self._garbage > 0.5 * self._file_end
        ):
            self.compact()

    def _new_head(self) -> int:
        """A new, empty posting (its vector goes into the head index by the caller)."""
        h = self._n_heads
        if h >= self._poff.shape[0]:
            cap = max(2 * h, 16)
            for name in ("_poff", "_plen", "_pcap"):
                arr = np.zeros(cap, dtype=np.int64)
                arr[:h] = getattr(self, name)[:h]
                setattr(self, name, arr)
        self._poff[h] = self._plen[h] = self._pcap[h] = 0
        self._n_heads = h + 1
        return h

    def _split_oversized(self, heads: np.ndarray) -> None:
        """Split every posting in ``heads`` (and any that reassignment overfills)."""
        queue = [int(h) for h in heads]
        budget = 4 * len(queue) + 64  # guards against pathological cascades
        while queue and budget > 0:
            budget -= 1
            h = queue.pop()
            if self._plen[h] <= self.posting_vector_limit:
                continue
            queue.extend(self._split(h))

    def _split(self, h: int) -> list[int]:
        """Split posting ``h`` in two (SPFresh, simplified); returns postings now over the cap."""
        words, _, _, _ = self._read([h])
        keep = live_records(words, self._dead)
        rec = np.ascontiguousarray(words[keep])
        limit = self.posting_vector_limit
        if rec.shape[0] <= limit:  # tombstones made room: garbage-collect in place
            self._write_posting(h, rec, append=False)
            return []
        vecs = np.ascontiguousarray(rec[:, 4:]).view(np.float32)
        slots = _slots_of(rec)
        km = KMeans(2, n_iter=self.kmeans_iter, seed=self.seed + h, balanced=True)
        cent = km.fit(vecs).centroids
        if np.array_equal(cent[0], cent[1]):
            return []  # identical vectors: cannot split
        assert self._head_index is not None
        hb = self._new_head()
        self._head_index.add(cent, np.array([h, hb], dtype=np.int64))
        self._refresh_head_slots()
        cand, cand_d = self._candidates(vecs, self.reassign_candidates)
        d_ab = np.stack(
            [((vecs - cent[0]) ** 2).sum(axis=1), ((vecs - cent[1]) ** 2).sum(axis=1)], axis=1
        )
        near_ab = np.where(d_ab[:, 0] <= d_ab[:, 1], h, hb)
        nearest = cand[:, 0]
        moved = (nearest != h) & (nearest != hb) & (cand_d[:, 0] < d_ab.min(axis=1))
        target = np.where(moved, nearest, near_ab)
        # boundary replica: the other new head, under the closure and RNG rules
        d_near = d_ab.min(axis=1)
        d_other = d_ab.max(axis=1)
        ab = float(((cent[0] - cent[1]) ** 2).sum())
        extra = (
            ~moved
            & (d_other <= self.closure_ratio * d_near)
            & ~(self.rng_factor * ab < d_other)
            & (self._nrep[slots] < self.replica_count)
        )
        other = np.where(near_ab == h, hb, h)
        self._nrep[slots[extra]] += 1
        self._plen[h] = 0  # rewritten below
        heads_all = np.concatenate((target, other[extra])).astype(np.int64)
        rows_all = np.concatenate((np.arange(rec.shape[0]), np.flatnonzero(extra)))
        self._append_grouped(heads_all, slots[rows_all], vecs[rows_all])
        touched = np.unique(heads_all)
        return [int(t) for t in touched if self._plen[t] > limit]

    def compact(self) -> None:
        """Rewrite the postings without dead records or garbage; dead slots become free."""
        self._require_trained()
        self._make_writable()
        f = tempfile.TemporaryFile(dir=self._tmp_dir(), prefix=".spann-postings-")  # noqa: SIM115
        try:
            off, cap, lens, end = self._write_compacted(f.fileno())
        except BaseException:
            f.close()
            raise
        self._close_file()
        self._file, self._fd = f, f.fileno()
        h = self._n_heads
        self._poff[:h], self._pcap[:h], self._plen[:h] = off, cap, lens
        self._file_end, self._garbage = end, 0
        n = self._n_slots
        self._dead[:n] = False  # dead slots already have slot id -1: now free
        self._n_dead = 0

    def _write_compacted(self, fd: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Write every posting's live records to ``fd`` with a fresh layout."""
        h = self._n_heads
        off = np.zeros(h, dtype=np.int64)
        cap = np.zeros(h, dtype=np.int64)
        lens = np.zeros(h, dtype=np.int64)
        pos = 0
        for i in range(h):
            words, _, _, _ = self._read([i])
            rec = words[live_records(words, self._dead)] if self._n_dead else words
            m = rec.shape[0]
            pages = self._pages_for(m)
            off[i], cap[i], lens[i] = pos, pages * PAGE // self.record_bytes, m
            if m:
                os.pwrite(fd, np.ascontiguousarray(rec), pos)
            pos += pages * PAGE
        os.ftruncate(fd, pos)
        return off, cap, lens, pos

    # -- search --------------------------------------------------------------------------------
    def search(
        self,
        queries: Any,
        k: int,
        params: SPANNParams | None = None,
        allow: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest stored vectors of each query (see the module docstring)."""
        ids, dists, _ = self.search_with_stats(queries, k, params, allow)
        return ids, dists

    def search_with_stats(
        self,
        queries: Any,
        k: int,
        params: SPANNParams | None = None,
        allow: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, SearchStats]:
        """:meth:`search` plus per-query postings, pages, bytes and records read."""
        if self._head_index is None:
            raise NotTrainedError("SPANNIndex must be trained (or built) before search")
        q = self.prepare(queries, what="queries")
        k = check_k(k)
        p = check_params(params, SPANNParams)
        mask = self.allow_mask(allow)
        nq = q.shape[0]
        out_ids = np.full((nq, k), -1, dtype=np.int64)
        out_d = np.full((nq, k), np.inf, dtype=np.float32)
        st = np.zeros((4, nq), dtype=np.int64)
        if nq == 0 or self._n_heads == 0:
            return out_ids, out_d, SearchStats(*st)
        if mask is None:
            n_allowed = self._ntotal
            mask_arr = _EMPTY_MASK
        else:
            mask_arr = mask
            live = self._slot_ids[: self._n_slots] >= 0
            n_allowed = int(np.count_nonzero(mask & live))
        want = min(k, n_allowed)
        n_probe = min(p.n_probe, self._n_heads)
        ef = p.ef_heads if p.ef_heads is not None else max(2 * n_probe, 64)
        with numba_threads(p.n_threads):
            hids, hd = self._head_index.search(q, n_probe, HNSWParams(ef=max(ef, n_probe)))
        metric = METRIC_CODES[self.metric]
        for i in range(nq):
            sel = hids[i]
            dsel = hd[i]
            ok = sel >= 0
            sel, dsel = sel[ok], dsel[ok]
            if sel.size and dsel[0] > 0 and np.isfinite(p.max_dist_ratio):
                sel = sel[dsel <= p.max_dist_ratio * dsel[0]]
            heap_d = np.full(k, np.inf, dtype=np.float32)
            heap_s = np.full(k, _EMPTY_SLOT, dtype=np.int64)
            heap_i = np.full(k, -1, dtype=np.int64)
            heap = (heap_d, heap_s, heap_i)
            probed = self._probe(q[i], sel, metric, mask_arr, heap, st[:, i])
            if want and int(np.count_nonzero(heap_s != _EMPTY_SLOT)) < want:
                self._widen(q[i], probed, want, metric, mask_arr, heap, st[:, i])
            order = np.lexsort((heap_s, heap_d))
            hs, hdist, hi = heap_s[order], heap_d[order], heap_i[order]
            good = hs != _EMPTY_SLOT
            m = int(good.sum())
            out_ids[i, :m] = hi[good]
            out_d[i, :m] = hdist[good]
        with self._lock:
            self._io[:3] += st[:3].sum(axis=1)
            self._io[3] += nq
        return out_ids, out_d, SearchStats(st[0], st[1], st[2], st[3])

    def _probe(
        self,
        q: np.ndarray,
        heads: np.ndarray,
        metric: int,
        mask: np.ndarray,
        heap: tuple[np.ndarray, np.ndarray, np.ndarray],
        stats: np.ndarray,
    ) -> np.ndarray:
        if heads.size:
            words, vecs, pages, nbytes = self._read(heads, scratch=True)
            scored = scan_records(q, words, vecs, metric, self._dead, mask, *heap)
            stats[0] += heads.size
            stats[1] += pages
            stats[2] += nbytes
            stats[3] += scored
        return heads

    def _widen(
        self,
        q: np.ndarray,
        probed: np.ndarray,
        want: int,
        metric: int,
        mask: np.ndarray,
        heap: tuple[np.ndarray, np.ndarray, np.ndarray],
        stats: np.ndarray,
    ) -> None:
        """Probe further heads, nearest first, until ``want`` hits or every posting is read."""
        heads = self.heads()
        d = ((heads - q[None, :]) ** 2).sum(axis=1)
        order = np.argsort(d, kind="stable")
        order = order[~np.isin(order, probed)]
        step = max(8, probed.size)
        pos = 0
        while pos < order.size and int(np.count_nonzero(heap[1] != _EMPTY_SLOT)) < want:
            batch = order[pos : pos + step]
            self._probe(q, batch, metric, mask, heap, stats)
            pos += step
            step *= 2

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write heads, head index, offsets, slot tables and a compacted postings file."""
        self._require_trained()
        assert self._head_index is not None
        layout: dict[str, Any] = {}

        def write(target: Path) -> None:
            with open(target, "wb") as fh:
                if self._n_dead == 0 and self._garbage == 0:
                    _copy_fd(self._fd, fh.fileno(), self._file_end)
                    os.ftruncate(fh.fileno(), self._file_end)
                    h = self._n_heads
                    layout.update(
                        off=self._poff[:h].copy(),
                        cap=self._pcap[:h].copy(),
                        lens=self._plen[:h].copy(),
                        end=self._file_end,
                    )
                else:
                    off, cap, lens, end = self._write_compacted(fh.fileno())
                    layout.update(off=off, cap=cap, lens=lens, end=end)
                fh.flush()
                os.fsync(fh.fileno())

        # The arrays must describe the saved file's layout, so the file is written first into
        # a scratch directory next to the target, then moved into the atomic save.
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = tempfile.TemporaryDirectory(dir=target.parent, prefix=".spann-save-")
        try:
            pre = Path(scratch.name) / POSTINGS_FILE
            write(pre)
            n = self._n_slots
            dead = self._dead[:n].copy()
            if self._n_dead:
                dead[:] = False  # the saved copy holds no dead records: dead slots are free
            arrays = {
                "posting_offsets": layout["off"],
                "posting_capacity": layout["cap"],
                "posting_lengths": layout["lens"],
                "slot_ids": self._slot_ids[:n],
                "dead": dead,
                "replicas": self._nrep[:n],
            }
            meta = {
                "head_ratio": self.head_ratio,
                "replica_count": self.replica_count,
                "rng_factor": self.rng_factor,
                "closure_ratio": self.closure_ratio,
                "posting_vector_limit": self.posting_vector_limit,
                "build_candidates": self.build_candidates,
                "reassign_candidates": self.reassign_candidates,
                "branching": self.branching,
                "head_M": self.head_M,
                "head_ef_construction": self.head_ef_construction,
                "slack": self.slack,
                "max_train_points": self.max_train_points,
                "chunk_rows": self.chunk_rows,
                "kmeans_iter": self.kmeans_iter,
                "compact_fraction": self.compact_fraction,
                "seed": self.seed,
                "ntotal": self._ntotal,
                "file_end": int(layout["end"]),
                "record_bytes": self.record_bytes,
            }

            def move(target: Path) -> None:
                shutil.move(str(pre), target)

            children = {"heads": self._head_index, "postings": _PostingsCopy(move)}
            self._save_arrays(path, arrays, meta, children)
        finally:
            scratch.cleanup()

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        mmap: bool = True,
        work_dir: str | os.PathLike[str] | None = None,
    ) -> SPANNIndex:
        """Load a saved index. The postings stay in the saved file (read in place); ``mmap``
        maps the slot tables instead of reading them. The first write copies the postings
        file to a temporary file in ``work_dir`` (default: the parent of ``path``)."""
        manifest, arrays = cls._load_arrays(path, mmap=mmap, mmap_mode="c")
        meta = manifest["meta"]
        src = Path(path)
        if manifest.get("children", {}).get("postings") != _PostingsCopy.kind:
            raise IndexFormatError(f"{src}: no postings file in the manifest")
        keys = [
            "head_ratio",
            "replica_count",
            "rng_factor",
            "closure_ratio",
            "posting_vector_limit",
            "build_candidates",
            "reassign_candidates",
            "branching",
            "head_M",
            "head_ef_construction",
            "slack",
            "max_train_points",
            "chunk_rows",
            "kmeans_iter",
            "compact_fraction",
            "seed",
        ]
        index = cls(
            manifest["dim"],
            manifest["metric"],
            **{key: meta[key] for key in keys},
            work_dir=str(src.parent) if work_dir is None else work_dir,
        )
        if int(meta["record_bytes"]) != index.record_bytes:
            raise IndexFormatError(f"{src}: record size does not match the dimension")
        index._head_index = HNSWIndex.load(src / "heads", mmap=mmap)
        a = arrays
        index._poff = np.asarray(a["posting_offsets"])
        index._n_heads = index._poff.shape[0]
        index._refresh_head_slots()
        index._pcap = np.asarray(a["posting_capacity"])
        index._plen = np.asarray(a["posting_lengths"])
        index._slot_ids = a["slot_ids"]
        index._dead = a["dead"]
        index._nrep = a["replicas"]
        index._n_slots = index._slot_ids.shape[0]
        index._ntotal = int(meta["ntotal"])
        index._n_dead = 0
        index._file_end = int(meta["file_end"])
        file = src / "postings" / POSTINGS_FILE
        try:
            fd = os.open(file, os.O_RDONLY)
        except FileNotFoundError as exc:
            raise IndexFormatError(f"{src}: postings file missing") from exc
        if os.fstat(fd).st_size < index._file_end:
            os.close(fd)
            raise IndexFormatError(f"{src}: postings file is truncated")
        index._fd = fd
        index._file = None
        index._writable = False
        return index

    def drop_page_cache(self) -> None:
        """Ask the kernel to drop the postings file's cached pages (for cold-cache runs).

        Only the postings file: pages of memory-mapped slot tables that a process has mapped
        stay resident (they are reported under ``memory_report()["mapped"]``)."""
        if self._writable:
            os.fsync(self._fd)  # dirty pages cannot be dropped
        os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_DONTNEED)

    # -- helpers -------------------------------------------------------------------------------
    def _require_trained(self) -> None:
        if self._head_index is None:
            raise NotTrainedError("SPANNIndex must be trained before adding vectors")


def _slots_of(words: np.ndarray) -> np.ndarray:
    return words[:, 0].astype(np.int64) | (words[:, 1].astype(np.int64) << 32)


def _is_mapped(a: np.ndarray) -> bool:
    base = a
    while isinstance(base, np.ndarray):
        if isinstance(base, np.memmap):
            return True
        base = base.base
    import mmap as _mmap

    return isinstance(base, _mmap.mmap)
