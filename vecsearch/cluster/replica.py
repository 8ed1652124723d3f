"""A shard replica: one ordinary single-node :class:`~vecsearch.collection.Collection` in its
own data directory, owned by a Ray actor (:data:`ShardReplica`) on the node that holds it.

Directory of a replica (``path``, on its node)::

    collection/     the collection (today's engine, unchanged)
    replica.json    {"seq": n}: the last cluster write applied, written atomically after it

Writes arrive with the shard's cluster sequence number and are applied strictly in that
order (a write waits for its predecessor; the actor is threaded, so Ray alone would not keep
the order). The sequence number is recorded after the engine call returns, so after a crash
the file may lag the store by one write; catch-up then replays that write, which is harmless
because every write the cluster sends is idempotent (upserts and deletes by id replace,
payload changes set or remove keys, by-filter changes only touch points that still match).

Reads may carry ``min_seq`` (the shard's last acknowledged write): a replica that has not
applied it yet answers :data:`~vecsearch.cluster.wire.LAGGING` after a short wait, and the
cluster asks another replica, so an acknowledged write is visible to every later read.

Catch-up source: :meth:`Replica.snapshot` takes an engine snapshot
(:func:`vecsearch.snapshots.create_snapshot`) under the replica's write lock, so it is
exactly at the returned sequence number, and returns its bytes through Ray's object store;
:meth:`Replica.restore` installs such bytes (checksum verified) in place of its collection.
Snapshots travel whole (no chunking yet: fine for shards of some hundred MB).

Shard snapshot recovery (:mod:`vecsearch.cluster.shard_snapshots`):
:meth:`Replica.install_snapshot` installs a user's snapshot file after checking that it
fits the shard (same vector spaces, every point routed to this shard), unpacked while the
old collection still serves, so a refused snapshot leaves the replica as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import mmh3
import ray

from vecsearch.cluster.routing import jump_hash
from vecsearch.cluster.wire import OK, REFUSED, is_refusal, pack_error
from vecsearch.collection import Collection
from vecsearch.config import CollectionConfig
from vecsearch.errors import CollectionLockedError, SnapshotIntegrityError, ValidationError
from vecsearch.ids import key_to_id
from vecsearch.index_files import fsync_dir
from vecsearch.snapshots import create_snapshot, sha256_file, unpack_snapshot

#: Tag of a read reply from a replica that has not applied ``min_seq`` yet.
LAGGING = "lagging"
COLLECTION_DIR = "collection"
STATE_FILE = "replica.json"
#: The engine's write methods a cluster write may call on a replica.
WRITE_OPS = frozenset(
    {
        "upsert",
        "upsert_batch",
        "update_vectors",
        "delete",
        "delete_vectors",
        "set_payload",
        "overwrite_payload",
        "delete_payload",
        "clear_payload",
        "create_payload_index",
        "delete_payload_index",
    }
)
#: The engine's read methods a cluster read may call on a replica.
READ_OPS = frozenset(
    {"query", "query_batch", "search", "search_batch", "count", "scroll", "retrieve", "describe"}
)
#: Ray options of the actor: a quarter CPU (a 2-core machine hosts several replicas per
#: node), threads so reads run while a write runs, no automatic restart (the cluster
#: collection replaces a dead replica and catches it up itself).
ACTOR_OPTIONS: dict[str, Any] = {"num_cpus": 0.25, "max_concurrency": 8, "max_restarts": 0}
#: How long a write waits for its predecessor before the replica gives up (seconds).
GAP_TIMEOUT = 60.0
#: How long a locked collection directory is retried at start (a killed predecessor's
#: process may still be exiting).
LOCK_RETRY = 20.0


class ReplicaGapError(RuntimeError):
    """A write's predecessor never arrived: this replica missed a write and must catch up."""


