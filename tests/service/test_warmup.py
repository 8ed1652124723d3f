"""Start-up warm-up: the units of the collections present (read without opening them), a
collection of a type not warmed that still answers correctly, and the background warm-up
process that never holds ``/readyz`` back and stops with the service."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service import create_app
from service.warmup import (
    SPARSE,
    WarmUnit,
    all_units,
    main,
    needed_index_types,
    start_background_warm,
    warm_parallel,
)
from tests.service.conftest import make_settings
from vecsearch.database import Database

MULTI = {"size": 4, "distance": "Cosine", "multivector_config": {"comparator": "max_sim"}}


def _make_collections(db: Database) -> None:
    db.create_collection(
        "a", {"vectors": {"size": 4, "distance": "Dot"}, "index": {"type": "flat"}}
    )
    db.create_collection(
        "b",
        {
            "vectors": {
                "x": {"size": 4, "distance": "Euclid"},  # the default type: hnsw
                "y": {"size": 8, "distance": "Cosine", "index": {"type": "flat"}},
            }
        },
    )
    db.create_collection("c", {"vectors": {}, "sparse_vectors": {"s": {"modifier": "idf"}}})
    db.create_collection("d", {"vectors": MULTI})
    db.create_collection(
        "e", {"vectors": {"size": 4, "distance": "Dot"}, "index": {"type": "flat"}}
    )


def test_an_empty_database_needs_nothing(tmp_path):
    with Database(tmp_path) as db:
        assert needed_index_types(db) == []


def test_needed_units_are_those_of_the_collections_present(tmp_path):
    with Database(tmp_path) as db1:
        _make_collections(db1)
        # the collections stay open (locked) in db1: the configs are read without opening
        with Database(tmp_path) as db2:
            got = needed_index_types(db2)
            assert got == [
                WarmUnit("flat", "Cosine"),
                WarmUnit("flat", "Dot"),  # a and e: once
                WarmUnit("hnsw", "Euclid"),
                WarmUnit("muvera", "Cosine"),
                WarmUnit(SPARSE),
            ]
            assert [db2.loaded_collection(n) for n in "abcde"] == [None] * 5
        assert db1.delete_collection("d") and db1.delete_collection("c")
        with Database(tmp_path) as db2:
            assert needed_index_types(db2) == [
                WarmUnit("flat", "Cosine"),
                WarmUnit("flat", "Dot"),
                WarmUnit("hnsw", "Euclid"),
            ]


def test_an_unreadable_store_is_left_out(tmp_path):
    with Database(tmp_path) as db:
        db.create_collection("a", {"vectors": {"size": 4, "distance": "Dot"}})
        bad = db.collections_dir / "bad"
        bad.mkdir()
        (bad / "store.sqlite").write_bytes(b"not a database" * 100)
        assert "bad" in db.list_collections()
        assert needed_index_types(db) == [WarmUnit("hnsw", "Dot")]


def test_units_parse_and_print():
    units = all_units()
    assert WarmUnit(SPARSE) in units and WarmUnit("flat", "Euclid") in units
    assert WarmUnit("spann", "Dot") not in units  # spann serves l2 and cosine only
    assert WarmUnit("muvera", "Euclid") not in units  # MaxSim: Cosine or Dot
    assert [WarmUnit.parse(str(u)) for u in units] == units
    with pytest.raises(ValueError, match="Manhattan"):
        WarmUnit.parse("flat/Manhattan")
    with pytest.raises(ValueError, match="spann does not serve Dot"):
        WarmUnit.parse("spann/Dot")


def test_cli_lists_units_and_refuses_unknown_ones(capsys):
    assert main(["--list"]) == 0
    assert capsys.readouterr().out.split() == [str(u) for u in all_units()]
    with pytest.raises(SystemExit) as exc:
        main(["nope/Cosine"])
    assert exc.value.code == 2
    assert "unknown index type 'nope'" in capsys.readouterr().err


def test_background_warm_stops_when_asked(tmp_path):
    stop = threading.Event()
    bg = start_background_warm([], should_stop=stop.is_set)
    assert bg is not None and bg.units == all_units()
    stop.set()  # the watcher thread terminates the process
    assert bg.wait(30) is not None
    assert start_background_warm(None) is None  # everything was warmed already
    assert start_background_warm(all_units()) is None


def _exact_top(x: np.ndarray, q: np.ndarray, k: int) -> list[int]:
    d = ((x - q) ** 2).sum(axis=1)
    return [int(i) for i in np.argsort(d, kind="stable")[:k]]


def test_ready_before_the_background_and_an_unwarmed_type_answers(tmp_path, rng):
    with Database(tmp_path / "data") as db:
        db.create_collection(
            "a", {"vectors": {"size": 4, "distance": "Cosine"}, "index": {"type": "flat"}}
        )
    app = create_app(make_settings(tmp_path, warmup=True))
    with TestClient(app) as client:
        state = app.state.service
        assert state.wait_ready(300), state.phase
        bg = state.background_warm
        # Popen happens just before ready: the process cannot have finished the ~20 units
        assert bg is not None and bg.running()
        assert WarmUnit("flat", "Cosine") not in bg.units
        assert WarmUnit("hnsw", "Euclid") in bg.units
        assert client.get("/readyz").status_code == 200
        # a type that was not warmed before ready: compiled (or loaded) on first need,
        # possibly while the background process writes the same kernels to the cache
        x = rng.standard_normal((300, 8)).astype(np.float32)
        r = client.put("/collections/b", json={"vectors": {"size": 8, "distance": "Euclid"}})
        assert r.status_code == 200, r.text
        points = [{"id": i, "vector": v.tolist()} for i, v in enumerate(x)]
        assert client.put("/collections/b/points?wait=true", json={"points": points}).is_success
        for q in x[:5] + 0.01:
            r = client.post(
                "/collections/b/points/query",
                json={"query": q.tolist(), "limit": 10, "params": {"hnsw_ef": 300}},
            )
            assert r.status_code == 200, r.text
            assert [p["id"] for p in r.json()["result"]["points"]] == _exact_top(x, q, 10)
    assert bg.wait(30) is not None  # the service's close stopped it


def test_parallel_warm_compiles_each_unit_in_worker_processes():
    units = [WarmUnit("flat", "Dot"), WarmUnit("flat", "Euclid"), WarmUnit(SPARSE)]
    spent = warm_parallel(units, jobs=2)
    assert set(spent) == {"flat/Dot", "flat/Euclid", "sparse"}
    assert all(s >= 0 for s in spent.values())
