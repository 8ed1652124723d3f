"""Issue 19, item 7 and the snapshot leftovers: recover by the name ``POST .../snapshots``
returned, crafted snapshots answered 400 saying what is wrong (never 500 or 503) with the
existing collection untouched, no server path in any message, no symlink served, ``.snap-*``
work files of a killed snapshot removed at start, and ``max_snapshots_per_collection``.

Every case runs against a real uvicorn server over a real data directory; crafted snapshots
are made from a real snapshot of the server (downloaded, unpacked, changed with sqlite3,
packed again) and sent as Qdrant's multipart upload or recovered by name."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from service import create_app
from tests.service.conftest import ServerThread, make_settings

VECTORS = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.5, 0.5, 0.1, 0.0]]


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[Callable[..., ServerThread]]:
    """Factory of real servers over ``tmp_path / "data"`` (stopped at the end)."""
    started: list[ServerThread] = []

    def start(**overrides: object) -> ServerThread:
        s = ServerThread(create_app(make_settings(tmp_path, **overrides)))
        s.start()
        started.append(s)
        return s

    yield start
    for s in reversed(started):
        s.stop()


def _fill(url: str, name: str = "c") -> None:
    r = httpx.put(f"{url}/collections/{name}", json={"vectors": {"size": 4, "distance": "Dot"}})
    assert r.status_code == 200, r.text
    points = [{"id": i + 1, "vector": v, "payload": {"i": i}} for i, v in enumerate(VECTORS)]
    r = httpx.put(f"{url}/collections/{name}/points?wait=true", json={"points": points})
    assert r.status_code == 200, r.text


def _points(url: str, name: str) -> list:
    r = httpx.post(
        f"{url}/collections/{name}/points/scroll",
        json={"limit": 100, "with_vector": True, "with_payload": True},
    )
    assert r.status_code == 200, r.text
    return [(p["id"], p["payload"], p["vector"]) for p in r.json()["result"]["points"]]


def _snapshot_bytes(url: str, name: str = "c") -> bytes:
    r = httpx.post(f"{url}/collections/{name}/snapshots")
    assert r.status_code == 200, r.text
    r = httpx.get(f"{url}/collections/{name}/snapshots/{r.json()['result']['name']}")
    assert r.status_code == 200
    return r.content


def _unpack(data: bytes, into: Path) -> Path:
    into.mkdir()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def _pack(folder: Path, extra: Callable[[tarfile.TarFile], None] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for entry in ("manifest.json", "store.sqlite", "spaces"):
            if (folder / entry).exists():
                tar.add(folder / entry, arcname=entry)
        if extra is not None:
            extra(tar)
    return buf.getvalue()


def _sql(folder: Path, *statements: str, args: tuple = ()) -> None:
    conn = sqlite3.connect(folder / "store.sqlite")
    with conn:
        for st in statements:
            conn.execute(st, args if "?" in st else ())
    conn.close()


def _config(folder: Path) -> dict:
    conn = sqlite3.connect(folder / "store.sqlite")
    raw = conn.execute("SELECT value FROM meta WHERE key='config'").fetchone()[0]
    conn.close()
    return json.loads(raw)


def _set_config(folder: Path, config: dict | str) -> None:
    text = config if isinstance(config, str) else json.dumps(config)
    _sql(folder, "UPDATE meta SET value=? WHERE key='config'", args=(text,))


def _upload(url: str, name: str, data: bytes) -> httpx.Response:
    return httpx.post(
        f"{url}/collections/{name}/snapshots/upload",
        files={"snapshot": ("crafted.snapshot", data, "application/octet-stream")},
        timeout=60,
    )


def _symlink_member(tar: tarfile.TarFile) -> None:
    info = tarfile.TarInfo("spaces/0/index/evil")
    info.type = tarfile.SYMTYPE
    info.linkname = "/etc/passwd"
    tar.addfile(info)


def _hardlink_member(tar: tarfile.TarFile) -> None:
    info = tarfile.TarInfo("spaces/0/index/evil")
    info.type = tarfile.LNKTYPE
    info.linkname = "store.sqlite"
    tar.addfile(info)


def _file_member(name: str) -> Callable[[tarfile.TarFile], None]:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))

    return add


def _edit_space(**changes: object) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        cfg = _config(folder)
        for key, value in changes.items():
            if key == "index_type":
                cfg["spaces"][0]["index"]["type"] = value
            elif key == "params":
                cfg["spaces"][0]["index"]["params"].update(value)  # type: ignore[arg-type]
            else:
                cfg["spaces"][0][key] = value
        _set_config(folder, cfg)

    return edit


def _drop_key(key: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        cfg = _config(folder)
        del cfg[key]
        _set_config(folder, cfg)

    return edit


def _edit_config(**changes: object) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        cfg = _config(folder)
        for key, value in changes.items():
            if key.startswith("qdrant_"):
                cfg["qdrant"][key[len("qdrant_") :]] = value
            else:
                cfg[key] = value
        _set_config(folder, cfg)

    return edit


def _write(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_bytes(data)


def _remove(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).unlink()


#: (case, how the unpacked snapshot is changed, extra tar members, words of the 400)
CRAFTED = [
    ("config not JSON", lambda f: _set_config(f, "{not json"), None, "config is not JSON"),
    ("config missing", lambda f: _sql(f, "DELETE FROM meta WHERE key='config'"), None,
     "has no collection config"),
    ("config lacks spaces", _drop_key("spaces"), None, "malformed: missing 'spaces'"),
    ("size mismatch", _edit_space(size=8), None,
     "vector '' of point label 0 has 16 bytes; its size 8 needs 32"),
    ("unknown index type", _edit_space(index_type="nope"), None, "unknown index type 'nope'"),
    ("index param over its bound", _edit_space(params={"M": 10**9}), None,
     "M: expected an integer in [2, 1024], got 1000000000"),
    ("vector size over 65,536", _edit_space(size=10**6), None,
     "size: expected an integer in [1, 65536], got 1000000"),
    ("bad distance", _edit_space(distance="Manhattan"), None, "malformed"),
    ("no vectors", _edit_config(spaces=[]), None, "collection config has no vectors"),
    ("newer config format", _edit_config(format=99), None, "is newer than this build reads"),
    ("echoed setting malformed", _edit_config(qdrant_optimizers_config="x"), None,
     "collection config: optimizers_config: expected an object"),
    ("echoed setting over its bound", _edit_config(qdrant_shard_number=2**40), None,
     "shard_number: expected an integer in [1, 4294967295], got 1099511627776"),
    ("unknown setting", _edit_config(qdrant_evil=1), None, "unknown setting 'evil'"),
    ("vector hnsw_config malformed", _edit_space(hnsw_config={"m": "x"}), None,
     "hnsw_config.m: expected an integer in [0, 1024], got 'x'"),
    ("multivector mismatch", _edit_space(multivector="max_sim"), None,
     "index type 'hnsw' is for single-vector points; this vector space has multi-vector"),
    ("payload not JSON", lambda f: _sql(f, "UPDATE points SET payload='{x' WHERE label=0"),
     None, "the payload of point label 0 is not a JSON object"),
    ("malformed point id", lambda f: _sql(f, "UPDATE points SET pid=x'0203' WHERE label=0"),
     None, "a point id is malformed"),
    ("label past next_label", lambda f: _sql(f, "UPDATE points SET label=4000000000 WHERE label=0"),
     None, "point label 4000000000 lies outside [0, next_label 3)"),
    ("huge next_label",
     lambda f: _sql(f, "UPDATE meta SET value=1099511627776 WHERE key='next_label'"), None,
     "next_label 1099511627776 exceeds 2147483648"),
    ("no vectors table", lambda f: _sql(f, "DROP TABLE vectors_0"), None,
     "the store has no table of vector '' (vectors_0)"),
    ("orphan vector row", lambda f: _sql(f, "DELETE FROM points WHERE label=1"), None,
     "has a row for label 1, which has no point"),
    ("corrupt SQLite", _write("store.sqlite", b"SQLite format 3\x00" + b"\xff" * 4000), None,
     "store unreadable"),
    ("no store", _remove("store.sqlite"), None, "has no store"),
    ("no manifest", _remove("manifest.json"), None, "has no manifest.json"),
    ("manifest not JSON", _write("manifest.json", b"{{"), None, "manifest.json is not valid JSON"),
    ("manifest of another format", _write("manifest.json", b'{"format": "x"}'), None,
     "is not a vecsearch snapshot"),
    ("symlink inside the tar", None, _symlink_member, "unexpected entry 'spaces/0/index/evil'"),
    ("hard link inside the tar", None, _hardlink_member, "unexpected entry 'spaces/0/index/evil'"),
    ("path traversal", None, _file_member("spaces/../../evil"), "unexpected entry"),
    ("absolute member", None, _file_member("/tmp/evil"), "unexpected entry '/tmp/evil'"),
    ("unknown top-level entry", None, _file_member("evil.sh"), "unexpected entry 'evil.sh'"),
]  # fmt: skip


def test_crafted_snapshots_are_400s_that_touch_nothing(srv, tmp_path: Path) -> None:
    server = srv()
    url = server.url
    _fill(url, "c")
    _fill(url, "target")
    extra = {"points": [{"id": 99, "vector": [0, 0, 0, 1.0], "payload": {"t": 1}}]}
    assert httpx.put(f"{url}/collections/target/points?wait=true", json=extra).status_code == 200
    before = _points(url, "target")
    original = _snapshot_bytes(url, "c")
    data_dir = str(tmp_path / "data")
    for i, (case, edit, extra, words) in enumerate(CRAFTED):
        folder = _unpack(original, tmp_path / f"case{i}")
        if edit is not None:
            edit(folder)
        r = _upload(url, "target", _pack(folder, extra))
        assert r.status_code == 400, (case, r.status_code, r.text)
        message = r.json()["status"]["error"]
        assert words in message, (case, message)
        assert message.startswith("the uploaded snapshot"), (case, message)  # no temp name
        assert data_dir not in message and str(tmp_path) not in message, (case, message)
        assert _points(url, "target") == before, case  # the existing collection is untouched
        r = _upload(url, f"fresh{i}", _pack(folder, extra))  # nor is a new one left behind
        assert r.status_code == 400, (case, r.text)
        assert httpx.get(f"{url}/collections/fresh{i}").status_code == 404, case
    assert sorted(os.listdir(tmp_path / "data" / "collections")) == ["c", "target"]
    assert [p for p in os.listdir(tmp_path / "data" / ".tmp") if not p.startswith("owner.")] == []


def test_compressed_snapshot_is_refused(srv, tmp_path: Path) -> None:
    """Snapshots are plain tar files; a compressed one could unpack to far more than was
    sent (a gzip bomb), so it is refused before anything is unpacked."""
    url = srv().url
    _fill(url, "c")
    folder = _unpack(_snapshot_bytes(url, "c"), tmp_path / "snap")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for entry in ("manifest.json", "store.sqlite"):
            tar.add(folder / entry, arcname=entry)
    r = _upload(url, "copy", buf.getvalue())
    assert r.status_code == 400
    assert "is not readable" in r.json()["status"]["error"]
    assert httpx.get(f"{url}/collections/copy").status_code == 404


def test_damaged_index_files_are_rebuilt_from_the_store(srv, tmp_path: Path) -> None:
    """A snapshot whose index files are garbage loses nothing: the index is derived data,
    rebuilt from the store when the restored collection opens."""
    url = srv().url
    _fill(url, "c")
    httpx.post(f"{url}/collections/c/points/search", json={"vector": VECTORS[0], "limit": 1})
    before = _points(url, "c")
    folder = _unpack(_snapshot_bytes(url, "c"), tmp_path / "snap")
    index_files = [p for p in (folder / "spaces").rglob("*") if p.is_file()]
    for p in index_files:
        p.write_bytes(b"\x00garbage")
    r = _upload(url, "copy", _pack(folder))
    assert r.status_code == 200, r.text
    assert _points(url, "copy") == before
    r = httpx.post(f"{url}/collections/copy/points/search", json={"vector": VECTORS[0], "limit": 1})
    assert r.status_code == 200 and r.json()["result"][0]["id"] == 1


def test_recover_by_the_name_create_returned(srv) -> None:
    url = srv().url
    _fill(url, "c")
    before = _points(url, "c")
    name = httpx.post(f"{url}/collections/c/snapshots").json()["result"]["name"]
    httpx.post(f"{url}/collections/c/points/delete?wait=true", json={"points": [1, 2]})
    assert len(_points(url, "c")) == 1
    # into the collection itself, by the bare name
    r = httpx.put(f"{url}/collections/c/snapshots/recover", json={"location": name})
    assert r.status_code == 200, r.text
    assert _points(url, "c") == before
    # into another collection: found in c's folder
    r = httpx.put(f"{url}/collections/other/snapshots/recover", json={"location": name})
    assert r.status_code == 200, r.text
    assert _points(url, "other") == before
    # as <collection>/<name> too
    r = httpx.put(f"{url}/collections/third/snapshots/recover", json={"location": f"c/{name}"})
    assert r.status_code == 200, r.text
    # a name that does not exist: 404 naming it, without the server's paths
    r = httpx.put(f"{url}/collections/c/snapshots/recover", json={"location": "nope.snapshot"})
    assert r.status_code == 404
    assert r.json()["status"]["error"] == (
        "snapshot 'nope.snapshot' does not exist in the data directory's snapshots folder"
    )
    r = httpx.put(f"{url}/collections/c/snapshots/recover", json={"location": "/etc/passwd"})
    assert r.status_code == 400
    assert r.json()["status"]["error"] == (
        "location: must be a snapshot inside the data directory's snapshots folder"
    )
    for location in ("x" * 10_000, "a/" * 3_000):  # were 500s (OSError: name too long)
        r = httpx.put(f"{url}/collections/c/snapshots/recover", json={"location": location})
        assert r.status_code == 400
        assert r.json()["status"]["error"] == "location: not a usable path: File name too long"
    assert _points(url, "c") == before


def test_same_name_in_two_folders_is_ambiguous(srv, tmp_path: Path) -> None:
    url = srv().url
    _fill(url, "a")
    _fill(url, "b")
    name = httpx.post(f"{url}/collections/a/snapshots").json()["result"]["name"]
    snaps = tmp_path / "data" / "snapshots"
    (snaps / "b").mkdir(exist_ok=True)
    (snaps / "b" / name).write_bytes((snaps / "a" / name).read_bytes())
    r = httpx.put(f"{url}/collections/z/snapshots/recover", json={"location": name})
    assert r.status_code == 400
    assert r.json()["status"]["error"] == (
        f"location: {name!r} is in the snapshot folders of several collections (a, b); give "
        "<collection>/<snapshot name>"
    )
    assert httpx.get(f"{url}/collections/z").status_code == 404


def test_download_does_not_follow_symlinks(srv, tmp_path: Path) -> None:
    url = srv().url
    _fill(url, "c")
    secret = tmp_path / "secret.txt"
    secret.write_text("not for you")
    folder = tmp_path / "data" / "snapshots" / "c"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "evil.snapshot").symlink_to(secret)
    r = httpx.get(f"{url}/collections/c/snapshots/evil.snapshot")
    assert r.status_code == 404
    assert r.json()["status"]["error"] == "snapshot 'evil.snapshot' does not exist"
    assert "not for you" not in r.text
    assert httpx.get(f"{url}/collections/c/snapshots").json()["result"] == []
    r = httpx.delete(f"{url}/collections/c/snapshots/evil.snapshot")
    assert r.status_code == 404 and secret.exists()
    # nor is a symlinked collection folder served
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "x.snapshot").write_text("outside")
    httpx.put(f"{url}/collections/d", json={"vectors": {"size": 4, "distance": "Dot"}})
    (tmp_path / "data" / "snapshots" / "d").symlink_to(other)
    r = httpx.get(f"{url}/collections/d/snapshots/x.snapshot")
    assert r.status_code == 404 and "outside" not in r.text
    # recover through a link that leaves the snapshots folder: 400
    (folder / "out.snapshot").symlink_to(secret)
    r = httpx.put(f"{url}/collections/c/snapshots/recover", json={"location": "c/out.snapshot"})
    assert r.status_code == 400
    assert "snapshots folder" in r.json()["status"]["error"]
    assert str(tmp_path) not in r.text


def test_leftovers_of_a_killed_snapshot_are_removed_at_start(srv, tmp_path: Path) -> None:
    server = srv()
    _fill(server.url, "c")
    name = httpx.post(f"{server.url}/collections/c/snapshots").json()["result"]["name"]
    server.stop()
    folder = tmp_path / "data" / "snapshots" / "c"
    dead = folder / ".snap-999999999-0badc0de-abc"  # a pid that cannot be alive
    (dead / "spaces").mkdir(parents=True)
    (dead / "store.sqlite").write_bytes(b"x" * 100)
    (folder / ".snap-999999999-0badc0de-1234.part").write_bytes(b"partial")
    (folder / f".snap-{os.getpid()}-0ldt0ken-x.part").write_bytes(b"same pid, earlier run")
    (folder / ".snap-k2j3h4").mkdir()  # an untagged one of an earlier build
    (folder / f".{name}.part").write_bytes(b"old-style part")
    alive = folder / f".snap-{os.getppid()}-cafe0000-live"  # a live process's: kept
    alive.mkdir()
    server = srv()  # the database's opening sweeps every collection's folder
    assert sorted(os.listdir(folder)) == sorted([name, f"{name}.sha256", alive.name])
    r = httpx.get(f"{server.url}/collections/c/snapshots")
    assert [s["name"] for s in r.json()["result"]] == [name]
    # and listing a folder sweeps it too (a leftover made while this process runs)
    (folder / ".snap-999999999-0badc0de-later").mkdir()
    assert httpx.get(f"{server.url}/collections/c/snapshots").status_code == 200
    assert sorted(os.listdir(folder)) == sorted([name, f"{name}.sha256", alive.name])


def test_retention_keeps_the_newest(srv, tmp_path: Path) -> None:
    url = srv(max_snapshots_per_collection=2).url
    _fill(url, "c")
    names = []
    for _ in range(4):
        r = httpx.post(f"{url}/collections/c/snapshots")
        assert r.status_code == 200, r.text
        names.append(r.json()["result"]["name"])
    listed = [s["name"] for s in httpx.get(f"{url}/collections/c/snapshots").json()["result"]]
    assert listed == names[-2:]
    folder = tmp_path / "data" / "snapshots" / "c"
    assert sorted(os.listdir(folder)) == sorted([*names[-2:], *(f"{n}.sha256" for n in names[-2:])])
    r = httpx.put(f"{url}/collections/c/snapshots/recover", json={"location": names[-1]})
    assert r.status_code == 200, r.text


def test_retention_under_concurrent_creates(srv) -> None:
    """Six creates at once with a retention of 2, listings running meanwhile: every call
    answers 200 (a snapshot deleted under a listing is just not listed), two remain, and
    they are among those the creates returned."""
    url = srv(max_snapshots_per_collection=2).url
    _fill(url, "c")
    statuses: list[int] = []
    names: list[str] = []

    def create() -> None:
        r = httpx.post(f"{url}/collections/c/snapshots", timeout=60)
        statuses.append(r.status_code)
        if r.status_code == 200:
            names.append(r.json()["result"]["name"])

    def listing() -> None:
        for _ in range(10):
            statuses.append(httpx.get(f"{url}/collections/c/snapshots", timeout=60).status_code)

    threads = [threading.Thread(target=create) for _ in range(6)]
    threads += [threading.Thread(target=listing) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert statuses == [200] * 26
    listed = [s["name"] for s in httpx.get(f"{url}/collections/c/snapshots").json()["result"]]
    assert len(listed) == 2 and set(listed) <= set(names)


def test_retention_off_by_default(srv) -> None:
    url = srv().url
    _fill(url, "c")
    for _ in range(3):
        assert httpx.post(f"{url}/collections/c/snapshots").status_code == 200
    assert len(httpx.get(f"{url}/collections/c/snapshots").json()["result"]) == 3


def test_snapshots_of_every_kind_of_collection_restore(srv) -> None:
    """The verification refuses nothing a client could have created: named, sparse and
    multi-vector spaces, several index types, every echoed setting, a PATCH."""
    url = srv().url
    body = {
        "vectors": {
            "a": {"size": 4, "distance": "Dot", "hnsw_config": {"m": 8, "ef_construct": 50}},
            "b": {"size": 8, "distance": "Euclid", "index": {"type": "ivf_pq",
                  "params": {"nlist": 4, "m": 2}}, "on_disk": True},
            "m": {"size": 4, "distance": "Cosine",
                  "multivector_config": {"comparator": "max_sim"}},
            "f": {"size": 4, "distance": "Cosine", "hnsw_config": {"m": 0},
                  "quantization_config": {"scalar": {"type": "int8", "quantile": 0.9}}},
        },
        "sparse_vectors": {"s": {"modifier": "idf", "index": {"full_scan_threshold": 100}}},
        "hnsw_config": {"m": 12, "full_scan_threshold": 20},
        "shard_number": 2,
        "replication_factor": 1,
        "on_disk_payload": True,
        "optimizers_config": {"indexing_threshold": 1000, "deleted_threshold": 0.3},
        "wal_config": {"wal_capacity_mb": 64},
        "strict_mode_config": {"enabled": False, "max_query_limit": 100},
        "quantization_config": {"binary": {"always_ram": True}},
        "metadata": {"team": "x"},
    }  # fmt: skip
    r = httpx.put(f"{url}/collections/k", json=body)
    assert r.status_code == 200, r.text
    patch = {
        "params": {"replication_factor": 2, "read_fan_out_factor": 1},
        "vectors": {"a": {"hnsw_config": {"m": 10}}},
        "metadata": {"more": 1},
    }
    assert httpx.patch(f"{url}/collections/k", json=patch).status_code == 200
    point = {
        "id": 1,
        "vector": {
            "a": [1, 0, 0, 0],
            "b": [1, 2, 3, 4, 5, 6, 7, 8],
            "m": [[1, 0, 0, 0], [0, 1, 0, 0]],
            "f": [0, 0, 1, 0],
            "s": {"indices": [3, 9], "values": [0.5, 1.5]},
        },
        "payload": {"x": 1},
    }
    r = httpx.put(f"{url}/collections/k/points?wait=true", json={"points": [point]})
    assert r.status_code == 200, r.text
    name = httpx.post(f"{url}/collections/k/snapshots").json()["result"]["name"]
    r = httpx.put(f"{url}/collections/k2/snapshots/recover", json={"location": name})
    assert r.status_code == 200, r.text
    info = [httpx.get(f"{url}/collections/{c}").json()["result"] for c in ("k", "k2")]
    assert info[0]["config"] == info[1]["config"]
    assert _points(url, "k2") == _points(url, "k")
