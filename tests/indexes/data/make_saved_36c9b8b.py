"""Write ``saved_36c9b8b/``: small indexes saved by the index layer at commit 36c9b8b (build
parameters as top-level manifest keys), with the answers that code gave, so that
``test_protocol.py`` checks today's ``load`` reads them and answers the same.

Run with that commit's ``indexes`` package, from the repository root::

    rm -rf /tmp/v36 && mkdir /tmp/v36 && git archive 36c9b8b indexes | tar -x -C /tmp/v36
    PYTHONPATH=/tmp/v36 .venv/bin/python tests/indexes/data/make_saved_36c9b8b.py
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

import indexes
from indexes import BinaryIndex, HNSWIndex, IVFPQIndex
from indexes.binary_hnsw import HNSWBinaryIndex
from indexes.muvera import FDEConfig, MultiVectorIndex, MuveraIndex

OUT = Path(__file__).resolve().parent / "saved_36c9b8b"
#: Constructor keywords of each saved index (what ``config`` must read back).
BUILD = {
    "hnsw": {"metric": "l2", "M": 8, "ef_construction": 50, "seed": 3, "ef_search": 40},
    "ivfpq": {
        "metric": "ip",
        "nlist": 4,
        "m": 4,
        "nbits": 4,
        "keep_vectors": True,
        "kmeans_iter": 5,
        "coarse_init": "kmeans++",
        "seed": 2,
    },
    "binary": {"metric": "cosine", "bits": 2, "scoring": "asymmetric", "keep_vectors": True},
    "hnsw_binary": {"metric": "cosine", "M": 8, "ef_construction": 40, "seed": 5},
    "multivector": {"r_reps": 4, "k_sim": 2, "d_proj": 4, "inner": "hnsw", "M": 8},
    "muvera": {
        "metric": "cosine",
        "r_reps": 4,
        "k_sim": 2,
        "d_proj": 4,
        "M": 8,
        "ef_construction": 40,
        "candidates": 50,
        "token_dtype": "float16",
    },
}


def main() -> None:
    assert Path(indexes.__file__).parent != OUT.parents[2] / "indexes", "run the old code"
    rng = np.random.default_rng(36)
    dim = 8
    x = rng.standard_normal((300, dim)).astype(np.float32)
    q = rng.standard_normal((6, dim)).astype(np.float32)
    sets = [rng.standard_normal((int(m), dim)).astype(np.float32) for m in rng.integers(1, 5, 80)]
    qsets = [rng.standard_normal((int(m), dim)).astype(np.float32) for m in (1, 3, 4)]
    ids = np.arange(300, dtype=np.int64) * 3 + 1
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir()
    answers: dict[str, np.ndarray] = {"queries": q, "qtokens": np.concatenate(qsets)}
    answers["qoffsets"] = np.cumsum([0, *[s.shape[0] for s in qsets]])
    for name, kw in BUILD.items():
        kw = dict(kw)
        if name == "multivector":
            fde = FDEConfig(r_reps=kw["r_reps"], k_sim=kw["k_sim"], d_proj=kw["d_proj"])
            index = MultiVectorIndex(dim, fde, inner="hnsw", inner_options={"M": kw["M"]})
        else:
            metric = kw.pop("metric")
            cls = {
                "hnsw": HNSWIndex,
                "ivfpq": IVFPQIndex,
                "binary": BinaryIndex,
                "hnsw_binary": HNSWBinaryIndex,
                "muvera": MuveraIndex,
            }[name]
            index = cls(dim, metric, **kw)
        if name in ("multivector", "muvera"):
            index.add(sets, np.arange(80, dtype=np.int64) * 2)
            index.remove([4])
            got = index.search(qsets, 5)
        else:
            index.train(x)
            index.add(x, ids)
            index.remove(ids[10:20])  # HNSW keeps these as tombstones
            got = index.search(q, 5)
        index.save(OUT / name)
        answers[f"{name}_ids"], answers[f"{name}_dists"] = got
    np.savez(OUT / "answers.npz", **answers)
    (OUT / "build.json").write_text(json.dumps(BUILD, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
