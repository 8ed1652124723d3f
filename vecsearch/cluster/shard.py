"""One shard of a cluster collection, seen from the driver: its replicas (Ray actor handles
and their state), its write sequence, the bounded log of its recent writes, and the two
primitives built on them: a write fanned out to every live replica and acknowledged by
``write_consistency_factor`` of them, and a read that fails over from replica to replica.

Replica states: ``live`` (gets writes and reads), ``dead`` (failed a call: gets nothing
until :mod:`vecsearch.cluster.catchup` replaces it), ``recovering`` (being caught up: gets
nothing until it has every write, then becomes ``live``).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayError

from vecsearch.cluster.replica import LAGGING
from vecsearch.cluster.wire import REFUSED, unpack_error
from vecsearch.errors import CollectionUnavailableError

log = logging.getLogger(__name__)

#: One logged write: ``(seq, engine method, args, kwargs)``.
Entry = tuple[int, str, tuple, dict]


class ShardUnavailableError(CollectionUnavailableError):
    """No replica of a shard could serve the request (or acknowledge the write)."""

    code = "shard_unavailable"


@dataclass
class ReplicaHandle:
    """A replica as the driver knows it."""

    shard: int
    slot: int
    node_id: str
    path: str
    actor: Any
    state: str = "live"
    reason: str = ""

    def describe(self) -> dict[str, Any]:
        return {
            "shard_id": self.shard,
            "replica": self.slot,
            "peer_id": self.node_id,
            "state": {"live": "Active", "dead": "Dead", "recovering": "Partial"}[self.state],
            "reason": self.reason or None,
            "path": self.path,
        }


class Shard:
    """A shard's replicas, sequence and write log (thread-safe)."""

    def __init__(self, sid: int, replicas: Sequence[ReplicaHandle], log_size: int) -> None:
        self.id = sid
        self.replicas = list(replicas)
        #: Held while a sequence number is assigned and the write submitted, and by catch-up
        #: when it makes a replica live: writes reach replicas in sequence order.
        self.lock = threading.Lock()
        self.seq = 0
        #: The highest acknowledged write: reads need a replica that has applied it.
        self.acked = 0
        self.log: deque[Entry] = deque(maxlen=log_size)
        self._turn = itertools.count()
        #: Counters for the metrics (:meth:`counters`), under their own small lock.
        self._stats = {
            "writes": 0,
            "write_failures": 0,
            "write_seconds": 0.0,
            "reads": 0,
            "read_failures": 0,
            "read_failovers": 0,
        }
        self._stats_lock = threading.Lock()

    def _count(self, **add: float) -> None:
        with self._stats_lock:
            for k, v in add.items():
                self._stats[k] += v

    def counters(self) -> dict[str, float]:
        """Writes sequenced, writes not acknowledged (refused or too few replicas), seconds
        spent acknowledging writes, reads answered, reads no replica answered, and reads
        retried on another replica, since the driver started."""
        with self._stats_lock:
            return dict(self._stats)

    def live(self) -> list[ReplicaHandle]:
        return [r for r in self.replicas if r.state == "live"]

    def mark_dead(self, rep: ReplicaHandle, reason: str) -> None:
        with self.lock:
            if rep.state == "live":
                rep.state, rep.reason = "dead", reason
                log.warning(
                    "shard %d replica %d on %s: dead (%s)",
                    self.id,
                    rep.slot,
                    rep.node_id[:12],
                    reason,
                )

    def log_after(self, seq: int) -> list[Entry] | None:
        """The logged writes after ``seq``, or None if the log no longer reaches back to it
        (call with the lock held)."""
        if seq > self.seq:
            return None
        if seq == self.seq:
            return []
        if not self.log or self.log[0][0] > seq + 1:
            return None
        return [e for e in self.log if e[0] > seq]

    # -- writes ------------------------------------------------------------------------------
    def submit(self, op: str, args: tuple, kwargs: dict[str, Any]) -> tuple[int, list]:
        """Log a write under a new sequence number and send it to every live replica;
        returns ``(seq, [(replica, object ref), ...])``."""
        with self.lock:
            self.seq += 1
            seq = self.seq
            self.log.append((seq, op, args, kwargs))
            sent = [(r, r.actor.apply.remote(seq, op, args, kwargs)) for r in self.live()]
        return seq, sent

    def acknowledge(self, seq: int, sent: list, need: int, timeout: float, reaper: Reaper) -> Any:
        """Wait until ``need`` replicas applied write ``seq``; the others are left to the
        reaper (which marks them dead if they fail). Raises the engine's refusal if the
        write was refused, :class:`ShardUnavailableError` if too few replicas applied it."""
        pending = {ref: rep for rep, ref in sent}
        t0 = time.monotonic()
        deadline = t0 + timeout
        try:
            return self._acknowledge(seq, pending, need, deadline, reaper)
        except Exception:
            self._count(write_failures=1)
            raise
        finally:
            self._count(writes=1, write_seconds=time.monotonic() - t0)

    def _acknowledge(
        self,
        seq: int,
        pending: dict[Any, ReplicaHandle],
        need: int,
        deadline: float,
        reaper: Reaper,
    ) -> Any:
        done = 0
        while pending and done < need:
            ready, _ = ray.wait(
                list(pending), num_returns=1, timeout=max(0.0, deadline - time.monotonic())
            )
            if not ready:
                break
            rep = pending.pop(ready[0])
            try:
                tag, value = ray.get(ready[0])
            except RayError as exc:
                self.mark_dead(rep, f"write {seq}: {type(exc).__name__}")
                continue
            if tag == REFUSED:
                reaper.watch(self, pending)
                raise unpack_error(value)
            done += 1
        reaper.watch(self, pending)
        if done < need:
            raise ShardUnavailableError(
                f"shard {self.id}: write {seq} applied by {done} replica(s), "
                f"write_consistency_factor is {need} (the write may still be applied)"
            )
        with self.lock:
            self.acked = max(self.acked, seq)
        return seq

    # -- reads -------------------------------------------------------------------------------
    def start_read(
        self, op: str, args: tuple, kwargs: dict[str, Any], tried: Sequence[ReplicaHandle] = ()
    ) -> tuple[ReplicaHandle, Any] | None:
        """Send a read to the next live replica not yet ``tried`` (round robin)."""
        live = [r for r in self.live() if r not in tried]
        if not live:
            return None
        rep = live[next(self._turn) % len(live)]
        return rep, rep.actor.read.remote(op, args, kwargs, self.acked)

    def finish_read(
        self,
        op: str,
        args: tuple,
        kwargs: dict[str, Any],
        started: tuple[ReplicaHandle, Any] | None,
        timeout: float,
    ) -> Any:
        """The result of a started read, retried on the other live replicas if its replica
        fails, times out or lags; the engine's refusals are raised as they are."""
        tried: list[ReplicaHandle] = []
        problems: list[str] = []
        while started is not None:
            rep, ref = started
            tried.append(rep)
            try:
                tag, value = ray.get(ref, timeout=timeout)
            except GetTimeoutError:
                problems.append(f"replica {rep.slot}: timeout")
            except RayActorError as exc:
                self.mark_dead(rep, f"read: {type(exc).__name__}")
                problems.append(f"replica {rep.slot}: {type(exc).__name__}")
            except RayError as exc:  # the replica raised: it is broken, not the request
                self.mark_dead(rep, f"read: {type(exc).__name__}")
                problems.append(f"replica {rep.slot}: {type(exc).__name__}")
            else:
                if tag == REFUSED:
                    self._count(reads=1)
                    raise unpack_error(value)
                if tag != LAGGING:
                    self._count(reads=1)
                    return value
                problems.append(f"replica {rep.slot}: lagging at {value}")
            started = self.start_read(op, args, kwargs, tried)
            if started is not None:
                self._count(read_failovers=1)
        self._count(read_failures=1)
        raise ShardUnavailableError(
            f"shard {self.id}: no replica could serve {op} ({'; '.join(problems) or 'none live'})"
        )

    def read(self, op: str, *args: Any, timeout: float = 30.0, **kwargs: Any) -> Any:
        return self.finish_read(op, args, kwargs, self.start_read(op, args, kwargs), timeout)


class Reaper:
    """Collects the replies of writes acknowledged without them, in a background thread,
    and marks the replicas whose write failed dead."""

    def __init__(self) -> None:
        self._pending: dict[Any, tuple[Shard, ReplicaHandle]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cluster-reaper", daemon=True)
        self._thread.start()

    def watch(self, shard: Shard, pending: dict[Any, ReplicaHandle]) -> None:
        with self._lock:
            for ref, rep in pending.items():
                self._pending[ref] = (shard, rep)

    def drain(self, timeout: float = 30.0) -> None:
        """Wait until every watched reply has arrived (tests, close)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._pending:
                    return
            time.sleep(0.02)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                refs = list(self._pending)
            if not refs:
                self._stop.wait(0.05)
                continue
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0.1)
            for ref in ready:
                with self._lock:
                    shard, rep = self._pending.pop(ref)
                try:
                    ray.get(ref)
                except RayError as exc:
                    shard.mark_dead(rep, f"write: {type(exc).__name__}")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
