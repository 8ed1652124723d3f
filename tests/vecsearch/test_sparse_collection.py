"""Sparse spaces in the engine: BM25 text inference on real data against ``bm25s`` on the
same tokens, IDF against a hand computation after inserts, replacements and deletes, exact
results under filters, persistence (close/reopen, a saved index caught up with later
writes, snapshots), and bad input that changes nothing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vecsearch.datasets.ir_collections import load_vaswani
from vecsearch.errors import ValidationError
from vecsearch.text.bm25 import tokenize

K = 10
N_DOCS = 2000  # a slice of Vaswani keeps the test fast; the harness runs all 11,429


@pytest.fixture(scope="module")
def vaswani():
    return load_vaswani()


def _bm25_collection(db, name="v"):
    return db.create_collection(
        name,
        {"vectors": {}, "sparse_vectors": {"bm25": {"modifier": "idf"}}},
    )


def _text(t: str) -> dict:
    return {"text": t, "model": "qdrant/bm25"}


def test_bm25_equals_bm25s_on_the_same_tokens(db, vaswani):
    """Written in one batch, every document's length is normalised by the true average,
    so the ranking is exactly BM25 (k1 = 1.2, b = 0.75, Qdrant's = Lucene's IDF) and each
    score is bm25s's times (k1 + 1), which bm25s's Lucene variant leaves out."""
    bm25s = pytest.importorskip("bm25s")
    texts = vaswani.doc_texts[:N_DOCS]
    coll = _bm25_collection(db)
    coll.upsert([{"id": i, "vector": {"bm25": _text(t)}} for i, t in enumerate(texts)])
    ref = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    ref.index([tokenize(t) for t in texts], show_progress=False)
    compared = 0
    for q in vaswani.query_texts:
        toks = [t for t in dict.fromkeys(tokenize(q)) if t in ref.vocab_dict]
        if not toks:
            continue
        want_ids, want = ref.retrieve([toks], k=K, show_progress=False)
        hits = coll.query({"query": _text(q), "using": "bm25", "limit": K})
        got = np.array([h.score for h in hits])
        n = min(len(hits), int((want[0] > 0).sum()))
        assert n > 0
        np.testing.assert_allclose(got[:n], 2.2 * want[0][:n], rtol=2e-5)
        cut = want[0][n - 1] * (1 + 1e-4)  # ids strictly above the k-th score cannot reorder
        assert {h.id for h, s in zip(hits, got, strict=True) if s > 2.2 * cut} == {
            int(i) for i, s in zip(want_ids[0], want[0], strict=True) if s > cut
        }
        compared += 1
    assert compared >= 80


def _idf(n_docs: int, df: int) -> float:
    return math.log((n_docs - df + 0.5) / (df + 0.5) + 1)


def test_idf_follows_inserts_replacements_and_deletes(db):
    coll = db.create_collection("w", {"vectors": {}, "sparse_vectors": {"s": {"modifier": "idf"}}})

    def vec(*pairs):
        return {"s": {"indices": [p[0] for p in pairs], "values": [p[1] for p in pairs]}}

    coll.upsert(
        [
            {"id": 1, "vector": vec((7, 1.0), (8, 2.0))},
            {"id": 2, "vector": vec((7, 0.5))},
            {"id": 3, "vector": vec((9, 1.0))},
            {"id": 4, "vector": {}},  # no sparse vector: not part of the statistics
        ]
    )
    q = {"query": {"indices": [7, 8], "values": [1.0, 1.0]}, "using": "s"}

    def scores():
        return {h.id: h.score for h in coll.query(q)}

    # N = 3 vectors; df(7) = 2, df(8) = 1
    assert scores() == pytest.approx({1: _idf(3, 2) + 2 * _idf(3, 1), 2: 0.5 * _idf(3, 2)})
    coll.upsert([{"id": 3, "vector": vec((7, 3.0))}])  # replaced: df(7) = 3, df(9) = 0
    assert scores() == pytest.approx(
        {1: _idf(3, 3) + 2 * _idf(3, 1), 2: 0.5 * _idf(3, 3), 3: 3 * _idf(3, 3)}
    )
    coll.delete([2])  # N = 2, df(7) = 2
    coll.delete_vectors(["s"], [1])  # N = 1, df(7) = 1, df(8) = 0
    assert scores() == pytest.approx({3: 3 * _idf(1, 1)})
    coll.update_vectors([{"id": 4, "vector": vec((8, 1.0))}])  # N = 2, df(8) = 1
    assert scores() == pytest.approx({3: 3 * _idf(2, 1), 4: _idf(2, 1)})
    coll.close()
    again = db.get_collection("w")
    assert {h.id: h.score for h in again.query(q)} == pytest.approx(
        {3: 3 * _idf(2, 1), 4: _idf(2, 1)}
    )


def _brute(rows: dict[int, dict[int, float]], q: dict[int, float], allowed=None):
    out = []
    for pid, row in rows.items():
        if allowed is not None and pid not in allowed:
            continue
        common = set(row) & set(q)
        if common:
            out.append((pid, sum(row[t] * q[t] for t in common)))
    return sorted(out, key=lambda x: (-x[1], x[0]))


def test_sparse_search_equals_brute_force_with_filters_and_deletes(db):
    rng = np.random.default_rng(3)
    coll = db.create_collection("r", {"vectors": {}, "sparse_vectors": {"s": {}}})
    rows: dict[int, dict[int, float]] = {}
    points = []
    for i in range(3000):
        idx = rng.choice(500, size=int(rng.integers(1, 20)), replace=False)
        val = rng.uniform(-1, 2, size=idx.size).round(4)
        rows[i] = dict(zip(idx.tolist(), val.astype(np.float32).tolist(), strict=True))
        points.append(
            {
                "id": i,
                "vector": {"s": {"indices": idx.tolist(), "values": val.tolist()}},
                "payload": {"g": i % 7},
            }
        )
    for s in range(0, len(points), 700):  # several writes: sealed lists plus a tail
        coll.upsert(points[s : s + 700])
    gone = set(range(0, 3000, 5))
    coll.delete(sorted(gone))
    for pid in gone:
        rows.pop(pid)
    for t in range(20):
        q = {
            int(i): float(v)
            for i, v in zip(rng.choice(500, 6, replace=False), rng.uniform(0, 1, 6), strict=True)
        }
        body = {"query": {"indices": list(q), "values": list(q.values())}, "using": "s", "limit": K}
        for flt, allowed in ((None, None), ({"must": [{"key": "g", "match": {"value": t % 7}}]},
                                            {p for p in rows if p % 7 == t % 7})):  # fmt: skip
            hits = coll.query({**body, "filter": flt})
            want = _brute(rows, {k: np.float32(v) for k, v in q.items()}, allowed)[:K]
            got = [h.score for h in hits]
            assert len(hits) == min(K, len(want)) > 0
            np.testing.assert_allclose(got, [s for _, s in want], rtol=1e-5)
            cut = want[len(hits) - 1][1] + 1e-5 * abs(want[len(hits) - 1][1])
            assert {h.id for h in hits if h.score > cut} == {p for p, s in want if s > cut}


def test_index_is_saved_loaded_and_caught_up(db, tmp_path):
    coll = _bm25_collection(db, "p")
    coll.upsert([{"id": i, "vector": {"bm25": _text(f"word{i % 10} common")}} for i in range(100)])
    q = {"query": _text("word3 common"), "using": "bm25", "limit": 5}
    before = [(h.id, h.score) for h in coll.query(q)]
    coll.save_index()
    coll.upsert([{"id": 500, "vector": {"bm25": _text("word3 word3 word3")}}])  # after the save
    coll.delete([3])
    after = [(h.id, round(h.score, 5)) for h in coll.query(q)]
    assert after != [(i, round(s, 5)) for i, s in before]
    coll.close(save_index=False)  # the saved index is older than the store
    again = db.get_collection("p")
    assert again.spaces["bm25"].index_source == "loaded"
    assert [(h.id, round(h.score, 5)) for h in again.query(q)] == after
    assert again.spaces["bm25"].text_stats.docs == 101
    snap = db.snapshot_path("p", db.create_snapshot("p").name)
    db.restore_snapshot(snap, "p2")
    restored = db.get_collection("p2")
    assert [(h.id, round(h.score, 5)) for h in restored.query(q)] == after


BAD = {
    "duplicate": ({"indices": [1, 1], "values": [1, 2]}, "points[0].vector.s.indices"),
    "negative": ({"indices": [-3], "values": [1]}, "points[0].vector.s.indices[0]"),
    "nan": ({"indices": [1], "values": [float("nan")]}, "points[0].vector.s.values[0]"),
    "inf": ({"indices": [1], "values": [float("inf")]}, "points[0].vector.s.values[0]"),
    "mismatch": ({"indices": [1, 2], "values": [1]}, "points[0].vector.s"),
    "bool index": ({"indices": [True], "values": [1]}, "points[0].vector.s.indices[0]"),
    "text value": ({"indices": [1], "values": ["a"]}, "points[0].vector.s.values[0]"),
    "not a list": ({"indices": 5, "values": [1]}, "points[0].vector.s.indices"),
    "bad model": ({"text": "a", "model": "splade"}, "points[0].vector.s.model"),
    "text not a string": ({"text": 5, "model": "qdrant/bm25"}, "points[0].vector.s.text"),
    "bad option": (
        {"text": "a", "model": "qdrant/bm25", "options": {"b": 2}},
        "points[0].vector.s.options.b",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_names_the_field_and_changes_nothing(db, case):
    coll = db.create_collection("b", {"vectors": {}, "sparse_vectors": {"s": {}}})
    coll.upsert([{"id": 0, "vector": {"s": {"indices": [2], "values": [1.0]}}}])
    value, field = BAD[case]
    with pytest.raises(ValidationError) as err:
        coll.upsert([{"id": 0, "vector": {"s": value}}, {"id": 1, "vector": {"s": value}}])
    assert err.value.field == field
    assert coll.point_count == 1
    rec = coll.retrieve([0], with_vector=True)[0]
    assert rec.vector["s"]["indices"].tolist() == [2]


def test_cli_build_indexes_a_text_field_into_bm25(tmp_path, vaswani, capsys):
    """``vecsearch build --text-field``: dense vectors and a BM25 space from one jsonl file,
    scored exactly as the same documents upserted in one batch (both use the true average
    length); a record without the field gets no BM25 vector."""
    import json

    from vecsearch.cli import main
    from vecsearch.database import Database

    n = 300
    path = tmp_path / "docs.jsonl"
    with open(path, "w") as fh:
        for i in range(n):
            rec = {"id": i, "vector": vaswani.doc_embeddings[i].tolist(), "n": i}
            if i != 7:
                rec["text"] = vaswani.doc_texts[i]
            fh.write(json.dumps(rec) + "\n")
    data = tmp_path / "data"
    argv = ["build", str(path), "--collection", "v", "--data-dir", str(data), "--no-progress"]
    assert main([*argv, "--text-field", "text"]) == 0
    assert "BM25 sparse vector 'bm25': 299 documents" in capsys.readouterr().out
    db = Database(data)
    try:
        built = db.get_collection("v")
        ref = db.create_collection(
            "ref", {"vectors": {}, "sparse_vectors": {"bm25": {"modifier": "idf"}}}
        )
        ref.upsert(
            [{"id": i, "vector": {"bm25": _text(vaswani.doc_texts[i])}} for i in range(n) if i != 7]
        )
        for q in vaswani.query_texts[:20]:
            body = {"query": _text(q), "using": "bm25", "limit": 5}
            got = [(h.id, round(h.score, 4)) for h in built.query(body)]
            assert got == [(h.id, round(h.score, 4)) for h in ref.query(body)]
        # no BM25 vector (empty text): the unnamed vector itself, as Qdrant answers
        assert isinstance(built.retrieve([7], with_vector=True)[0].vector, np.ndarray)
        assert built.retrieve([7])[0].payload == {"n": 7}
        dense = built.search(vaswani.query_embeddings[0], limit=3)
        assert len(dense) == 3
    finally:
        db.close()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": 1, "vector": [1.0, 2.0], "text": 5}) + "\n")
    argv = ["build", str(bad), "--collection", "b", "--data-dir", str(data), "--no-progress"]
    assert main([*argv, "--text-field", "text"]) != 0
    assert "must be a string" in capsys.readouterr().err


def test_patch_changes_the_modifier_and_keeps_the_index(db):
    coll = db.create_collection("m", {"vectors": {}, "sparse_vectors": {"s": {"modifier": "idf"}}})
    rows = [{"indices": [1, i + 2], "values": [1.0, 1.0]} for i in range(4)]
    coll.upsert([{"id": i, "vector": {"s": r}} for i, r in enumerate(rows)])
    q = {"query": {"indices": [1], "values": [2.0]}, "using": "s"}
    assert [h.score for h in coll.query(q)] == pytest.approx([2 * _idf(4, 4)] * 4)
    coll.update_config({"sparse_vectors": {"s": {"modifier": "none", "index": {"on_disk": True}}}})
    assert [h.score for h in coll.query(q)] == pytest.approx([2.0] * 4)
    assert coll.config.sparse_space("s").sparse_params() == {"index": {"on_disk": True}}
    with pytest.raises(ValidationError, match="no sparse vector named 'zz'"):
        coll.update_config({"sparse_vectors": {"zz": {"modifier": "idf"}}})
    coll.close()
    again = db.get_collection("m")
    assert again.config.sparse_space("s").modifier is None
    assert again.spaces["s"].index_source == "loaded"
    with pytest.raises(ValidationError, match="sparse"):
        again.fit_relevance([{"indices": [1], "values": [1.0]}], [[0]], using="s")


def test_build_text_field_from_parquet(tmp_path, vaswani):
    """The same text-field build from a parquet file (its other columns are the payload)."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from vecsearch.build import build_collection
    from vecsearch.database import Database

    n = 200
    table = pa.table(
        {
            "id": list(range(n)),
            "vector": [vaswani.doc_embeddings[i].tolist() for i in range(n)],
            "body": vaswani.doc_texts[:n],
        }
    )
    path = tmp_path / "docs.parquet"
    pq.write_table(table, path, row_group_size=64)
    report = build_collection(
        path, tmp_path / "data", "pq", text_field="body", text_space="kw", progress=False
    )
    assert report.points == n and report.text_docs == n
    db = Database(tmp_path / "data")
    try:
        coll = db.get_collection("pq")
        assert coll.config.sparse_space("kw").modifier == "idf"
        q = vaswani.doc_texts[5]
        hits = coll.query({"query": _text(q), "using": "kw", "limit": 3})
        assert hits[0].id == 5  # a document is its own best BM25 match
        assert coll.retrieve([5])[0].payload["body"] == vaswani.doc_texts[5]
    finally:
        db.close()
