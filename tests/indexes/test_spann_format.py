"""Saved SPANN indexes of format 1 written by the code before spann.py was split (commit
7522d5c; fixtures made by ``tests/indexes/data/spann_v1/make_fixture.py``) load and answer as
they did: same ids, distances and pages read; their stored vectors read back; writes after
loading leave the saved files alone."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from indexes import FlatIndex
from indexes.spann import SPANNConfig, SPANNIndex, SPANNParams

DATA = Path(__file__).parent / "data" / "spann_v1"


def digest(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(params=["float32_l2", "binary_cosine"])
def saved(request, tmp_path) -> Path:
    """A copy of one fixture (loading must never write next to the repository's files)."""
    shutil.copytree(DATA / request.param, tmp_path / request.param)
    return tmp_path / request.param


@pytest.mark.parametrize("mmap", [True, False])
def test_format_1_loads_and_answers_as_before(saved, mmap):
    manifest = json.loads((saved / "index" / "manifest.json").read_text())
    assert manifest["version"] == SPANNIndex.format_version == 1
    idx = SPANNIndex.load(saved / "index", mmap=mmap)
    assert idx.config == SPANNConfig.from_meta(manifest["meta"])
    assert idx.codec == manifest["meta"]["codec"] and idx.ntotal == 180
    q = np.load(saved / "queries.npy")
    ids, dists, stats = idx.search_with_stats(q, 5, SPANNParams(n_probe=3))
    np.testing.assert_array_equal(ids, np.load(saved / "expect_ids.npy"))
    np.testing.assert_array_equal(dists, np.load(saved / "expect_dists.npy"))
    np.testing.assert_array_equal(stats.pages, np.load(saved / "expect_pages.npy"))


def test_format_1_vectors_read_back_and_writes_copy(saved):
    before = digest(saved / "index")
    idx = SPANNIndex.load(saved / "index")
    x = np.load(saved / "vectors.npy")
    oracle = FlatIndex(8, idx.metric)
    live = np.setdiff1d(np.arange(200), np.arange(0, 200, 10))  # the fixture removed 20
    oracle.add(x[live], live)
    np.testing.assert_array_equal(idx.get_vectors(live), oracle.get_vectors(live))
    q = np.load(saved / "queries.npy")
    np.testing.assert_array_equal(idx.search_exact(q, 5)[0], oracle.search(q, 5)[0])
    idx.add(x[:10] + 1.0, np.arange(1000, 1010))  # reuses the freed slots
    idx.remove(live[:5])
    oracle.add(x[:10] + 1.0, np.arange(1000, 1010))
    oracle.remove(live[:5])
    ids = np.r_[live[5:], np.arange(1000, 1010)]
    np.testing.assert_array_equal(idx.get_vectors(ids), oracle.get_vectors(ids))
    assert idx.search(x[:10] + 1.0, 1)[0][:, 0].tolist() == list(range(1000, 1010))
    assert digest(saved / "index") == before
