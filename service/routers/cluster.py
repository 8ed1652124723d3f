"""What a single-node Qdrant answers about itself: ``GET /telemetry``, ``GET /cluster``,
``GET /collections/{name}/cluster``, ``GET /collections/{name}/optimizations`` and
``GET /collections/{name}/memory``; and, in cluster mode only, Qdrant's shard operations
``POST /collections/{name}/cluster`` (``replicate_shard``, ``move_shard``,
``drop_replica``; see :mod:`vecsearch.cluster.operations`).

vecsearch is one node with one shard per collection, so the cluster answers are those of a
Qdrant started without distributed mode: ``/cluster`` is ``{"status": "disabled"}`` and a
collection has one local shard (id 0, ``Active``). In cluster mode (setting ``cluster``)
they describe the Ray cluster instead: peers are Ray nodes (peer ids derived from node ids),
shards and replicas those of :mod:`vecsearch.cluster`; ``/memory`` is refused there (400).
The peer id and the telemetry id are derived from the data directory, so they are stable
across restarts. Optimizations are the background index rebuilds of a PATCH (one running
entry per vector space being rebuilt); finished ones are not remembered (``completed`` is
always empty). ``/memory`` follows the shape of Qdrant 1.18's docs ("Monitor Collection
Memory Usage"; qdrant-client 1.20 has no model for it): ``total``, ``vectors``,
``sparse_vectors``, ``payload``, ``payload_index``, ``other``, each usage ``{disk_bytes,
ram_bytes, cached_bytes, expected_cache_bytes}``; see :mod:`vecsearch.usage` for what is
measured (page-cache residency is not: ``cached_bytes`` is 0, as Qdrant reports on systems
without ``mincore``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from service.deps import DB, CollectionDep, Started, State, Timeout
from service.responses import ok
from service.security import ReadAccess, WriteAccess
from vecsearch.errors import ValidationError
from vecsearch.usage import collection_usage

router = APIRouter(tags=["cluster"])

#: What ``?with=`` of ``/optimizations`` may list (Qdrant's names).
OPTIMIZATION_DETAILS = ("queued", "completed", "idle_segments")


def _node_uuid(state: Any) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"vecsearch:{state.settings.data_dir.resolve()}")


def peer_id(state: Any) -> int:
    """This node's peer id: a stable 63-bit number derived from the data directory."""
    return _node_uuid(state).int >> 65


@router.get("/telemetry", dependencies=[ReadAccess], summary="Telemetry (app, collections)")
async def telemetry(
    state: State,
    db: DB,
    t0: Started,
    anonymize: bool | None = None,
    details_level: Annotated[int | None, Query(ge=0)] = None,
    per_collection: bool | None = None,
    timeout: Timeout = None,
) -> JSONResponse:
    """Qdrant's ``TelemetryData`` at its least detailed level: the app (its ``version`` is
    the Qdrant version ``GET /`` reports) and the number of collections. The query
    parameters are accepted; the answer is the same at every ``details_level``."""
    result = {
        "id": str(_node_uuid(state)),
        "app": {
            "name": "vecsearch",
            "version": state.settings.qdrant_version,
            "startup": state.started_at.isoformat(),
        },
        "collections": {"number_of_collections": len(db.list_collections())},
    }
    return ok(result, t0)


def ray_peer_id(node_id: str) -> int:
    """Cluster mode: a Ray node's peer id, a stable 63-bit number from its node id (hex)."""
    return int(node_id[:16], 16) >> 1


def _cluster_mode(state: Any) -> bool:
    return state.settings.cluster is not None


def _cluster_status(db: Any) -> dict[str, Any]:
    """Qdrant's enabled ``ClusterStatus`` from the Ray nodes: every alive node is a peer;
    Ray has no Raft, so this service's node is reported as the leader of term 1, with
    nothing pending."""
    facts = db.cluster_status()
    me = ray_peer_id(facts["node_id"])
    return {
        "status": "enabled",
        "peer_id": me,
        "peers": {
            str(ray_peer_id(n["node_id"])): {"uri": f"ray://{n['address']}"}
            for n in facts["nodes"]
            if n["alive"]
        },
        "raft_info": {
            "term": 1,
            "commit": 0,
            "pending_operations": 0,
            "leader": me,
            "role": "Leader",
            "is_voter": True,
        },
        "consensus_thread_status": {
            "consensus_thread_status": "working",
            "last_update": datetime.now(UTC).isoformat(),
        },
        "message_send_failures": {},
    }


