"""Response models: what the routes return (the engine's ``to_dict()`` JSON). The routes
build the JSON themselves, so these models document the API and let schema-driven tests check
the responses, without costing a validation pass per request."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    """Qdrant's success envelope."""

    result: T
    status: Literal["ok"] = "ok"
    time: float = Field(..., description="Seconds spent on the request.")


class ErrorStatus(BaseModel):
    """What went wrong."""

    error: str = Field(..., description="Message naming the problem (and the field).")
    code: str | None = Field(None, description="vecsearch: stable error code.")


class ErrorEnvelope(BaseModel):
    """Qdrant's error envelope."""

    status: ErrorStatus
    time: float


class VersionInfo(BaseModel):
    """``GET /``: title and the Qdrant API version followed."""

    title: str
    version: str = Field(..., description="Qdrant REST API version this server follows.")
    commit: str | None = None
    vecsearch_version: str = Field(..., description="vecsearch's own version.")


class CollectionDescription(BaseModel):
    name: str


class CollectionsResponse(BaseModel):
    collections: list[CollectionDescription]


class CollectionExistence(BaseModel):
    exists: bool


class CollectionInfo(BaseModel):
    """Qdrant's ``CollectionInfo`` plus a ``vecsearch`` section (index type, parameters)."""

    status: Literal["green", "yellow", "grey", "red"]
    optimizer_status: Any
    points_count: int | None = None
    indexed_vectors_count: int | None = None
    segments_count: int
    config: dict[str, Any]
    payload_schema: dict[str, Any]
    created_at: str | None = Field(
        None, description="Creation time (RFC 3339, UTC); absent for older collections."
    )
    vecsearch: dict[str, Any] | None = None


class Record(BaseModel):
    id: int | str
    payload: dict[str, Any] | None = None
    vector: list[float] | list[list[float]] | dict[str, list[float] | list[list[float]]] | None = (
        None
    )
    order_value: int | float | None = Field(
        None, description="The value a scroll with order_by ordered the point by."
    )


class ScoredPoint(BaseModel):
    id: int | str
    version: int
    score: float
    payload: dict[str, Any] | None = None
    vector: list[float] | list[list[float]] | dict[str, list[float] | list[list[float]]] | None = (
        None
    )
    relevance: float | None = Field(
        None, description="vecsearch: calibrated relevance (0..1) when a model is fitted."
    )
    order_value: int | float | None = Field(
        None, description="The value an order_by query ranked the point by."
    )


class UpdateResult(BaseModel):
    """Writes are durable and visible when acknowledged, so the status is 'completed'."""

    operation_id: int | None = None
    status: Literal["acknowledged", "completed", "wait_timeout"]


class CountResult(BaseModel):
    count: int


class ScrollResult(BaseModel):
    points: list[Record]
    next_page_offset: int | str | None = None


class QueryResponse(BaseModel):
    points: list[ScoredPoint]


class PointGroup(BaseModel):
    id: int | str = Field(..., description="The group's value at group_by.")
    hits: list[ScoredPoint]
    lookup: Record | None = Field(
        None, description="with_lookup: the point of the lookup collection with this id."
    )


class GroupsResult(BaseModel):
    groups: list[PointGroup]


class SnapshotDescription(BaseModel):
    name: str
    creation_time: str | None = None
    size: int
    checksum: str | None = None
