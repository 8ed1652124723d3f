"""Compile the Numba kernels the service needs: the loaded collections' before ready, the rest
in the background.

Numba compiles a kernel on its first call, or loads it from its on-disk cache (``cache=True``:
``__pycache__`` beside the source, or ``NUMBA_CACHE_DIR``), which is much faster but still not
free the first time in a process. The unit of warm-up is a :class:`WarmUnit`: one index type
under one distance (multi-vector types: MaxSim under Cosine or Dot), or the sparse (BM25 /
inverted index) path. Warming a unit runs the engine's real code paths on a throwaway
collection in a temporary directory: upsert, plain / filtered / exact search, a batch search,
delete.

Start-up (:mod:`service.state`) warms :func:`needed_index_types` -- the units of the
collections in the database, read from their stored configs without opening them -- before
``/readyz`` is 200, then :func:`start_background_warm` compiles every other unit in a
separate, lower-priority process (``python -m service.warmup``) that fills Numba's on-disk
cache. Why a process and not a thread: the in-process kernels are never touched (a request
either finds a kernel compiled, loads it from the cache, or compiles it itself under Numba's
lock: never a half-compiled state), compilation holds the GIL for its Python half and would
slow the event loop, and a niced process leaves the CPU to requests. A collection of another
type created later then loads its kernels from the cache on first need instead of compiling
them. ``./setup.sh`` and the Docker image run the same command at install time.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from indexes.errors import VecsearchError
from vecsearch.collection import STORE_FILE, Collection
from vecsearch.config import CollectionConfig, Distance, SparseSpaceConfig
from vecsearch.registry import get_index_type, index_types

log = logging.getLogger("service")

_DIM = 16
#: The unit name of the sparse path (every sparse space, whatever its modifier).
SPARSE = "sparse"
#: Niceness of the background warm-up process (0 = as the server, 19 = lowest).
BACKGROUND_NICE = 10


@dataclass(frozen=True, order=True)
class WarmUnit:
    """The kernels of one index type under one distance (``distance`` is a
    :class:`~vecsearch.config.Distance` value), or of the sparse path (``index_type`` =
    :data:`SPARSE`, ``distance`` = ``""``). Written ``hnsw/Cosine``, ``sparse``."""

    index_type: str
    distance: str = ""

    def __str__(self) -> str:
        return (
            self.index_type if self.index_type == SPARSE else (f"{self.index_type}/{self.distance}")
        )

    @classmethod
    def parse(cls, text: str) -> WarmUnit:
        """``hnsw/Cosine`` or ``sparse`` (the form of :meth:`__str__`)."""
        if text == SPARSE:
            return cls(SPARSE)
        name, sep, dist = text.partition("/")
        if not sep:
            raise ValueError(f"warm-up unit {text!r}: expected TYPE/DISTANCE or {SPARSE!r}")
        unit = cls(name, Distance(dist).value)
        if unit not in _type_units(name):  # unknown types raise IndexTypeUnavailableError
            raise ValueError(f"warm-up unit {text!r}: {name} does not serve {dist}")
        return unit


def available_index_types() -> list[str]:
    """Registered index types whose modules import in this build."""
    return [name for name in index_types() if get_index_type(name).available()]


def _type_units(name: str) -> list[WarmUnit]:
    """The units of one index type: every distance it serves."""
    itype = get_index_type(name)
    out = []
    for distance in Distance:
        if itype.metrics is not None and distance.metric not in itype.metrics:
            continue  # e.g. spann serves l2 and cosine only, muvera's MaxSim ip and cosine
        out.append(WarmUnit(name, distance.value))
    return out


def all_units() -> list[WarmUnit]:
    """Every unit this build can warm: each available type under each distance it serves,
    and the sparse path."""
    return [u for name in available_index_types() for u in _type_units(name)] + [WarmUnit(SPARSE)]


def config_units(cfg: CollectionConfig) -> set[WarmUnit]:
    """The units one collection's searches and writes use."""
    units = {WarmUnit(s.index.type, s.distance.value) for s in cfg.spaces}
    if cfg.sparse:
        units.add(WarmUnit(SPARSE))
    return units