def _collection_cluster(db: Any, coll: Any) -> dict[str, Any]:
    """Qdrant's ``CollectionClusterInfo`` of a cluster collection: the replicas on this
    service's Ray node are local shards (with their shard's point count), the others remote;
    states as :meth:`vecsearch.cluster.shard.ReplicaHandle.describe` gives them."""
    me = db.cluster_status()["node_id"]
    info = coll.cluster_info()
    counts = coll.shard_point_counts()
    key_of = {s: k for k, shards in info["shard_keys"].items() for s in shards}
    local, remote = [], []
    for shard in info["shards"]:
        sid = shard["shard_id"]
        key = {"shard_key": key_of[sid]} if sid in key_of else {}
        for rep in shard["replicas"]:
            if rep["peer_id"] == me:
                local.append(
                    {"shard_id": sid, **key, "points_count": counts[sid], "state": rep["state"]}
                )
            else:
                remote.append(
                    {
                        "shard_id": sid,
                        **key,
                        "peer_id": ray_peer_id(rep["peer_id"]),
                        "state": rep["state"],
                    }
                )
    return {
        "peer_id": ray_peer_id(me),
        "shard_count": info["shard_count"],
        "local_shards": local,
        "remote_shards": remote,
        "shard_transfers": [],
    }


@router.get("/cluster", dependencies=[ReadAccess], summary="Cluster status")
async def cluster_status(state: State, t0: Started) -> JSONResponse:
    """``{"status": "disabled"}``: a single node, as Qdrant without distributed mode. In
    cluster mode, the Ray cluster's nodes as peers (see :func:`_cluster_status`)."""
    if _cluster_mode(state) and state.db is not None:
        return ok(await run_in_threadpool(_cluster_status, state.db), t0)
    return ok({"status": "disabled"}, t0)


@router.get(
    "/collections/{collection_name}/cluster",
    dependencies=[ReadAccess],
    summary="Collection cluster info",
)
def collection_cluster(coll: CollectionDep, state: State, t0: Started) -> JSONResponse:
    """Qdrant's ``CollectionClusterInfo`` of one node holding the collection's one shard (in
    cluster mode: of its shards and replicas, see :func:`_collection_cluster`)."""
    if _cluster_mode(state):
        return ok(_collection_cluster(state.db, coll), t0)
    result = {
        "peer_id": peer_id(state),
        "shard_count": 1,
        "local_shards": [{"shard_id": 0, "points_count": coll.count(), "state": "Active"}],
        "remote_shards": [],
        "shard_transfers": [],
    }
    return ok(result, t0)


#: Qdrant's operations of ``POST /collections/{c}/cluster`` served in cluster mode, with
#: their peer fields (required ones first) as the engine's node arguments.
SHARD_OPERATIONS = {
    "replicate_shard": ("to_peer_id", "from_peer_id"),
    "move_shard": ("from_peer_id", "to_peer_id"),
    "drop_replica": ("peer_id",),
}
#: Qdrant's other operations of that route (refused: not done in cluster mode).
OTHER_OPERATIONS = (
    "abort_transfer",
    "create_sharding_key",
    "drop_sharding_key",
    "restart_transfer",
    "start_resharding",
    "abort_resharding",
    "replicate_points",
)


def _node_of(db: Any, peer: Any, field: str, required: bool) -> str | None:
    """The Ray node id behind a peer id of ``GET /cluster`` (alive or not)."""
    if peer is None:
        if required:
            raise ValidationError(field, "required")
        return None
    if not isinstance(peer, int) or isinstance(peer, bool):
        raise ValidationError(field, f"expected a peer id (an integer), got {peer!r}")
    for n in db.cluster_status()["nodes"]:
        if ray_peer_id(n["node_id"]) == peer:
            return str(n["node_id"])
    raise ValidationError(field, f"unknown peer {peer} (GET /cluster lists the peers)")


def _shard_operation(db: Any, coll: Any, body: Any) -> None:
    """Check one operation of ``body`` and run it on the cluster collection (blocking)."""
    ops = [k for k in body if k in SHARD_OPERATIONS or k in OTHER_OPERATIONS]
    if len(ops) != 1 or len(body) != 1:
        raise ValidationError(
            "operation", f"expected exactly one of {', '.join(SHARD_OPERATIONS)}; got {list(body)}"
        )
    op = ops[0]
    if op in OTHER_OPERATIONS:
        raise ValidationError(op, "not supported in cluster mode yet")
    args = body[op]
    if not isinstance(args, dict):
        raise ValidationError(op, "expected an object")
    fields = SHARD_OPERATIONS[op]
    extra = set(args) - {"shard_id", *fields, "method", "shard_key"}
    if extra:
        raise ValidationError(f"{op}.{sorted(extra)[0]}", "unknown field")
    if args.get("shard_key") is not None:
        raise ValidationError(f"{op}.shard_key", "not supported in cluster mode yet")
    shard = args.get("shard_id")
    if not isinstance(shard, int) or isinstance(shard, bool):
        raise ValidationError(f"{op}.shard_id", f"expected a shard id (an integer), got {shard!r}")
    # Qdrant requires both peers of replicate_shard; here from_peer_id is optional
    nodes = [
        _node_of(db, args.get(f), f"{op}.{f}", required=not (op == "replicate_shard" and i))
        for i, f in enumerate(fields)
    ]
    try:
        if op == "replicate_shard":
            coll.replicate_shard(shard, nodes[0], nodes[1])
        elif op == "move_shard":
            coll.move_shard(shard, nodes[0], nodes[1])
        else:
            coll.drop_replica(shard, nodes[0])
    except ValidationError as exc:  # name the field as the body does: move_shard.to_peer_id
        if exc.field and not exc.field.startswith(op):
            raise ValidationError(f"{op}.{exc.field}", exc.reason) from exc
        raise


