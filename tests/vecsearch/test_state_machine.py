"""Hypothesis state machine: upsert / delete / payload updates / search / count / scroll /
save / reopen (cleanly or as after a crash) against a brute-force in-memory oracle.

The collection uses the exact (flat) index, so search must match the oracle exactly: the
same scores, and the same ids up to the order of equal scores.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from vecsearch.database import Database
from vecsearch.ids import id_key

DIM = 4
UUIDS = [str(uuid.UUID(int=i * 7919 + 1)) for i in range(4)]
point_ids = st.one_of(st.integers(0, 12), st.sampled_from(UUIDS))
vectors = st.lists(st.integers(-3, 3), min_size=DIM, max_size=DIM).filter(any)
payloads = st.fixed_dictionaries(
    {"g": st.integers(0, 2)},
    optional={"t": st.sampled_from(["a", "b"]), "l": st.lists(st.integers(0, 2), max_size=2)},
)
some_filters = st.one_of(
    st.builds(lambda g: {"must": [{"key": "g", "match": {"value": g}}]}, st.integers(0, 2)),
    st.builds(lambda g: {"must_not": [{"key": "g", "range": {"gte": g}}]}, st.integers(0, 3)),
    st.builds(lambda t: {"should": [{"key": "t", "match": {"any": [t]}}]}, st.sampled_from("ab")),
    st.just({"must": [{"is_empty": {"key": "l"}}]}),
    st.builds(lambda ids: {"must": [{"has_id": ids}]}, st.lists(point_ids, max_size=3)),
)
filters = st.none() | some_filters


def oracle_pass(flt, pid, payload) -> bool:
    if flt is None:
        return True
    (clause, (cond,)) = next(iter(flt.items()))
    if "has_id" in cond:
        hit = pid in cond["has_id"]
    elif "is_empty" in cond:
        hit = not payload.get("l")
    elif "range" in cond:
        hit = payload["g"] >= cond["range"]["gte"]
    elif "any" in cond["match"]:
        hit = payload.get("t") in cond["match"]["any"]
    else:
        hit = payload["g"] == cond["match"]["value"]
    return not hit if clause == "must_not" else hit


class EngineMachine(RuleBasedStateMachine):
    """The model is ``{id: (vector as sent, payload)}``."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="vs-sm-")
        self.db = Database(self.dir)
        self.model: dict = {}

    @initialize(distance=st.sampled_from(["Cosine", "Dot", "Euclid"]))
    def create(self, distance):
        self.distance = distance
        self.coll = self.db.create_collection("m", {"vectors": {"size": DIM, "distance": distance}})

    def expected_vector(self, v) -> np.ndarray:
        x = np.asarray(v, dtype=np.float64)
        return x / np.linalg.norm(x) if self.distance == "Cosine" else x

    def score(self, q, v) -> float:
        a, b = self.expected_vector(q), self.expected_vector(v)
        if self.distance == "Euclid":
            return float(np.linalg.norm(a - b))
        return float(a @ b)

    # -- writes --------------------------------------------------------------------------------
    @rule(
        points=st.lists(st.tuples(point_ids, vectors, payloads), min_size=1, max_size=5),
        batch=st.booleans(),
        save_first=st.booleans(),
    )
    def upsert(self, points, batch, save_first):
        if save_first:  # so that later reopens often start from a saved, stale index
            self.coll.save_index()
        if batch:
            self.coll.upsert_batch(
                [p[0] for p in points], [p[1] for p in points], [p[2] for p in points]
            )
        else:
            self.coll.upsert([{"id": i, "vector": v, "payload": p} for i, v, p in points])
        for i, v, p in points:
            self.model[i] = (v, dict(p))

    @rule(ids=st.lists(point_ids, max_size=4), save_first=st.booleans())
    def delete_ids(self, ids, save_first):
        if save_first:
            self.coll.save_index()
        self.coll.delete(points=ids)
        for i in ids:
            self.model.pop(i, None)

    @rule(flt=some_filters)
    def delete_filter(self, flt):
        self.coll.delete(filter=flt)
        self.model = {i: vp for i, vp in self.model.items() if not oracle_pass(flt, i, vp[1])}

    @rule(data=st.data(), payload=payloads, mode=st.sampled_from(["set", "overwrite", "delete"]))
    def payload_update(self, data, payload, mode):
        if not self.model:
            return
        ids = data.draw(st.lists(st.sampled_from(sorted(self.model, key=str)), min_size=1))
        if mode == "set":
            self.coll.set_payload({"t": payload.get("t", "a")}, points=ids)
            for i in ids:
                self.model[i][1]["t"] = payload.get("t", "a")
        elif mode == "overwrite":
            self.coll.overwrite_payload(payload, points=ids)
            for i in ids:
                self.model[i] = (self.model[i][0], dict(payload))
        else:
            self.coll.delete_payload(["l", "t"], points=ids)
            for i in ids:
                self.model[i][1].pop("l", None)
                self.model[i][1].pop("t", None)

    @rule(field=st.sampled_from(["g", "t"]))
    def payload_index(self, field):
        self.coll.create_payload_index(field, "integer" if field == "g" else "keyword")

    # -- persistence ---------------------------------------------------------------------------
    @rule()
    def save(self):
        self.coll.save_index()

    @rule(clean=st.booleans())
    def reopen(self, clean):
        """Clean close saves the index; otherwise the index is left as last saved (as after
        kill -9), and the next open must bring it up to date from the store."""
        if clean:
            self.db.close()
        else:
            self.coll.close(save_index=False)
        self.db = Database(self.dir)
        self.coll = self.db.get_collection("m")

    # -- reads ---------------------------------------------------------------------------------
    @rule(q=vectors, k=st.integers(1, 8), flt=filters, offset=st.integers(0, 2))
    def search(self, q, k, flt, offset):
        hits = self.coll.search(
            q, limit=k, offset=offset, filter=flt, with_payload=True, with_vector=True
        )
        allowed = {i: vp for i, vp in self.model.items() if oracle_pass(flt, i, vp[1])}
        want = sorted(
            (self.score(q, v) for v, _ in allowed.values()), reverse=self.distance != "Euclid"
        )[offset : offset + k]
        assert len(hits) == len(want)
        np.testing.assert_allclose([h.score for h in hits], want, rtol=1e-5, atol=1e-5)
        for h in hits:
            v, p = allowed[h.id]
            assert h.payload == p
            np.testing.assert_allclose(h.vector, self.expected_vector(v), rtol=1e-6, atol=1e-6)
            assert abs(h.score - self.score(q, v)) < 1e-5

    @rule(flt=filters)
    def count(self, flt):
        want = sum(oracle_pass(flt, i, vp[1]) for i, vp in self.model.items())
        assert self.coll.count(flt) == want

    @rule(flt=filters, limit=st.integers(1, 5))
    def scroll(self, flt, limit):
        seen, offset = [], None
        while True:
            page, offset = self.coll.scroll(
                filter=flt, limit=limit, offset=offset, with_vector=True
            )
            seen += page
            if offset is None:
                break
        want = sorted((i for i, vp in self.model.items() if oracle_pass(flt, i, vp[1])), key=id_key)
        assert [r.id for r in seen] == want
        for r in seen:
            v, p = self.model[r.id]
            assert r.payload == p
            np.testing.assert_allclose(r.vector, self.expected_vector(v), rtol=1e-6, atol=1e-6)

    @invariant()
    def sizes_agree(self):
        if hasattr(self, "coll"):
            assert self.coll.count() == len(self.model)
            assert self.coll.space("").index.ntotal == len(self.model)

    def teardown(self):
        self.db.close()
        shutil.rmtree(self.dir, ignore_errors=True)


EngineMachine.TestCase.settings = settings(max_examples=20, stateful_step_count=25, deadline=None)
TestEngineMachine = EngineMachine.TestCase
