"""A data directory and a snapshot written by the schema-1 engine (commit 54e9fd5: one
unnamed vector per point, vectors in the points table, tombstones, ``<collection>/index``)
open unchanged as collections with one unnamed vector space, and answer what the old engine
answered. The fixture was written by ``data/legacy_v1/make_fixture.py`` at that commit; its
collections were changed after their last index save, so opening them needs catch-up."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from vecsearch.database import Database

FIXTURE = Path(__file__).parent / "data" / "legacy_v1"


@pytest.fixture
def legacy(tmp_path):
    """A private copy of the fixture (opening migrates the store in place)."""
    shutil.copytree(FIXTURE, tmp_path / "legacy")
    return tmp_path / "legacy"


def hits(results):
    return [(h.id, h.score) for h in results]


def assert_same(got, want):
    assert [i for i, _ in got] == [i for i, _ in want]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in want], rtol=1e-6, atol=1e-6)


def test_schema1_directory_opens_and_answers_as_before(legacy):
    expected = json.loads((legacy / "expected.json").read_text())
    store = legacy / "datadir" / "collections" / "legacy_hnsw" / "store.sqlite"
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (1,)
    with Database(legacy / "datadir") as db:
        assert db.list_collections() == ["legacy_hnsw", "legacy_ivf", "legacy_multi"]
        c = db.get_collection("legacy_hnsw")
        e = expected["legacy_hnsw"]
        # the saved index was loaded and brought up to date (20 upserts, 10 deletes after it)
        assert c.index_source == "loaded" and c.config.names == [""] and not c.config.named
        assert c.count() == e["count"] == 310 and c.space("").index.ntotal == 310
        assert_same(hits(c.search(e["query"], limit=10, params={"exact": True})), e["exact"])
        assert [h.id for h in c.search(e["query"], limit=10)] == [i for i, _ in e["exact"]]
        flt = {"must": [{"key": "g", "match": {"value": 9}}]}
        assert_same(
            hits(c.search(e["query"], limit=5, filter=flt, params={"exact": True})),
            e["filtered"],
        )
        rec = c.retrieve([11], with_vector=True)[0]
        assert rec.payload == e["point_11"]["payload"]
        np.testing.assert_array_equal(rec.vector, np.float32(e["point_11"]["vector"]))
        assert c.payload_schema()["g"]["data_type"] == "integer"
        assert c.relevance_info()["revision"] == 1  # the fitted model survived
        assert c.search(e["query"], limit=3, relevance_threshold=0.0)[0].relevance is not None
        m = db.get_collection("legacy_multi")
        e = expected["legacy_multi"]
        assert m.index_source == "loaded" and m.space("").multi
        assert_same(hits(m.search(e["query"], limit=5, params={"exact": True})), e["exact"])
        v = db.get_collection("legacy_ivf")
        e = expected["legacy_ivf"]
        assert v.index_source == "loaded" and v.space("").ready
        assert_same(hits(v.search(e["query"], limit=5, params={"exact": True})), e["exact"])
        # still writable in the new format, and the index dir moved to the space's place
        c.upsert([{"id": 1000, "vector": [1.0] * 16}])
        assert c.count() == 311
    coll_dir = legacy / "datadir" / "collections" / "legacy_hnsw"
    assert not (coll_dir / "index").exists() and (coll_dir / "spaces" / "0" / "index").is_dir()
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (2,)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "tombstones" not in tables and "vectors_0" in tables
    with Database(legacy / "datadir") as db:  # and it opens again, from its own save
        c = db.get_collection("legacy_hnsw")
        assert c.index_source == "loaded" and c.count() == 311


def test_schema1_snapshot_restores(legacy, tmp_path):
    expected = json.loads((legacy / "expected.json").read_text())["legacy_hnsw"]
    with Database(tmp_path / "new") as db:
        c = db.restore_snapshot(legacy / "legacy_hnsw.snapshot", "restored")
        # the snapshot predates the last writes of the fixture: 300 points, none deleted
        assert c.count() == 300 and c.index_source == "loaded"
        assert c.relevance_info()["revision"] == 1
        q = expected["query"]
        got = c.search(q, limit=3, params={"exact": True})
        assert got[0].id == 42 and got[0].score == pytest.approx(1.0, abs=1e-6)
