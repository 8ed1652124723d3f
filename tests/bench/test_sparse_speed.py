"""The keyword-search speed benchmark on a small Vaswani slice: ours and bm25s agree, tantivy
answers, the record has its keys and renders. No timing is asserted.

bm25s runs on its numpy backend only here: its numba kernels are not cached and take half a
minute to compile (the benchmark itself runs both backends, with the same scores)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("bm25s")
pytest.importorskip("tantivy")

from bench.sparse_speed import (
    AgreementError,
    Corpus,
    agreement,
    check_agreement,
    markdown,
    run_corpus,
    vaswani_corpus,
    write_record,
)


@pytest.fixture(scope="module")
def record(shared_data: Path) -> dict:
    full = vaswani_corpus(shared_data)
    assert (len(full.docs), len(full.queries)) == (11429, 93)
    assert "DOCNO" not in full.docs[0]
    small = Corpus("vaswani", full.docs[:500], full.queries[:10], "Vaswani slice")
    return run_corpus(small, runs=1, bm25s_backends=("numpy",), profile_rounds=2)


def test_ours_and_bm25s_agree_and_tantivy_answers(record: dict) -> None:
    check_agreement(record)
    ag = record["agreement"]["bm25s-numpy"]
    assert ag["queries_same_topk"] == record["n_queries"] == 10
    assert ag["max_rel_score_diff"] < 1e-5
    assert record["single_equals_batch"]
    overlap = record["tantivy_overlap"]["mean_overlap"]
    assert overlap is not None and 0.5 < overlap <= 1.0


def test_record_keys_and_reports(record: dict, tmp_path: Path) -> None:
    for key in ("dataset", "n_docs", "n_queries", "k", "runs", "agreement", "tantivy_overlap",
                "rows", "profile", "load_average", "machine", "build_s", "reference"):  # fmt: skip
        assert key in record, key
    assert record["n_docs"] == 500
    systems = {r["system"]: r for r in record["rows"]}
    assert set(systems) == {"vecsearch-sparse", "bm25s-numpy", "tantivy"}
    assert systems["tantivy"]["qps_batch"] is None
    assert systems["bm25s-numpy"]["ratio_single"] == 1.0
    assert all(r["qps_single"] > 0 for r in record["rows"])
    us = record["profile"]["us_per_query"]
    assert {"search_call", "kernel_call", "kernel_work", "dispatch_only"} <= set(us)
    record = dict(record, command="test")
    paths = write_record(record, root=tmp_path)
    assert all(p.exists() for p in paths.values())
    assert paths["md"].name == "vaswani-k10-speed.md"
    assert "n/a" in markdown(record)


def test_disagreement_fails_loudly() -> None:
    ours = (np.array([[3, 1, -1]]), np.array([[-2.2, -1.1, np.inf]], np.float32))
    peer = (np.array([[3, 1, 0]]), np.array([[1.0, 0.5, 0.0]]))
    full = [np.array([0.0, 0.5, 0.0, 1.0])]
    assert agreement(ours, peer, full)["disagreeing_queries"] == []
    # the last place is a tie in the top-k lists, but bm25s scores our doc 1 lower
    tie = (np.array([[3, 2, 0]]), np.array([[1.0, 0.5, 0.0]]))
    assert agreement(ours, tie)["disagreeing_queries"] == []
    bad = agreement(ours, tie, [np.array([0.0, 0.3, 0.5, 1.0])])
    assert bad["disagreeing_queries"] == [0]
    # a document we miss that bm25s scores above zero is a disagreement too
    missed = (np.array([[3, 1, 2]]), np.array([[1.0, 0.5, 0.2]]))
    assert agreement(ours, missed)["disagreeing_queries"] == [0]
    assert agreement(ours, peer, [np.array([0.0, 0.5, 0.2, 1.0])])["disagreeing_queries"] == [0]
    # a query with a colliding term id is excused, not failed
    assert agreement(ours, tie, [np.array([0.0, 0.3, 0.5, 1.0])], {0})["disagreeing_queries"] == []
    rec = {"dataset": "x", "agreement": {"bm25s-numba": bad}, "single_equals_batch": True}
    with pytest.raises(AgreementError, match="differ beyond ties"):
        check_agreement(rec)
