"""Facets (vecsearch.facets) against counts computed here from the payloads, per index type;
distance matrices (vecsearch.matrix) against numpy, for dense, multi-vector and sparse
spaces, with sampling."""

from __future__ import annotations

import uuid
from collections import Counter

import numpy as np
import pytest

from vecsearch.database import Database
from vecsearch.errors import ValidationError
from vecsearch.facets import facet
from vecsearch.matrix import distance_matrix

N = 60
UUIDS = [str(uuid.UUID(int=(k * 7919) << 64)) for k in range(4)]


def _payload(i: int) -> dict:
    return {
        "kw": ["a", "b", "a"] if i % 7 == 0 else f"k{i % 4}",  # "a" twice: counted once
        "num": i % 5 if i % 6 else [1, 1, 2],
        "flag": i % 3 == 0,
        "u": UUIDS[i % 4],
        "mixed": "s" if i % 2 else 3,
        "f": i / 2,
    }


@pytest.fixture
def coll(db: Database):
    c = db.create_collection(
        "c",
        {
            "vectors": {
                "d": {"size": 3, "distance": "Cosine"},
                "m": {
                    "size": 2,
                    "distance": "Dot",
                    "multivector_config": {"comparator": "max_sim"},
                },
            },
            "sparse_vectors": {"s": {}},
            "index": {"type": "flat"},
        },
    )
    rng = np.random.default_rng(5)
    pts = []
    for i in range(N):
        vec = {"d": rng.normal(size=3).tolist(), "m": rng.normal(size=(1 + i % 3, 2)).tolist()}
        if i % 2:
            idx = sorted(rng.choice(20, size=3, replace=False).tolist())
            vec["s"] = {"indices": idx, "values": rng.random(3).tolist()}
        pts.append({"id": i, "vector": vec, "payload": _payload(i)})
    c.upsert(pts)
    for key, schema in (("kw", "keyword"), ("num", "integer"), ("flag", "bool")):
        c.create_payload_index(key, schema)
    c.create_payload_index("u", "uuid")
    c.create_payload_index("mixed", "keyword")
    c.create_payload_index("f", "float")
    c.delete(points=[59])
    return c


def expected(key: str, keep=lambda i: True, kind=object) -> list[tuple]:
    counts: Counter = Counter()
    for i in range(N - 1):
        if keep(i):
            v = _payload(i)[key]
            vals = v if isinstance(v, list) else [v]
            counts.update({x for x in vals if isinstance(x, kind)})
    return sorted(counts.items(), key=lambda vc: (-vc[1], vc[0]))


@pytest.mark.parametrize(
    ("key", "kind"), [("kw", str), ("num", int), ("flag", bool), ("u", str), ("mixed", str)]
)
def test_facet_counts_each_value_once_per_point(coll, key, kind):
    got = [(h.value, h.count) for h in facet(coll, key, limit=100)]
    assert got == expected(key, kind=kind) and got
    assert [(h.value, h.count) for h in facet(coll, key)] == got[:10]
    flt = {"must": [{"key": "flag", "match": {"value": True}}]}
    got = [(h.value, h.count) for h in facet(coll, key, filter=flt, limit=2, exact=True)]
    assert got == expected(key, lambda i: i % 3 == 0, kind)[:2]


def test_facet_follows_writes(coll):
    coll.set_payload({"kw": "zzz"}, points=list(range(40)))
    assert [(h.value, h.count) for h in facet(coll, "kw", limit=1)] == [("zzz", 40)]


def test_facet_refusals(coll):
    for kwargs, field in [
        ({"key": "f"}, "key"),  # a float index cannot facet (as on Qdrant's server)
        ({"key": "nothing"}, "key"),
        ({"key": "a..b"}, "key"),
        ({"key": "kw", "limit": 0}, "limit"),
        ({"key": "kw", "exact": "yes"}, "exact"),
        ({"key": "kw", "filter": {"must": [{"x": 1}]}}, "filter"),
    ]:
        with pytest.raises(ValidationError) as err:
            facet(coll, **kwargs)
        assert err.value.field.startswith(field)


def _maxsim(q: np.ndarray, d: np.ndarray) -> float:
    return float((q @ d.T).max(axis=1).sum())


@pytest.mark.parametrize("using", ["d", "m", "s"])
def test_matrix_scores_are_exact(coll, using):
    recs = {
        r.id: r.vector[using]
        for r in coll.retrieve(list(range(N)), with_vector=True)
        if using in r.vector
    }
    m = distance_matrix(coll, sample=1000, limit=4, using=using)
    assert m.ids == sorted(recs)
    for i, row in enumerate(m.rows):
        a = m.ids[i]
        want = []
        for b in m.ids:
            if b == a:
                continue
            if using == "d":
                s = float(np.dot(recs[a], recs[b]))
            elif using == "m":
                s = _maxsim(np.asarray(recs[a]), np.asarray(recs[b]))
            else:
                va = dict(zip(recs[a]["indices"].tolist(), recs[a]["values"].tolist(), strict=True))
                vb = dict(zip(recs[b]["indices"].tolist(), recs[b]["values"].tolist(), strict=True))
                common = va.keys() & vb.keys()
                if not common:
                    continue  # sparse points sharing no term do not score
                s = sum(va[t] * vb[t] for t in common)
            want.append((s, b))
        want.sort(key=lambda sb: -sb[0])
        assert [m.ids[j] for j, _ in row] == [b for _, b in want[:4]]
        np.testing.assert_allclose([s for _, s in row], [s for s, _ in want[:4]], rtol=1e-5)
    pairs, offsets = m.pairs()["pairs"], m.offsets()
    assert len(pairs) == len(offsets["scores"]) == sum(len(r) for r in m.rows)
    assert pairs[0]["a"] == offsets["ids"][offsets["offsets_row"][0]]


def test_matrix_sampling(coll):
    flt = {"must": [{"key": "flag", "match": {"value": True}}]}
    one = distance_matrix(coll, sample=5, limit=2, filter=flt, using="d", seed=1)
    assert one == distance_matrix(coll, sample=5, limit=2, filter=flt, using="d", seed=1)
    assert len(one.ids) == 5 and all(i % 3 == 0 for i in one.ids)
    seen = {tuple(distance_matrix(coll, sample=5, using="d", seed=s).ids) for s in range(5)}
    assert len(seen) > 1  # the sample is random
    assert distance_matrix(coll, sample=1, using="d").ids == []
    for kwargs, field in [
        ({"sample": 0}, "sample"),
        ({"limit": 0}, "limit"),
        ({"using": "zz"}, "using"),
        ({"filter": {"x": 1}}, "filter"),
    ]:
        with pytest.raises(ValidationError) as err:
            distance_matrix(coll, **kwargs)
        assert err.value.field.startswith(field)
