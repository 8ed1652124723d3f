"""Bulk build from every input format, bad files (file, row, problem; nothing created),
interrupted builds, and the ``build`` / ``info`` / ``search`` CLI commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vecsearch.build import build_collection
from vecsearch.cli import main
from vecsearch.database import Database
from vecsearch.errors import CollectionExistsError, InputFileError
from vecsearch.registry import default_index_type

ROOT = Path(__file__).resolve().parents[2]
N, DIM = 500, 6


@pytest.fixture
def data(rng):
    x = rng.normal(size=(N, DIM)).astype(np.float32)
    ids = [int(i) for i in rng.permutation(10 * N)[:N]]
    payloads = [{"tag": f"t{i % 3}", "num": i} for i in range(N)]
    return x, ids, payloads


def write_vecs(path: Path, x: np.ndarray, dtype) -> None:
    n, d = x.shape
    rec = np.empty((n, 1 + d * np.dtype(dtype).itemsize // 4), dtype=np.int32)
    rec[:, 0] = d
    rec[:, 1:] = np.ascontiguousarray(x.astype(dtype)).view(np.int32).reshape(n, -1)
    rec.tofile(path)


def write_inputs(tmp: Path, x, ids, payloads) -> dict[str, Path]:
    files = {}
    files["npy"] = tmp / "x.npy"
    np.save(files["npy"], x)
    files["fvecs"] = tmp / "x.fvecs"
    write_vecs(files["fvecs"], x, np.float32)
    files["hdf5"] = tmp / "x.hdf5"
    with h5py.File(files["hdf5"], "w") as f:
        f["train"] = x
        f["test"] = x[:5]
    files["parquet"] = tmp / "x.parquet"
    table = pa.table(
        {
            "id": pa.array(ids, pa.uint64()),
            "embedding": pa.array(x.tolist(), pa.list_(pa.float32())),
            "tag": [p["tag"] for p in payloads],
            "num": [p["num"] for p in payloads],
        }
    )
    pq.write_table(table, files["parquet"], row_group_size=128)
    files["jsonl"] = tmp / "x.jsonl"
    with open(files["jsonl"], "w") as fh:
        for i, v, p in zip(ids, x, payloads, strict=True):
            fh.write(json.dumps({"id": i, "vector": v.tolist(), "payload": p}) + "\n")
            if i % 7 == 0:
                fh.write("\n")  # blank lines are skipped
    return files


@pytest.mark.parametrize("fmt", ["npy", "fvecs", "hdf5", "parquet", "jsonl"])
def test_every_format_builds_the_same_points(tmp_path, data, fmt):
    x, ids, payloads = data
    files = write_inputs(tmp_path, x, ids, payloads)
    report = build_collection(
        files[fmt], tmp_path / "db", "c", distance="Euclid", chunk_size=64, progress=False
    )
    # no --index: the default type (hnsw when this build has it)
    assert (report.points, report.dim, report.index_type) == (N, DIM, default_index_type())
    with Database(tmp_path / "db") as db:
        coll = db.get_collection("c")
        assert coll.count() == N and coll.space("").index.ntotal == N
        own_ids = fmt in ("parquet", "jsonl")
        want_ids = ids if own_ids else list(range(N))
        recs = coll.retrieve(want_ids, with_vector=True)
        assert [r.id for r in recs] == want_ids
        assert np.array_equal(np.asarray([r.vector for r in recs], dtype=np.float32), x)
        if own_ids:
            assert [r.payload for r in recs] == payloads
        hit = coll.search(x[123], limit=1)[0]
        assert hit.id == want_ids[123] and hit.score == 0.0
        assert coll.index_source == "loaded"


@pytest.mark.parametrize("fmt", ["npy", "fvecs", "hdf5", "parquet", "jsonl"])
def test_reading_a_split_gives_exactly_its_rows(tmp_path, data, fmt):
    """``chunks_between`` (the distributed build's file splits): the rows of a range, with
    their file row numbers, ids and payloads, whatever the chunk size and the range's
    alignment (Parquet row groups of 128, blank JSON lines)."""
    from vecsearch.readers import open_reader

    x, ids, payloads = data
    reader = open_reader(write_inputs(tmp_path, x, ids, payloads)[fmt])
    try:
        for start, stop, size in [(0, N, 64), (37, 300, 50), (128, 256, 1000), (499, 900, 7)]:
            chunks = list(reader.chunks_between(size, start, stop))
            assert all(len(c.vectors) <= size for c in chunks)
            got = np.concatenate([np.asarray(c.vectors, np.float32) for c in chunks])
            want = slice(start, min(stop, N))
            assert np.array_equal(got, x[want])
            assert [c.start for c in chunks][0] == start
            rows = [c.start + i for c in chunks for i in range(len(c.vectors))]
            assert rows == list(range(start, min(stop, N)))
            if fmt in ("parquet", "jsonl"):
                assert [i for c in chunks for i in c.ids] == ids[want]
                assert [p for c in chunks for p in c.payloads] == payloads[want]
        assert list(reader.chunks_between(10, N, N + 5)) == []
    finally:
        reader.close()


def test_bvecs_and_cosine_normalisation(tmp_path, rng):
    x = rng.integers(1, 255, size=(50, 4)).astype(np.uint8)
    write_vecs(tmp_path / "x.bvecs", x, np.uint8)
    build_collection(tmp_path / "x.bvecs", tmp_path / "db", "b", progress=False)  # Cosine
    with Database(tmp_path / "db") as db:
        (rec,) = db.get_collection("b").retrieve([7], with_vector=True)
        want = x[7].astype(np.float64) / np.linalg.norm(x[7].astype(np.float64))
        np.testing.assert_allclose(rec.vector, want, rtol=1e-6)


def bad_files(tmp: Path, x: np.ndarray) -> list[tuple[Path, int | None, str]]:
    """(file, row expected in the error or None, text expected in the problem)."""
    cases = []
    y = x.copy()
    y[321, 2] = np.nan
    np.save(tmp / "nan.npy", y)
    cases.append((tmp / "nan.npy", 321, "NaN"))
    np.save(tmp / "one_d.npy", x[0])
    cases.append((tmp / "one_d.npy", None, "2-d"))
    write_vecs(tmp / "trunc.fvecs", x, np.float32)
    with open(tmp / "trunc.fvecs", "ab") as fh:
        fh.write(b"\x06\x00\x00\x00\x00")
    cases.append((tmp / "trunc.fvecs", N, "truncated"))
    write_vecs(tmp / "hdr.fvecs", x, np.float32)
    raw = bytearray((tmp / "hdr.fvecs").read_bytes())
    raw[200 * (4 + 4 * DIM)] = 9
    (tmp / "hdr.fvecs").write_bytes(bytes(raw))
    cases.append((tmp / "hdr.fvecs", 200, "dimension header 9"))
    lines = [json.dumps({"id": i, "vector": x[i].tolist()}) for i in range(10)]
    for name, row, line, problem in (
        ("dim", 4, json.dumps({"id": 4, "vector": [1.0, 2.0]}), "dimension"),
        ("json", 6, "{not json", "line 7: invalid JSON"),
        (
            "dup",
            8,
            json.dumps({"id": 2, "vector": x[0].tolist()}),
            "duplicate id 2 (first seen at row 2)",
        ),
        ("badid", 3, json.dumps({"id": "nope", "vector": x[0].tolist()}), "neither"),
        ("novec", 5, json.dumps({"id": 5}), "no 'vector'"),
        ("payload", 1, json.dumps({"id": 1, "vector": x[0].tolist(), "payload": [1]}), "payload"),
        ("str", 2, json.dumps({"id": 2, "vector": ["a"] * DIM}), "numbers"),
    ):
        body = list(lines)
        body[row] = line
        (tmp / f"{name}.jsonl").write_text("\n".join(body) + "\n")
        cases.append((tmp / f"{name}.jsonl", row, problem))
    vecs = x[:10].tolist()
    vecs[6] = None
    pq.write_table(
        pa.table({"vector": pa.array(vecs, pa.list_(pa.float32()))}), tmp / "null.parquet"
    )
    cases.append((tmp / "null.parquet", 6, "null"))
    vecs = x[:10].tolist()
    vecs[3] = vecs[3][:2]
    pq.write_table(
        pa.table({"vector": pa.array(vecs, pa.list_(pa.float32()))}), tmp / "len.parquet"
    )
    cases.append((tmp / "len.parquet", 3, "dimension 2, expected 6"))
    pq.write_table(pa.table({"a": [1, 2], "b": [3, 4]}), tmp / "novec.parquet")
    cases.append((tmp / "novec.parquet", None, "vector column"))
    with h5py.File(tmp / "x.hdf5", "w") as f:
        f["queries"] = x
    cases.append((tmp / "x.hdf5", None, "no dataset 'train'"))
    (tmp / "x.csv").write_text("1,2,3\n")
    cases.append((tmp / "x.csv", None, "unsupported format"))
    cases.append((tmp / "missing.npy", None, "no such file"))
    (tmp / "junk.npy").write_bytes(b"junk")
    cases.append((tmp / "junk.npy", None, "not a readable .npy"))
    return cases


def test_bad_files_name_file_row_and_problem(tmp_path, data):
    x, _, _ = data
    inputs = tmp_path / "in"
    inputs.mkdir()
    for path, row, problem in bad_files(inputs, x):
        with pytest.raises(InputFileError) as info:
            build_collection(path, tmp_path / "db", "c", chunk_size=100, progress=False)
        err = info.value
        assert (err.file, err.row) == (str(path), row), err
        assert problem in err.problem, err
        assert str(err).startswith(f"{path}, row {row}:" if row is not None else f"{path}:")
        with Database(tmp_path / "db") as db:
            assert db.list_collections() == []
            assert list(db.tmp_dir.iterdir()) == [], "a failed build left files behind"


def test_existing_collection_and_overwrite(tmp_path, data):
    x, ids, payloads = data
    files = write_inputs(tmp_path, x, ids, payloads)
    build_collection(files["npy"], tmp_path / "db", "c", progress=False, limit=100)
    with pytest.raises(CollectionExistsError):
        build_collection(files["npy"], tmp_path / "db", "c", progress=False)
    build_collection(files["jsonl"], tmp_path / "db", "c", progress=False, overwrite=True)
    with Database(tmp_path / "db") as db:
        assert db.get_collection("c").count() == N
        assert db.get_collection("c").retrieve([ids[0]])[0].payload == payloads[0]


def test_killed_build_leaves_no_complete_looking_collection(tmp_path, rng):
    x = rng.normal(size=(200_000, 16)).astype(np.float32)
    np.save(tmp_path / "big.npy", x)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vecsearch.cli",
            "build",
            str(tmp_path / "big.npy"),
            "--collection",
            "big",
            "--data-dir",
            str(tmp_path / "db"),
            "--index",
            "flat",
            "--chunk-size",
            "2000",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stderr.read(1)  # the progress bar has started
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    leftovers = list((tmp_path / "db" / ".tmp").iterdir())
    with Database(tmp_path / "db") as db:
        if "big" in db.list_collections():  # the build finished before the kill
            assert db.get_collection("big").count() == 200_000
        else:
            assert db.list_collections() == []
            assert leftovers, "the kill did not interrupt a build in progress"
        assert list(db.tmp_dir.iterdir()) == []  # the dead build's work dir was removed


def test_cli_build_info_search(tmp_path, data, capsys):
    x, ids, payloads = data
    files = write_inputs(tmp_path, x, ids, payloads)
    db = str(tmp_path / "db")
    assert (
        main(
            [
                "build",
                str(files["parquet"]),
                "--collection",
                "c",
                "--data-dir",
                db,
                "--distance",
                "Dot",
                "--index",
                "flat",
                "--chunk-size",
                "100",
            ]
        )
        == 0
    )
    out, err = capsys.readouterr()
    assert "built collection 'c': 500 points, dim 6, Dot, index flat" in out
    assert "pts/s" in err and "500/500" in err  # progress bar with rate
    assert main(["info", "--data-dir", db]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info == {
        "c": {
            "points_count": 500,
            "vectors": {"": {"size": 6, "distance": "Dot", "index": "flat"}},
        }
    }
    assert main(["info", "--data-dir", db, "--collection", "c"]) == 0
    assert json.loads(capsys.readouterr().out)["points_count"] == 500
    q = ",".join(str(v) for v in x[10])  # may start with "-": pass as --vector=...
    flt = json.dumps({"must": [{"key": "tag", "match": {"value": payloads[10]["tag"]}}]})
    assert (
        main(
            [
                "search",
                "--data-dir",
                db,
                "--collection",
                "c",
                f"--vector={q}",
                "-k",
                "3",
                "--filter",
                flt,
                "--with-payload",
            ]
        )
        == 0
    )
    hits = json.loads(capsys.readouterr().out)
    scores = x @ x[10]
    allowed = [i for i in range(N) if payloads[i]["tag"] == payloads[10]["tag"]]
    best = sorted(allowed, key=lambda i: -scores[i])[:3]
    assert [h["id"] for h in hits] == [ids[i] for i in best]
    assert all(h["payload"]["tag"] == payloads[10]["tag"] for h in hits)
    # errors are reported, not raised
    assert main(["search", "--data-dir", db, "--collection", "nope", "--vector", "1,2"]) == 2
    assert "collection 'nope' does not exist" in capsys.readouterr().err
    assert main(["build", str(tmp_path / "none.npy"), "--collection", "d", "--data-dir", db]) == 2
    assert "none.npy: no such file" in capsys.readouterr().err
