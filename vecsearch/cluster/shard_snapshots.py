"""Per-shard snapshots of a cluster collection, and the per-shard facts the metrics read.

Create: one live replica of the shard takes an engine snapshot under its write lock
(:meth:`vecsearch.cluster.replica.Replica.snapshot`: exactly after its sequence number
``seq``); a replica that has not applied the shard's last acknowledged write is passed over
for the next one, so the snapshot holds every write acknowledged before the request. The
bytes come to the driver through Ray's object store and are written, checksum verified,
under ``DATA_DIR/snapshots/<collection>/shards/<shard_id>/`` with a ``.sha256`` sidecar
(:func:`vecsearch.shard_snapshots.write_snapshot`): the same file format as single-node
snapshots, so a shard snapshot can also be restored as a single-node collection.

Recover (:func:`recover`), under the collection's operations lock and the shard's lock (no
write of the shard is sequenced meanwhile, writes wait):

1. The file is checked against its checksum on the driver, then sent to one live replica
   (the *primary*, taken out of reads while it works), which verifies it again, unpacks it,
   checks that it fits the shard (same vector spaces, every point routed to this shard) and
   only then swaps it in as write ``seq + 1`` of the shard. A refused file changes nothing.
2. The shard's sequence becomes ``seq + 1`` (assigned and acknowledged) and its write log is
   emptied: no replica can be caught up by replaying writes from before the restore, and a
   read needs a replica at ``seq + 1`` -- only the primary -- so no replica serves the
   pre-restore data once the request is answered.
3. The other live replicas are set ``recovering`` (no reads, no writes) and caught up from
   the primary by the existing snapshot catch-up (:func:`vecsearch.cluster.catchup.fill`,
   outside the shard's lock, so writes continue on the primary meanwhile) before the request
   answers; one whose catch-up fails is marked dead and rebuilt by the usual recovery.
   Dead replicas stay dead and are rebuilt the same way (the log no longer reaches them).

Limits: the whole file travels through the object store (no chunking); with
``write_consistency_factor`` equal to ``replication_factor`` the shard's writes answer 503
until step 3 is done; ``http(s)://`` locations and uploads are not done for shard snapshots.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayError

from vecsearch.cluster import catchup
from vecsearch.cluster.shard import Shard, ShardUnavailableError
from vecsearch.cluster.wire import unwrap
from vecsearch.errors import SnapshotIntegrityError
from vecsearch.shard_snapshots import (
    check_shard,
    expected_checksum,
    snapshot_name,
    write_snapshot,
)
from vecsearch.snapshots import SnapshotDescription

log = logging.getLogger(__name__)

#: Seconds a metrics scrape waits for the replicas' answers (the rest are left out).
SCRAPE_TIMEOUT = 2.0


def shard_of(cc: Any, shard_id: int) -> Shard:
    """Shard ``shard_id`` of cluster collection ``cc`` (404 if it has none)."""
    return cc.shards[check_shard(shard_id, len(cc.shards), cc.name)]


def create(cc: Any, shard_id: int, folder: Path) -> SnapshotDescription:
    """Snapshot shard ``shard_id`` of ``cc`` into ``folder`` (see the module docstring)."""
    shard = shard_of(cc, shard_id)
    acked = shard.acked
    problems: list[str] = []
    for rep in shard.live():
        try:
            data, checksum, seq = ray.get(rep.actor.snapshot.remote(), timeout=cc.catchup_timeout)
        except RayError as exc:
            problems.append(f"replica {rep.slot}: {type(exc).__name__}")
            continue
        if seq < acked:
            problems.append(f"replica {rep.slot}: at {seq}, behind {acked}")
            continue
        return write_snapshot(data, checksum, folder, snapshot_name(cc.name, shard.id))
    raise ShardUnavailableError(
        f"shard {shard.id}: no replica could take a snapshot ({'; '.join(problems) or 'none live'})"
    )


def recover(cc: Any, shard_id: int, path: Path, checksum: str | None = None) -> dict[str, Any]:
    """Replace every replica of shard ``shard_id`` of ``cc`` by the snapshot file ``path``
    (see the module docstring). Returns ``{"shard", "seq", "primary", "caught_up": [...]}``."""
    shard = shard_of(cc, shard_id)
    expected = expected_checksum(path, checksum)
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != expected:
        raise SnapshotIntegrityError(f"snapshot {path.name!r} fails its SHA-256 checksum")
    n = 0 if cc.router.custom else cc.router.shard_number
    with cc._lock:  # no recovery or shard operation in between
        with shard.lock:
            live = shard.live()
            if not live:
                raise ShardUnavailableError(f"shard {shard.id}: no live replica to restore")
            primary = live[0]
            seq = shard.seq + 1
            primary.state = "recovering"  # out of reads while its collection is swapped
            try:
                reply = ray.get(
                    primary.actor.install_snapshot.remote(data, expected, seq, shard.id, n),
                    timeout=cc.catchup_timeout,
                )
            except RayError as exc:
                primary.state, primary.reason = "dead", f"restore: {type(exc).__name__}"
                raise ShardUnavailableError(
                    f"shard {shard.id}: the replica restoring the snapshot failed "
                    f"({type(exc).__name__}); its other replicas are unchanged"
                ) from exc
            finally:
                if primary.state == "recovering":
                    primary.state = "live"
            unwrap(reply)  # a refused snapshot: nothing changed
            shard.seq = shard.acked = seq
            shard.log.clear()  # nothing before the restore may be replayed onto it
            others = [r for r in live if r is not primary]
            for rep in others:
                rep.state, rep.reason = "recovering", "restoring a shard snapshot"
        report: dict[str, Any] = {
            "shard": shard.id,
            "seq": seq,
            "primary": primary.slot,
            "caught_up": [],
        }
        for rep in others:
            try:
                done = catchup.fill(
                    cc,
                    shard,
                    rep,
                    lambda: None,  # already among the shard's replicas
                    report_slot=rep.slot,
                    source_node=primary.node_id,
                    snapshot_first=True,
                )
                rep.reason = ""
                report["caught_up"].append(done)
            except Exception as exc:  # rebuilt later by the usual recovery
                with shard.lock:
                    rep.state, rep.reason = "dead", f"shard restore catch-up: {exc}"
                log.warning(
                    "shard %d replica %d: catch-up after restore failed: %s",
                    shard.id,
                    rep.slot,
                    exc,
                )
    return report


def shard_stats(
    collections: Mapping[str, Any], timeout: float = SCRAPE_TIMEOUT
) -> dict[str, list[dict[str, Any]]]:
    """Per cluster collection (``{name: ClusterCollection}``), one row per shard for the
    metrics: ``shard``, ``seq``, ``acked``, ``states`` (replicas per Qdrant state name),
    ``points`` (of its most advanced answering live replica; None if none answered),
    ``replicas`` (``slot`` -> applied seq of each answering live replica) and the shard's
    counters. Every live replica of every collection is asked at once and given ``timeout``
    seconds in all; a dead or hung one is left out (and not marked dead: a scrape only
    looks). Never raises for a replica."""
    asked = []
    for name, cc in collections.items():
        for shard in list(cc.shards):
            for rep in shard.live():
                with contextlib.suppress(Exception):
                    asked.append((name, shard.id, rep.slot, rep.actor.info.remote()))
    answers: dict[tuple[str, int], dict[int, dict[str, Any]]] = {}
    if asked:
        refs = [ref for *_, ref in asked]
        with contextlib.suppress(Exception):
            ray.wait(refs, num_returns=len(refs), timeout=timeout)
        for name, sid, slot, ref in asked:
            with contextlib.suppress(Exception):  # not ready (timeout 0), or it failed
                answers.setdefault((name, sid), {})[slot] = ray.get(ref, timeout=0)
    out: dict[str, list[dict[str, Any]]] = {}
    for name, cc in collections.items():
        rows = out[name] = []
        for shard in list(cc.shards):
            states = {"Active": 0, "Dead": 0, "Partial": 0}
            for rep in shard.replicas:
                states[rep.describe()["state"]] += 1
            got = answers.get((name, shard.id), {})
            best = max(got.values(), key=lambda a: a["seq"], default=None)
            points = None if best is None or best["points"] is None else int(best["points"])
            rows.append(
                {
                    "shard": shard.id,
                    "seq": shard.seq,
                    "acked": shard.acked,
                    "states": states,
                    "points": points,
                    "replicas": {slot: int(a["seq"]) for slot, a in sorted(got.items())},
                    "counters": shard.counters(),
                }
            )
    return out
