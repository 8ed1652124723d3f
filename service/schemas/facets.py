"""Bodies and answers of the facet and distance-matrix routes (Qdrant's ``FacetRequest``,
``SearchMatrixRequest`` and their responses)."""

from __future__ import annotations

from pydantic import BaseModel, Field, StrictBool, StrictInt

from service.schemas.types import Body, FilterJson, PointId, ShardKey


class FacetRequest(Body):
    """Count the points (passing ``filter``) per value of payload ``key``."""

    key: str = Field(..., description="Payload key; it needs a keyword/integer/bool/uuid index.")
    limit: StrictInt | None = Field(None, description="Most values returned, default 10.")
    filter: FilterJson | None = None
    exact: StrictBool | None = Field(None, description="Accepted; counts are always exact.")
    shard_key: ShardKey = None


class FacetValueHit(BaseModel):
    """One value and how many points hold it."""

    value: str | int | bool
    count: int


class FacetResponse(BaseModel):
    """Values by count (descending), then value."""

    hits: list[FacetValueHit]


class SearchMatrixRequest(Body):
    """Sample points and score each against the other sampled points."""

    sample: StrictInt | None = Field(None, description="Points sampled, default 10.")
    limit: StrictInt | None = Field(None, description="Neighbours per sampled point, default 3.")
    filter: FilterJson | None = None
    using: str | None = Field(None, description="Vector name (default: the unnamed vector).")
    shard_key: ShardKey = None


class SearchMatrixPair(BaseModel):
    """Sampled point ``a``, one of its nearest sampled points ``b``, and their score."""

    a: PointId
    b: PointId
    score: float


class SearchMatrixPairsResponse(BaseModel):
    """The matrix as pairs, row by row (rows in id order, best first within a row)."""

    pairs: list[SearchMatrixPair]


class SearchMatrixOffsetsResponse(BaseModel):
    """The matrix in coordinate form: row and column offsets into ``ids``, and scores."""

    offsets_row: list[int]
    offsets_col: list[int]
    scores: list[float]
    ids: list[PointId]