@router.post(
    "/collections/{collection_name}/cluster",
    dependencies=[WriteAccess],
    summary="Move, replicate or drop shard replicas (cluster mode)",
)
async def update_collection_cluster(
    coll: CollectionDep,
    state: State,
    t0: Started,
    body: Annotated[dict[str, Any], Body()],
    timeout: Timeout = None,
) -> JSONResponse:
    """Qdrant's ``replicate_shard``, ``move_shard`` and ``drop_replica`` (peer ids as ``GET
    /cluster`` reports them); answers once the operation is done (a new replica caught up,
    a dropped one removed). Single-node mode: 400, there is one shard on one node."""
    if not _cluster_mode(state):
        raise ValidationError(
            "operation", "shard operations need cluster mode (vecsearch serve --cluster)"
        )
    await run_in_threadpool(_shard_operation, state.db, coll, body)
    return ok(True, t0)


def _segment(coll: Any, points: int) -> dict[str, Any]:
    return {"uuid": coll.uuid, "points_count": points}


@router.get(
    "/collections/{collection_name}/optimizations",
    dependencies=[ReadAccess],
    summary="Running and queued optimizations",
)
def optimizations(
    coll: CollectionDep,
    t0: Started,
    with_: Annotated[
        str | None,
        Query(
            alias="with",
            description="Comma-separated extra lists: queued, completed, idle_segments.",
        ),
    ] = None,
    completed_limit: Annotated[int | None, Query(ge=0)] = None,
) -> JSONResponse:
    """Qdrant's ``OptimizationsResponse``: the background index rebuilds in progress."""
    extra = [w.strip() for w in (with_ or "").split(",") if w.strip()]
    for w in extra:
        if w not in OPTIMIZATION_DETAILS:
            raise ValidationError(
                "with", f"unknown value {w!r}; expected {', '.join(OPTIMIZATION_DETAILS)}"
            )
    desc = coll.describe()
    points = desc["points_count"]
    rebuilding = [name for name, s in desc["spaces"].items() if s["rebuilding"]]
    running = [
        {
            "uuid": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{coll.uuid}:{name}")),
            "optimizer": "index rebuild",
            "status": "optimizing",
            "segments": [_segment(coll, points)],
            "progress": {"name": f"rebuild the index of vector {name!r}"},
        }
        for name in rebuilding
    ]
    idle = [] if rebuilding else [_segment(coll, points)]
    result: dict[str, Any] = {
        "summary": {
            "queued_optimizations": 0,
            "queued_segments": 0,
            "queued_points": 0,
            "idle_segments": len(idle),
        },
        "running": running,
    }
    if "queued" in extra:
        result["queued"] = []
    if "completed" in extra:
        result["completed"] = []  # finished rebuilds are not remembered
    if "idle_segments" in extra:
        result["idle_segments"] = idle
    return ok(result, t0)


def _usage(disk: int = 0, ram: int = 0) -> dict[str, int]:
    return {"disk_bytes": disk, "ram_bytes": ram, "cached_bytes": 0, "expected_cache_bytes": 0}


@router.get(
    "/collections/{collection_name}/memory",
    dependencies=[ReadAccess],
    summary="Disk and RAM used by a collection",
)
async def memory(coll: CollectionDep, t0: Started) -> JSONResponse:
    """Disk and RAM per part of the collection (shape: see the module docstring). The SQLite
    store, which holds ids, vectors and payloads together, is reported under ``other``;
    the RAM of an index includes the vectors it keeps."""
    facts = await run_in_threadpool(collection_usage, coll)
    dense, sparse = [], []
    for s in facts["spaces"]:
        entry = {
            "name": s["name"],
            "storage": _usage(),
            "index": _usage(s["disk_bytes"], s["ram_bytes"]),
        }
        (sparse if s["sparse"] else dense).append(entry)
    other = _usage(facts["store"]["disk_bytes"] + facts["other"]["disk_bytes"])
    total = _usage(
        other["disk_bytes"] + sum(s["disk_bytes"] for s in facts["spaces"]),
        sum(s["ram_bytes"] for s in facts["spaces"]),
    )
    result = {
        "total": total,
        "vectors": dense,
        "sparse_vectors": sparse,
        "payload": _usage(),
        "payload_index": [],
        "other": other,
    }
    return ok(result, t0)
