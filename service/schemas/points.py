"""Bodies of the point routes: upsert, retrieve, delete, payloads, vectors, count, scroll."""

from __future__ import annotations

from typing import Any

from pydantic import (
    Field,
    StrictBool,
    StrictInt,
    model_validator,
)

from service.schemas.types import (
    Body,
    FilterJson,
    Payload,
    PointId,
    ShardKey,
    Vector,
    WithPayload,
    WithVector,
)


class PointStruct(Body):
    """One point of the list form of upsert."""

    id: PointId
    vector: Vector
    payload: Payload | None = None


class Batch(Body):
    """Column form of upsert: ids[i], vectors[i], payloads[i] make point i."""

    ids: list[PointId]
    vectors: list[Vector] | dict[str, list[Any]] = Field(
        ..., description="Vectors of the unnamed vector, or {name: [vector per point]}."
    )
    payloads: list[Payload | None] | None = None


class UpsertPoints(Body):
    """Qdrant's ``PointsList`` (``points``) or ``PointsBatch`` (``batch``): give exactly one."""

    points: list[PointStruct] | None = None
    batch: Batch | None = None
    shard_key: ShardKey = None
    update_filter: FilterJson | None = Field(None, description="Not supported: must be null.")
    update_mode: str | None = Field(None, description="Only 'upsert' (the default).")

    @model_validator(mode="after")
    def _one_form(self) -> UpsertPoints:
        if (self.points is None) == (self.batch is None):
            raise ValueError("give either points (list form) or batch (column form)")
        return self


class PointRequest(Body):
    """Retrieve points by id."""

    ids: list[PointId]
    with_payload: WithPayload = Field(None, description="Default true.")
    with_vector: WithVector = Field(None, description="Default false.")
    with_vectors: WithVector = Field(None, description="Spelling of with_vector.")
    shard_key: ShardKey = None


class PointsSelector(Body):
    """Qdrant's ``PointIdsList`` (``points``) or ``FilterSelector`` (``filter``)."""

    points: list[PointId] | None = None
    filter: FilterJson | None = None
    shard_key: ShardKey = None


class SetPayload(Body):
    """Merge (POST) or replace (PUT) the payload of points chosen by ids or filter."""

    payload: Payload
    points: list[PointId] | None = None
    filter: FilterJson | None = None
    key: str | None = Field(None, description="Merge into the object at this path instead.")
    shard_key: ShardKey = None


class DeletePayload(Body):
    """Remove payload keys from points chosen by ids or filter."""

    keys: list[str]
    points: list[PointId] | None = None
    filter: FilterJson | None = None
    shard_key: ShardKey = None


class CountRequest(Body):
    """Count points (all, or those passing ``filter``); always exact."""

    filter: FilterJson | None = None
    exact: StrictBool | None = Field(None, description="Accepted; counts are always exact.")
    shard_key: ShardKey = None


class ScrollRequest(Body):
    """Page through points in id order (or in payload order with ``order_by``)."""

    offset: PointId | None = Field(None, description="Start from this id (inclusive).")
    limit: StrictInt | None = Field(None, description="Page size, default 10.")
    filter: FilterJson | None = None
    with_payload: WithPayload = Field(None, description="Default true.")
    with_vector: WithVector = Field(None, description="Default false.")
    with_vectors: WithVector = Field(None, description="Spelling of with_vector.")
    order_by: Any = Field(
        None,
        description=(
            "A payload key, or {key, direction: asc | desc, start_from}: points in the order "
            "of their values (numbers or RFC 3339 date-times), without offset."
        ),
    )
    shard_key: ShardKey = None


class PointVectors(Body):
    """Vectors to set on one existing point."""

    id: PointId
    vector: Vector


class UpdateVectors(Body):
    """Set some named vectors of existing points; their other vectors are untouched."""

    points: list[PointVectors]
    shard_key: ShardKey = None
    update_filter: FilterJson | None = Field(None, description="Not supported: must be null.")


class DeleteVectors(Body):
    """Remove named vectors from points chosen by ids or filter."""

    points: list[PointId] | None = None
    filter: FilterJson | None = None
    vector: list[str] = Field(..., description="Names of the vectors to remove.")
    shard_key: ShardKey = None


class UpdateOperations(Body):
    """Qdrant's batch update: operations applied in order and atomically."""

    operations: list[dict[str, Any]] = Field(
        ...,
        description=(
            "Update operations, each an object with one key: upsert (PointsList or "
            "PointsBatch), delete (points or filter), set_payload, overwrite_payload, "
            "delete_payload, clear_payload, update_vectors, delete_vectors; the bodies are "
            "those of the single-operation routes. Checked by the engine: errors name "
            "operations[i]...."
        ),
    )