class Replica:
    """The replica's logic (the actor is :data:`ShardReplica`; the class is plain so that
    it is readable and testable without Ray)."""

    def __init__(self, name: str, path: str, config: dict[str, Any]) -> None:
        self.name = name
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._config = config
        self._cond = threading.Condition()
        self._write = threading.Lock()  # one write, snapshot or restore at a time
        self._coll: Collection | None = self._open()
        self._seq = self._read_seq()

    # -- lifecycle ---------------------------------------------------------------------------
    def _open(self) -> Collection:
        where = self.path / COLLECTION_DIR
        deadline = time.monotonic() + LOCK_RETRY
        while True:
            try:
                if (where / "store.sqlite").is_file():
                    return Collection(self.name, where)
                if where.exists():  # a create that died half-way
                    shutil.rmtree(where)
                cfg = CollectionConfig.from_stored(self._config)
                return Collection.create(self.name, where, cfg)
            except CollectionLockedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _read_seq(self) -> int:
        try:
            data = json.loads((self.path / STATE_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return 0
        return int(data["seq"])

    def _write_seq(self, seq: int) -> None:
        tmp = self.path / f"{STATE_FILE}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"seq": seq}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path / STATE_FILE)
        fsync_dir(self.path)

    @property
    def coll(self) -> Collection:
        if self._coll is None:
            raise RuntimeError("replica is restoring or closed")
        return self._coll

    def info(self) -> dict[str, Any]:
        """Where the replica runs and how far it is."""
        coll = self._coll
        return {
            "seq": self._seq,
            "points": coll.point_count if coll is not None else None,
            "node_id": ray.get_runtime_context().get_node_id() if ray.is_initialized() else "",
            "pid": os.getpid(),
            "path": str(self.path),
        }

    def applied_seq(self) -> int:
        """The last cluster write applied."""
        return self._seq

    def close(self) -> None:
        """Close the collection (saving its indexes)."""
        with self._write:
            if self._coll is not None:
                self._coll.close()
                self._coll = None

    def drop(self) -> None:
        """Close and remove the replica's directory."""
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)

    # -- writes ------------------------------------------------------------------------------
    def apply(self, seq: int, op: str, args: tuple, kwargs: dict[str, Any]) -> tuple[str, Any]:
        """Apply cluster write ``seq`` (engine method ``op``) after write ``seq - 1``.

        Returns ``(OK, {"seq", "duplicate"})`` or ``(REFUSED, error)`` when the engine refuses
        the write (the refusal is the same on every replica, so the write counts as applied:
        a no-op). Raises :class:`ReplicaGapError` if the predecessor does not arrive."""
        if op not in WRITE_OPS:
            raise ValueError(f"not a cluster write: {op!r}")
        with self._cond:
            if not self._cond.wait_for(lambda: self._seq >= seq - 1, GAP_TIMEOUT):
                raise ReplicaGapError(f"write {seq} arrived, {self._seq + 1} never did")
        with self._write:
            if seq <= self._seq:  # replayed during catch-up: already applied
                return OK, {"seq": self._seq, "duplicate": True}
            reply: tuple[str, Any]
            try:
                getattr(self.coll, op)(*args, **kwargs)
                reply = OK, {"seq": seq, "duplicate": False}
            except Exception as exc:
                if not is_refusal(exc):
                    raise
                reply = REFUSED, pack_error(exc)
            self._write_seq(seq)
        with self._cond:
            self._seq = seq
            self._cond.notify_all()
        return reply

    def apply_many(self, entries: list[tuple[int, str, tuple, dict]]) -> int:
        """Apply logged writes ``(seq, op, args, kwargs)`` in order (catch-up); returns the
        sequence number reached."""
        for seq, op, args, kwargs in entries:
            self.apply(seq, op, args, kwargs)
        return self._seq

    # -- reads -------------------------------------------------------------------------------
    def read(
        self, op: str, args: tuple, kwargs: dict[str, Any], min_seq: int = 0, wait: float = 2.0
    ) -> tuple[str, Any]:
        """Engine read ``op``; ``(LAGGING, seq)`` if write ``min_seq`` is not applied within
        ``wait`` seconds, ``(REFUSED, error)`` if the engine refuses the read."""
        if op not in READ_OPS:
            raise ValueError(f"not a cluster read: {op!r}")
        with self._cond:
            if not self._cond.wait_for(lambda: self._seq >= min_seq, wait):
                return LAGGING, self._seq
        try:
            return OK, getattr(self.coll, op)(*args, **kwargs)
        except Exception as exc:
            if not is_refusal(exc):
                raise
            return REFUSED, pack_error(exc)

    def describe(self) -> dict[str, Any]:
        """The engine's description, with the configuration as plain data and the seq."""
        out = dict(self.coll.describe())
        out["config"] = out["config"].to_dict()
        out["cluster_seq"] = self._seq
        return out

    # -- catch-up ----------------------------------------------------------------------------
    def snapshot(self) -> tuple[bytes, str, int]:
        """``(snapshot bytes, sha256, seq)``: the collection exactly after write ``seq``."""
        with self._write:
            out = self.path / "outgoing"
            desc = create_snapshot(self.coll, out)
            try:
                data = (out / desc.name).read_bytes()
            finally:
                shutil.rmtree(out, ignore_errors=True)
            return data, desc.checksum, self._seq

    def restore(self, data: bytes, checksum: str, seq: int) -> int:
        """Replace the collection with snapshot ``data`` taken at ``seq``; returns ``seq``."""
        with self._write:
            if self._coll is not None:
                self._coll.close(save_index=False)
                self._coll = None
            staged = self.path / "collection.restoring"
            self._stage(data, checksum, staged)
            return self._swap_in(staged, seq)

    def install_snapshot(
        self, data: bytes, checksum: str, seq: int, shard_id: int, shard_number: int
    ) -> tuple[str, Any]:
        """Recover this replica from a user's shard snapshot (``PUT .../shards/{id}/snapshots
        /recover``), as write ``seq``: the bytes are verified, unpacked and checked to fit
        the shard (the same vector spaces; with ``shard_number`` > 0, every point routed to
        ``shard_id``) while the old collection still serves; only then is it swapped in.
        Returns ``(OK, seq)``, or ``(REFUSED, error)`` with the replica untouched."""
        staged = self.path / "collection.installing"
        try:
            manifest = self._stage(data, checksum, staged)
            _check_fits(staged, manifest, self._config, shard_id, shard_number)
        except Exception as exc:
            shutil.rmtree(staged, ignore_errors=True)
            if not is_refusal(exc):
                raise
            return REFUSED, pack_error(exc)
        with self._write:
            if self._coll is not None:
                self._coll.close(save_index=False)
                self._coll = None
            return OK, self._swap_in(staged, seq)

    def _stage(self, data: bytes, checksum: str, staged: Path) -> dict[str, Any]:
        """Verify snapshot ``data`` and unpack it into ``staged``; returns its manifest."""
        shutil.rmtree(staged, ignore_errors=True)
        incoming = staged.with_name(staged.name + ".snapshot")
        incoming.write_bytes(data)
        try:
            if sha256_file(incoming) != checksum:
                raise SnapshotIntegrityError("snapshot bytes fail their checksum in transit")
            return unpack_snapshot(incoming, staged, checksum)
        finally:
            incoming.unlink(missing_ok=True)

    def _swap_in(self, staged: Path, seq: int) -> int:
        """Make ``staged`` the collection, at sequence ``seq`` (the write lock held, the old
        collection closed)."""
        old = self.path / "collection.old"
        shutil.rmtree(old, ignore_errors=True)
        current = self.path / COLLECTION_DIR
        if current.exists():
            current.rename(old)
        staged.rename(current)
        fsync_dir(self.path)
        shutil.rmtree(old, ignore_errors=True)
        self._coll = Collection(self.name, current)
        self._write_seq(seq)
        with self._cond:
            self._seq = seq
            self._cond.notify_all()
        return seq


def _signature(config: dict[str, Any]) -> tuple:
    """What a snapshot must share with the shard: its vector spaces' names, sizes,
    distances, multi-vector settings and sparse spaces."""
    cfg = CollectionConfig.from_stored(config)
    dense = sorted((s.name, s.size, s.distance.value, str(s.multivector)) for s in cfg.spaces)
    sparse = sorted((s.name, str(s.modifier)) for s in cfg.sparse)
    return tuple(dense), tuple(sparse)


def _check_fits(
    staged: Path, manifest: dict[str, Any], config: dict[str, Any], shard: int, n: int
) -> None:
    """Refuse (:class:`ValidationError`) a snapshot whose vector spaces differ from the
    collection's, or (``n`` > 0) holding a point that routing sends to another shard of
    ``n``: the cluster would never find it, or find it twice."""
    try:
        theirs = _signature(manifest["config"])
    except Exception:
        raise SnapshotIntegrityError("the snapshot's manifest has no readable config") from None
    if theirs != _signature(config):
        raise ValidationError(
            "location",
            "the snapshot's vector spaces differ from the collection's "
            f"(snapshot: {theirs}, collection: {_signature(config)})",
        )
    if n <= 0:
        return
    con = sqlite3.connect(f"file:{staged / 'store.sqlite'}?mode=ro", uri=True)
    try:
        for (key,) in con.execute("SELECT pid FROM points"):
            key = bytes(key)
            if jump_hash(mmh3.hash64(key, 0, signed=False)[0], n) != shard:
                raise ValidationError(
                    "location",
                    f"the snapshot holds point {key_to_id(key)}, which belongs to shard "
                    f"{jump_hash(mmh3.hash64(key, 0, signed=False)[0], n)}, not {shard}",
                )
    finally:
        con.close()


#: The Ray actor owning one shard replica (see :class:`Replica` for its methods).
ShardReplica = ray.remote(**ACTOR_OPTIONS)(Replica)
