"""Collections on disk (issue 19): names that fit the layout, the bounded pool of open
collections (leases, descriptor pressure, EMFILE), collections that cannot be opened,
leftovers in .tmp, and closing many collections (only changed indexes saved, one failure not
stopping the others)."""

from __future__ import annotations

import logging
import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from vecsearch.database import MAX_NAME, Database, check_collection_name
from vecsearch.errors import (
    CollectionNotFoundError,
    CollectionUnavailableError,
    TooManyOpenFilesError,
    ValidationError,
)
from vecsearch.fdlimit import open_fds

REPO = Path(__file__).resolve().parents[2]
BODY = {"vectors": {"size": 2, "distance": "Dot"}, "index": {"type": "flat"}}


def make(db: Database, name: str, n: int = 1) -> None:
    coll = db.create_collection(name, BODY)
    coll.upsert([{"id": i, "vector": [1.0, float(i)]} for i in range(n)])


def index_inode(db: Database, name: str) -> int:
    return os.stat(db.collections_dir / name / "spaces" / "0" / "index").st_ino


@pytest.fixture
def low_fd_limit():
    """Lower this process's soft descriptor limit to ``open now + extra`` for a block."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)

    def lower(extra: int) -> int:
        n = open_fds()
        assert n is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (n + extra, hard))
        return n + extra

    lower.restore = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    yield lower
    lower.restore()


# -- names ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["zz\n", "zz\r", "\nzz", ".z", "-z", "a/b", "", "a b", "é"])
def test_names_are_matched_whole(bad):
    with pytest.raises(ValidationError, match="invalid collection name"):
        check_collection_name(bad)


def test_a_trailing_newline_creates_nothing(tmp_path):
    db = Database(tmp_path)
    with pytest.raises(ValidationError, match="invalid collection name 'zz\\\\n'"):
        db.create_collection("zz\n", BODY)
    assert db.list_collections() == [] and os.listdir(db.collections_dir) == []
    db.close()


def test_a_255_character_collection_lives_its_whole_life(tmp_path):
    db = Database(tmp_path)
    assert db.max_name_length == MAX_NAME
    name = "n" * 255
    make(db, name, 3)
    snap = db.create_snapshot(name)
    assert snap.name.endswith(".snapshot") and len(snap.name) + len(".sha256") <= 255
    assert [s.name for s in db.list_snapshots(name)] == [snap.name]
    db.delete_snapshot(name, snap.name)
    db.create_snapshot(name)
    assert db.list_collections() == [name]
    db.close()  # saves its index under collections/<255 characters>/
    db = Database(tmp_path)
    assert db.get_collection(name).count() == 3
    assert db.get_collection(name).index_source == "loaded"
    assert db.delete_collection(name) is True
    assert db.list_collections() == [] and not (db.snapshots_dir / name).exists()
    assert os.listdir(db.tmp_dir) == []
    with pytest.raises(ValidationError, match="too long: 256 characters, at most 255"):
        db.create_collection("n" * 256, BODY)
    db.close()


def test_work_directories_carry_a_bounded_prefix_of_the_name(tmp_path):
    db = Database(tmp_path)
    for kind in ("create", "deleted", "restore", "build"):
        assert len(db.work_dir(kind, "x" * 255).name) < 100
    db.close()


def test_a_long_data_directory_lowers_the_name_bound_and_says_so(tmp_path):
    deep = tmp_path / ("d" * 200) / ("e" * 100)
    db = Database(deep)
    bound = db.max_name_length
    assert bound < MAX_NAME
    make(db, "m" * bound)  # the longest name it allows works, snapshot included
    db.create_snapshot("m" * bound)
    with pytest.raises(ValidationError, match=f"at most {bound}"):
        db.create_collection("m" * (bound + 1), BODY)
    assert db.list_collections() == ["m" * bound]
    db.close()


# -- the pool of open collections ---------------------------------------------------------------
def test_the_pool_keeps_at_most_max_open_and_saves_what_it_closes(tmp_path):
    db = Database(tmp_path, max_open=3)
    for i in range(8):
        make(db, f"c{i}", n=i + 1)
        assert len(db.open_collections()) <= 3
    assert db.open_collections() == ["c5", "c6", "c7"]
    # c0..c4 were closed with their index saved: reopening loads it, nothing is rebuilt
    for i in range(8):
        coll = db.get_collection(f"c{i}")
        assert coll.count() == i + 1
        assert coll.index_source == "loaded", i
        assert len(db.open_collections()) <= 3
    assert db.point_counts() == {f"c{i}": i + 1 for i in range(8)}
    db.close()


def test_an_unchanged_collection_is_not_saved_again(tmp_path):
    db = Database(tmp_path, max_open=1)
    make(db, "a", 5)
    make(db, "b")  # closes a: saved (it had changed)
    first = index_inode(db, "a")
    assert db.get_collection("a").count() == 5  # opens a, closes b
    make(db, "c")  # closes a again: unchanged, so its saved index stays as it was
    assert index_inode(db, "a") == first
    db.get_collection("a").upsert([{"id": 99, "vector": [0.0, 1.0]}])
    assert db.get_collection("a").needs_save()
    db.get_collection("b")  # closes a: changed, so saved anew
    assert index_inode(db, "a") != first
    db.close()


def test_a_leased_collection_is_never_closed_to_make_room(tmp_path):
    db = Database(tmp_path, max_open=1)
    for name in "abcd":
        make(db, name)
    with db.lease("a") as a:
        for name in "bcd":
            db.get_collection(name)
        assert not a.closed and a.count() == 1  # over the bound rather than closed
        assert "a" in db.open_collections()
        db.trim()
        assert not a.closed
    db.trim()  # the lease is gone: a may go now
    assert a.closed and db.open_collections() == ["d"]
    db.close()


def test_every_collection_looked_up_in_a_scope_is_leased(tmp_path):
    db = Database(tmp_path, max_open=1)
    for name in "abc":
        make(db, name)
    with db.lease_scope():
        a, b = db.get_collection("a"), db.get_collection("b")
        db.get_collection("c")
        assert not a.closed and not b.closed
    db.get_collection("a")
    db.trim()
    assert b.closed and db.open_collections() == ["a"]
    db.close()


def test_the_surplus_is_closed_in_the_background_once_released(tmp_path):
    db = Database(tmp_path, max_open=1)
    for name in "abc":
        make(db, name)
    with db.lease_scope():
        colls = [db.get_collection(name) for name in "abc"]
    deadline = time.monotonic() + 30  # a wait for a thread, not a timing assertion
    while sum(c.closed for c in colls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(db.open_collections()) == 1
    assert sum(c.closed for c in colls) == 2
    db.close()


def test_descriptor_pressure_closes_idle_collections(tmp_path, low_fd_limit):
    db = Database(tmp_path, max_open=1000)  # the count bound is not what stops it
    names = [f"p{i}" for i in range(60)]
    for name in names:
        db.create_collection(name, BODY)
    db.close()
    limit = low_fd_limit(120)
    db = Database(tmp_path, max_open=1000)
    for name in names:  # 60 collections x 4 descriptors would pass the limit
        assert db.get_collection(name).count() == 0
        assert open_fds() <= limit
    assert len(db.open_collections()) < len(names)
    db.close()


def test_running_out_of_descriptors_is_a_clear_error_and_leaves_nothing(tmp_path, low_fd_limit):
    db = Database(tmp_path)
    make(db, "ok")
    low_fd_limit(2)
    with pytest.raises(TooManyOpenFilesError, match="too many open files"):
        for i in range(10):
            db.create_collection(f"x{i}", BODY)
    assert db.get_collection("ok").count() == 1  # open ones still serve
    low_fd_limit.restore()
    make(db, "later")  # descriptors again: the failed create's work directory is gone
    assert os.listdir(db.tmp_dir) == []
    assert "later" in db.list_collections()
    db.close()


# -- collections that cannot be opened ----------------------------------------------------------
def test_a_collection_with_a_bad_lock_is_failed_and_the_others_served(tmp_path):
    db = Database(tmp_path)
    make(db, "bad")
    make(db, "good", 2)
    db.close()
    lock = db.collections_dir / "bad" / "LOCK"
    lock.unlink()
    lock.mkdir()  # a LOCK that cannot be opened as a file
    db = Database(tmp_path)
    with pytest.raises(CollectionUnavailableError) as err:
        db.get_collection("bad")
    msg = str(err.value)
    assert "collection 'bad' cannot be opened: IsADirectoryError" in msg
    assert str(tmp_path) not in msg and "collections/bad/LOCK" in msg
    assert db.failed == {"bad": msg.split("cannot be opened: ", 1)[1]}
    assert db.list_collections() == ["bad", "good"]
    assert db.get_collection("good").count() == 2
    assert db.delete_collection("bad") is True and db.failed == {}
    db.close()


def test_a_damaged_store_is_failed_with_its_reason(tmp_path):
    db = Database(tmp_path)
    make(db, "bad")
    db.close()
    store = db.collections_dir / "bad" / "store.sqlite"
    for side in ("-wal", "-shm"):
        Path(f"{store}{side}").unlink(missing_ok=True)
    store.write_bytes(b"this is not a database" * 100)
    db = Database(tmp_path)
    with pytest.raises(CollectionUnavailableError, match=r"cannot be opened: .*not a database"):
        db.get_collection("bad")
    assert str(tmp_path) not in db.failed["bad"]
    make(db, "other")
    assert db.list_collections() == ["bad", "other"]
    db.close()


# -- leftovers ------------------------------------------------------------------------------------
def test_leftovers_of_a_dead_owner_are_removed_even_under_our_own_pid(tmp_path):
    """In a container the server is pid 1 at every start: the owner token decides."""
    db = Database(tmp_path)
    dead = db.tmp_dir / f"create.{os.getpid()}.0123456789ab.cafe0123.x"
    dead.mkdir()
    (dead / "store.sqlite").write_bytes(b"")
    mine = db.work_dir("create", "live")
    mine.mkdir()
    other = Database(tmp_path)  # db is alive: its work directory stays
    assert not dead.exists() and mine.exists()
    other.close()
    db.close()


def test_kill_9_in_the_middle_of_a_create_leaves_nothing_behind(tmp_path):
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(REPO)!r})
        from vecsearch.collection import Collection
        from vecsearch.config_qdrant import parse_create
        from vecsearch.database import Database
        db = Database({str(tmp_path)!r})
        work = db.work_dir("create", "half")
        Collection.create("half", work, parse_create({BODY!r}))  # created, not yet published
        print(work, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    work = Path(proc.stdout.strip())
    assert (work / "store.sqlite").exists()  # the half-made collection is there
    db = Database(tmp_path)
    assert not work.exists() and os.listdir(db.tmp_dir) == []
    assert [p.name for p in db.owners_dir.iterdir()] == [db._token]  # its owner file too
    assert db.list_collections() == []
    db.close()


# -- closing many collections ---------------------------------------------------------------------
def test_close_saves_only_changed_collections_and_survives_a_failed_save(tmp_path, caplog):
    db = Database(tmp_path)
    for name in ("a", "b", "c", "d"):
        make(db, name, 3)
    db.close()
    db = Database(tmp_path)
    for name in ("a", "b", "c", "d"):
        db.get_collection(name)
    unchanged = index_inode(db, "d")
    for name in ("a", "b", "c"):
        db.get_collection(name).upsert([{"id": 50, "vector": [2.0, 2.0]}])
    # b's index cannot be saved: its space directory is replaced by a file (a read-only
    # directory would do as well, but the tests may run as root, whom chmod does not stop)
    space = db.collections_dir / "b" / "spaces" / "0"
    for p in sorted(space.rglob("*"), reverse=True):
        p.rmdir() if p.is_dir() else p.unlink()
    space.rmdir()
    space.write_text("in the way")
    with caplog.at_level(logging.ERROR, logger="vecsearch.database"):
        failures = db.close()
    assert list(failures) == ["b"]
    assert [r for r in caplog.records if "collection b:" in r.getMessage()] != []
    assert len([r for r in caplog.records if "collection b:" in r.getMessage()]) == 1
    assert index_inode(db, "d") == unchanged  # unchanged: not saved again
    space.unlink()
    db = Database(tmp_path)  # every lock was released, b's too
    for name in ("a", "c"):
        assert db.get_collection(name).index_source == "loaded"  # saved with the new point
        assert db.get_collection(name).count() == 4
    assert db.get_collection("b").count() == 4  # its store is intact; the index is rebuilt
    assert db.get_collection("b").index_source == "rebuilt"
    db.close()


def test_a_closed_database_reopens_collections_on_use(tmp_path):
    db = Database(tmp_path, max_open=2)
    make(db, "a")
    db.close()
    assert db.open_collections() == []
    assert db.get_collection("a").count() == 1
    db.close()
    with pytest.raises(CollectionNotFoundError):
        db.get_collection("missing")
    db.close()
