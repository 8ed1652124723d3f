"""Distributed bulk build: ``vecsearch build INPUT... --cluster ADDRESS --shards N``.

The single-node build (:mod:`vecsearch.build`) loads one file into one collection. This one
loads file splits into a sharded, replicated cluster collection
(:mod:`vecsearch.cluster.collection`), with Ray tasks doing the work where the data is:

1. **Splits.** Every input is a split (``PATH``, read on the driver's node, or
   ``IP:PATH``, read on the Ray node with that address), cut into blocks of ``split_rows``
   rows. A probe task on the split's node reads its row count and dimension; rows are
   numbered across the splits in the order given, and files without ids (``.npy``,
   ``.fvecs``, ``.hdf5``) take those global row numbers as ids, as one file would.
2. **Shared model, trained once.** For index types that learn from data and can be
   shipped empty (``ivf_pq``: coarse centroids, PQ codebooks and the OPQ rotation;
   ``binary`` / ``hnsw_binary``: the centre of the codes), sample tasks draw the same
   sample the single-node build trains on (up to 100,000 rows, seed 0, over all splits), one
   task trains the model and every shard encodes its rows with it. ``spann`` trains its
   heads per shard (its heads index the shard's own postings); ``hnsw`` and ``flat`` learn
   nothing. A collection smaller than the type's training threshold is exact until trained,
   as on one node.
3. **Route.** One task per block, on the split's node, validates the rows (dimension,
   finite values, ids, payloads: errors name the file and row, as the single-node build's)
   and cuts them by shard (the same stable id hash as every later write,
   :mod:`vecsearch.cluster.routing`), one Ray object per shard.
4. **Build.** One task per shard, on the node of its first replica, builds the replica's
   collection in bulk mode (:class:`vecsearch.bulk_load.BulkLoader`, as a single-node
   build) from that shard's objects of every block, then publishes it with its sequence
   number 1. Duplicate ids (always on the same shard) are refused with both rows named.
   A progress bar counts the rows of all shards.
5. **Record and replicate.** The collection's record
   (:mod:`vecsearch.cluster.layout`) is written last: it is the commit point, so a failed or
   interrupted build leaves no collection (only replica folders, removed by the next build
   of that name). The collection is then opened; its other replicas are behind (sequence
   0) and are caught up by snapshot from the built one (:mod:`vecsearch.cluster.catchup`),
   byte for byte the same collection.

Not done: BM25 text fields (``--text-field``) in cluster mode (the corpus statistics would
need a first pass over every split; refused), custom shard keys, and reading a split from
a node without a Ray raylet (every ``IP`` must be a Ray node).
"""

from __future__ import annotations

import dataclasses
import math
import re
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import ray

from vecsearch.bulk_load import BulkLoader
from vecsearch.cluster.collection import ClusterCollection
from vecsearch.cluster.database import ClusterDatabase
from vecsearch.cluster.placement import alive_nodes, assign, node_addresses, pinned
from vecsearch.cluster.replica import COLLECTION_DIR, STATE_FILE
from vecsearch.cluster.routing import ShardRouter, jump_hash, key_hash
from vecsearch.cluster.shard import ReplicaHandle, Shard
from vecsearch.cluster.wire import OK, REFUSED, pack_error, unwrap
from vecsearch.collection import Collection
from vecsearch.config import CollectionConfig
from vecsearch.database import check_collection_name
from vecsearch.errors import (
    CollectionExistsError,
    InputFileError,
    ValidationError,
    VecsearchError,
)
from vecsearch.ids import id_key, key_to_id, parse_point_id
from vecsearch.index_files import fsync_dir
from vecsearch.readers import open_reader
from vecsearch.registry import get_index_type
from vecsearch.validate import check_int, check_vectors, payload_json

#: Rows the shared model is trained on at most (the single-node build's sample size).
TRAIN_SAMPLE = 100_000
#: Index types whose trained model is shared by all shards.
SHARED_MODEL_TYPES = frozenset({"ivf_pq", "binary", "hnsw_binary"})
_SPLIT = re.compile(r"([^/:]+):(/.*)")


@dataclass(frozen=True)
class Split:
    """One input file and where it is read."""

    path: str
    node_id: str
    rows: int
    dim: int
    #: Global number of its first row (its rows' ids when the file has none).
    offset: int


