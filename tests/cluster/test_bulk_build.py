"""The distributed bulk build (``vecsearch build ... --cluster --shards N``) on the real
3-node Ray cluster: file splits of two formats, one shared IVF-PQ model, shards built as Ray
tasks, replicas caught up by snapshot; compared with a single-node build of the same
records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import ray

from vecsearch.build import build_collection
from vecsearch.cluster.build import build_cluster_collection
from vecsearch.cluster.database import ClusterDatabase
from vecsearch.cluster.placement import PlacementError
from vecsearch.cluster.routing import shard_of
from vecsearch.collection import Collection
from vecsearch.errors import CollectionExistsError, InputFileError, ValidationError

pytestmark = pytest.mark.cluster

#: IVF-PQ small enough to train on 3,000 points (256 codes need >= 256 rows).
PARAMS = {"nlist": 16, "m": 10}
JSONL_IDS = 100_000  # ids of the .jsonl split's records (the .npy rows are 0..1999)


def _write_splits(points: np.ndarray, where: Path) -> list[str]:
    """Rows 0..1999 as .npy (ids = row numbers), rows 2000.. as .jsonl with ids and
    payloads."""
    np.save(where / "a.npy", points[:2000])
    with open(where / "b.jsonl", "w") as fh:
        for i, v in enumerate(points[2000:]):
            fh.write(json.dumps({"id": JSONL_IDS + i, "vector": v.tolist(), "g": i % 7}) + "\n")
    return [str(where / "a.npy"), str(where / "b.jsonl")]


def _reference(points: np.ndarray, where: Path) -> Path:
    """The same records in one .jsonl file, for a single-node build."""
    with open(where / "all.jsonl", "w") as fh:
        for i, v in enumerate(points[:2000]):
            fh.write(json.dumps({"id": i, "vector": v.tolist(), "payload": {}}) + "\n")
        for i, v in enumerate(points[2000:]):
            fh.write(json.dumps({"id": JSONL_IDS + i, "vector": v.tolist(), "g": i % 7}) + "\n")
    return where / "all.jsonl"


@pytest.fixture(scope="module")
def built(ray_cluster, glove, tmp_path_factory):
    """A 3-shard, 2-replica IVF-PQ cluster collection and its single-node twin."""
    points, _ = glove
    base = tmp_path_factory.mktemp("bulk")
    inputs = _write_splits(points, base)
    report = build_cluster_collection(
        inputs,
        base / "db",
        "g",
        shards=3,
        replication_factor=2,
        index="ivf_pq",
        index_params=PARAMS,
        split_rows=700,  # several routing tasks per split
        progress=False,
    )
    build_collection(
        _reference(points, base),
        base / "single",
        "g",
        index="ivf_pq",
        index_params=PARAMS,
        progress=False,
    )
    single = Collection("g", base / "single" / "collections" / "g")
    db = ClusterDatabase(base / "db")
    yield report, db.get_collection("g").cc, single, base
    db.close()
    single.close()


def _ids():
    return list(range(2000)) + [JSONL_IDS + i for i in range(1000)]


def test_report_and_routing(built):
    report, cc, _, _ = built
    assert report.points == 3000 and report.model and report.replicated == 3
    want = np.bincount([shard_of(i, 3) for i in _ids()], minlength=3).tolist()
    assert list(report.shard_points) == want
    assert cc.shard_point_counts() == dict(enumerate(want))
    # every replica (the built one and its snapshot copy) holds its shard's points
    for shard in cc.shards:
        assert [r.state for r in shard.replicas] == ["live", "live"]
        for rep in shard.replicas:
            tag, n = ray.get(rep.actor.read.remote("count", (None,), {}))
            assert (tag, n) == ("ok", want[shard.id])


def _centroids(replica_dir: Path) -> np.ndarray:
    (found,) = list(replica_dir.rglob("centroids.npy"))
    return np.load(found)


def test_one_model_shared_by_every_shard(built):
    """Every shard (and replica) encodes with the same centroids, and they are those of the
    single-node build of the same records (trained on the same rows, in the same order)."""
    _, cc, single, _ = built
    models = [_centroids(Path(r.path)) for s in cc.shards for r in s.replicas]
    for other in models[1:]:
        assert np.array_equal(other, models[0])
    np.testing.assert_allclose(models[0], single.space("").index._centroids, atol=1e-5)


def test_exact_and_ann_search_match_single_node(built, glove):
    _, cc, single, _ = built
    _, queries = glove
    flt = {"must": [{"key": "g", "match": {"any": [1, 2]}}]}
    for f in (None, flt):
        for q in queries:
            body = {"query": q.tolist(), "limit": 10, "params": {"exact": True}, "filter": f}
            got, want = cc.query(body), single.query(body)
            assert [h.id for h in got] == [h.id for h in want]
            np.testing.assert_allclose([h.score for h in got], [h.score for h in want], rtol=1e-5)
    # ANN: same model, each shard probes its own lists: at least the single node's recall
    hits = {"cluster": 0, "single": 0}
    for q in queries:
        exact = {
            h.id
            for h in single.query({"query": q.tolist(), "limit": 10, "params": {"exact": True}})
        }
        for name, coll in (("cluster", cc), ("single", single)):
            got = coll.query({"query": q.tolist(), "limit": 10, "params": {"nprobe": 4}})
            hits[name] += len(exact & {h.id for h in got})
    assert hits["cluster"] >= hits["single"] - 5, hits
    assert hits["cluster"] / (10 * len(queries)) >= 0.5, hits


def test_existing_name_and_overwrite(built, glove):
    _, _, _, base = built
    points, _ = glove
    np.save(base / "small.npy", points[:500])
    with pytest.raises(CollectionExistsError):
        build_cluster_collection([str(base / "small.npy")], base / "db", "g", progress=False)
    build_cluster_collection(
        [str(base / "small.npy")], base / "db", "g2", shards=2, index="flat", progress=False
    )
    report = build_cluster_collection(
        [str(base / "small.npy"), str(base / "small.npy")],
        base / "db",
        "g2",
        shards=2,
        index="flat",
        overwrite=True,
        progress=False,
    )  # the second copy's rows are 500..999: no duplicates
    assert report.points == 1000
    with ClusterDatabase(base / "db") as db:
        assert db.get_collection("g2").cc.count() == 1000
        assert db.delete_collection("g2")


def test_bad_input_names_file_and_row_and_leaves_no_collection(ray_cluster, glove, tmp_path):
    points, _ = glove
    np.save(tmp_path / "a.npy", points[:300])
    bad = tmp_path / "bad.jsonl"
    rows = [{"id": 1000 + i, "vector": points[300 + i].tolist()} for i in range(50)]
    rows[7]["vector"][3] = float("nan")
    bad.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    inputs = [str(tmp_path / "a.npy"), str(bad)]
    with pytest.raises(InputFileError) as err:
        build_cluster_collection(inputs, tmp_path / "db", "x", shards=2, progress=False)
    assert err.value.file == str(bad) and err.value.row == 7
    rows[7]["id"] = 5  # the .npy's row 5 has id 5 too
    rows[7]["vector"] = points[307].tolist()
    bad.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(InputFileError) as err:
        build_cluster_collection(inputs, tmp_path / "db", "x", shards=2, progress=False)
    assert (
        err.value.row == 7
        and "duplicate id 5" in str(err.value)
        and "a.npy, row 5" in str(err.value)
    )
    np.save(tmp_path / "wide.npy", np.zeros((3, 51), np.float32))
    with pytest.raises(InputFileError, match="dimension 51"):
        build_cluster_collection(
            [inputs[0], str(tmp_path / "wide.npy")], tmp_path / "db", "x", progress=False
        )
    with ClusterDatabase(tmp_path / "db") as db:
        assert not db.collection_exists("x")
    with pytest.raises(PlacementError):  # 4 replicas of a shard need 4 nodes: refused first
        build_cluster_collection(inputs[:1], tmp_path / "db", "x", replication_factor=4)
    with pytest.raises(ValidationError, match="write_consistency_factor"):
        build_cluster_collection(inputs[:1], tmp_path / "db", "x", write_consistency_factor=2)
    # the refused builds' leftovers do not get in the way of a good one
    report = build_cluster_collection(inputs[:1], tmp_path / "db", "x", shards=2, progress=False)
    assert report.points == 300


def test_cli_builds_and_shows_one_progress_bar(ray_cluster, glove, tmp_path):
    points, _ = glove
    np.save(tmp_path / "a.npy", points[:400])
    np.save(tmp_path / "b.npy", points[400:600])
    cmd = [
        sys.executable, "-m", "vecsearch.cli", "build", str(tmp_path / "a.npy"),
        str(tmp_path / "b.npy"), "--collection", "c", "--data-dir", str(tmp_path / "db"),
        "--cluster", ray_cluster.address, "--shards", "2", "--index", "binary",
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "built cluster collection 'c': 600 points" in out.stdout
    assert "2 shards x 1 replicas" in out.stdout
    assert "build c (2 shards)" in out.stderr and "600/600" in out.stderr
    # several inputs without --cluster: a clear refusal
    single = [*cmd[:6], "--collection", "d", "--data-dir", str(tmp_path / "one")]
    out = subprocess.run(single, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "several input files need --cluster" in out.stderr
