"""A collection on the SPANN disk index: trained once enough points arrive, postings file in
the collection's directory, live upserts and deletes, filters, snapshot and reopen, on GloVe."""

from __future__ import annotations

import pytest

from indexes.errors import InvalidParameterError
from tests.indexes.realdata import glove_sample
from vecsearch.errors import ValidationError

pytest.importorskip("indexes.spann")

BODY = {
    "vectors": {"size": 50, "distance": "Cosine"},
    "index": {"type": "spann", "params": {"head_ratio": 0.02, "posting_vector_limit": 64}},
}


def ids_of(hits) -> list[int]:
    return [h.id for h in hits]


def test_spann_collection(db):
    x, qs = glove_sample(4000, 20)
    coll = db.create_collection("s", BODY)
    payloads = [{"g": i % 10} for i in range(4000)]
    coll.upsert_batch(list(range(500)), x[:500], payloads[:500])
    assert not coll.space("").ready  # below the training threshold: exact search
    coll.upsert_batch(list(range(500, 4000)), x[500:], payloads[500:])
    assert coll.space("").ready and coll.space("").index.ntotal == 4000
    exact = db.create_collection(
        "e", {"vectors": {"size": 50, "distance": "Cosine"}, "index": {"type": "flat"}}
    )
    exact.upsert_batch(list(range(4000)), x, payloads)

    hits = total = 0
    for q in qs:
        got = set(ids_of(coll.search(q, limit=10, params={"n_probe": 16})))
        hits += len(got & set(ids_of(exact.search(q, limit=10))))
        total += 10
        assert coll.last_plan == "index"
    assert hits / total >= 0.9

    flt = {"must": [{"key": "g", "range": {"lt": 6}}]}  # 60 %: filtered index search
    for q in qs[:5]:
        got = coll.search(q, limit=10, filter=flt)
        assert len(got) == 10 and all(exact.retrieve([h.id])[0].payload["g"] < 6 for h in got)

    # a selective filter, and exact: true, are answered from the index's own stored vectors
    # (SPANNIndex.search_exact), with the exact top 10
    few = {"must": [{"has_id": list(range(0, 4000, 97))}]}
    for q in qs[:5]:
        got = coll.search(q, limit=10, filter=few)
        assert coll.last_plan == "exact"
        assert ids_of(got) == ids_of(exact.search(q, limit=10, filter=few))
        got = coll.search(q, limit=10, params={"exact": True})
        assert coll.last_plan == "exact"
        assert ids_of(got) == ids_of(exact.search(q, limit=10))

    # live updates: a moved point and deletions are visible at once
    coll.upsert_batch([7], x[3999][None, :], [{"g": 1}])
    assert set(ids_of(coll.search(x[3999], limit=2))) == {7, 3999}
    coll.delete(points=list(range(100, 200)))
    assert not set(ids_of(coll.search(x[150], limit=10))) & set(range(100, 200))
    before = [ids_of(coll.search(q, limit=10)) for q in qs]

    db.close()
    again = db.get_collection("s")
    assert again.index_source == "loaded"
    assert (again.space("").files.dir / "data" / "postings" / "postings.bin").exists()
    assert [ids_of(again.search(q, limit=10)) for q in qs] == before
    again.upsert_batch([100], x[100][None, :], [{"g": 0}])  # writes after reopen
    assert ids_of(again.search(x[100], limit=1)) == [100]

    snap = db.create_snapshot("s")
    copy = db.restore_snapshot(db.snapshot_path("s", snap.name), "copy")
    assert [ids_of(copy.search(q, limit=10)) for q in qs[:5]] == [
        ids_of(again.search(q, limit=10)) for q in qs[:5]
    ]


def test_spann_rejects_dot_and_unknown_params(db):
    with pytest.raises(ValidationError, match="spann"):
        db.create_collection(
            "d", {"vectors": {"size": 4, "distance": "Dot"}, "index": {"type": "spann"}}
        )
    with pytest.raises(ValidationError, match="work_dir"):
        db.create_collection(
            "w",
            {
                "vectors": {"size": 4, "distance": "Euclid"},
                "index": {"type": "spann", "params": {"work_dir": "/tmp"}},
            },
        )


def test_spann_binary_codec_collection(db):
    """``"codec": "binary"``: 1-bit codes in the postings, float rows in vectors.bin."""
    x, qs = glove_sample(2000, 10)
    body = {
        "vectors": {"size": 50, "distance": "Cosine"},
        "index": {"type": "spann", "params": {**BODY["index"]["params"], "codec": "binary"}},
    }
    coll = db.create_collection("b", body)
    coll.upsert_batch(list(range(2000)), x, [{} for _ in range(2000)])
    assert coll.space("").ready and coll.space("").index.codec == "binary"
    exact = db.create_collection(
        "e", {"vectors": {"size": 50, "distance": "Cosine"}, "index": {"type": "flat"}}
    )
    exact.upsert_batch(list(range(2000)), x, [{} for _ in range(2000)])
    params = {"n_probe": 16, "oversampling": 32}
    hits = sum(
        len(
            set(ids_of(coll.search(q, limit=10, params=params)))
            & set(ids_of(exact.search(q, limit=10)))
        )
        for q in qs
    )
    assert hits / (10 * len(qs)) >= 0.9
    coll.delete(points=list(range(100, 200)))
    assert not set(ids_of(coll.search(x[150], limit=10))) & set(range(100, 200))
    before = [ids_of(coll.search(q, limit=10)) for q in qs]
    db.close()
    again = db.get_collection("b")
    assert again.index_source == "loaded"
    assert (again.space("").files.dir / "data" / "postings" / "vectors.bin").exists()
    assert [ids_of(again.search(q, limit=10)) for q in qs] == before
    with pytest.raises(InvalidParameterError, match="codec"):  # the index's own check
        db.create_collection(
            "c",
            {
                "vectors": {"size": 4, "distance": "Euclid"},
                "index": {"type": "spann", "params": {"codec": "pq"}},
            },
        )
