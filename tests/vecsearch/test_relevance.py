"""Relevance calibration: the model (monotone, calibrated, deterministic, serialisable) and
its use through a collection (persisted, threshold semantics, bad labels rejected)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from vecsearch import relevance as R
from vecsearch.database import Database
from vecsearch.errors import (
    RelevanceLabelError,
    RelevanceModelMissingError,
    RelevanceModelNotFoundError,
    RelevanceUnsupportedError,
    ValidationError,
    VectorDimensionError,
)

DIM = 16
CLUSTERS = 30
PER_CLUSTER = 20
DEPTH = 50


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


# ----------------------------------------------------------------------------------------------
# The model alone, on a synthetic case whose true relevance curve is known
# ----------------------------------------------------------------------------------------------


def _synthetic(seed: int, n_queries: int) -> tuple[R.TrainingSet, list[np.ndarray]]:
    """Random docs and queries; each query's candidate j is relevant with probability
    ``sigmoid(3 (s - mean_q) / std_q - 2 + 25 (top_q - 0.75))``: a query-dependent curve the
    model's family contains (offset linear in the top score feature)."""
    rng = np.random.default_rng(seed)
    docs = _unit(rng.standard_normal((2000, DIM)))
    q = _unit(rng.standard_normal((n_queries, DIM)))
    s = np.sort(q @ docs.T, axis=1)[:, ::-1][:, :DEPTH]
    mean, std = s.mean(axis=1, keepdims=True), s.std(axis=1, keepdims=True)
    logit = 3.0 * (s - mean) / std - 2.0 + 25.0 * (s[:, :1] - 0.75)
    p = 1.0 / (1.0 + np.exp(-logit))
    y = (rng.random(p.shape) < p).astype(np.float64)
    data = R.TrainingSet(q, list(s), list(y), y.sum(axis=1))
    return data, list(p)


@pytest.fixture(scope="module")
def synthetic_model() -> tuple[R.RelevanceModel, R.TrainingSet, list[np.ndarray]]:
    train, _ = _synthetic(0, 300)
    model = R.fit(train, depth=DEPTH, n_components=2, ridge=1e-4, report=False)
    test, truth = _synthetic(1, 100)
    return model, test, truth


def test_calibration_recovers_the_true_relevance_curve(synthetic_model):
    model, test, truth = synthetic_model
    pred = model.relevance(test.queries, test.scores, test.scores)
    err = np.abs(np.concatenate(pred) - np.concatenate(truth))
    assert err.mean() < 0.03, err.mean()
    assert np.quantile(err, 0.95) < 0.08
    p, y = np.concatenate(pred), np.concatenate(test.labels)
    assert R.calibration_error(p, y) < 0.04
    # a raw global threshold cannot represent the query-dependent curve: the calibrated
    # scores rank the pooled pairs better than raw cosine, and nearly as well as the truth
    ap = {}
    for name, x in (
        ("cal", p),
        ("raw", np.concatenate(test.scores)),
        ("true", np.concatenate(truth)),
    ):
        _, prec, rec = R.pr_curve(x, y)
        ap[name] = R.average_precision(prec, rec)
    assert ap["cal"] > ap["raw"] + 0.02 and ap["cal"] > ap["true"] - 0.005, ap


def test_map_is_increasing_in_the_raw_score(synthetic_model):
    model, test, _ = synthetic_model
    a, _b = model.params(test.queries, test.scores)
    assert (a > 0).all()
    grid = np.linspace(-1, 1, 201)
    for r in model.relevance(test.queries[:20], test.scores[:20], [grid] * 20):
        assert (np.diff(r) >= 0).all() and r.min() >= 0 and r.max() <= 1


