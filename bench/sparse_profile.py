"""Timing helpers and the per-call profile of :mod:`bench.sparse_speed`: interleaved best-of
rounds, and where one single-query ``SparseIndex.search`` call spends its time (validation,
Python, Numba dispatch, the kernel's work), beside bm25s's own kernel."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numba as nb
import numpy as np

#: Interleaved rounds of the profile: its parts are short, and this 2-vCPU machine
#: runs up to 1.7x slower for seconds at a time, so it takes the best of many rounds.
PROFILE_ROUNDS = 60
#: Seconds each timed function runs per interleaved round at least (repeating short calls).
MIN_ROUND_TIME = 0.02


# -- timing ---------------------------------------------------------------------------------------
def interleaved(
    fns: dict[str, Callable[[], object]], runs: int, min_time: float = MIN_ROUND_TIME
) -> dict[str, float]:
    """Best wall time of one call of each function over ``runs`` rounds, every function in
    every round (after one warm call each). Within a round a function is called again until
    ``min_time`` seconds have passed, so a short call gets several tries per round (this
    machine's speed swings for milliseconds as well as seconds)."""
    for fn in fns.values():
        fn()
    best = dict.fromkeys(fns, math.inf)
    for _ in range(runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            while True:
                t0 = time.perf_counter()
                fn()
                t1 = time.perf_counter()
                best[name] = min(best[name], t1 - t0)
                if t1 - start >= min_time:
                    break
    return best


@nb.njit(nogil=True, cache=True)
def _noop_kernel(q_ptr, q_idx, q_val, post, tail, live, allow, use_allow, slot_ids, out_ids,
                 out_d, n_chunks, positive):  # fmt: skip
    """Takes the sparse kernel's arguments and does nothing: Numba's dispatch cost."""
    return n_chunks


@nb.njit(nogil=True, cache=True)
def _scratch_only(n_slots, k, calls):
    """The per-call scratch of the sparse kernel (accumulator, seen flags, touched list,
    heap), allocated ``calls`` times."""
    total = 0.0
    for c in range(calls):
        acc = np.zeros(n_slots, dtype=np.float32)
        seen = np.zeros(n_slots, dtype=np.bool_)
        touched = np.empty(n_slots, dtype=np.int64)
        hd = np.empty(k, dtype=np.float32)
        hi = np.empty(k, dtype=np.int64)
        touched[c % n_slots] = c
        hd[0] = acc[c % n_slots]
        hi[0] = touched[c % n_slots]
        total += hd[0] + seen[c % n_slots] + hi[0]
    return total


def bm25s_kernel(retriever: Any, b_tokens: list[list[str]], k: int) -> Callable[[], object]:
    """bm25s's own serial kernel over all queries in one call (its work without its Python),
    called as ``bm25s.numba.retrieve_utils`` calls it (a private function of bm25s 0.3)."""
    from bm25s.numba import retrieve_utils

    ids = [retriever.get_tokens_ids(q) for q in b_tokens]
    ptr = np.cumsum([0] + [len(q) for q in ids], dtype=retriever.int_dtype)
    flat = np.concatenate(ids).astype(retriever.int_dtype)
    s = retriever.scores
    return lambda: retrieve_utils._retrieve_internal_jitted_serial(
        query_pointers=ptr, query_tokens_ids_flat=flat, k=k, sorted=True,
        dtype=np.dtype(retriever.dtype), int_dtype=np.dtype(retriever.int_dtype),
        data=s["data"], indptr=s["indptr"], indices=s["indices"], num_docs=s["num_docs"],
        nonoccurrence_array=retriever.nonoccurrence_array, weight_mask=None,
    )  # fmt: skip


def profile_ours(
    index: Any, queries: list, k: int, rounds: int, peer_work: Callable[[], object] | None = None
) -> dict[str, Any]:
    """Microseconds per query of one query per call, split (see module docstring). Reads the
    index's arrays as ``SparseIndex.search`` passes them to its kernel. ``peer_work``: bm25s's
    kernel over all queries (:func:`bm25s_kernel`), timed in the same rounds."""
    from indexes._kernels.dispatch import serial_twin
    from indexes._kernels.sparse import search_one, search_taat
    from indexes.sparse import SparseParams, as_sparse

    one = SparseParams(n_threads=1)
    nq = len(queries)
    n = index._n
    post = (index._terms, index._ptr, index._p_slot, index._p_val)
    tail = (index._sealed, index._f_off[:n], index._f_len[:n], index._f_idx, index._f_val)
    live, slot_ids = index._live[:n], index._ids[:n]
    positive = bool(index._positive)
    no_allow = np.zeros(0, dtype=np.bool_)
    serial = serial_twin(search_taat)
    singles = [as_sparse([q], what="queries") for q in queries]
    out1 = (np.full((1, k), -1, np.int64), np.full((1, k), np.inf, np.float32))
    allq = as_sparse(queries, what="queries")
    out_all = (np.full((nq, k), -1, np.int64), np.full((nq, k), np.inf, np.float32))

    def kernel_args(b, out):
        return (b.indptr, b.indices, b.values, post, tail, live, no_allow, False, slot_ids,
                *out, 1, positive)  # fmt: skip

    # single queries run search_one on pooled scratch (SparseIndex._take_scratch): the same
    scratch = (np.zeros(n, np.float32), np.zeros(n, np.bool_), np.empty(n, np.int64),
               np.empty(k, np.float32), np.empty(k, np.int64))  # fmt: skip

    def one_args(b, out):
        return (b.indptr, b.indices, b.values, post, tail, live, no_allow, False, slot_ids,
                *out, positive, *scratch)  # fmt: skip

    prepared = [kernel_args(b, out1) for b in singles]
    prepared_one = [one_args(b, out1) for b in singles]
    fns = {
        "search_call": lambda: [index.search([q], k, one) for q in queries],
        "search_prevalidated": lambda: [index.search(b, k, one) for b in singles],
        "validation": lambda: [as_sparse([q], what="queries") for q in queries],
        "kernel_call": lambda: [search_one(*a) for a in prepared_one],
        "dispatch_only": lambda: [_noop_kernel(*a) for a in prepared],
        "scratch_only": lambda: _scratch_only(n, k, nq),
        "kernel_work": lambda: serial(*kernel_args(allq, out_all)),
    }
    if peer_work is not None:
        fns["bm25s_numba_kernel_work"] = peer_work
    us = {name: t / nq * 1e6 for name, t in interleaved(fns, rounds, min_time=0.005).items()}
    us["python_in_search"] = us["search_call"] - us["kernel_call"]
    us["validation_in_search"] = us["search_call"] - us["search_prevalidated"]
    us["other_python_in_search"] = us["search_prevalidated"] - us["kernel_call"]
    us["kernel_call_unexplained"] = us["kernel_call"] - us["dispatch_only"] - us["kernel_work"]
    return {
        "us_per_query": us,
        "rounds": rounds,
        "n_slots": int(n),
        "dense_path_possible": positive,
        "scratch_bytes_per_call": int(n * (4 + 1 + 8) + k * 12),
    }


# -- one corpus -----------------------------------------------------------------------------------