@dataclass(frozen=True)
class ClusterBuildReport:
    """What a distributed build did."""

    collection: str
    points: int
    dim: int
    distance: str
    index_type: str
    shards: int
    replication_factor: int
    seconds: float
    #: Points per shard, and the seconds (wall, and CPU of its worker process) each shard's
    #: build task took.
    shard_points: tuple[int, ...]
    shard_seconds: tuple[float, ...]
    #: Whether one model was trained for every shard, and in how many seconds.
    model: bool
    train_seconds: float
    #: Replicas made by snapshot catch-up from the built one (replication_factor > 1).
    replicated: int
    shard_cpu_seconds: tuple[float, ...] = ()

    @property
    def rate(self) -> float:
        """Points per second, end to end."""
        return self.points / self.seconds if self.seconds > 0 else float("inf")


# -- tasks -------------------------------------------------------------------------------------
def _guard(fn: Any, *args: Any) -> tuple[str, Any]:
    """Run ``fn``; an engine error comes back packed (plain pickling cannot rebuild it)."""
    try:
        return OK, fn(*args)
    except VecsearchError as exc:
        return REFUSED, pack_error(exc)


def _probe(path: str, opts: dict[str, Any]) -> tuple[int, int]:
    reader = open_reader(path, **opts)
    try:
        if reader.total is None:  # every reader counts its rows today
            raise reader.error("row count unknown")
        return int(reader.total), int(reader.dim)
    finally:
        reader.close()


def _sample(path: str, opts: dict[str, Any], rows: np.ndarray, size: int) -> list[Any]:
    """The vectors of file rows ``rows`` (sorted), unvalidated."""
    reader = open_reader(path, **opts)
    out: list[Any] = []
    try:
        stop = int(rows[-1]) + 1
        for c in reader.chunks_between(size, int(rows[0]), stop):
            lo, hi = np.searchsorted(rows, [c.start, c.start + len(c.vectors)])
            out.extend(c.vectors[int(r) - c.start] for r in rows[lo:hi])
    finally:
        reader.close()
    return out


def _train(cfg: dict[str, Any], sample: np.ndarray) -> dict[str, bytes]:
    """Train the collection's index type on ``sample``; the empty trained index as files."""
    import tempfile

    config = CollectionConfig.from_stored(cfg)
    space = config.spaces[0]
    itype = get_index_type(space.index.type)
    index = itype.make_index(space.size, space.metric, space.index.params)
    index.train(sample)
    with tempfile.TemporaryDirectory(prefix="vecsearch-model-") as tmp:
        index.save(Path(tmp) / "index")
        return {
            str(p.relative_to(tmp)): p.read_bytes() for p in Path(tmp).rglob("*") if p.is_file()
        }


def _route(
    path: str,
    opts: dict[str, Any],
    start: int,
    stop: int,
    offset: int,
    shards: int,
    dim: int,
    cosine: bool,
    size: int,
) -> list[dict[str, Any]]:
    """Rows ``start .. stop - 1`` of ``path``, validated and cut by shard."""
    reader = open_reader(path, **opts)
    parts: list[dict[str, list]] = [
        {"rows": [], "vectors": [], "keys": [], "payloads": []} for _ in range(shards)
    ]
    try:
        for c in reader.chunks_between(size, start, stop):
            n = len(c.vectors)
            try:
                vecs = check_vectors(c.vectors, dim, lambda i: str(i), cosine=cosine)
            except ValidationError as exc:
                raise reader.error(exc.reason, c.start + int(exc.field)) from None
            keys = []
            for i in range(n):
                raw = c.ids[i] if c.ids is not None else offset + c.start + i
                try:
                    keys.append(id_key(parse_point_id(raw, "id")))
                except ValidationError as exc:
                    raise reader.error(exc.reason, c.start + i) from None
            texts = ["{}"] * n
            if c.payloads is not None:
                for i, p in enumerate(c.payloads):
                    try:
                        texts[i] = payload_json(p, "payload")
                    except ValidationError as exc:
                        raise reader.error(f"payload: {exc.reason}", c.start + i) from None
            where = np.fromiter((jump_hash(key_hash(k), shards) for k in keys), np.int64, n)
            for s in range(shards):
                pos = np.flatnonzero(where == s)
                if pos.size:
                    part = parts[s]
                    part["rows"].append(pos + c.start)
                    part["vectors"].append(vecs[pos])
                    part["keys"].extend(keys[i] for i in pos)
                    part["payloads"].extend(texts[i] for i in pos)
    finally:
        reader.close()
    return [
        {
            "path": path,
            "rows": np.concatenate(p["rows"]) if p["rows"] else np.zeros(0, np.int64),
            "vectors": np.concatenate(p["vectors"]) if p["vectors"] else np.zeros((0, dim), "f4"),
            "keys": p["keys"],
            "payloads": p["payloads"],
        }
        for p in parts
    ]


