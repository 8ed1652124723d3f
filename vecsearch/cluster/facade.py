"""A :class:`~vecsearch.cluster.collection.ClusterCollection` seen through the interface the
service uses of a single-node :class:`~vecsearch.collection.Collection`.

Why a facade: the service's routes call ``search_batch(requests, field, control)``,
``query_batch(bodies, field, resolve, kind, control)``, ``describe()`` with the engine's
keys, ``spaces``, ``point_count`` ... with single-node argument orders; the cluster
collection's own methods take ``shard_key`` where the engine takes ``resolve`` or
``control``. The facade keeps the routes unchanged and says plainly what cluster mode does
not do: every other operation (facets, distance matrices, groups, recommend / discover,
relevance fitting, batch updates, collection updates, index saves) raises
:class:`~vecsearch.cluster.plan.ClusterUnsupportedError` (a 400 naming it), including any
attribute of ``Collection`` the facade does not define (``__getattr__``), so a route that
reaches into a collection never fails with a 500 in cluster mode.

``point_count`` (read by the service's per-request result limits and the metrics) is the
shards' summed count, cached for :data:`COUNT_TTL` seconds and dropped after every write made
through the facade, so a search does not cost an extra scatter of counts.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vecsearch.cluster.collection import ClusterCollection
from vecsearch.cluster.plan import ClusterUnsupportedError, unsupported
from vecsearch.facets import FacetHit
from vecsearch.models import Record, ScoredPoint, UpdateResult

#: Seconds a summed point count is reused (result limits and metrics only).
COUNT_TTL = 1.0


@dataclass(frozen=True)
class SpaceView:
    """What the service reads of a vector space: its configuration."""

    config: Any


class ClusterCollectionFacade:
    """The single-node collection interface over a cluster collection (thread-safe)."""

    def __init__(self, cc: ClusterCollection) -> None:
        self.cc = cc
        self.name = cc.name
        self.config = cc.config
        created = cc.config.qdrant.get("created_at", "")
        #: Stable across restarts: derived from the name and the creation time.
        self.uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"vecsearch-cluster:{cc.name}:{created}"))
        self.spaces = {s.name: SpaceView(s) for s in (*cc.config.spaces, *cc.config.sparse)}
        self._count: tuple[float, int] | None = None
        self._count_lock = threading.Lock()

    # -- writes (the point count cache is dropped after each) ---------------------------------
    def _wrote(self, result: UpdateResult) -> UpdateResult:
        self._count = None
        return result

    def upsert(self, points: Sequence[Any]) -> UpdateResult:
        return self._wrote(self.cc.upsert(points))

    def upsert_batch(self, ids: Sequence[Any], vectors: Any, payloads: Any = None) -> UpdateResult:
        return self._wrote(self.cc.upsert_batch(ids, vectors, payloads))

    def update_vectors(self, points: Sequence[Any]) -> UpdateResult:
        return self._wrote(self.cc.update_vectors(points))

    def delete(self, points: Sequence[Any] | None = None, filter: Any = None) -> UpdateResult:
        return self._wrote(self.cc.delete(points=points, filter=filter))

    def delete_vectors(
        self, vectors: Sequence[str], points: Sequence[Any] | None = None, filter: Any = None
    ) -> UpdateResult:
        return self._wrote(self.cc.delete_vectors(vectors, points=points, filter=filter))

    def set_payload(
        self, payload: Any, points: Any = None, filter: Any = None, key: str | None = None
    ) -> UpdateResult:
        return self._wrote(self.cc.set_payload(payload, points=points, filter=filter, key=key))

    def overwrite_payload(
        self, payload: Any, points: Any = None, filter: Any = None
    ) -> UpdateResult:
        return self._wrote(self.cc.overwrite_payload(payload, points=points, filter=filter))

    def delete_payload(
        self, keys: Sequence[str], points: Any = None, filter: Any = None
    ) -> UpdateResult:
        return self._wrote(self.cc.delete_payload(keys, points=points, filter=filter))

    def clear_payload(self, points: Any = None, filter: Any = None) -> UpdateResult:
        return self._wrote(self.cc.clear_payload(points=points, filter=filter))

    def create_payload_index(self, field_name: str, field_schema: Any) -> UpdateResult:
        return self.cc.create_payload_index(field_name, field_schema)

    def delete_payload_index(self, field_name: str) -> UpdateResult:
        return self.cc.delete_payload_index(field_name)

    def batch_update(self, operations: Sequence[Any]) -> list[UpdateResult]:
        raise unsupported("operations", "an atomic batch of updates (POST /points/batch)")

    def update_config(self, changes: Any) -> UpdateResult:
        raise unsupported("collection", "changing a collection's settings (PATCH)")

    # -- reads ---------------------------------------------------------------------------------
    @staticmethod
    def _check(control: Any, n: int) -> None:
        if control is not None:
            control.check(n)

    def search_batch(
        self, requests: Sequence[Any], field: str = "searches", control: Any = None
    ) -> list[list[ScoredPoint]]:
        self._check(control, len(requests))
        out = self.cc.search_batch(requests, field)
        if control is not None:
            control.answered(len(out))
        return out

    def search(self, vector: Any, limit: int = 10, **kwargs: Any) -> list[ScoredPoint]:
        return self.cc.search(vector, limit, **kwargs)

    def query_batch(
        self,
        bodies: Sequence[Any],
        field: str = "searches",
        resolve: Callable[[str], Any] | None = None,
        kind: str = "query",
        control: Any = None,
    ) -> list[list[ScoredPoint]]:
        """Nearest queries (``lookup_from``, which would need ``resolve``, is refused by the
        cluster's read planning); ``kind`` recommend / discover is refused."""
        if kind != "query":
            raise unsupported(field or "query", f"{kind!r}")
        self._check(control, len(bodies))
        out = self.cc.query_batch(bodies, field)
        if control is not None:
            control.answered(len(out))
        return out

    def query(self, body: Any, resolve: Callable[[str], Any] | None = None) -> list[ScoredPoint]:
        return self.cc.query(body)

    def query_groups(
        self,
        body: Any,
        resolve: Callable[[str], Any] | None = None,
        kind: str = "query",
        control: Any = None,
    ) -> list[dict[str, Any]]:
        """The groups routes (kinds ``query`` and ``search``; ``recommend`` is refused);
        ``resolve`` serves ``with_lookup``."""
        self._check(control, 1)
        out = self.cc.query_groups(body, kind, resolve)
        if control is not None:
            control.answered(1)
        return out

    def facet(
        self, key: Any, filter: Any = None, limit: Any = None, exact: Any = None
    ) -> list[FacetHit]:
        """Facet counts over every shard (what the service's facet route calls)."""
        return self.cc.facet(key, filter, limit, exact)

    def count(self, filter: Any = None) -> int:
        return self.cc.count(filter)

    def scroll(self, **kwargs: Any) -> tuple[list[Record], Any]:
        return self.cc.scroll(**kwargs)

    def retrieve(
        self, ids: Sequence[Any], with_payload: Any = True, with_vector: Any = False
    ) -> list[Record]:
        return self.cc.retrieve(ids, with_payload, with_vector)

    @property
    def point_count(self) -> int:
        """The shards' summed count, cached (see module docstring)."""
        now = time.monotonic()
        cached = self._count
        if cached is not None and now - cached[0] < COUNT_TTL:
            return cached[1]
        with self._count_lock:
            n = self.cc.count()
            self._count = (now, n)
            return n

    # -- state ---------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """The engine's description keys (``seq``: the sum of the shards' sequence numbers;
        no index rebuilds and no relevance model in cluster mode) plus ``cluster``."""
        desc = self.cc.describe()
        return {
            **desc,
            "seq": sum(s.seq for s in self.cc.shards),
            "uuid": self.uuid,
            "optimizer_error": None,
            "relevance": {"fitted": False},
        }

    def cluster_info(self) -> dict[str, Any]:
        return self.cc.cluster_info()

    def shard_point_counts(self) -> dict[int, int]:
        return self.cc.shard_point_counts()

    def replicate_shard(self, shard: int, to_node: str, from_node: str | None = None) -> Any:
        return self.cc.replicate_shard(shard, to_node, from_node)

    def move_shard(self, shard: int, from_node: str, to_node: str) -> Any:
        return self.cc.move_shard(shard, from_node, to_node)

    def drop_replica(self, shard: int, node: str) -> None:
        self.cc.drop_replica(shard, node)

    def relevance_info(self) -> dict[str, Any]:
        raise unsupported("relevance", "relevance calibration")

    def fit_relevance(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise unsupported("relevance", "relevance calibration")

    def delete_relevance(self) -> None:
        raise unsupported("relevance", "relevance calibration")

    def save_index(self) -> None:
        raise unsupported("collection", "saving an index by hand")

    def close(self, *, save_index: bool = True, drop: bool = False) -> None:
        """Close every replica (each saves its indexes); ``drop``: delete them."""
        self.cc.close(drop=drop)

    @property
    def closed(self) -> bool:
        return self.cc.closed

    def __getattr__(self, name: str) -> Any:
        # only reached for attributes not defined above: a Collection feature the cluster
        # does not offer (facets and distance matrices reach for reading(), space(), ...)
        if name.startswith("_"):
            raise AttributeError(name)
        raise ClusterUnsupportedError(
            "request", f"this operation ({name}) is not supported in cluster mode yet"
        )
