"""Write the data directory of ``test_legacy_format.py`` with the engine as it was at commit
54e9fd5 (store schema 1: one unnamed vector per point, vectors in the ``points`` table,
tombstones, the index in ``<collection>/index/``).

Run by hand from a checkout of that commit, never by the tests:

    git worktree add /tmp/v1 54e9fd5
    cd /tmp/v1 && python /path/to/this/make_fixture.py /path/to/this/folder

It writes ``datadir/`` (collections saved, then changed after the save, as after a crash, so
opening them needs catch-up), ``legacy_hnsw.snapshot`` (a snapshot in the old format) and
``expected.json`` (what the old engine answered, for the new one to reproduce).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

from vecsearch.database import Database

out = Path(sys.argv[1])
data = out / "datadir"
shutil.rmtree(data, ignore_errors=True)
rng = np.random.default_rng(7)
expected: dict = {}
db = Database(data)

# HNSW, Cosine, payload index, relevance model; 20 upserts and 10 deletes after the save.
x = rng.standard_normal((320, 16)).astype(np.float32)
c = db.create_collection(
    "legacy_hnsw",
    {"vectors": {"size": 16, "distance": "Cosine"}, "index": {"type": "hnsw", "params": {"M": 8}}},
)
c.upsert_batch(list(range(300)), x[:300], [{"g": i % 3, "name": f"p{i}"} for i in range(300)])
c.create_payload_index("g", "integer")
qs = rng.standard_normal((8, 16)).astype(np.float32)
c.fit_relevance(qs, [[int(i) for i in rng.choice(300, 5, replace=False)] for _ in range(8)])
db.create_snapshot("legacy_hnsw")
c.save_index()
c.upsert_batch(list(range(300, 320)), x[300:], [{"g": 9} for _ in range(20)])
c.delete(points=list(range(10)))
c.set_payload({"late": True}, points=[11, 12])
q = x[42].tolist()
expected["legacy_hnsw"] = {
    "query": q,
    "exact": [[h.id, h.score] for h in c.search(q, limit=10, params={"exact": True})],
    "filtered": [
        [h.id, h.score]
        for h in c.search(
            q,
            limit=5,
            filter={"must": [{"key": "g", "match": {"value": 9}}]},
            params={"exact": True},
        )
    ],
    "count": c.count(),
    "point_11": c.retrieve([11], with_vector=True)[0].to_dict(),
}
c.close(save_index=False)  # the saved index predates the last writes

# Multi-vector (MUVERA), Dot.
m = db.create_collection(
    "legacy_multi",
    {
        "vectors": {"size": 8, "distance": "Dot", "multivector_config": {"comparator": "max_sim"}},
        "index": {"type": "muvera", "params": {"r_reps": 2, "k_sim": 2, "d_proj": 4}},
    },
)
sets = [rng.standard_normal((1 + i % 3, 8)).astype(np.float32) for i in range(60)]
m.upsert_batch(list(range(60)), sets)
mq = rng.standard_normal((2, 8)).astype(np.float32).tolist()
expected["legacy_multi"] = {
    "query": mq,
    "exact": [[h.id, h.score] for h in m.search(mq, limit=5, params={"exact": True})],
}

# IVF-PQ (trained), Euclid, UUID ids.
v = db.create_collection(
    "legacy_ivf",
    {
        "vectors": {"size": 16, "distance": "Euclid"},
        "index": {"type": "ivf_pq", "params": {"nlist": 4, "m": 4}},
    },
)
ids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(400)]
v.upsert_batch(ids, rng.standard_normal((400, 16)).astype(np.float32))
vq = rng.standard_normal(16).astype(np.float32).tolist()
expected["legacy_ivf"] = {
    "query": vq,
    "exact": [[h.id, h.score] for h in v.search(vq, limit=5, params={"exact": True})],
}
db.close()

snap = next((data / "snapshots" / "legacy_hnsw").glob("*.snapshot"))
shutil.copy(snap, out / "legacy_hnsw.snapshot")
shutil.rmtree(data / "snapshots")
(out / "expected.json").write_text(json.dumps(expected, indent=1))
print("written", out)
