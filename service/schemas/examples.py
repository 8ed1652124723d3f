"""Bodies of the legacy recommend and discover routes and of the groups routes (Qdrant's
``RecommendRequest``, ``DiscoverRequest``, ``SearchGroupsRequest``, ``QueryGroupsRequest``,
``RecommendGroupsRequest``). The engine checks the values (:mod:`vecsearch.query`)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StrictFloat, StrictInt, WithJsonSchema

from service.schemas.search import (
    LookupLocation,
    Prefetch,
    QueryInput,
    SearchParams,
    SearchVector,
)
from service.schemas.types import (
    MULTI,
    NUMBERS,
    POINT_ID_SCHEMA,
    SPARSE,
    Body,
    FilterJson,
    ShardKey,
    WithPayload,
    WithVector,
)

Example = Annotated[
    Any,
    WithJsonSchema(
        {
            "anyOf": [POINT_ID_SCHEMA, NUMBERS, MULTI, SPARSE],
            "description": "A point id (its vector in the space searched) or a vector.",
        }
    ),
]


class WithLookup(Body):
    """For each group, the point of ``collection`` whose id is the group's value."""

    collection: str
    with_payload: WithPayload = Field(None, description="Default true.")
    with_vector: WithVector = Field(None, description="Default false.")
    with_vectors: WithVector = Field(None, description="Spelling of with_vector.")


class ContextPair(Body):
    """Points should be closer to ``positive`` than to ``negative``."""

    positive: Example
    negative: Example


class _Read(Body):
    filter: FilterJson | None = None
    params: SearchParams | None = None
    with_payload: WithPayload = Field(None, description="Default false.")
    with_vector: WithVector = Field(None, description="Default false.")
    with_vectors: WithVector = Field(None, description="Spelling of with_vector.")
    score_threshold: StrictFloat | StrictInt | None = None
    using: str | None = Field(None, description="Vector name (default: the unnamed vector).")
    lookup_from: LookupLocation | None = None
    shard_key: ShardKey = None


class _Groups(Body):
    group_by: str = Field(..., description="Payload key whose values make the groups.")
    group_size: StrictInt | None = Field(None, description="Hits per group, default 3.")
    limit: StrictInt | None = Field(None, description="Number of groups, default 10.")
    with_lookup: str | WithLookup | None = None


class RecommendRequest(_Read):
    """Points like ``positive`` and unlike ``negative`` (ids or vectors)."""

    positive: list[Example] | None = None
    negative: list[Example] | None = None
    strategy: str | None = Field(
        None, description="average_vector (default), best_score or sum_scores."
    )
    limit: StrictInt | None = Field(None, description="Number of hits, default 10.")
    offset: StrictInt | None = None


class RecommendRequestBatch(Body):
    searches: list[RecommendRequest]


class RecommendGroupsRequest(_Read, _Groups):
    positive: list[Example] | None = None
    negative: list[Example] | None = None
    strategy: str | None = None


class DiscoverRequest(_Read):
    """Points near ``target`` within the region the context pairs mark (without ``target``:
    a context search, the points best satisfying the pairs)."""

    target: Example | None = None
    context: list[ContextPair] | None = None
    limit: StrictInt | None = Field(None, description="Number of hits, default 10.")
    offset: StrictInt | None = None


class DiscoverRequestBatch(Body):
    searches: list[DiscoverRequest]


class SearchGroupsRequest(_Groups):
    vector: SearchVector
    filter: FilterJson | None = None
    params: SearchParams | None = None
    with_payload: WithPayload = None
    with_vector: WithVector = None
    with_vectors: WithVector = None
    score_threshold: StrictFloat | StrictInt | None = None
    shard_key: ShardKey = None


class QueryGroupsRequest(_Groups):
    query: QueryInput = None
    prefetch: list[Prefetch] | Prefetch | None = None
    using: str | None = None
    filter: FilterJson | None = None
    params: SearchParams | None = None
    score_threshold: StrictFloat | StrictInt | None = None
    with_payload: WithPayload = None
    with_vector: WithVector = None
    with_vectors: WithVector = None
    lookup_from: LookupLocation | None = None
    shard_key: ShardKey = None
