"""Cluster mode (issue 20, first step): sharded, replicated collections on Ray.

Optional (extra ``cluster``: ``ray``). Importing ``vecsearch`` or this package never imports
ray; only :mod:`~vecsearch.cluster.placement`, :mod:`~vecsearch.cluster.replica`,
:mod:`~vecsearch.cluster.shard`, :mod:`~vecsearch.cluster.catchup`,
:mod:`~vecsearch.cluster.operations`, :mod:`~vecsearch.cluster.collection` and the
service's :mod:`~vecsearch.cluster.facade` and :mod:`~vecsearch.cluster.database` do
(``tests/test_layering.py`` checks both).

Design. A cluster collection (:class:`vecsearch.cluster.collection.ClusterCollection`) is
``shard_number`` shards times ``replication_factor`` replicas. Each replica is today's
single-node :class:`~vecsearch.collection.Collection` in its own data directory on the node
that holds it, owned by a Ray actor (:data:`vecsearch.cluster.replica.ShardReplica`, a
quarter CPU, threaded so reads run during writes) pinned to that node
(:mod:`~vecsearch.cluster.placement`: round robin, replicas of a shard on distinct nodes).
The same query module runs on every shard; the merge (:mod:`~vecsearch.cluster.merge`) is the
only cluster-specific step of a read.

* Routing (:mod:`~vecsearch.cluster.routing`, pure): MurmurHash3 of the canonical id's
  storage key, jump consistent hash to a shard; custom shard keys own shard sets.
* Writes: validated by the driver, given the shard's next sequence number, logged (bounded
  in-memory log per shard), sent to every live replica, acknowledged once
  ``write_consistency_factor`` replicas applied them; a replica whose call fails is marked
  dead. Replicas apply writes strictly in sequence order and record the last one durably
  (``replica.json``).
* Reads: one live replica per shard, in parallel; a replica that fails, times out or has not
  applied the shard's last acknowledged write is replaced by another one for that read, so a
  caller sees no error while one replica of each shard lives. Ranked reads use the optimistic
  per-shard k with a re-query of the shards whose k-th score could still matter (the result
  equals the full-k merge; ``per_shard_k="full"`` asks every shard for offset + limit).
* Catch-up (:mod:`~vecsearch.cluster.catchup`, :meth:`ClusterCollection.recover`): a dead
  replica is replaced on a node free of its shard and caught up from the write log, or from
  a snapshot of a live replica plus the log after it, before it serves reads.
* Reopening (:mod:`~vecsearch.cluster.layout`, :meth:`ClusterCollection.open`): the driver
  records the configuration and where every replica lives; after a driver restart the
  actors restart on their nodes and open their directories; the write log does not survive,
  so a replica behind its shard's most advanced one is caught up by snapshot. Node ids are
  Ray's: after a whole Ray cluster restarts (new ids), a replica restarts on an alive node
  with its recorded node's IP address, whose disk holds its directory; one whose machine is
  gone is dead until ``recover()`` rebuilds it from a live replica.
* Service (:mod:`~vecsearch.cluster.database`, :mod:`~vecsearch.cluster.facade`):
  ``vecsearch serve --cluster ADDRESS|auto`` serves these collections over the same
  Qdrant-compatible API (see docs/cluster.md); the facade refuses, as a 400, every
  single-node feature listed below as not done.

Works (tests/cluster, a real 3-node ``ray.cluster_utils.Cluster``): create over 1..n shards
and replicas; upsert, upsert_batch, update_vectors, delete, delete_vectors, the payload
writes and payload indexes; search, search_batch, query, query_batch (nearest queries by
vector or by point id, with filters, offset, score_threshold), count, scroll (id order),
retrieve. Tested: exact sharded
search (Cosine and Euclid) equal to the single-node result; a node killed under write and
read load (replication_factor 2) with no failed read and no lost acknowledged write; its
replicas replaced on a re-added node and caught up by snapshot, a killed replica caught up
by the log, both then answering as the surviving replicas; a hung replica (its process
stopped) costing a read one timeout, then failing over; closing and reopening.
Also tested against a single node: Dot, multi-vector (MaxSim) and sparse queries, queries
by point id, every write kind, custom shard keys.

Service (tests/cluster/test_service.py, a real uvicorn server and qdrant-client): create
with ``shard_number`` / ``replication_factor`` / ``write_consistency_factor``, upserts,
exact search equal to a single node, ``GET /cluster`` and ``/collections/{c}/cluster`` in
Qdrant's shapes, refusals as 400s, reopening after a server restart.

Shard operations (:mod:`~vecsearch.cluster.operations`, tests/cluster/test_operations.py):
``ClusterCollection.replicate_shard`` / ``move_shard`` / ``drop_replica`` and Qdrant's
``POST /collections/{c}/cluster`` with ``replicate_shard``, ``move_shard``,
``drop_replica``: a new replica is built by snapshot plus the log after it and serves reads
once caught up; a dropped one's actor removes its directory; the record is rewritten.

Also (tests/cluster/test_groups_order_facets.py, test_shard_snapshots.py,
test_shard_metrics.py, test_bulk_build.py): ``order_by`` (query and scroll), exact groups and
facets across shards (:mod:`~vecsearch.cluster.reads`), equal to a single node; per-shard
snapshots (:mod:`~vecsearch.cluster.shard_snapshots`: create, list, download, delete,
recover into every replica); per-shard metrics; the distributed bulk build
(:mod:`~vecsearch.cluster.build`: one shared IVF-PQ / binary model, shards built as Ray
tasks on their nodes).

Not done yet: Qdrant's other cluster operations (sharding keys, resharding, transfer
aborts, ``replicate_points``), transfer progress (``shard_transfers`` is always empty; an
operation blocks its request), removing a dead replica's directory on drop, and recovery
on demand over HTTP (the service rebuilds dead replicas itself: at open and every 5 s);
prefetch/fusion, mmr, formulas, ``sample``, id-order queries, distance matrices,
``lookup_from`` and recommend/discover/context across shards (refused with
:class:`~vecsearch.cluster.plan.ClusterUnsupportedError`); over HTTP also atomic batch
updates, collection PATCH, relevance calibration, whole-collection snapshots, ``/memory``,
``shard_key`` and ``sharding_method: "custom"`` (the engine's shard keys have no HTTP
endpoint to create them); a by-id write naming a missing point is refused before any shard
writes, but a point deleted concurrently can still make one shard refuse while the others
apply (a single node refuses all); a write whose acknowledgement failed has an unknown
outcome (it stays in the log and may be applied by catch-up); snapshots travel whole
through the object store (no chunking); facets ship every matching point's key value to the
driver (no per-shard count operation); the distributed build takes no BM25 text field and
no custom shard keys. A hit's ``version`` is the sequence number of the point's last write on
its shard's replica (each replica's own store), not a cluster-wide number; a write's
``operation_id`` is the highest cluster sequence number among the shards it touched. With
ANN indexes the optimistic k equals the full-k merge only when a shard's top-k' is the
prefix of its top-k (true for exact search)."""
