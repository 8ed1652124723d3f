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
``codec``                  what postings hold: ``"float32"`` vectors (default) or ``"binary"``
                           1-bit codes with float rescoring (see "Codecs")
``SPANNParams.oversampling``  ``codec="binary"``: candidates kept by code score, ``* k``
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

**Layout** (:mod:`indexes.disk_invlists`, :mod:`indexes.spann_codecs`). One file of
fixed-size records; each posting is a contiguous run of records starting on a 4 KiB page
boundary, with ``slack`` spare capacity for inserts. RAM holds the offsets table (offset,
length, capacity: 24 bytes per head). A float32 record is ``(slot int64, id int64, vector
float32[dim])`` (``16 + 4 * dim`` bytes; the id is there so that a search never reads the
slot -> id table); with ``codec="binary"`` records hold a 1-bit code instead (see "Codecs").
The codec is one object per record layout, chosen at construction; the algorithm below
never asks which one it holds.

**Codecs.** ``codec="binary"`` stores in each record ``(slot, id, scale float32, |x^|^2
float32, code uint64[ceil(dim / 64)])`` -- 32 bytes at dim 50, 128 at dim 784, against
216 and 3152 for float32 -- where the code is the sign pattern ``b`` of ``u = x - c`` around
the training data's mean ``c`` (the encoder of :mod:`indexes.binary`,
:func:`indexes._kernels.bits.encode_recurrent` with one stage). The float vectors go to a
second file, ``vectors.bin``, one row of ``4 * dim`` bytes per slot, which RAM never holds.
A search scores the float query against the codes of the probed postings through per-query
byte lookup tables (:func:`indexes._kernels.bits.byte_luts`; "asymmetric" scoring: ranks
far better than plain Hamming distance, e.g. on Fashion-MNIST recall@10 0.95 against 0.81
at oversampling 4 in an exhaustive scan), keeps the best ``ceil(oversampling * k)``
candidates (:class:`SPANNParams`, default 8), reads only their float rows with positioned
reads and re-ranks them exactly (distances identical to the float32 codec's). The estimate
is the distance to ``x^ = c + a b`` (``a = mean |u_j|``) for l2, and RaBitQ's
``<q, b> |u|^2 / <u, b>`` for ``<q, u>`` under cosine (measured better on GloVe, worse on
l2). Pages and bytes read per query include the rescoring reads. What it buys depends on the
dimension (measured: default build parameters, 200 queries, k=10): on 20k Fashion-MNIST
(784-d) recall@10 0.998 with 367 pages a query (n_probe 32, oversampling 16) against 1.000
with 1815 for float32, and 0.981 with 162 pages against 0.990 with 463 at n_probe 8 and the
default oversampling; on 50k GloVe (50-d) the codes are coarse: 0.981 needs oversampling 32
(float32: 0.987 at n_probe 32), and its ~320 random row reads cost twice the pages of the
float32 postings they replace (306 against 153), though 3.8x fewer bytes. Splits read the
float rows of the split posting back from the vectors file; dead slots' rows stay in it
(garbage) until the slot is reused. Other codecs (PQ) are not implemented.

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
``codec="binary"`` keeps ``path/postings/vectors.bin`` the same way, and its ``center`` among the
arrays. The build parameters are one frozen :class:`indexes.spann_config.SPANNConfig`,
saved as the manifest's ``meta``.

**Exact vectors.** :meth:`SPANNIndex.get_vectors` and :meth:`SPANNIndex.search_exact` read
the stored float vectors back by slot: float32 records through the postings file's locator
(slot -> offset of one record, built by one pass over the file on first use, 8 bytes a slot
from then on, kept current by later writes), ``codec="binary"`` rows from its vectors file.
``search_exact`` scores every allowed live point with the distances of the search scan.
Searches never touch the locator.

**Memory** (:meth:`SPANNIndex.memory_report`): the head index (head vectors, stored once,
and its graph), the offsets table, and per slot:
dead flag (1 byte, read by every search), replica count (1 byte) and slot -> id table
(8 bytes). After ``load(mmap=True)`` the last two stay memory-mapped on disk: searches never
read them (ids are in the records); updates, filters and id lookups do. ``codec="binary"``
adds its centre (``4 * dim`` bytes); its float vectors are on disk only. The locator, once
built, adds 8 bytes a slot (``memory_report()["locator"]``).

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

from indexes._kernels.spann import live_records, scan_rows, select_replicas
from indexes._kernels.topk import heap_sort
from indexes._threads import numba_threads
from indexes.base import (
    METRIC_CODES,
    PAD_ID,
    BaseIndex,
    as_ids,
    check_k,
    check_params,
    check_positive_int,
)
from indexes.disk_invlists import PAGE, DiskInvertedLists, slots_of, temp_file
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
from indexes.spann_codecs import CODECS, EMPTY_SLOT, Heap
from indexes.spann_config import SPANNConfig, SPANNParams

__all__ = ["PAGE", "POSTINGS_FILE", "SPANNConfig", "SPANNIndex", "SPANNParams", "SearchStats"]

POSTINGS_FILE = "postings.bin"
_EMPTY_MASK = np.zeros(0, dtype=np.bool_)
_D = SPANNConfig()  # the defaults, shown in the constructor's signature
#: Slots whose vectors an exact scan gathers at a time.
_EXACT_CHUNK = 16_384
#: An exact scan reads everything rather than gather by slot above 1 / this of the slots.
_DENSE_ABOVE = 5
#: Bytes of postings an exact scan reads at a time.
_EXACT_BATCH_BYTES = 8 << 20


@dataclass(frozen=True, slots=True)
class SearchStats:
    """Per-query I/O of one search call (arrays of length n_queries). ``pages`` and ``bytes``
    include the rescoring reads of ``codec="binary"``; ``records`` counts posting records."""

    postings: np.ndarray
    pages: np.ndarray
    bytes: np.ndarray
    records: np.ndarray


class _PostingsCopy:
    """A child written into the save directory: the postings file and the codec's files,
    written beforehand into a scratch directory and moved in."""

    kind = "spann-postings"

    def __init__(self, scratch: Path, names: tuple[str, ...]) -> None:
        self._scratch = scratch
        self._names = names

    def save(self, path: str | os.PathLike[str]) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        for name in self._names:
            shutil.move(str(self._scratch / name), Path(path) / name)


class SPANNIndex(BaseIndex):
    """SPANN-style disk index; see the module docstring for the algorithm and parameters."""

    kind = "spann"
    format_version = 1
    keeps_vectors = True

    def __init__(
        self,
        dim: int,
        metric: str = "l2",
        *,
        head_ratio: float = _D.head_ratio,
        replica_count: int = _D.replica_count,
        rng_factor: float = _D.rng_factor,
        closure_ratio: float = _D.closure_ratio,
        posting_vector_limit: int = _D.posting_vector_limit,
        build_candidates: int = _D.build_candidates,
        reassign_candidates: int = _D.reassign_candidates,
        branching: int = _D.branching,
        head_M: int = _D.head_M,
        head_ef_construction: int = _D.head_ef_construction,
        slack: float = _D.slack,
        max_train_points: int = _D.max_train_points,
        chunk_rows: int = _D.chunk_rows,
        kmeans_iter: int = _D.kmeans_iter,
        compact_fraction: float = _D.compact_fraction,
        seed: int = _D.seed,
        work_dir: str | os.PathLike[str] | None = None,
        codec: str = _D.codec,
    ) -> None:
        super().__init__(dim, metric)
        self.config = SPANNConfig(
            head_ratio=head_ratio,
            replica_count=replica_count,
            rng_factor=rng_factor,
            closure_ratio=closure_ratio,
            posting_vector_limit=posting_vector_limit,
            build_candidates=build_candidates,
            reassign_candidates=reassign_candidates,
            branching=branching,
            head_M=head_M,
            head_ef_construction=head_ef_construction,
            slack=slack,
            max_train_points=max_train_points,
            chunk_rows=chunk_rows,
            kmeans_iter=kmeans_iter,
            compact_fraction=compact_fraction,
            seed=seed,
            codec=codec,
        )
        if self.metric == "ip":
            raise UnsupportedOperationError(
                "SPANNIndex supports the l2 and cosine metrics, not ip (its closure and "
                "distance-ratio rules need non-negative distances)"
            )
        self.work_dir = None if work_dir is None else str(work_dir)
        self._codec = CODECS[self.config.codec](self.dim, self.metric, self.work_dir)
        self._lists = DiskInvertedLists(self._codec.record_words, self.config.slack, self.work_dir)
        # heads: posting h is list h of ``_lists``; its vector is in the head index
        self._head_slot = np.zeros(0, dtype=np.int64)  # head id -> slot in the head index
        self._head_index: HNSWIndex | None = None
        # slots
        self._n_slots = 0
        self._ntotal = 0
        self._n_dead = 0  # dead slots whose records may still be in postings
        self._slot_ids = np.zeros(0, dtype=np.int64)
        self._dead = np.zeros(0, dtype=np.bool_)
        self._nrep = np.zeros(0, dtype=np.uint8)
        self._order: np.ndarray | None = None  # argsort of slot ids, for lookups
        self._lock = threading.Lock()
        self._io = np.zeros(4, dtype=np.int64)  # cumulative postings, pages, bytes, queries

    @classmethod
    def from_config(
        cls,
        dim: int,
        metric: str,
        config: SPANNConfig,
        *,
        work_dir: str | os.PathLike[str] | None = None,
    ) -> SPANNIndex:
        """A new, empty index with the build parameters of ``config``."""
        return cls(dim, metric, **config.to_meta(), work_dir=work_dir)

    # -- protocol ------------------------------------------------------------------------------
    @property
    def codec(self) -> str:
        """What the postings hold: ``"float32"`` or ``"binary"``."""
        return self.config.codec

    @property
    def record_bytes(self) -> int:
        """Bytes of one posting record."""
        return self._codec.record_bytes

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
        return self._lists.n_lists

    def slot_ids(self) -> np.ndarray:
        """Id held by each slot (``-1`` for a free or deleted slot)."""
        return self._slot_ids[: self._n_slots]

    def memory_report(self) -> dict[str, int]:
        """Bytes by part. ``dead_flags`` is read by every search, so it counts as resident
        even when memory-mapped; the slot -> id table and replica counts are read only by
        updates, filters and id lookups, and count under ``mapped`` when memory-mapped.
        ``locator`` is 0 until ``get_vectors`` or ``search_exact`` first needs it."""

        def ram(a: np.ndarray) -> int:
            return 0 if _is_mapped(a) else int(a.nbytes)

        def mapped(a: np.ndarray) -> int:
            return int(a.nbytes) if _is_mapped(a) else 0

        return {
            "head_index": 0 if self._head_index is None else self._head_index.memory_bytes(),
            "offsets": self._lists.table_bytes(),
            "dead_flags": int(self._dead.nbytes),
            "slot_ids": ram(self._slot_ids),
            "replicas": ram(self._nrep),
            "center": self._codec.memory_bytes(),
            "locator": self._lists.locator_bytes(),
            "mapped": mapped(self._slot_ids) + mapped(self._nrep),
        }

    def memory_bytes(self) -> int:
        """Bytes this index holds in RAM (see :meth:`memory_report`; mapped arrays excluded)."""
        rep = self.memory_report()
        return int(sum(v for k, v in rep.items() if k != "mapped"))

    def disk_bytes(self) -> int:
        """Size of the postings file (including slack and relocation garbage), plus the float
        vectors file of ``codec="binary"`` (4 * dim bytes per slot)."""
        return int(self._lists.end) + self._codec.disk_bytes(self._n_slots)

    def io_counters(self) -> dict[str, int]:
        """Cumulative postings, pages and bytes read by searches, and queries answered."""
        p, g, b, q = (int(v) for v in self._io)
        return {"postings": p, "pages": g, "bytes": b, "queries": q}

    def posting_lengths(self) -> np.ndarray:
        """Records (live or dead) in each posting."""
        return self._lists.lengths[: self.n_heads].copy()

    def posting_slots(self, head: int) -> np.ndarray:
        """Slots of the records of posting ``head`` (dead ones included), for inspection."""
        if not 0 <= head < self.n_heads:
            raise InvalidParameterError(f"head {head} out of range [0, {self.n_heads})")
        return slots_of(self._lists.read([head])[0])

    def posting_vectors(self, head: int) -> np.ndarray:
        """Vectors of the records of posting ``head``, in record order (for the binary codec,
        the float vectors of the records' slots)."""
        return self._codec.vectors_of(self._lists.read([head])[0])

    def heads(self) -> np.ndarray:
        """The head vectors (a copy)."""
        return self._head_vectors()[self._head_slot[: self.n_heads]]

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
        slot = np.full(max(self.n_heads, 1), -1, dtype=np.int64)
        slot[sid[live]] = live
        self._head_slot = slot

    # -- exact vectors -------------------------------------------------------------------------
    def get_vectors(self, ids: Any) -> np.ndarray:
        """Stored vectors of ``ids`` (normalised under cosine), in the given order, read from
        disk (see "Exact vectors" in the module docstring)."""
        ids_arr = as_ids(ids)
        slots, found = self._lookup(ids_arr)
        if not found.all():
            raise UnknownIdError(f"id {int(ids_arr[~found][0])} is not in the index")
        if ids_arr.size == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._codec.read_slots(self._lists, slots)

    def search_exact(
        self,
        queries: Any,
        k: int,
        allow: np.ndarray | None = None,
        n_threads: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact ``k`` nearest among the allowed live points, scored against their stored
        vectors with the distances of :meth:`search` (ties by slot), padded like it.

        Few allowed points: their vectors are gathered by slot. Many (over a fifth of the
        slots): one pass over the postings when the records hold the float vectors, else
        over the codec's vectors file in slot order. Measured on 100k GloVe vectors
        (float32): 2.1 us a point gathered by slot, 0.44 us a point in a pass over the
        postings. Runs on the calling thread, so ``n_threads`` has nothing to cap."""
        q = self.prepare(queries, what="queries")
        k = check_k(k)
        nq = q.shape[0]
        out_ids = np.full((nq, k), PAD_ID, dtype=np.int64)
        out_d = np.full((nq, k), np.inf, dtype=np.float32)
        n = self._n_slots
        live = self._slot_ids[:n] >= 0
        admit = live if allow is None else self.allow_mask(allow) & live
        slots = np.flatnonzero(admit)
        if nq == 0 or slots.size == 0:
            return out_ids, out_d
        metric = METRIC_CODES[self.metric]
        hd = np.full((nq, k), np.inf, dtype=np.float32)
        hs = np.full((nq, k), EMPTY_SLOT, dtype=np.int64)
        dense = slots.size * _DENSE_ABOVE > n
        if dense and self._codec.records_exact:
            self._exact_by_postings(q, admit, metric, hd, hs)
        else:  # by slot: the admitted slots, or (dense) every slot's row, admitted ones scored
            step = _EXACT_CHUNK
            for start in range(0, n if dense else slots.size, step):
                if dense:
                    chunk = np.arange(start, min(start + step, n), dtype=np.int64)
                    keep = admit[start : start + step]
                    rows = self._codec.read_slots(self._lists, chunk)[keep]
                    chunk = chunk[keep]
                else:
                    chunk = slots[start : start + step]
                    rows = self._codec.read_slots(self._lists, chunk)
                for i in range(nq):
                    scan_rows(q[i], rows, chunk, metric, hd[i], hs[i])
        for i in range(nq):
            heap_sort(hd[i], hs[i])
        good = hs != EMPTY_SLOT
        out_ids[good] = self._slot_ids[hs[good]]
        out_d[good] = hd[good]
        return out_ids, out_d

    def _exact_by_postings(
        self, q: np.ndarray, admit: np.ndarray, metric: int, hd: np.ndarray, hs: np.ndarray
    ) -> None:
        """Fold every admitted record into the heaps ``(hd[i], hs[i])``: all postings read
        once, in batches of at most ``_EXACT_BATCH_BYTES`` (replicas skipped by the scan)."""
        hi = np.full(hd.shape, -1, dtype=np.int64)  # ids: looked up from slots afterwards
        states = [self._codec.query_state(q[i]) for i in range(q.shape[0])]
        sizes = self._lists.lengths[: self.n_heads] * self.record_bytes
        batch = np.cumsum(sizes) // _EXACT_BATCH_BYTES
        cut = np.flatnonzero(np.r_[True, batch[1:] != batch[:-1], True])
        for a, b in zip(cut[:-1].tolist(), cut[1:].tolist(), strict=True):
            words, floats, _, _ = self._lists.read(np.arange(a, b))
            for i, state in enumerate(states):
                heap = (hd[i], hs[i], hi[i])
                self._codec.scan(state, words, floats, metric, self._dead, admit, heap)

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
        total = n if n_total is None else check_positive_int("n_total", n_total)
        n_heads = int(min(n, max(1, round(self.config.head_ratio * total))))
        heads = self._select_heads(data, n_heads)
        self._codec.train(data)
        self._set_heads(heads)

    def _select_heads(self, x: np.ndarray, n_heads: int) -> np.ndarray:
        """Hierarchical balanced k-means: ``n_heads`` centroids of balanced clusters."""
        cfg = self.config
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
            k = target if target <= cfg.branching else cfg.branching
            calls += 1
            km = KMeans(
                k,
                n_iter=cfg.kmeans_iter,
                seed=cfg.seed + calls,
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
        self._lists.reset(h)
        self._codec.open_work()
        self._head_index = HNSWIndex(
            self.dim,
            "l2",
            M=self.config.head_M,
            ef_construction=self.config.head_ef_construction,
            seed=self.config.seed,
        )
        self._head_index.add(np.ascontiguousarray(heads), np.arange(h, dtype=np.int64))
        self._refresh_head_slots()

    # -- assignment rules ----------------------------------------------------------------------
    def _candidates(self, x: np.ndarray, c: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``c`` nearest heads of each row by the head index (squared L2), ascending."""
        assert self._head_index is not None
        c = min(c, self.n_heads)
        ids, d = self._head_index.search(x, c, HNSWParams(ef=max(2 * c, 64)))
        return ids, d

    def _assign(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Replica heads of each row: ``(heads (n, R), sq. distances (n, R), counts (n,))``."""
        cand, cand_d = self._candidates(x, self.config.build_candidates)
        return select_replicas(
            x,
            cand,
            np.ascontiguousarray(cand_d, dtype=np.float32),
            self._head_vectors(),
            self._head_slot,
            self.config.replica_count,
            np.float32(self.config.closure_ratio),
            np.float32(self.config.rng_factor),
        )

    # -- files ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Release the postings (and vectors) file (the index is unusable afterwards)."""
        self._lists.close()
        self._codec.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown
            self.close()

    def _make_writable(self) -> None:
        """Before a write to a loaded index: private copies of its files, tables in memory.

        The codec's files are copied first: if copying the postings fails, the next write
        tries again."""
        if self._lists.writable:
            return
        self._codec.make_writable(self._n_slots)
        self._lists.make_writable()
        self._slot_ids = np.array(self._slot_ids)
        self._dead = np.array(self._dead)
        self._nrep = np.array(self._nrep)

    def _records(self, slots: np.ndarray, vecs: np.ndarray) -> np.ndarray:
        """The codec's records for live ``slots`` (ids come from the slot table)."""
        return self._codec.encode(slots, self._slot_ids[slots.astype(np.int64, copy=False)], vecs)

    def drop_page_cache(self) -> None:
        """Ask the kernel to drop the postings file's cached pages (for cold-cache runs).

        Only the postings file (and the binary codec's vectors file): pages of memory-mapped
        slot tables that a process has mapped stay resident (they are reported under
        ``memory_report()["mapped"]``)."""
        self._lists.drop_page_cache()
        self._codec.drop_page_cache()

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
            rng = np.random.default_rng(self.config.seed)
            m = min(n, self.config.max_train_points)
            rows = np.arange(n) if m == n else np.sort(rng.choice(n, m, replace=False))
            self.train(np.asarray(source[rows]), n_total=n)
        self._bulk(source, ids_arr)

    def _bulk(self, source: Any, ids: np.ndarray) -> None:
        """Two-pass streaming build into an empty index (see the module docstring)."""
        n = ids.shape[0]
        r = self.config.replica_count
        h_total = self.n_heads
        step = self.config.chunk_rows
        spill = temp_file(self.work_dir, ".spann-spill-")
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
            limit = self.config.posting_vector_limit
            over = counts > limit
            if over.any():
                self._apply_caps(sp_h, sp_d, over, prim, limit)
                counts = np.zeros(h_total, dtype=np.int64)
                for s in range(0, n, step):
                    hh = np.asarray(sp_h[s : s + step])
                    counts += np.bincount(hh[hh >= 0], minlength=h_total)
            self._lists.allocate(counts)
            self._grow_slots(n)
            self._slot_ids[:n] = ids
            self._n_slots = n
            self._ntotal = n
            self._order = None
            for s in range(0, n, step):  # pass 2: write records at their place
                x = self.prepare(source[s : s + step])
                hh = np.asarray(sp_h[s : s + x.shape[0]])
                self._nrep[s : s + x.shape[0]] = (hh >= 0).sum(axis=1)
                self._codec.store_vectors(np.arange(s, s + x.shape[0]), x)
                rows, ranks = np.nonzero(hh >= 0)
                self._append_grouped(hh[rows, ranks].astype(np.int64), s + rows, x[rows])
            del sp_h, sp_d
        finally:
            spill.close()
        self._split_oversized(np.flatnonzero(self._lists.lengths > limit))

    def _apply_caps(
        self, sp_h: np.ndarray, sp_d: np.ndarray, over: np.ndarray, prim: np.ndarray, limit: int
    ) -> None:
        """Drop the farthest records of over-full postings (replicas before nearest-head
        records) so that each keeps ``max(limit, its nearest-head records)``."""
        n = sp_h.shape[0]
        step = self.config.chunk_rows
        heads_l, rows_l, ranks_l, d_l = [], [], [], []
        for s in range(0, n, step):
            hh = np.asarray(sp_h[s : s + step])
            sel = (hh >= 0) & over[np.maximum(hh, 0)]
            rows, ranks = np.nonzero(sel)
            heads_l.append(hh[rows, ranks])
            rows_l.append(rows + s)
            ranks_l.append(ranks)
            d_l.append(np.asarray(sp_d[s : s + step])[rows, ranks])
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
            self._lists.write(int(hs[a]), rec[a:b], append=True)

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
        self._codec.store_vectors(slots, vecs)
        rows, ranks = np.nonzero(hh >= 0)
        self._append_grouped(hh[rows, ranks], slots[rows], vecs[rows])
        limit = self.config.posting_vector_limit
        self._split_oversized(np.flatnonzero(self._lists.lengths[: self.n_heads] > limit))
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
        end = self._lists.end
        if (self._n_slots and self._n_dead > self.config.compact_fraction * self._n_slots) or (
            end and self._lists.garbage > 0.5 * end
        ):
            self.compact()

    def _split_oversized(self, heads: np.ndarray) -> None:
        """Split every posting in ``heads`` (and any that reassignment overfills)."""
        queue = [int(h) for h in heads]
        budget = 4 * len(queue) + 64  # guards against pathological cascades
        while queue and budget > 0:
            budget -= 1
            h = queue.pop()
            if self._lists.lengths[h] <= self.config.posting_vector_limit:
                continue
            queue.extend(self._split(h))

    def _split(self, h: int) -> list[int]:
        """Split posting ``h`` in two (SPFresh, simplified); returns postings now over the cap."""
        cfg = self.config
        words, _, _, _ = self._lists.read([h])
        keep = live_records(words, self._dead)
        rec = np.ascontiguousarray(words[keep])
        limit = cfg.posting_vector_limit
        if rec.shape[0] <= limit:  # tombstones made room: garbage-collect in place
            self._lists.write(h, rec, append=False)
            return []
        slots = slots_of(rec)
        vecs = self._codec.vectors_of(rec)
        km = KMeans(2, n_iter=cfg.kmeans_iter, seed=cfg.seed + h, balanced=True)
        cent = km.fit(vecs).centroids
        if np.array_equal(cent[0], cent[1]):
            return []  # identical vectors: cannot split
        assert self._head_index is not None
        hb = self._lists.new_list()
        self._head_index.add(cent, np.array([h, hb], dtype=np.int64))
        self._refresh_head_slots()
        cand, cand_d = self._candidates(vecs, cfg.reassign_candidates)
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
            & (d_other <= cfg.closure_ratio * d_near)
            & ~(cfg.rng_factor * ab < d_other)
            & (self._nrep[slots] < cfg.replica_count)
        )
        other = np.where(near_ab == h, hb, h)
        self._nrep[slots[extra]] += 1
        self._lists.clear(h)  # rewritten below
        heads_all = np.concatenate((target, other[extra])).astype(np.int64)
        rows_all = np.concatenate((np.arange(rec.shape[0]), np.flatnonzero(extra)))
        self._append_grouped(heads_all, slots[rows_all], vecs[rows_all])
        touched = np.unique(heads_all)
        return [int(t) for t in touched if self._lists.lengths[t] > limit]

    def compact(self) -> None:
        """Rewrite the postings without dead records or garbage; dead slots become free."""
        self._require_trained()
        self._make_writable()
        self._lists.compact(self._dead if self._n_dead else None)
        self._dead[: self._n_slots] = False  # dead slots already have slot id -1: now free
        self._n_dead = 0

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
        n_heads = self.n_heads
        out_ids = np.full((nq, k), -1, dtype=np.int64)
        out_d = np.full((nq, k), np.inf, dtype=np.float32)
        st = np.zeros((4, nq), dtype=np.int64)
        if nq == 0 or n_heads == 0:
            return out_ids, out_d, SearchStats(*st)
        if mask is None:
            n_allowed = self._ntotal
            mask_arr = _EMPTY_MASK
        else:
            mask_arr = mask
            live = self._slot_ids[: self._n_slots] >= 0
            n_allowed = int(np.count_nonzero(mask & live))
        want = min(k, n_allowed)
        n_probe = min(p.n_probe, n_heads)
        ef = p.ef_heads if p.ef_heads is not None else max(2 * n_probe, 64)
        with numba_threads(p.n_threads):
            hids, hd = self._head_index.search(q, n_probe, HNSWParams(ef=max(ef, n_probe)))
        metric = METRIC_CODES[self.metric]
        codec = self._codec
        kk = codec.shortlist(k, p.oversampling)
        for i in range(nq):
            state = codec.query_state(q[i])  # what the codec scores records against
            sel = hids[i]
            dsel = hd[i]
            ok = sel >= 0
            sel, dsel = sel[ok], dsel[ok]
            if sel.size and dsel[0] > 0 and np.isfinite(p.max_dist_ratio):
                sel = sel[dsel <= p.max_dist_ratio * dsel[0]]
            heap_d = np.full(kk, np.inf, dtype=np.float32)
            heap_s = np.full(kk, EMPTY_SLOT, dtype=np.int64)
            heap_i = np.full(kk, -1, dtype=np.int64)
            heap = (heap_d, heap_s, heap_i)
            probed = self._probe(state, sel, metric, mask_arr, heap, st[:, i])
            if want and int(np.count_nonzero(heap_s != EMPTY_SLOT)) < want:
                self._widen(q[i], state, probed, want, metric, mask_arr, heap, st[:, i])
            codec.rescore(q[i], metric, heap, st[:, i])
            order = np.lexsort((heap_s, heap_d))
            hs, hdist, hi = heap_s[order], heap_d[order], heap_i[order]
            good = hs != EMPTY_SLOT
            m = min(k, int(good.sum()))
            out_ids[i, :m] = hi[good][:m]
            out_d[i, :m] = hdist[good][:m]
        with self._lock:
            self._io[:3] += st[:3].sum(axis=1)
            self._io[3] += nq
        return out_ids, out_d, SearchStats(st[0], st[1], st[2], st[3])

    def _probe(
        self,
        state: Any,
        heads: np.ndarray,
        metric: int,
        mask: np.ndarray,
        heap: Heap,
        stats: np.ndarray,
    ) -> np.ndarray:
        """Read the postings of ``heads`` and fold their records into ``heap``."""
        if heads.size:
            words, floats, pages, nbytes = self._lists.read(heads, scratch=True)
            scored = self._codec.scan(state, words, floats, metric, self._dead, mask, heap)
            stats[0] += heads.size
            stats[1] += pages
            stats[2] += nbytes
            stats[3] += scored
        return heads

    def _widen(
        self,
        q: np.ndarray,
        state: Any,
        probed: np.ndarray,
        want: int,
        metric: int,
        mask: np.ndarray,
        heap: Heap,
        stats: np.ndarray,
    ) -> None:
        """Probe further heads, nearest first, until ``want`` hits or every posting is read."""
        heads = self.heads()
        d = ((heads - q[None, :]) ** 2).sum(axis=1)
        order = np.argsort(d, kind="stable")
        order = order[~np.isin(order, probed)]
        step = max(8, probed.size)
        pos = 0
        while pos < order.size and int(np.count_nonzero(heap[1] != EMPTY_SLOT)) < want:
            batch = order[pos : pos + step]
            self._probe(state, batch, metric, mask, heap, stats)
            pos += step
            step *= 2

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write heads, head index, offsets, slot tables and a compacted postings file."""
        self._require_trained()
        assert self._head_index is not None
        # The arrays must describe the saved file's layout, so the files are written first
        # into a scratch directory next to the target, then moved into the atomic save.
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = tempfile.TemporaryDirectory(dir=target.parent, prefix=".spann-save-")
        try:
            work = Path(scratch.name)
            n = self._n_slots
            dead = self._dead[:n].copy()
            off, cap, lens, end = self._lists.save_copy(
                work / POSTINGS_FILE, self._dead if self._n_dead else None
            )
            self._codec.save_files(work, n)
            if self._n_dead:
                dead[:] = False  # the saved copy holds no dead records: dead slots are free
            arrays = {
                "posting_offsets": off,
                "posting_capacity": cap,
                "posting_lengths": lens,
                "slot_ids": self._slot_ids[:n],
                "dead": dead,
                "replicas": self._nrep[:n],
                **self._codec.arrays(),
            }
            meta = {
                **self.config.to_meta(),
                "ntotal": self._ntotal,
                "file_end": int(end),
                "record_bytes": self.record_bytes,
            }
            names = (POSTINGS_FILE, *self._codec.files())
            children = {"heads": self._head_index, "postings": _PostingsCopy(work, names)}
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
        index = cls.from_config(
            manifest["dim"],
            manifest["metric"],
            SPANNConfig.from_meta(meta),
            work_dir=str(src.parent) if work_dir is None else work_dir,
        )
        if int(meta["record_bytes"]) != index.record_bytes:
            raise IndexFormatError(f"{src}: record size does not match the dimension")
        index._head_index = HNSWIndex.load(src / "heads", mmap=mmap)
        a = arrays
        index._lists = DiskInvertedLists.open_saved(
            src / "postings" / POSTINGS_FILE,
            src,
            record_words=index._codec.record_words,
            slack=index.config.slack,
            work_dir=index.work_dir,
            offsets=a["posting_offsets"],
            capacity=a["posting_capacity"],
            lengths=a["posting_lengths"],
            end=int(meta["file_end"]),
        )
        index._refresh_head_slots()
        index._slot_ids = a["slot_ids"]
        index._dead = a["dead"]
        index._nrep = a["replicas"]
        index._n_slots = index._slot_ids.shape[0]
        index._ntotal = int(meta["ntotal"])
        index._n_dead = 0
        try:
            index._codec.open_saved(a, src / "postings", index._n_slots)
        except BaseException:
            index.close()
            raise
        return index

    # -- helpers -------------------------------------------------------------------------------
    def _require_trained(self) -> None:
        if self._head_index is None:
            raise NotTrainedError("SPANNIndex must be trained before adding vectors")


def _is_mapped(a: np.ndarray) -> bool:
    base = a
    while isinstance(base, np.ndarray):
        if isinstance(base, np.memmap):
            return True
        base = base.base
    import mmap as _mmap

    return isinstance(base, _mmap.mmap)
