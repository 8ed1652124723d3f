"""HNSW: hierarchical navigable small-world graphs (Malkov & Yashunin, 2016/2018).

The algorithm of the paper: each point gets a level drawn with ``mL = 1 / ln(M)``; layer ``l``
links every point of level ``>= l`` to at most ``M`` neighbours (``2M`` on layer 0), chosen by
the neighbour-selection heuristic (Algorithm 4, optionally keeping pruned connections); a
search descends greedily through the upper layers and runs a beam search of width ``ef`` on
layer 0. Defaults follow hnswlib: ``M=16``, ``ef_construction=200``.

How this implementation differs from a textbook one, and why:

* **State is flat numpy arrays** (vectors, layer-0 rows, upper-layer rows, levels, ids,
  tombstones), exactly what :meth:`HNSWIndex.save` writes and :meth:`HNSWIndex.load`
  memory-maps. Kernels live in :mod:`indexes._kernels.hnsw_search` and ``hnsw_build``.
* **Parallel, deterministic build.** Points are inserted in batches: the batch searches the
  current graph in parallel, then links itself, with reverse links grouped per target node
  (one writer per row). The batch schedule depends on the graph size only (``max_batch``,
  ``batch_fraction``), never on the thread count, so a seeded build gives the same graph on one
  thread or many. The graph search cannot reach the batch's own points, so each point also
  scores its batch mates exactly and picks neighbours from both: a batch that lands where the
  graph has none of its kind (a new topic added in one call) still links to itself (without
  it, 400 held-out GloVe words added at once had self-recall 0.85-0.92, now 1.0). Batches stay
  small next to the graph (2% of it, at most 1,024 points, ``docs/design/hnsw.md``).
  ``max_batch=1`` inserts strictly one point at a time, as in the paper.
* **Deletes** mark tombstones (never returned, still traversed). Once tombstones exceed
  ``consolidate_fraction`` of the graph (or on :meth:`HNSWIndex.consolidate`), every node that
  links to a deleted one is reconnected through the deleted node's neighbours with the
  heuristic, and the freed slots are reused by later adds, so recall does not decay under
  churn. Re-adding an existing id is a delete plus an insert (its vector is replaced).
* **Filtered search** (``allow``): the layer-0 search traverses every node but admits only
  allowed ones and keeps exploring until ``ef`` allowed points are known. When the filter is
  very selective this costs more than scanning the allowed points, so :meth:`HNSWIndex.plan`
  picks exact search over the allowed set when
  ``n_allowed < exact_filter_ratio * ef * ntotal / n_allowed`` (i.e. selectivity below
  ``sqrt(exact_filter_ratio * ef / ntotal)``, a cost model fitted on this machine; see
  ``docs/design/hnsw.md``). ``search`` follows that plan itself; a planner may call
  :meth:`HNSWIndex.count_allowed` / :meth:`HNSWIndex.plan` first. Any query for which the graph
  found fewer than ``min(k, n_allowed)`` hits is answered exactly, so ``k`` hits come back
  whenever ``k`` allowed points exist.
* **The single-query path is lean**: a cheap type check, one kernel call that validates and
  normalises the query, and a thread-local visited array (epoch-tagged, never cleared per
  query). Concurrent searches from several Python threads are safe; writes (``add``,
  ``remove``) need exclusive access.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import asdict, dataclass, fields
from typing import Any

import numba
import numpy as np

from indexes._kernels import hnsw_build as kb
from indexes._kernels import hnsw_search as ks
from indexes._kernels.masks import sparse_mask_slots
from indexes._threads import numba_threads
from indexes.base import (
    METRIC_CODES,
    PAD_ID,
    BaseIndex,
    SearchParams,
    as_ids,
    as_vectors,
    check_k,
    check_params,
    check_positive_int,
    config_from_meta,
)
from indexes.errors import (
    InvalidParameterError,
    InvalidVectorError,
    UnknownIdError,
)

_MAX_LEVEL = 30


def _admitted_slots(admit: np.ndarray, n_admit: int) -> np.ndarray:
    """Slots of the ``n_admit`` true entries of ``admit``, by the kernel that suits the density."""
    if n_admit * 32 < admit.shape[0]:
        return sparse_mask_slots(admit, n_admit)
    return ks.mask_slots(admit, n_admit)


@dataclass(frozen=True, slots=True)
class HNSWParams(SearchParams):
    """Per-call HNSW search parameters.

    ``ef``: beam width on layer 0 (``None``: the index's ``ef_search``); ``max(ef, k)`` is
    used. ``exact_filter_ratio``: overrides the index's cost-model constant for choosing exact
    search under a filter (``0`` always uses the graph, ``inf`` always scans exactly).
    """

    ef: int | None = None
    exact_filter_ratio: float | None = None

    def __post_init__(self) -> None:
        if self.n_threads is not None:
            check_positive_int("n_threads", self.n_threads)
        if self.ef is not None:
            check_positive_int("ef", self.ef)
        if self.exact_filter_ratio is not None and not (
            isinstance(self.exact_filter_ratio, int | float) and self.exact_filter_ratio >= 0
        ):
            raise InvalidParameterError(
                f"exact_filter_ratio must be a non-negative number, got {self.exact_filter_ratio!r}"
            )


def _fraction(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise InvalidParameterError(f"{name} must be in (0, 1], got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class HNSWConfig:
    """HNSW build parameters, validated here once; the constructor's keywords, and what
    ``save`` writes and ``load`` reads (see :class:`HNSWIndex` for their meaning)."""

    M: int = 16
    ef_construction: int = 200
    seed: int = 0
    keep_pruned: bool = False
    ef_search: int = 64
    max_batch: int = 1024
    batch_fraction: float = 0.02
    consolidate_fraction: float = 0.1
    exact_filter_ratio: float = 10.0

    def __post_init__(self) -> None:
        put = object.__setattr__  # frozen: normalise numpy scalars to plain JSON values
        put(self, "M", check_positive_int("M", self.M))
        if self.M < 2:
            raise InvalidParameterError(f"M must be at least 2, got {self.M}")
        for name in ("ef_construction", "ef_search", "max_batch"):
            put(self, name, check_positive_int(name, getattr(self, name)))
        seed = self.seed
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise InvalidParameterError(f"seed must be a non-negative integer, got {seed!r}")
        put(self, "seed", int(seed))
        if not isinstance(self.keep_pruned, bool | np.bool_):
            raise InvalidParameterError(
                f"keep_pruned must be true or false, got {self.keep_pruned!r}"
            )
        put(self, "keep_pruned", bool(self.keep_pruned))
        put(self, "batch_fraction", _fraction("batch_fraction", self.batch_fraction))
        put(
            self,
            "consolidate_fraction",
            _fraction("consolidate_fraction", self.consolidate_fraction),
        )
        ratio = self.exact_filter_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not ratio >= 0:
            raise InvalidParameterError(f"exact_filter_ratio must be non-negative, got {ratio!r}")
        put(self, "exact_filter_ratio", float(ratio))


class HNSWIndex(BaseIndex):
    """Approximate nearest-neighbour search over an HNSW graph (see the module docstring).

    Parameters: ``M`` links per node on upper layers (``2M`` on layer 0), ``ef_construction``
    beam width while building, ``seed`` for levels and random insertion order,
    ``keep_pruned`` (the heuristic's keep-pruned-connections option), ``ef_search`` the
    default search beam width, ``max_batch`` / ``batch_fraction`` the build batch size
    (``min(max_batch, batch_fraction * graph size)``, at least 1), ``consolidate_fraction``
    the tombstone share that triggers repair, ``exact_filter_ratio`` the filtered-search plan
    constant. They are validated into ``config`` (:class:`HNSWConfig`), which ``save`` writes
    and ``load`` reads. The graph keeps the exact vectors: ``get_vectors`` and
    ``search_exact`` work.
    """

    kind = "hnsw"
    format_version = 2  # 2: build parameters as meta["config"]
    older_versions = (1,)  # 1: build parameters as top-level meta keys
    keeps_vectors = True  # the graph's float vectors are the exact ones

    def __init__(
        self,
        dim: int,
        metric: str = "l2",
        M: int = 16,
        ef_construction: int = 200,
        seed: int = 0,
        *,
        keep_pruned: bool = False,
        ef_search: int = 64,
        max_batch: int = 1024,
        batch_fraction: float = 0.02,
        consolidate_fraction: float = 0.1,
        exact_filter_ratio: float = 10.0,
    ) -> None:
        super().__init__(dim, metric)
        self.config = c = HNSWConfig(
            M=M,
            ef_construction=ef_construction,
            seed=seed,
            keep_pruned=keep_pruned,
            ef_search=ef_search,
            max_batch=max_batch,
            batch_fraction=batch_fraction,
            consolidate_fraction=consolidate_fraction,
            exact_filter_ratio=exact_filter_ratio,
        )
        # plain attributes, read by the build loops and the search fast path (copies of the
        # frozen config, which stays the one source: save writes it)
        self.M = c.M
        self.M0 = 2 * c.M
        self.ef_construction = c.ef_construction
        self.ef_search = c.ef_search
        self.max_batch = c.max_batch
        self.seed = c.seed
        self.keep_pruned = c.keep_pruned
        self.batch_fraction = c.batch_fraction
        self.consolidate_fraction = c.consolidate_fraction
        self.exact_filter_ratio = c.exact_filter_ratio
        self._mult = 1.0 / math.log(self.M)
        self._metric_code = METRIC_CODES[self.metric]
        self._normalize = self.metric == "cosine"
        # prefetch the first cache lines of each neighbour's vector (the rest streams in)
        self._pf = int(min(8, -(-self.dim * 4 // 64)))
        self._rng = np.random.default_rng(self.seed)
        self._tls = threading.local()
        self._alloc(0)

    @classmethod
    def from_config(cls, dim: int, metric: str, config: HNSWConfig) -> HNSWIndex:
        """A new, empty index built with ``config``."""
        return cls(dim, metric, **asdict(config))

    # -- state ---------------------------------------------------------------------------------
    def _alloc(self, cap: int) -> None:
        self._cap = cap
        self._n_slots = 0
        self._vectors = np.zeros((cap, self.dim), dtype=np.float32)
        self._links0 = np.full((cap, self.M0), -1, dtype=np.int32)
        self._links_up = np.full((0, self.M), -1, dtype=np.int32)
        self._n_up = 0
        self._up_off = np.zeros(cap, dtype=np.int32)
        self._levels = np.full(cap, -1, dtype=np.int32)
        self._ids = np.full(cap, PAD_ID, dtype=np.int64)
        self._deleted = np.zeros(cap, dtype=np.bool_)
        self._live = np.zeros(cap, dtype=np.bool_)
        self._entry = -1
        self._max_level = -1
        self._n_live = 0
        self._n_tomb = 0
        self._n_free = 0
        self._id_map: dict[int, int] | None = {}

    def _grow(self, need: int) -> None:
        """Make room for ``need`` slots, copying into fresh writable arrays when needed."""
        if need <= self._cap:
            return
        cap = max(need, 2 * self._cap, 1024)
        n = self._n_slots

        def grown(old: np.ndarray, shape: tuple[int, ...], fill: Any) -> np.ndarray:
            new = np.full(shape, fill, dtype=old.dtype)
            new[:n] = old[:n]
            return new

        self._vectors = grown(self._vectors, (cap, self.dim), 0)
        self._links0 = grown(self._links0, (cap, self.M0), -1)
        self._up_off = grown(self._up_off, (cap,), 0)
        self._levels = grown(self._levels, (cap,), -1)
        self._ids = grown(self._ids, (cap,), PAD_ID)
        self._deleted = grown(self._deleted, (cap,), False)
        self._live = grown(self._live, (cap,), False)
        self._cap = cap

    def _grow_up(self, rows: int) -> None:
        need = self._n_up + rows
        if need <= self._links_up.shape[0]:
            return
        new = np.full((max(need, 2 * self._links_up.shape[0], 256), self.M), -1, dtype=np.int32)
        new[: self._n_up] = self._links_up[: self._n_up]
        self._links_up = new

    def _ids_to_slots(self) -> dict[int, int]:
        if self._id_map is None:  # after load: built on first use
            ids = np.asarray(self._ids[: self._n_slots])
            live = np.flatnonzero(ids >= 0)
            self._id_map = dict(zip(ids[live].tolist(), live.tolist(), strict=True))
        return self._id_map

    # -- protocol ------------------------------------------------------------------------------
    @property
    def ntotal(self) -> int:
        """Number of points that searches can return."""
        return self._n_live

    @property
    def n_deleted(self) -> int:
        """Removed points still in the graph as tombstones (repaired by :meth:`consolidate`)."""
        return self._n_tomb

    @property
    def max_level(self) -> int:
        """Top layer of the graph (``-1`` when empty)."""
        return self._max_level

    def slot_ids(self) -> np.ndarray:
        """External id by internal slot; ``-1`` for free slots and tombstones."""
        return self._ids[: self._n_slots]

    def memory_bytes(self) -> int:
        """Bytes of the arrays backing the index (capacity included)."""
        arrays = (
            self._vectors,
            self._links0,
            self._links_up,
            self._up_off,
            self._levels,
            self._ids,
            self._deleted,
            self._live,
        )
        return int(sum(a.nbytes for a in arrays))

    def prepare(self, x: Any, *, what: str = "vectors") -> np.ndarray:
        """Validate vectors; for cosine, normalise them exactly as the single-query kernel does
        (so one query gives bit-identical results alone or in a batch)."""
        out = as_vectors(x, self.dim, what=what)
        if self._normalize and out.shape[0]:
            big = out.shape[0] >= 4096
            out, bad = ks.normalize_rows(out) if big else ks.normalize_rows_serial(out)
            if bad >= 0:
                raise InvalidVectorError(
                    f"{what} row {bad} has zero norm and cannot be normalised for the cosine metric"
                )
        return out

    def train(self, x: Any) -> None:
        """Nothing to learn; validates ``x`` so misuse still fails loudly."""
        self.prepare(x, what="training vectors")

    def get_vectors(self, ids: Any) -> np.ndarray:
        """Stored (normalised, for cosine) vectors of ``ids``, in the given order."""
        ids_arr = as_ids(ids)
        m = self._ids_to_slots()
        try:
            slots = [m[i] for i in ids_arr.tolist()]
        except KeyError as exc:
            raise UnknownIdError(f"id {exc.args[0]} is not in the index") from None
        return np.array(self._vectors[np.asarray(slots, dtype=np.int64)])

    def add(
        self,
        x: Any,
        ids: Any,
        *,
        order: str | np.ndarray | None = None,
        n_threads: int | None = None,
    ) -> None:
        """Insert vectors under external ``ids``; an id already present gets the new vector.

        ``order`` is the insertion order: ``None`` (or ``"given"``) inserts rows as given,
        ``"random"`` in a seeded random order, and an integer array inserts row ``order[0]``
        first, then ``order[1]``... (a permutation of ``range(len(x))``; for example rows
        sorted by local intrinsic dimensionality). The order is followed batch by batch (see
        the module docstring; ``max_batch=1`` follows it point by point). Slots are assigned
        in row order whatever the insertion order. ``n_threads`` caps the build threads; the
        graph does not depend on it.
        """
        vecs = self.prepare(x)
        ids_arr = as_ids(ids, vecs.shape[0])
        n = vecs.shape[0]
        perm = self._insertion_order(order, n)
        if n_threads is not None:
            check_positive_int("n_threads", n_threads)
        if n == 0:
            return
        id_map = self._ids_to_slots()
        replaced = [id_map[i] for i in ids_arr.tolist() if i in id_map]
        if replaced:
            self._tombstone(np.asarray(replaced, dtype=np.int64))
        if self._n_tomb and self._n_tomb > self.consolidate_fraction * self._n_graph():
            self.consolidate(n_threads=n_threads)
        slots = self._take_slots(n)
        levels = np.floor(-np.log1p(-self._rng.random(n)) * self._mult)  # -ln(U), U in (0, 1]
        levels = np.minimum(levels, _MAX_LEVEL).astype(np.int32)
        # levels are drawn in insertion order, so they follow the point, not the row
        lev_by_row = np.empty(n, dtype=np.int32)
        lev_by_row[perm] = levels
        self._vectors[slots] = vecs
        self._ids[slots] = ids_arr
        self._levels[slots] = lev_by_row
        self._deleted[slots] = False
        self._live[slots] = True
        self._links0[slots] = -1
        up = np.flatnonzero(lev_by_row > 0)
        if up.size:
            rows = lev_by_row[up]
            self._grow_up(int(rows.sum()))
            offs = self._n_up + np.concatenate(([0], np.cumsum(rows)[:-1]))
            self._up_off[slots[up]] = offs
            self._links_up[self._n_up : self._n_up + int(rows.sum())] = -1
            self._n_up += int(rows.sum())
        for s, i in zip(slots.tolist(), ids_arr.tolist(), strict=True):
            id_map[i] = s
        self._n_live += n
        with numba_threads(n_threads):
            self._insert(slots[perm], levels)

    def _insertion_order(self, order: str | np.ndarray | None, n: int) -> np.ndarray:
        if order is None or (isinstance(order, str) and order == "given"):
            return np.arange(n, dtype=np.int64)
        if isinstance(order, str):
            if order == "random":
                return self._rng.permutation(n).astype(np.int64)
            raise InvalidParameterError(
                f"order must be 'given', 'random' or a permutation array, got {order!r}"
            )
        perm = np.asarray(order)
        if (
            perm.ndim != 1
            or perm.shape[0] != n
            or not np.issubdtype(perm.dtype, np.integer)
            or not np.array_equal(np.sort(perm), np.arange(n))
        ):
            raise InvalidParameterError(f"order must be a permutation of range({n})")
        return perm.astype(np.int64)

    def _n_graph(self) -> int:
        return self._n_live + self._n_tomb

    def _take_slots(self, n: int) -> np.ndarray:
        """Free slots first (ascending), then new ones at the end."""
        free = np.empty(0, dtype=np.int64)
        if self._n_free:  # (skips an O(n_slots) scan on the usual append-only path)
            free = np.flatnonzero(self._levels[: self._n_slots] < 0)[:n]
            self._n_free -= free.size
        extra = n - free.size
        if extra:
            self._grow(self._n_slots + extra)
            free = np.concatenate(
                (free, np.arange(self._n_slots, self._n_slots + extra, dtype=np.int64))
            )
            self._n_slots += extra
        return free.astype(np.int64)

    def _insert(self, slots: np.ndarray, levels: np.ndarray) -> None:
        """Link ``slots`` (levels ``levels``) into the graph, in this order, batch by batch."""
        n_threads = numba.get_num_threads()
        vis_pool = np.zeros((n_threads, self._n_slots + 1), dtype=np.uint16)
        i, n = 0, slots.shape[0]
        if self._entry < 0:
            self._entry, self._max_level = int(slots[0]), int(levels[0])
            i = 1
        while i < n:
            linked = self._n_graph() - (n - i)  # nodes already in the graph
            size = max(1, min(self.max_batch, int(linked * self.batch_fraction)))
            end = min(n, i + size)
            above = np.flatnonzero(levels[i:end] > self._max_level)
            if above.size:  # a new top level: insert that point alone, then it is the entry
                end = i + max(1, int(above[0]))
            self._insert_batch(slots[i:end], levels[i:end], vis_pool)
            if levels[i] > self._max_level:
                self._entry, self._max_level = int(slots[i]), int(levels[i])
            i = end

    #: Batches smaller than this run on the calling thread: a parallel region costs a
    #: barrier, which is expensive when the machine is busy and the batch is tiny.
    PARALLEL_MIN_BATCH = 64

    def _insert_batch(self, slots: np.ndarray, levels: np.ndarray, vis_pool: np.ndarray) -> None:
        b = slots.shape[0]
        parallel = vis_pool.shape[0] > 1 and b >= self.PARALLEL_MIN_BATCH
        row_off = np.zeros(b, dtype=np.int64)
        np.cumsum(levels[:-1] + 1, out=row_off[1:])
        n_rows = int(row_off[-1] + levels[-1] + 1)
        sel_out = np.empty((n_rows, self.M), dtype=np.int32)
        sel_cnt = np.zeros(n_rows, dtype=np.int32)
        common = (
            slots,
            levels,
            row_off,
            self._vectors,
            self._links0,
            self._links_up,
            self._up_off,
            self._live,
            self._entry,
            self._max_level,
            self.ef_construction,
            self.M,
            self._metric_code,
            self.keep_pruned,
            self._pf,
        )
        if parallel:
            kb.insert_search(common, vis_pool, sel_out, sel_cnt)
        else:
            ctr = np.zeros(1, dtype=np.int64)
            kb.insert_search_worker(ctr, common, vis_pool[0], sel_out, sel_cnt)
        kb.link_new(
            slots, levels, row_off, sel_out, sel_cnt, self._links0, self._links_up, self._up_off
        )
        keys, srcs, starts = kb.backlink_requests(
            slots, levels, row_off, sel_out, sel_cnt, self._n_slots
        )
        if keys.shape[0] == 0:
            return
        args = (
            keys,
            srcs,
            starts,
            self._n_slots,
            self._vectors,
            self._links0,
            self._links_up,
            self._up_off,
            self._live,
            self.M,
            self.M0,
            self._metric_code,
            self.keep_pruned,
            int(np.max(np.diff(starts))),
        )
        if parallel:
            kb.apply_backlinks(args, vis_pool.shape[0])
        else:
            kb.apply_backlinks_worker(np.zeros(1, dtype=np.int64), args)

    # -- deletes -------------------------------------------------------------------------------
    def remove(self, ids: Any, *, n_threads: int | None = None) -> None:
        """Remove points by id; every id must be present (else nothing is removed).

        Removed points are never returned again. They stay in the graph as tombstones until
        they exceed ``consolidate_fraction`` of it, then the graph is repaired and their
        slots are reused.
        """
        ids_arr = as_ids(ids)
        id_map = self._ids_to_slots()
        missing = [i for i in ids_arr.tolist() if i not in id_map]
        if missing:
            raise UnknownIdError(f"{len(missing)} id(s) not in the index, for example {missing[0]}")
        if ids_arr.size == 0:
            return
        self._tombstone(np.asarray([id_map[i] for i in ids_arr.tolist()], dtype=np.int64))
        if self._n_tomb > self.consolidate_fraction * self._n_graph():
            self.consolidate(n_threads=n_threads)

    def _tombstone(self, slots: np.ndarray) -> None:
        id_map = self._ids_to_slots()
        for i in self._ids[slots].tolist():
            del id_map[i]
        self._ids[slots] = PAD_ID
        self._deleted[slots] = True
        self._live[slots] = False
        self._n_live -= slots.size
        self._n_tomb += slots.size

    def consolidate(self, *, n_threads: int | None = None) -> int:
        """Repair the graph around tombstones and free their slots; returns rows rewritten."""
        if self._n_tomb == 0:
            return 0
        n = self._n_slots
        with numba_threads(n_threads):
            fixed = kb.repair_deleted(
                self._levels,
                self._deleted,
                self._vectors,
                self._links0,
                self._links_up,
                self._up_off,
                n,
                self.M,
                self.M0,
                self._metric_code,
                self.keep_pruned,
                max(1, numba.get_num_threads()),
            )
        dead = np.flatnonzero(self._deleted[:n])
        self._n_free += dead.size
        self._levels[dead] = -1
        self._deleted[dead] = False
        self._links0[dead] = -1
        self._up_off[dead] = 0
        self._n_tomb = 0
        self._compact_upper()
        if self._n_live == 0:
            self._entry, self._max_level = -1, -1
        elif self._levels[self._entry] < 0:
            lv = self._levels[:n]
            self._max_level = int(lv.max())
            self._entry = int(np.flatnonzero(lv == self._max_level)[0])
        return int(fixed)

    def _compact_upper(self) -> None:
        """Drop the upper-layer rows of freed slots."""
        n = self._n_slots
        nodes = np.flatnonzero(self._levels[:n] > 0)
        counts = self._levels[nodes].astype(np.int64)
        total = int(counts.sum())
        new = np.full((max(total, 256), self.M), -1, dtype=np.int32)
        if total:
            starts = np.repeat(self._up_off[nodes].astype(np.int64), counts)
            within = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
            new[:total] = self._links_up[starts + within]
            self._up_off[nodes] = np.cumsum(counts) - counts
        self._links_up = new
        self._n_up = total

    # -- search --------------------------------------------------------------------------------
    def _visited(self) -> np.ndarray:
        vis = getattr(self._tls, "vis", None)
        if vis is None or vis.shape[0] <= self._cap:
            vis = np.zeros(self._cap + 1, dtype=np.uint16)
            self._tls.vis = vis
        return vis

    def search(
        self,
        queries: Any,
        k: int,
        params: HNSWParams | None = None,
        allow: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Approximate k nearest neighbours of each query (ids int64, distances float32).

        ``allow`` restricts results (boolean slot mask or id array, see
        :class:`indexes.base.BaseIndex`); very selective filters are answered by exact
        search over the allowed points (see :meth:`plan`).
        """
        # Fast path: one float32 query, no filter -> one kernel call.
        q = self.single_query(queries, k, params, allow, HNSWParams)
        if q is not None:
            ef = self.ef_search if params is None or params.ef is None else params.ef
            mode = ks.ALL
            if self._n_tomb:
                ef, mode = self._widen(ef), ks.SKIP
            ids, dists, found, status = ks.search_one(
                q,
                k,
                ef,
                self._metric_code,
                self._normalize,
                self._graph(),
                self._visited(),
                self._live,
                mode,
                self._pf,
            )
            if status == 0 and (found >= k or found >= self._n_live):
                return ids, dists
            if status != 0:
                self.prepare(queries, what="queries")  # raises the precise error
                raise InvalidVectorError("query is not finite")  # pragma: no cover
        return self._search_general(queries, k, params, allow)

    def _search_general(
        self, queries: Any, k: int, params: HNSWParams | None, allow: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        q = self.prepare(queries, what="queries")
        k = check_k(k)
        p = check_params(params, HNSWParams)
        ef = self.ef_search if p.ef is None else p.ef
        nq = q.shape[0]
        if allow is None:
            admit, n_admit, exact = self._live, self._n_live, False
            mode = ks.SKIP if self._n_tomb else ks.ALL
            if self._n_tomb:
                ef = self._widen(ef)
        else:
            admit = self.allow_mask(allow) & self._live[: self._n_slots]
            n_admit = int(np.count_nonzero(admit))
            mode = ks.FILTER
            exact = self._plan(n_admit, k, ef, p.exact_filter_ratio) == "exact"
        if nq == 0 or n_admit == 0 or self._entry < 0:
            return (
                np.full((nq, k), PAD_ID, dtype=np.int64),
                np.full((nq, k), np.inf, dtype=np.float32),
            )
        with numba_threads(p.n_threads):
            workers = max(1, min(numba.get_num_threads(), nq))
            if exact:
                return self._exact(q, k, _admitted_slots(admit, n_admit), workers)
            out_ids, out_d, found = self._run(q, k, ef, self._graph(), admit, mode, workers)
            short = np.flatnonzero(found < min(k, n_admit))
            if short.size:  # unreachable allowed points: answer those queries exactly
                slots = _admitted_slots(admit, n_admit)
                fix_ids, fix_d = self._exact(q[short], k, slots, min(workers, short.size))
                out_ids[short] = fix_ids
                out_d[short] = fix_d
        return out_ids, out_d

    def search_slots(
        self,
        queries: np.ndarray,
        node_repr: np.ndarray,
        k: int,
        ef: int,
        n_threads: int | None = None,
        admit: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Graph search in which nodes are represented by rows of ``node_repr`` (aligned with
        slots: at least ``n_slots`` rows) and queries by rows of ``queries`` of the same type.

        With float32 rows this is the ordinary search; with packed ``uint64`` binary codes the
        kernels compare nodes by Hamming distance (see ``_kernels.fastdist.dist_fast``), which
        is how a binary-code index composes with this graph. ``admit`` (a boolean mask over
        the ``n_slots`` slots, live ones only) runs the filtered search, which traverses every
        node but returns admitted ones. Returns *slots* (``-1`` padded) and the distances in
        that representation. Inputs are trusted: the caller validated them (this is a building
        block for other indexes, not a public entry point).
        """
        nq = queries.shape[0]
        if node_repr.shape[0] < self._n_slots:
            raise InvalidParameterError(
                f"node_repr has {node_repr.shape[0]} rows for {self._n_slots} slots"
            )
        if nq == 0 or self._entry < 0 or self._n_live == 0:
            return (
                np.full((nq, k), PAD_ID, dtype=np.int64),
                np.full((nq, k), np.inf, dtype=np.float32),
            )
        ef = max(ef, k)
        mask, mode = self._live, ks.ALL
        if admit is not None:
            mask, mode = admit, ks.FILTER
        elif self._n_tomb:
            ef, mode = self._widen(ef), ks.SKIP
        slots = np.where(np.asarray(self._ids) >= 0, np.arange(self._cap), -1).astype(np.int64)
        graph = (node_repr, *self._graph()[1:4], slots, self._entry, self._max_level)
        with numba_threads(n_threads):
            workers = max(1, min(numba.get_num_threads(), nq))
            out, dist, _ = self._run(queries, k, ef, graph, mask, mode, workers, pf=1)
        return out, dist

    def search_exact(
        self,
        queries: Any,
        k: int,
        allow: np.ndarray | None = None,
        n_threads: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact k nearest neighbours among the allowed live points (a scan of the graph's own
        vectors, ties by slot), padded like :meth:`search`.

        What an engine's planner runs when a filter admits few points: it reads no vectors
        from elsewhere and gathers nothing (measured 1.5 ms of CPU for 39k allowed points of
        390k GloVe vectors, one thread, loaded machine; the filtered graph search took 0.66 ms)."""
        q = self.prepare(queries, what="queries")
        k = check_k(k)
        live = self._live[: self._n_slots]
        admit = live if allow is None else self.allow_mask(allow) & live
        n_admit = int(np.count_nonzero(admit))
        nq = q.shape[0]
        if nq == 0 or n_admit == 0:
            return (
                np.full((nq, k), PAD_ID, dtype=np.int64),
                np.full((nq, k), np.inf, dtype=np.float32),
            )
        with numba_threads(n_threads):
            workers = max(1, min(numba.get_num_threads(), nq))
            return self._exact(q, k, _admitted_slots(admit, n_admit), workers)

    def _graph(self) -> tuple:
        """The graph as the kernels take it (see ``_kernels.hnsw_search.search_core``)."""
        return (
            self._vectors,
            self._links0,
            self._links_up,
            self._up_off,
            self._ids,
            self._entry,
            self._max_level,
        )

    def _run(
        self,
        q: np.ndarray,
        k: int,
        ef: int,
        graph: tuple,
        admit: np.ndarray,
        mode: int,
        workers: int,
        pf: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Graph search of prepared queries: on this thread, or by ``workers`` in parallel."""
        pf = self._pf if pf is None else pf
        if workers == 1:
            return ks.search_serial(
                q, k, ef, self._metric_code, graph, self._visited(), admit, mode, pf
            )
        return ks.search_batch(
            q, k, ef, self._metric_code, graph, self._n_slots, admit, mode, pf, workers
        )

    def _widen(self, ef: int) -> int:
        """``ef`` grown by the tombstone share, so that about ``ef`` live nodes are kept."""
        return ef + -(-ef * self._n_tomb // max(1, self._n_live))

    def _exact(
        self, q: np.ndarray, k: int, slots: np.ndarray, workers: int
    ) -> tuple[np.ndarray, np.ndarray]:
        args = (q, k, self._metric_code, self._vectors, slots, self._ids, self._pf)
        if workers == 1:
            return ks.exact_subset_serial(*args)
        return ks.exact_subset(*args, workers)

    def plan(
        self, allow: np.ndarray | None, k: int = 10, params: HNSWParams | None = None
    ) -> tuple[str, int]:
        """How :meth:`search` would answer under ``allow``: ``("graph" | "exact", n_allowed)``."""
        k = check_k(k)
        p = check_params(params, HNSWParams)
        n_admit = self.count_allowed(allow)
        if allow is None:
            return "graph", n_admit
        ef = self.ef_search if p.ef is None else p.ef
        return self._plan(n_admit, k, ef, p.exact_filter_ratio), n_admit

    def _plan(self, n_admit: int, k: int, ef: int, ratio: float | None) -> str:
        """Exact when scanning ``n_admit`` points is cheaper than the filtered graph search,
        whose cost grows like ``ef * ntotal / n_admit`` (it must meet ``ef`` allowed points)."""
        ratio = self.exact_filter_ratio if ratio is None else ratio
        if n_admit == 0:
            return "exact"
        graph_cost = ratio * max(ef, k) * self._n_live / n_admit
        return "exact" if n_admit <= graph_cost else "graph"

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the graph as plain .npy arrays plus a manifest (atomic)."""
        n = self._n_slots
        arrays = {
            "vectors": self._vectors[:n],
            "links0": self._links0[:n],
            "links_up": self._links_up[: self._n_up],
            "up_off": self._up_off[:n],
            "levels": self._levels[:n],
            "ids": self._ids[:n],
            "deleted": self._deleted[:n],
        }
        meta = {
            "config": asdict(self.config),
            "entry": self._entry,
            "max_level": self._max_level,
            "n_live": self._n_live,
            "n_tomb": self._n_tomb,
            "rng_state": self._rng.bit_generator.state,
        }
        self._save_arrays(path, arrays, meta)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool = True) -> HNSWIndex:
        """Load a saved index. With ``mmap`` the arrays are mapped copy-on-write: pages load on
        first touch and later changes stay in memory, never in the files."""
        manifest, arrays = cls._load_arrays(path, mmap=mmap, mmap_mode="c")
        meta = manifest["meta"]
        if manifest["version"] == 1:  # the build parameters were top-level meta keys
            config = HNSWConfig(**{f.name: meta[f.name] for f in fields(HNSWConfig)})
        else:
            config = config_from_meta(HNSWConfig, meta["config"], path)
        index = cls.from_config(manifest["dim"], manifest["metric"], config)
        # np.asarray drops the memmap subclass: plain ndarrays dispatch faster into Numba.
        a = {name: np.asarray(arr) for name, arr in arrays.items()}
        n = a["ids"].shape[0]
        index._cap = index._n_slots = n
        index._vectors = a["vectors"]
        index._links0 = a["links0"]
        index._links_up = (
            a["links_up"] if a["links_up"].shape[0] else np.full((1, index.M), -1, np.int32)
        )
        index._n_up = a["links_up"].shape[0]
        index._up_off = a["up_off"]
        index._levels = a["levels"]
        index._ids = a["ids"]
        index._deleted = a["deleted"]
        index._live = (a["ids"] >= 0) & (a["levels"] >= 0)
        index._entry = int(meta["entry"])
        index._max_level = int(meta["max_level"])
        index._n_live = int(meta["n_live"])
        index._n_tomb = int(meta["n_tomb"])
        index._n_free = int(np.count_nonzero(a["levels"] < 0))
        index._id_map = None
        index._rng.bit_generator.state = meta["rng_state"]
        return index