def _route_task(*args: Any) -> tuple:
    """:func:`_route` as a task of ``shards + 1`` returns: a status, then one part per shard
    (``None`` each after a refusal)."""
    shards = args[5]
    tag, value = _guard(_route, *args)
    if tag == REFUSED:
        return (tag, value), *([None] * shards)
    return (OK, None), *value


def _build_shard(
    name: str,
    path: str,
    cfg: dict[str, Any],
    model: dict[str, bytes] | None,
    parts: list[Any],
    progress: Any,
    size: int,
) -> dict[str, Any]:
    """Build replica ``path`` of one shard from its parts (object refs, in block order)."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    root = Path(path)
    shutil.rmtree(root, ignore_errors=True)  # a failed earlier build's leftovers
    root.mkdir(parents=True)
    work = root / f"{COLLECTION_DIR}.building"
    config = CollectionConfig.from_stored(cfg)
    loader = BulkLoader(Collection.create(name, work, config, bulk=True))
    try:
        if model is not None:
            loader.use_trained(_load_model(model, config, work))
        seen: dict[bytes, tuple[str, int]] = {}
        for ref in parts:
            part = ray.get(ref)
            if part is None:  # a routing task refused its block: the build stops
                raise ValidationError("input", "another block of the input was refused")
            for key, row in zip(part["keys"], part["rows"].tolist(), strict=True):
                first = seen.setdefault(key, (part["path"], row))
                if first != (part["path"], row):
                    raise InputFileError(
                        part["path"],
                        f"duplicate id {key_to_id(key)!r} (first seen in {first[0]}, "
                        f"row {first[1]})",
                        row,
                    )
            n = len(part["keys"])
            for a in range(0, n, size):
                b = min(a + size, n)
                loader.add(part["vectors"][a:b], part["keys"][a:b], part["payloads"][a:b])
                progress.add.remote(b - a)
        points = loader.done
        loader.finish()
    except BaseException:
        loader.abort()
        shutil.rmtree(root, ignore_errors=True)
        raise
    work.rename(root / COLLECTION_DIR)
    (root / STATE_FILE).write_text('{"seq": 1}', encoding="utf-8")
    fsync_dir(root)
    return {
        "points": points,
        "seconds": round(time.perf_counter() - t0, 3),
        "cpu_seconds": round(time.process_time() - cpu0, 3),  # the worker runs this task only
    }


def _load_model(files: Mapping[str, bytes], config: CollectionConfig, work: Path) -> Any:
    """The trained empty index shipped by :func:`_train`."""
    import tempfile

    space = config.spaces[0]
    itype = get_index_type(space.index.type)
    with tempfile.TemporaryDirectory(prefix="vecsearch-model-") as tmp:
        for rel, data in files.items():
            dest = Path(tmp) / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
        return itype.load_index(Path(tmp) / "index", work_dir=work)


def _clear(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


@ray.remote(num_cpus=0)
class _Progress:
    """Rows built so far, summed over the shard tasks (the driver polls it)."""

    def __init__(self) -> None:
        self.rows = 0

    def add(self, n: int) -> None:
        self.rows += n

    def total(self) -> int:
        return self.rows


# -- the driver --------------------------------------------------------------------------------
def _split_node(spec: str, here: str, addresses: Mapping[str, str], alive: Sequence[str]) -> Any:
    """``(node id, path)`` of an input: ``IP:PATH`` on a node with that address."""
    m = _SPLIT.fullmatch(spec)
    if m is None:
        return here, str(Path(spec).resolve())
    ip, path = m.groups()
    nodes = [n for n in alive if addresses.get(n) == ip]
    if not nodes:
        raise InputFileError(spec, f"no alive Ray node has the address {ip!r}")
    return (here if here in nodes else nodes[0]), path


#: Ray CPUs a build task asks for: what a replica actor takes, so that a node whose CPUs
#: are partly held by the replicas of served collections still schedules it (asking for a
#: whole CPU would wait for ever there). The kernels use the node's cores regardless.
TASK_CPUS = 0.25


def _remote(fn: Any, node: str | None, **options: Any) -> Any:
    opts = {"num_cpus": TASK_CPUS, "max_retries": 0, **options}
    if node is not None:
        opts.update(pinned(node))
    return ray.remote(fn).options(**opts)


def build_cluster_collection(
    inputs: Sequence[str],
    data_dir: str | Path,
    name: str,
    *,
    address: str = "auto",
    shards: int = 1,
    replication_factor: int = 1,
    write_consistency_factor: int = 1,
    distance: str = "Cosine",
    index: str | None = None,
    index_params: Mapping[str, Any] | None = None,
    chunk_size: int = 10_000,
    split_rows: int = 100_000,
    vector_column: str | None = None,
    id_column: str | None = None,
    dataset: str = "train",
    overwrite: bool = False,
    progress: bool = True,
    limit: int | None = None,
) -> ClusterBuildReport:
    """Build cluster collection ``name`` of ``data_dir`` (the directory ``vecsearch serve
    --cluster`` serves) from ``inputs`` (see module docstring). Raises
    :class:`InputFileError` (file, row, problem) for bad input and
    :class:`CollectionExistsError` unless ``overwrite`` (the old collection is deleted once
    the new one is built, before its record replaces the old one's)."""

    t0 = time.perf_counter()
    check_collection_name(name, "collection")
    shards = check_int(shards, "shards", minimum=1)
    rf = check_int(replication_factor, "replication_factor", minimum=1)
    wcf = check_int(write_consistency_factor, "write_consistency_factor", minimum=1)
    chunk_size = check_int(chunk_size, "chunk_size", minimum=1)
    split_rows = check_int(split_rows, "split_rows", minimum=1)
    if wcf > rf:
        raise ValidationError("write_consistency_factor", f"is {wcf}, more than {rf} replicas")
    if not inputs:
        raise ValidationError("input", "give at least one input file")
    opts = {"vector_column": vector_column, "id_column": id_column, "dataset": dataset}
    db = ClusterDatabase(data_dir, address)
    try:
        if db.collection_exists(name) and not overwrite:
            raise CollectionExistsError(f"collection {name!r} already exists (use overwrite)")
        alive = alive_nodes()
        nodes = assign(shards, rf, alive)  # fails early when there are too few nodes
        splits = _plan_splits(inputs, opts, alive, limit)
        total = sum(s.rows for s in splits)
        if total == 0:
            raise InputFileError(splits[0].path, "no records to load")
        dim = splits[0].dim
        config = CollectionConfig.create(dim, distance, index, index_params)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        config = dataclasses.replace(config, qdrant={**config.qdrant, "created_at": now})
        cfg = config.to_dict()
        space = config.spaces[0]
        t_train = time.perf_counter()
        model = _train_shared(splits, opts, cfg, space, total, chunk_size)
        train_seconds = time.perf_counter() - t_train if model is not None else 0.0

        base = db.replicas_dir
        if overwrite and db.collection_exists(name):
            base = base / f".rebuilt-{now.replace(':', '').replace('.', '')}"
        cc = ClusterCollection(
            name, config, str(base), ShardRouter(shards), rf, wcf, meta_dir=db.meta_dir
        )
        cc.shards = [
            Shard(
                s,
                [ReplicaHandle(s, r, n, cc.replica_path(n, s, r), None) for r, n in enumerate(ns)],
                cc.log_size,
            )
            for s, ns in enumerate(nodes)
        ]
        results = _run_builds(cc, splits, opts, cfg, model, dim, chunk_size, split_rows, progress)
        if overwrite and db.collection_exists(name):
            db.delete_collection(name)
        cc._save_layout()  # the commit point
        coll = db.get_collection(name)  # opens it; the other replicas catch up by snapshot
        missing = [
            (r.shard, r.slot) for s in coll.cc.shards for r in s.replicas if r.state != "live"
        ]
        if missing:
            raise ValidationError(
                "replication_factor", f"replicas (shard, replica) {missing} did not catch up"
            )
        counts = coll.cc.shard_point_counts()
        built = [r["points"] for r in results]
        if [counts[s] for s in range(shards)] != built or sum(built) != total:
            raise ValidationError("input", f"shards hold {counts}, the build wrote {built}")
    finally:
        db.close()
    return ClusterBuildReport(
        name,
        total,
        dim,
        config.distance.value,
        space.index.type,
        shards,
        rf,
        time.perf_counter() - t0,
        tuple(built),
        tuple(r["seconds"] for r in results),
        model is not None,
        round(train_seconds, 3),
        shards * (rf - 1),
        tuple(r["cpu_seconds"] for r in results),
    )


def _plan_splits(
    inputs: Sequence[str], opts: dict[str, Any], alive: Sequence[str], limit: int | None
) -> list[Split]:
    """Probe every input on its node; rows numbered across them; ``limit`` cuts the end."""
    here = ray.get_runtime_context().get_node_id()
    addresses = node_addresses()
    located = [_split_node(spec, here, addresses, alive) for spec in inputs]
    probes = [_remote(_guard, node).remote(_probe, path, opts) for node, path in located]
    splits, offset = [], 0
    for (node, path), ref in zip(located, probes, strict=True):
        rows, dim = unwrap(ray.get(ref))
        if splits and dim != splits[0].dim:
            raise InputFileError(
                path, f"dimension {dim} differs from {splits[0].path}'s {splits[0].dim}"
            )
        if limit is not None:
            rows = max(0, min(rows, limit - offset))
        splits.append(Split(path, node, rows, dim, offset))
        offset += rows
    return splits


def _train_shared(
    splits: Sequence[Split],
    opts: dict[str, Any],
    cfg: dict[str, Any],
    space: Any,
    total: int,
    size: int,
) -> dict[str, bytes] | None:
    """The shared model's files, or None (the type shares none, or too few rows)."""
    itype = get_index_type(space.index.type)
    if space.index.type not in SHARED_MODEL_TYPES:
        return None
    if total < itype.min_train_points(space.index.params):
        return None
    rows = np.arange(total)
    if total > TRAIN_SAMPLE:
        rows = np.sort(np.random.default_rng(0).choice(total, TRAIN_SAMPLE, replace=False))
    refs = []
    for sp in splits:
        mine = rows[(rows >= sp.offset) & (rows < sp.offset + sp.rows)] - sp.offset
        if mine.size:
            refs.append(_remote(_sample, sp.node_id).remote(sp.path, opts, mine, size))
    picked = [v for ref in refs for v in ray.get(ref)]
    cosine = space.metric == "cosine"
    sample = check_vectors(picked, space.size, lambda i: f"sample[{i}]", cosine=cosine)
    return unwrap(ray.get(_remote(_guard, None).remote(_train, cfg, sample)))


def _run_builds(
    cc: ClusterCollection,
    splits: Sequence[Split],
    opts: dict[str, Any],
    cfg: dict[str, Any],
    model: dict[str, bytes] | None,
    dim: int,
    size: int,
    split_rows: int,
    show: bool,
) -> list[dict[str, Any]]:
    """Route every block and build every shard's first replica; the other replicas'
    folders are cleared (the record's catch-up fills them)."""
    from tqdm import tqdm

    shards = len(cc.shards)
    cosine = cc.config.spaces[0].metric == "cosine"
    statuses, parts = [], [[] for _ in range(shards)]
    for sp in splits:
        blocks = max(1, math.ceil(sp.rows / split_rows))
        for b in range(blocks):
            start, stop = b * split_rows, min((b + 1) * split_rows, sp.rows)
            if start >= stop:
                continue
            refs = _remote(_route_task, sp.node_id, num_returns=shards + 1).remote(
                sp.path, opts, start, stop, sp.offset, shards, dim, cosine, size
            )
            statuses.append(refs[0])
            for s in range(shards):
                parts[s].append(refs[s + 1])
    for shard in cc.shards:
        for rep in shard.replicas[1:]:
            ray.get(_remote(_clear, rep.node_id, num_cpus=0).remote(rep.path))
    counter = _Progress.remote()
    builds = [
        _remote(_guard, shard.replicas[0].node_id).remote(
            _build_shard, cc.name, shard.replicas[0].path, cfg, model, parts[s], counter, size
        )
        for s, shard in enumerate(cc.shards)
    ]
    total = sum(sp.rows for sp in splits)
    bar = tqdm(
        total=total,
        unit="pts",
        unit_scale=True,
        desc=f"build {cc.name} ({shards} shards)",
        disable=not show,
        dynamic_ncols=True,
    )
    try:
        for status in ray.get(statuses):  # a refused block names its file and row
            unwrap(status)
        pending = list(builds)
        while pending:
            _, pending = ray.wait(pending, num_returns=len(pending), timeout=0.5)
            bar.update(ray.get(counter.total.remote()) - bar.n)
        results = [unwrap(r) for r in ray.get(builds)]
        bar.update(total - bar.n)
        return results
    except BaseException:
        for ref in builds:
            ray.cancel(ref, force=True)
        raise
    finally:
        bar.close()
        ray.kill(counter)