def read_config(collection_dir: Path) -> CollectionConfig | None:
    """A collection's stored config, read from its store with a read-only SQLite connection
    (the collection is not opened: no lock, no index load); None if it cannot be read (the
    collection then fails to open with its own error, or compiles on first need)."""
    uri = (collection_dir / STORE_FILE).resolve().as_uri() + "?mode=ro"
    try:
        con = sqlite3.connect(uri, uri=True, timeout=5.0)
        try:
            row = con.execute("SELECT value FROM meta WHERE key='config'").fetchone()
        finally:
            con.close()
        return None if row is None else CollectionConfig.from_stored(json.loads(row[0]))
    except (sqlite3.Error, ValueError, KeyError, TypeError) as exc:
        log.warning("warm-up: cannot read the config of %s: %s", collection_dir.name, exc)
        return None


def needed_index_types(db: Any) -> list[WarmUnit]:
    """The units to compile before ready: those of the collections in ``db`` (sorted, each
    once; empty for an empty database). Types this build cannot import are left out (such a
    collection fails to open with its own message)."""
    available = set(available_index_types()) | {SPARSE}
    units: set[WarmUnit] = set()
    for name in db.list_collections():
        cfg = read_config(Path(db.collections_dir) / name)
        if cfg is not None:
            units |= {u for u in config_units(cfg) if u.index_type in available}
    return sorted(units)


def _expand(units: Iterable[WarmUnit | str] | None) -> list[WarmUnit]:
    """Units as given; a bare type name (``"hnsw"``) stands for all its distances."""
    if units is None:
        return all_units()
    out: list[WarmUnit] = []
    for u in units:
        if isinstance(u, WarmUnit):
            out.append(u)
        elif u == SPARSE or "/" in u:
            out.append(WarmUnit.parse(u))
        else:
            out.extend(_type_units(u))
    return list(dict.fromkeys(out))


def warm_kernels(
    units: Iterable[WarmUnit | str] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> dict[str, float]:
    """Compile the kernels of ``units`` (None: :func:`all_units`; a type name: all its
    distances); returns seconds spent per unit (``"hnsw/Cosine"``). ``should_stop`` is
    checked between units."""
    spent: dict[str, float] = {}
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="vecsearch-warmup-") as tmp:
        for unit in _expand(units):
            if should_stop():
                break
            t0 = time.perf_counter()
            path = Path(tmp) / f"{unit.index_type}-{unit.distance}"
            if unit.index_type == SPARSE:
                _warm_sparse(path)
            else:
                itype = get_index_type(unit.index_type)
                params = itype.build_params(_DIM, None, "index.params")
                n = max(64, itype.min_train_points(params))
                n = n + n // 4  # past the training threshold, so the trained index is used
                x = rng.standard_normal((n, _DIM)).astype(np.float32)
                warm = _warm_multi if itype.multivector else _warm_one
                warm(path, unit.index_type, Distance(unit.distance), x)
            spent[str(unit)] = time.perf_counter() - t0
            log.info("warm-up: %s kernels ready in %.1f s", unit, spent[str(unit)])
    return spent