def test_fit_is_deterministic_and_round_trips_through_json(synthetic_model):
    train, _ = _synthetic(0, 60)
    m1 = R.fit(train, depth=DEPTH, n_components=2, folds=3, seed=5)
    m2 = R.fit(train, depth=DEPTH, n_components=2, folds=3, seed=5)
    assert json.dumps(m1.to_dict()) == json.dumps(m2.to_dict())
    assert m1.report["held_out"] and m1.meta["ridge_chosen_by"] == "inner cross-validation"
    back = R.RelevanceModel.from_dict(json.loads(json.dumps(m1.to_dict())))
    got = back.relevance(train.queries, train.scores, train.scores)
    want = m1.relevance(train.queries, train.scores, train.scores)
    assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
    with pytest.raises(ValueError, match="newer"):
        R.RelevanceModel.from_dict({**m1.to_dict(), "version": R.VERSION + 1})
    with pytest.raises(ValueError, match="not a vecsearch relevance model"):
        R.RelevanceModel.from_dict({"format": "other"})


def test_metrics_on_a_hand_made_case():
    thr, prec, rec = R.pr_curve(np.array([0.9, 0.8, 0.8, 0.1]), np.array([1, 0, 1, 0]))
    assert thr.tolist() == [0.9, 0.8, 0.1]
    assert prec.tolist() == [1.0, 2 / 3, 0.5] and rec.tolist() == [0.5, 1.0, 1.0]
    assert R.average_precision(prec, rec) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert R.precision_at_recall(prec, rec, 0.9) == pytest.approx(2 / 3)
    q = R.set_quality([np.array([1, 1, 0]), np.array([0, 0])], [np.array([1, 0, 1]), np.zeros(2)])
    assert q["precision"] == 0.5 and q["recall"] == 0.5 and q["empty_fraction"] == 0.5


# ----------------------------------------------------------------------------------------------
# Through a collection
# ----------------------------------------------------------------------------------------------


def _clustered(seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """Docs in clusters (ids = row numbers), one query per cluster, relevant = its cluster.
    Cluster spreads differ, so raw cosine means different things for different queries."""
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((CLUSTERS, DIM)))
    spread = rng.uniform(0.2, 0.6, CLUSTERS)
    docs = np.concatenate(
        [
            _unit(c + s * rng.standard_normal((PER_CLUSTER, DIM)))
            for c, s in zip(centres, spread, strict=True)
        ]
    )
    queries = _unit(centres + spread[:, None] * rng.standard_normal((CLUSTERS, DIM)))
    relevant = [list(range(c * PER_CLUSTER, (c + 1) * PER_CLUSTER)) for c in range(CLUSTERS)]
    return docs.astype(np.float32), queries, relevant


FIT = {"depth": DEPTH, "folds": 3, "ridge": 0.1, "n_components": 2}


