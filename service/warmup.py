"""Compile the Numba kernels before the service reports ready.

Numba compiles a kernel on its first call (or loads it from its on-disk cache, which is still
slow the first time in a process). :func:`warm_kernels` runs the engine's real code paths on a
throwaway collection of every available index type and every distance, in a temporary
directory: upsert, plain / filtered / exact search, a batch search, delete. The first real
request then finds every kernel it needs compiled.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vecsearch.collection import Collection
from vecsearch.config import CollectionConfig, Distance
from vecsearch.registry import get_index_type, index_types

log = logging.getLogger("service")

_DIM = 16


def available_index_types() -> list[str]:
    """Registered index types whose modules import in this build."""
    return [name for name in index_types() if get_index_type(name).available()]


def needed_index_types(db: Any) -> list[str] | None:
    """The index types whose kernels to compile before ready for the collections of ``db``;
    None means every available type (today's behaviour; narrowed by issue 19's first-start
    work)."""
    return None


def warm_kernels(
    types: list[str] | None = None, should_stop: Callable[[], bool] = lambda: False
) -> dict[str, float]:
    """Exercise every kernel path; returns seconds spent per index type."""
    spent: dict[str, float] = {}
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="vecsearch-warmup-") as tmp:
        for name in types if types is not None else available_index_types():
            itype = get_index_type(name)
            n = max(64, itype.min_train_points(itype.build_params(_DIM, None, "index.params")))
            n = n + n // 4  # past the training threshold, so the trained index is used
            x = rng.standard_normal((n, _DIM)).astype(np.float32)
            t0 = time.perf_counter()
            for distance in Distance:
                if should_stop():
                    return spent
                if itype.metrics is not None and distance.metric not in itype.metrics:
                    continue  # e.g. spann serves l2 and cosine only
                if itype.multivector:
                    if distance is not Distance.EUCLID:  # MaxSim: Cosine or Dot only
                        _warm_multi(Path(tmp) / f"{name}-{distance.value}", name, distance, x)
                    continue
                _warm_one(Path(tmp) / f"{name}-{distance.value}", name, distance, x)
            spent[name] = time.perf_counter() - t0
            log.info("warm-up: %s kernels ready in %.1f s", name, spent[name])
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