def _warm_one(path: Path, index_type: str, distance: Distance, x: np.ndarray) -> None:
    # a 1 KB full-scan threshold: filters allowing > 16 points use the index's filtered search
    cfg = CollectionConfig.create(x.shape[1], distance, index=index_type, full_scan_threshold_kb=1)
    coll = Collection.create("warmup", path, cfg)
    try:
        ids = list(range(len(x)))
        coll.upsert_batch(ids, x, [{"g": i % 3} for i in ids])
        q = x[0]
        coll.search(q, limit=10)
        coll.search(q, limit=10, filter={"must": [{"key": "g", "match": {"value": 1}}]})
        coll.search(q, limit=10, filter={"must": [{"has_id": ids[: len(ids) // 2]}]})
        coll.search(q, limit=10, filter={"must": [{"has_id": ids[:8]}]})
        coll.search(q, limit=10, params={"exact": True})
        coll.search_batch([{"vector": x[1].tolist(), "limit": 5}, {"vector": x[2].tolist()}])
        coll.delete(points=ids[:8])
        coll.search(q, limit=10)
    finally:
        coll.close(save_index=False)


#: Small FDEs for the warm-up: kernels compile per argument type, not per size.
_MULTI_PARAMS = {"r_reps": 2, "k_sim": 2, "d_proj": 4, "candidates": 16}
_MULTI_TOKEN_DTYPE = {Distance.DOT: "float16", Distance.COSINE: "float32"}


def _warm_multi(path: Path, index_type: str, distance: Distance, x: np.ndarray) -> None:
    """Multi-vector collections: points are sets of 1..4 rows of ``x``."""
    cfg = CollectionConfig.create(
        x.shape[1],
        distance,
        index=index_type,
        # Dot warms the float16 token store's re-rank kernel, Cosine the float32 one
        index_params={**_MULTI_PARAMS, "token_dtype": _MULTI_TOKEN_DTYPE.get(distance, "float32")},
        full_scan_threshold_kb=1,
        multivector="max_sim",
    )
    coll = Collection.create("warmup", path, cfg)
    try:
        sets = [x[i : i + 1 + i % 4] for i in range(len(x) - 4)]
        ids = list(range(len(sets)))
        coll.upsert_batch(ids, sets, [{"g": i % 3} for i in ids])
        q = x[:3]
        coll.search(q, limit=10)
        coll.search(q, limit=10, filter={"must": [{"key": "g", "match": {"value": 1}}]})
        coll.search(q, limit=10, filter={"must": [{"has_id": ids[:8]}]})
        coll.search(q, limit=10, params={"exact": True})
        coll.delete(points=ids[:8])
        coll.search(q, limit=10)
    finally:
        coll.close(save_index=False)


def _warm_sparse(path: Path) -> None:
    """A sparse space with ``modifier: idf`` (BM25 text inference and raw indices/values)
    and one without: upsert, plain and filtered search, delete."""
    cfg = replace(
        CollectionConfig.create(4, Distance.COSINE),
        sparse=(SparseSpaceConfig("bm25", 1, "idf"), SparseSpaceConfig("raw", 2, None)),
    )
    coll = Collection.create("warmup", path, cfg)
    words = ["quantum", "field", "theory", "of", "the", "electron", "spin", "lattice", "model"]
    try:
        ids = list(range(64))
        texts = [" ".join(words[(i + j) % len(words)] for j in range(1 + i % 5)) for i in ids]
        raw = [{"indices": [i % 7, 7 + i % 5], "values": [1.0, 0.5]} for i in ids]
        coll.upsert_batch(
            ids,
            {"bm25": [{"text": t, "model": "qdrant/bm25"} for t in texts], "raw": raw},
            [{"g": i % 3} for i in ids],
        )
        flt = {"must": [{"key": "g", "match": {"value": 1}}]}
        for using, q in (
            ("bm25", {"text": "electron spin", "model": "qdrant/bm25"}),
            ("raw", {"indices": [1, 8], "values": [1.0, 1.0]}),
        ):
            coll.query({"query": q, "using": using, "limit": 10})
            coll.query({"query": q, "using": using, "limit": 10, "filter": flt})
        coll.delete(points=ids[:8])
        coll.query({"query": {"indices": [1], "values": [1.0]}, "using": "raw", "limit": 10})
    finally:
        coll.close(save_index=False)


# -- background warm-up --------------------------------------------------------------------------
class BackgroundWarm:
    """A ``python -m service.warmup`` process compiling ``units`` into Numba's on-disk cache at
    niceness :data:`BACKGROUND_NICE`; stopped when ``should_stop()`` turns true (polled by a
    daemon thread) or the server process goes away (the child checks between units)."""

    def __init__(self, units: list[WarmUnit], should_stop: Callable[[], bool]) -> None:
        self.units = units
        self.started = time.perf_counter()
        self.seconds: float | None = None
        cmd = [sys.executable, "-m", "service.warmup", "--nice", str(BACKGROUND_NICE)]
        cmd += ["--parent", str(os.getpid()), *map(str, units)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        self._should_stop = should_stop
        self._watcher = threading.Thread(target=self._watch, name="vecsearch-warm", daemon=True)
        self._watcher.start()
        log.info("warm-up: %d more kernel units compiling in process %d", len(units), self.proc.pid)

    def _watch(self) -> None:
        while self.proc.poll() is None:
            if self._should_stop():
                self.stop()
                return
            time.sleep(0.2)
        self.seconds = time.perf_counter() - self.started
        log.info(
            "warm-up: background process %d ended (exit %s) after %.1f s",
            self.proc.pid,
            self.proc.returncode,
            self.seconds,
        )

    def running(self) -> bool:
        """Whether the process still runs."""
        return self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the process (idempotent); kill it if it does not end in ``timeout``."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code once the process ends (None on timeout)."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None


def start_background_warm(
    needed: Iterable[WarmUnit | str] | None, should_stop: Callable[[], bool] = lambda: False
) -> BackgroundWarm | None:
    """Compile every unit not in ``needed`` (those warmed before ready) in a background
    process; None when nothing is left (``needed`` None means all were warmed)."""
    if needed is None:
        return None
    done = set(_expand(needed))
    rest = [u for u in all_units() if u not in done]
    if not rest or should_stop():
        return None
    try:
        return BackgroundWarm(rest, should_stop)
    except OSError as exc:  # no process could be started: kernels compile on first need
        log.warning("warm-up: background process not started: %s", exc)
        return None


#: Index types by the compile time measured on a cold cache (bench/results/first_start/),
#: longest first: :func:`warm_parallel` hands them out in this order.
_COST_ORDER = ("ivf_pq", "binary", "hnsw_binary", "hnsw", "spann", SPARSE, "flat", "muvera")


def warm_parallel(units: list[WarmUnit], jobs: int) -> dict[str, float]:
    """:func:`warm_kernels` in ``jobs`` fresh processes, one index type (all its distances,
    which share most kernels) per task, longest first: Numba compiles in one thread, so on
    an idle machine this divides the install-time step by about the number of cores. Kernels
    every type uses (exact search, filters, top-k) may be compiled by two workers at once;
    the cache files are written atomically, so the second write only repeats work."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    groups: dict[str, list[WarmUnit]] = {}
    for u in units:
        groups.setdefault(u.index_type, []).append(u)
    rank = {name: i for i, name in enumerate(_COST_ORDER)}
    order = sorted(groups, key=lambda t: rank.get(t, -1))  # unknown types first: unmeasured
    spent: dict[str, float] = {}
    ctx = multiprocessing.get_context("spawn")  # no fork of a process with Numba's threads
    level = logging.getLogger().getEffectiveLevel()
    workers = min(jobs, len(order))
    with ProcessPoolExecutor(workers, ctx, _init_worker, (level,)) as pool:
        for result in pool.map(warm_kernels, [groups[t] for t in order]):
            spent.update(result)
    return spent


def _init_worker(level: int) -> None:
    logging.basicConfig(level=level, format="%(message)s")


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def main(argv: list[str] | None = None) -> int:
    """``python -m service.warmup [--nice N] [--parent PID] [UNIT ...]``: compile the kernels
    of the units (default: all) into Numba's on-disk cache; prints seconds per unit."""
    p = argparse.ArgumentParser(prog="python -m service.warmup", description=main.__doc__)
    p.add_argument("units", nargs="*", help="hnsw/Cosine, sparse, or a type name (all distances)")
    p.add_argument("--nice", type=int, default=0, help="raise this process's niceness by N")
    p.add_argument("--parent", type=int, help="stop between units once this process is gone")
    p.add_argument("--list", action="store_true", help="print every unit and exit")
    p.add_argument("--quiet", action="store_true", help="one summary line, no line per unit")
    p.add_argument("--json", action="store_true", help="print seconds per unit as JSON")
    p.add_argument(
        "--jobs", type=int, default=1, help="compile in N processes (0: one per usable CPU)"
    )
    args = p.parse_args(argv)
    if args.list:
        print("\n".join(map(str, all_units())))
        return 0
    if args.nice:
        os.nice(args.nice)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    try:
        units = _expand(args.units or None)
    except (ValueError, VecsearchError) as exc:
        p.error(str(exc))
    parent = args.parent
    t0 = time.perf_counter()
    jobs = _usable_cpus() if args.jobs <= 0 else args.jobs
    if jobs > 1 and parent is None:
        spent = warm_parallel(units, jobs)
    else:
        spent = warm_kernels(
            units, should_stop=lambda: parent is not None and os.getppid() != parent
        )
    total = time.perf_counter() - t0
    if args.json:
        print(json.dumps({"seconds": spent, "total": round(total, 2)}))
    else:
        print(f"warm-up: {len(spent)} kernel units compiled or loaded in {total:.1f} s")
    return 0 if len(spent) == len(units) else 1


if __name__ == "__main__":
    sys.exit(main())
