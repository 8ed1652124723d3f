"""Write the SPANN format-1 fixtures with the code of commit 7522d5c (before spann.py was
split), for ``tests/indexes/test_spann_format.py``. Run by hand, from the repository root:

    git show 7522d5c:indexes/spann.py > /tmp/old_spann.py
    PYTHONPATH=. python tests/indexes/data/spann_v1/make_fixture.py /tmp/old_spann.py

Each fixture directory holds the saved index (``index/``), the vectors it was built from,
five queries, and the old code's answers to them (ids, distances, pages read).
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
#: name -> (metric, codec)
FIXTURES = {"float32_l2": ("l2", "float32"), "binary_cosine": ("cosine", "binary")}


def main(old_spann: str) -> None:
    spec = importlib.util.spec_from_file_location("old_spann", old_spann)
    assert spec is not None and spec.loader is not None
    old = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = old  # dataclasses look their module up
    spec.loader.exec_module(old)
    rng = np.random.default_rng(16)
    x = rng.standard_normal((200, 8)).astype(np.float32)
    q = rng.standard_normal((5, 8)).astype(np.float32)
    for name, (metric, codec) in FIXTURES.items():
        out = HERE / name
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        idx = old.SPANNIndex(8, metric, head_ratio=0.03, codec=codec, seed=3)
        idx.build(x)
        idx.remove(np.arange(0, 200, 10))  # 20 tombstones: the saved copy is compacted
        idx.save(out / "index")
        ids, dists, stats = idx.search_with_stats(q, 5, old.SPANNParams(n_probe=3))
        np.save(out / "vectors.npy", x)
        np.save(out / "queries.npy", q)
        np.save(out / "expect_ids.npy", ids)
        np.save(out / "expect_dists.npy", dists)
        np.save(out / "expect_pages.npy", stats.pages)
        idx.close()


if __name__ == "__main__":
    main(sys.argv[1])