def _filled(db: Database, name: str = "docs", distance: str = "Cosine"):
    docs, queries, relevant = _clustered()
    coll = db.create_collection(name, {"vectors": {"size": DIM, "distance": distance}})
    coll.upsert_batch(
        list(range(len(docs))), docs, [{"c": i // PER_CLUSTER} for i in range(len(docs))]
    )
    return coll, queries, relevant


@pytest.fixture
def fitted(db):
    coll, queries, relevant = _filled(db)
    report = coll.fit_relevance(queries, relevant, **FIT)
    return coll, queries, relevant, report


def test_fit_reports_held_out_quality_and_hits_carry_relevance(fitted):
    coll, queries, _, report = fitted
    assert report["revision"] == 1 and report["report"]["held_out"]
    assert report["report"]["n_queries"] == CLUSTERS
    assert 0 < report["report"]["suggested_threshold"] < 1
    assert coll.describe()["relevance"] == {"fitted": True, "revision": 1, "using": ""}
    hits = coll.search(queries[0], limit=DEPTH)
    assert len(hits) == DEPTH
    scores = [h.score for h in hits]
    rel = [h.relevance for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= r <= 1 for r in rel)
    assert all(a >= b for a, b in itertools.pairwise(rel))  # ranking unchanged: monotone map
    assert "relevance" in hits[0].to_dict()
    # relevance does not depend on limit, offset or a filter
    first = coll.search(queries[0], limit=3)
    assert [h.relevance for h in first] == rel[:3]
    assert [h.relevance for h in coll.search(queries[0], limit=3, offset=2)] == rel[2:5]
    flt = {"must": [{"key": "c", "match": {"value": 0}}]}
    by_id = {h.id: h.relevance for h in hits}
    for h in coll.search(queries[0], limit=5, filter=flt):
        if h.id in by_id:
            assert h.relevance == pytest.approx(by_id[h.id], abs=1e-12)


def test_threshold_returns_fewer_than_k_or_none(fitted):
    coll, queries, _relevant, _ = fitted
    hits = coll.search(queries[1], limit=DEPTH)
    rel = np.array([h.relevance for h in hits])
    t = float((rel[5] + rel[15]) / 2) if rel[5] > rel[15] else float(rel[5])
    kept = coll.search(queries[1], limit=DEPTH, relevance_threshold=t)
    assert 0 < len(kept) < DEPTH
    assert [h.id for h in kept] == [h.id for h in hits[: len(kept)]]  # a prefix, same order
    assert all(h.relevance >= t for h in kept)
    assert len(kept) == int((rel >= t).sum())
    # everything passes threshold 0; nothing passes for a query unlike every document
    assert len(coll.search(queries[1], limit=7, relevance_threshold=0.0)) == 7
    far = -queries[1]
    assert coll.search(far, limit=10, relevance_threshold=0.99) == []
    # score_threshold keeps working, alone and combined
    s_thr = hits[10].score
    assert len(coll.search(queries[1], limit=DEPTH, score_threshold=s_thr)) >= 11
    both = coll.search(queries[1], limit=DEPTH, score_threshold=s_thr, relevance_threshold=t)
    assert len(both) == min(
        len(kept), len(coll.search(queries[1], limit=DEPTH, score_threshold=s_thr))
    )
    # in a batch too
    batch = coll.search_batch(
        [{"vector": queries[1].tolist(), "limit": DEPTH, "relevance_threshold": t}]
    )
    assert [h.id for h in batch[0]] == [h.id for h in kept]


def test_model_persists_across_reopen_and_refit_bumps_revision(tmp_path):
    docs_db = tmp_path / "data"
    with Database(docs_db) as db:
        coll, queries, relevant = _filled(db)
        info = coll.fit_relevance(queries, relevant, **FIT)
        before = [h.to_dict() for h in coll.search(queries[2], limit=20)]
    with Database(docs_db) as db:
        coll = db.get_collection("docs")
        assert coll.relevance_info() == info
        assert [h.to_dict() for h in coll.search(queries[2], limit=20)] == before
        snap = db.create_snapshot("docs")
        restored = db.restore_snapshot(db.snapshot_path("docs", snap.name), "copy")
        assert restored.relevance_info() == info  # the model travels in snapshots
        again = coll.fit_relevance(queries, relevant, **FIT)
        assert again["revision"] == 2 and again["report"] == info["report"]
        coll.delete_relevance()
        assert coll.search(queries[2], limit=3)[0].relevance is None
        with pytest.raises(RelevanceModelNotFoundError):
            coll.relevance_info()
    with Database(docs_db) as db:
        assert db.get_collection("docs").relevance_model is None


def test_fit_is_deterministic_through_the_engine(tmp_path):
    infos = []
    for i in range(2):
        with Database(tmp_path / f"d{i}") as db:
            coll, queries, relevant = _filled(db)
            info = coll.fit_relevance(queries, relevant, **FIT, seed=3)
            infos.append((info["report"], coll.relevance_model.to_dict()["u"]))
    assert infos[0] == infos[1]


def test_graded_labels_and_min_gain(db):
    coll, queries, relevant = _filled(db)
    graded = [{pid: (2 if j < 10 else 1) for j, pid in enumerate(ids)} for ids in relevant]
    info = coll.fit_relevance(queries, graded, min_gain=2, **FIT)
    assert info["meta"]["min_gain"] == 2.0 and info["meta"]["n_positive_pairs"] > 0


def test_bad_labels_are_rejected_and_change_nothing(db):
    coll, queries, relevant = _filled(db)
    with pytest.raises(RelevanceLabelError, match=r"relevant\[2\]: unknown point id 99999"):
        coll.fit_relevance(queries, [*relevant[:2], [99999], *relevant[3:]], **FIT)
    with pytest.raises(RelevanceLabelError, match=r"relevant\[0\]: no relevant point id"):
        coll.fit_relevance(queries, [[], *relevant[1:]], **FIT)
    with pytest.raises(RelevanceLabelError, match=r"relevant\[1\]: no relevant"):
        coll.fit_relevance(queries, [relevant[0], {5: 0, 6: -1}, *relevant[2:]], **FIT)
    with pytest.raises(RelevanceLabelError, match="expected 30 entries"):
        coll.fit_relevance(queries, relevant[:-1], **FIT)
    with pytest.raises(VectorDimensionError, match=r"queries\[0\]"):
        coll.fit_relevance(queries[:, :-1], relevant, **FIT)
    with pytest.raises(RelevanceLabelError, match="at least folds=3"):
        coll.fit_relevance(queries[:2], relevant[:2], **FIT)
    with pytest.raises(ValidationError, match="depth"):
        coll.fit_relevance(queries, relevant, **{**FIT, "depth": 1})
    with pytest.raises(RelevanceModelMissingError, match="relevance_threshold"):
        coll.search(queries[0], relevance_threshold=0.5)
    assert coll.relevance_model is None
    with pytest.raises(RelevanceModelNotFoundError):
        coll.delete_relevance()
    # a bad refit leaves the fitted model in place
    coll.fit_relevance(queries, relevant, **FIT)
    model = coll.relevance_model
    with pytest.raises(RelevanceLabelError):
        coll.fit_relevance(queries, [[123456], *relevant[1:]], **FIT)
    assert coll.relevance_model is model
    with pytest.raises(
        ValidationError, match=r"relevance_threshold: expected a number in \[0, 1\]"
    ):
        coll.search(queries[0], relevance_threshold=1.5)


def test_non_cosine_collection_is_rejected(db):
    coll, queries, relevant = _filled(db, "l2", distance="Euclid")
    with pytest.raises(RelevanceUnsupportedError, match="Cosine"):
        coll.fit_relevance(queries, relevant, **FIT)


def test_cli_fits_from_qrels_and_searches_with_a_threshold(tmp_path, capsys):
    from vecsearch.cli import main

    data_dir = str(tmp_path / "data")
    with Database(data_dir) as db:
        _filled(db)
    _, queries, relevant = _clustered()
    np.save(tmp_path / "q.npy", queries.astype(np.float32))
    # TREC-style qrels, query ids 1..n by row; grade 2 = relevant, 1 = marginal (not counted)
    lines = [
        f"{qi + 1} 0 {d} {2 if j < 15 else 1}"
        for qi, ids in enumerate(relevant)
        for j, d in enumerate(ids)
    ]
    (tmp_path / "qrels").write_text("\n".join(lines) + "\n")
    base = ["--data-dir", data_dir, "--collection", "docs"]
    fit = [
        "relevance",
        "fit",
        *base,
        "--qrels",
        str(tmp_path / "qrels"),
        "--queries",
        str(tmp_path / "q.npy"),
    ]
    opts = [
        "--relevant-grades",
        "2",
        "--depth",
        str(DEPTH),
        "--folds",
        "3",
        "--ridge",
        "0.1",
        "--components",
        "2",
    ]
    assert main([*fit, *opts]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["revision"] == 1 and info["meta"]["n_queries"] == CLUSTERS
    assert main(["relevance", "show", *base]) == 0
    assert json.loads(capsys.readouterr().out) == info
    vec = ",".join(str(float(v)) for v in queries[0])
    search = ["search", *base, f"--vector={vec}", "-k", "40"]
    assert main(search) == 0
    every = json.loads(capsys.readouterr().out)
    t = every[5]["relevance"]
    assert main([*search, "--relevance-threshold", str(t)]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert [h["id"] for h in hits] == [h["id"] for h in every if h["relevance"] >= t]
    assert 6 <= len(hits) < 40
    # a judgement naming a point that does not exist: exit 2, message names it
    (tmp_path / "bad").write_text("1 0 99999 2\n2 0 5 2\n3 0 45 2\n")
    assert (
        main(
            [
                "relevance",
                "fit",
                *base,
                "--qrels",
                str(tmp_path / "bad"),
                "--queries",
                str(tmp_path / "q.npy"),
                *opts,
            ]
        )
        == 2
    )
    assert "unknown point id 99999" in capsys.readouterr().err
    assert main(["relevance", "delete", *base]) == 0
