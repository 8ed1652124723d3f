"""Request and response bodies, in Qdrant's REST shapes plus vecsearch's additive fields.

The request models check the shape of a body (required fields, no unknown fields, plain
types of scalars) and document it in OpenAPI. The values that need the collection to judge
(vector dimension, NaN, point ids, filters, payload selectors, search parameters) are typed
loosely here and validated by the engine, whose errors name the field
(``points[3].vector: expected dimension 384, got 383``).

Response models describe what the routes return (the engine's ``to_dict()`` JSON); the routes
build the JSON themselves, so these models document the API and let schema-driven tests check
the responses, without costing a validation pass per request.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    WithJsonSchema,
    model_validator,
)

T = TypeVar("T")

# --------------------------------------------------------------------------------------------
# Loosely typed values, validated by the engine (documented with explicit JSON schemas)
# --------------------------------------------------------------------------------------------

_NUMBERS = {"type": "array", "items": {"type": "number"}}
_MULTI = {
    "type": "array",
    "items": _NUMBERS,
    "minItems": 1,
    "description": "Multi-vector collections: a non-empty list of vectors.",
}
_POINT_ID_SCHEMA = {
    "anyOf": [
        {"type": "integer", "minimum": 0, "maximum": 2**64 - 1},
        {"type": "string", "format": "uuid"},
    ],
    "description": "Point id: an unsigned 64-bit integer or a UUID.",
}

PointId = Annotated[Any, WithJsonSchema(_POINT_ID_SCHEMA)]
Vector = Annotated[
    Any,
    WithJsonSchema(
        {
            "anyOf": [
                _NUMBERS,
                _MULTI,
                {
                    "type": "object",
                    "additionalProperties": {"anyOf": [_NUMBERS, _MULTI]},
                    "description": 'Named form: only the unnamed vector "" exists.',
                },
            ],
            "description": (
                "A dense vector of the collection's dimension (finite numbers), or for "
                "multi-vector collections a non-empty list of such vectors."
            ),
        }
    ),
]
Payload = dict[str, Any]
FilterJson = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "type": "object",
            "description": (
                "Qdrant filter: {must, should, must_not: condition or list of conditions, "
                "min_should: {conditions, min_count}}. Conditions: {key, match: {value | any | "
                "except | text}}, {key, range: {gt, gte, lt, lte}}, {key, values_count}, "
                "{is_empty: {key}}, {is_null: {key}}, {has_id: [ids]}, "
                "{nested: {key, filter}}, or a nested filter."
            ),
            "properties": {
                "must": {},
                "should": {},
                "must_not": {},
                "min_should": {"type": "object"},
            },
            "additionalProperties": False,
            "example": {"must": [{"key": "genre", "match": {"value": "news"}}]},
        }
    ),
]
WithPayload = Annotated[
    Any,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "boolean"},
                {"type": "array", "items": {"type": "string"}},
                {
                    "type": "object",
                    "properties": {"include": {"type": "array", "items": {"type": "string"}}},
                    "required": ["include"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "properties": {"exclude": {"type": "array", "items": {"type": "string"}}},
                    "required": ["exclude"],
                    "additionalProperties": False,
                },
            ],
            "description": "Which payload to return: all, none, these keys, or all but these.",
        }
    ),
]
WithVector = Annotated[
    Any,
    WithJsonSchema(
        {
            "anyOf": [{"type": "boolean"}, {"type": "array", "items": {"type": "string"}}],
            "description": "Return the vector (true) or not; a list names vectors (only '').",
        }
    ),
]
ShardKey = Annotated[
    Any,
    WithJsonSchema({"description": "Not supported (one shard): must be absent or null."}),
]


class _Body(BaseModel):
    """Request bodies reject unknown fields, as Qdrant does."""

    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------------------------
# Collections
# --------------------------------------------------------------------------------------------


class VectorParams(_Body):
    """The one unnamed dense vector of every point."""

    size: StrictInt = Field(..., ge=1, description="Dimension of the vectors.")
    distance: Annotated[
        str,
        WithJsonSchema(
            {
                "type": "string",
                "enum": ["Cosine", "Dot", "Euclid"],
                "description": "Cosine (similarity), Dot (inner product) or Euclid (distance).",
            }
        ),
    ]
    hnsw_config: dict[str, Any] | None = Field(
        None, description="Qdrant's per-vector HNSW config (m, ef_construct, ...)."
    )
    quantization_config: Any = Field(None, description="Accepted and ignored.")
    on_disk: StrictBool | None = Field(None, description="Accepted and ignored.")
    datatype: str | None = Field(None, description="Only float32 is supported.")
    multivector_config: dict[str, Any] | None = Field(
        None,
        description=(
            'Qdrant\'s {"comparator": "max_sim"}: points and queries are lists of vectors, '
            "scored by MaxSim and indexed by MUVERA (Cosine or Dot)."
        ),
    )


class IndexSpec(_Body):
    """vecsearch extension: which vector index the collection uses, and its parameters."""

    type: str | None = Field(
        None,
        description=(
            "Index family: 'flat' (exact), 'binary' (1-bit codes + float rescoring), 'hnsw', "
            "'ivf_pq' (when this build has them). Default: hnsw if available, else flat."
        ),
        examples=["flat"],
    )
    params: dict[str, Any] | None = Field(
        None,
        description=(
            "Constructor parameters of the index: hnsw {M, ef_construction, seed}; ivf_pq "
            "{nlist, m, ...}; binary {bits, ...}. Unknown names are rejected."
        ),
        examples=[{"M": 32, "ef_construction": 200}],
    )


class CreateCollection(_Body):
    """Qdrant's create-collection body plus vecsearch's ``index``.

    Qdrant fields that do not apply to a single-node embedded engine (shards, replication,
    optimizer, WAL, quantization) are accepted and ignored.
    """

    vectors: VectorParams
    shard_number: StrictInt | None = None
    sharding_method: Any = None
    replication_factor: StrictInt | None = None
    write_consistency_factor: StrictInt | None = None
    on_disk_payload: StrictBool | None = None
    hnsw_config: dict[str, Any] | None = Field(
        None,
        description="Qdrant's HNSW config: m / ef_construct (for hnsw), full_scan_threshold (KB).",
    )
    wal_config: Any = None
    optimizers_config: Any = None
    quantization_config: Any = None
    init_from: Any = None
    strict_mode_config: Any = None
    sparse_vectors: Any = None
    metadata: Any = None
    index: IndexSpec | None = Field(None, description="vecsearch extension: the vector index.")


# --------------------------------------------------------------------------------------------
# Points
# --------------------------------------------------------------------------------------------


class PointStruct(_Body):
    """One point of the list form of upsert."""

    id: PointId
    vector: Vector
    payload: Payload | None = None


class Batch(_Body):
    """Column form of upsert: ids[i], vectors[i], payloads[i] make point i."""

    ids: list[PointId]
    vectors: list[Vector]
    payloads: list[Payload | None] | None = None


class UpsertPoints(_Body):
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


class PointRequest(_Body):
    """Retrieve points by id."""

    ids: list[PointId]
    with_payload: WithPayload = Field(None, description="Default true.")
    with_vector: WithVector = Field(None, description="Default false.")
    shard_key: ShardKey = None


class PointsSelector(_Body):
    """Qdrant's ``PointIdsList`` (``points``) or ``FilterSelector`` (``filter``)."""

    points: list[PointId] | None = None
    filter: FilterJson | None = None
    shard_key: ShardKey = None


class SetPayload(_Body):
    """Merge (POST) or replace (PUT) the payload of points chosen by ids or filter."""

    payload: Payload
    points: list[PointId] | None = None
    filter: FilterJson | None = None
    key: str | None = Field(None, description="Merge into the object at this path instead.")
    shard_key: ShardKey = None


class DeletePayload(_Body):
    """Remove payload keys from points chosen by ids or filter."""

    keys: list[str]
    points: list[PointId] | None = None
    filter: FilterJson | None = None
    shard_key: ShardKey = None


class CountRequest(_Body):
    """Count points (all, or those passing ``filter``); always exact."""

    filter: FilterJson | None = None
    exact: StrictBool | None = Field(None, description="Accepted; counts are always exact.")
    shard_key: ShardKey = None


class ScrollRequest(_Body):
    """Page through points in id order."""

    offset: PointId | None = Field(None, description="Start from this id (inclusive).")
    limit: StrictInt | None = Field(None, description="Page size, default 10.")
    filter: FilterJson | None = None
    with_payload: WithPayload = Field(None, description="Default true.")
    with_vector: WithVector = Field(None, description="Default false.")
    order_by: Any = Field(None, description="Not supported: must be null.")
    shard_key: ShardKey = None


# --------------------------------------------------------------------------------------------
# Search and query
# --------------------------------------------------------------------------------------------


class QuantizationSearchParams(_Body):
    """Qdrant's quantization knobs (used by the binary and ivf_pq index types)."""

    ignore: StrictBool | None = Field(None, description="Accepted and ignored.")
    rescore: StrictBool | None = Field(
        None, description="binary: re-rank candidates with the float vectors (default true)."
    )
    oversampling: StrictFloat | None = Field(
        None,
        description="binary: candidates = oversampling x limit; ivf_pq: re-ranking factor.",
    )


class SearchParams(BaseModel):
    """Qdrant's search parameters, plus the parameters of the collection's index type.

    Index-specific fields (vecsearch extension) are accepted when the collection's index type
    has them and rejected (400, naming the field) otherwise.
    """

    model_config = ConfigDict(extra="allow")

    hnsw_ef: StrictInt | None = Field(
        None, description="hnsw: size of the candidate list (alias of ef)."
    )
    exact: StrictBool | None = Field(None, description="Exact search, bypassing the index.")
    quantization: QuantizationSearchParams | None = None
    indexed_only: StrictBool | None = Field(None, description="Accepted and ignored.")
    acorn: Any = Field(None, description="Accepted and ignored.")
    ef: StrictInt | None = Field(None, description="vecsearch, hnsw: candidate list size.")
    nprobe: StrictInt | None = Field(None, description="vecsearch, ivf_pq: lists to probe.")
    k_factor: StrictInt | None = Field(
        None, description="vecsearch, ivf_pq: candidates re-ranked per result."
    )
    oversampling: StrictFloat | None = Field(
        None, description="vecsearch, binary: candidates per result before rescoring."
    )
    n_threads: StrictInt | None = Field(
        None, description="vecsearch: Numba threads for this search (default 1)."
    )
    candidates: StrictInt | None = Field(
        None, description="vecsearch, muvera: FDE candidates re-ranked by exact MaxSim."
    )

    def to_engine(self) -> dict[str, Any]:
        """The mapping the engine's index registry reads (nulls dropped)."""
        return self.model_dump(exclude_none=True)


class SearchRequest(_Body):
    """Qdrant's (deprecated but still served) search body."""

    vector: Vector
    filter: FilterJson | None = None
    params: SearchParams | None = None
    limit: StrictInt = Field(10, description="Number of hits.")
    offset: StrictInt | None = Field(None, description="Skip this many hits first.")
    with_payload: WithPayload = Field(None, description="Default false.")
    with_vector: WithVector = Field(None, description="Default false.")
    score_threshold: StrictFloat | None = Field(
        None,
        description="Keep scores >= threshold (Cosine, Dot) or <= threshold (Euclid).",
    )
    relevance_threshold: StrictFloat | StrictInt | None = Field(
        None,
        description=(
            "vecsearch: keep hits whose calibrated relevance (0..1) is at least this; needs "
            "a fitted relevance model (PUT /collections/{name}/relevance). May return fewer "
            "than limit hits, or none."
        ),
    )
    shard_key: ShardKey = None


class SearchRequestBatch(_Body):
    """Several searches in one request."""

    searches: list[SearchRequest]


_NEAREST_SCHEMA = {
    "type": "object",
    "properties": {"nearest": {"anyOf": [_NUMBERS, _MULTI, _POINT_ID_SCHEMA]}},
    "required": ["nearest"],
    "additionalProperties": False,
}
QueryInput = Annotated[
    Any,
    WithJsonSchema(
        {
            "anyOf": [
                _NUMBERS,
                _MULTI,
                _POINT_ID_SCHEMA,
                _NEAREST_SCHEMA,
                {
                    "type": "object",
                    "properties": {"fusion": {"type": "string", "enum": ["rrf"]}},
                    "required": ["fusion"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "properties": {
                        "rrf": {
                            "type": "object",
                            "properties": {
                                "k": {"type": "integer", "minimum": 1},
                                "weights": {"type": "array", "items": {"type": "number"}},
                            },
                            "additionalProperties": False,
                        }
                    },
                    "required": ["rrf"],
                    "additionalProperties": False,
                },
            ],
            "description": (
                "A vector, the id of a stored point (its vector is the query and the point "
                "itself is left out), {nearest: vector or id}; with prefetch also "
                "{fusion: 'rrf'} or {rrf: {k, weights}} (reciprocal rank fusion of the "
                "prefetches), or a nearest query that re-scores the prefetched points exactly. "
                "Other Qdrant query kinds (recommend, discover, context, order_by, formula, "
                "sample, fusion 'dbsf', mmr) are rejected with 400 naming the field."
            ),
        }
    ),
]


class Prefetch(_Body):
    """A sub-request of a staged query: its results are the candidates of the query above."""

    prefetch: list[Prefetch] | Prefetch | None = Field(
        None, description="Nested sub-requests (their results feed this one's query)."
    )
    query: QueryInput = None
    using: str | None = Field(None, description="Vector name: only '' (the unnamed vector).")
    filter: FilterJson | None = Field(
        None, description="Combined (AND) with the filters of the requests above."
    )
    params: SearchParams | None = None
    score_threshold: StrictFloat | None = None
    limit: StrictInt | None = Field(None, description="Candidates to return, default 10.")
    lookup_from: Any = Field(None, description="Not supported: must be null.")


class QueryRequest(_Body):
    """Qdrant's universal query body: nearest (vector or point id), prefetch stages, and
    reciprocal rank fusion."""

    query: QueryInput = None
    prefetch: list[Prefetch] | Prefetch | None = Field(
        None,
        description=(
            "Sub-requests run first; the query then fuses (rrf) or re-scores their results. "
            "The request's filter applies to every prefetch too."
        ),
    )
    using: str | None = Field(None, description="Vector name: only '' (the unnamed vector).")
    filter: FilterJson | None = None
    params: SearchParams | None = None
    score_threshold: StrictFloat | None = Field(
        None,
        description="Keep scores >= threshold (Cosine, Dot) or <= threshold (Euclid).",
    )
    relevance_threshold: StrictFloat | StrictInt | None = Field(
        None,
        description=(
            "vecsearch: keep hits whose calibrated relevance (0..1) is at least this; needs "
            "a fitted relevance model (PUT /collections/{name}/relevance). May return fewer "
            "than limit hits, or none."
        ),
    )
    limit: StrictInt | None = Field(None, description="Number of hits, default 10.")
    offset: StrictInt | None = Field(None, description="Skip this many hits first.")
    with_vector: WithVector = Field(None, description="Default false.")
    with_payload: WithPayload = Field(None, description="Default false.")
    lookup_from: Any = Field(None, description="Not supported: must be null.")
    shard_key: ShardKey = None


class QueryRequestBatch(_Body):
    """Several queries in one request."""

    searches: list[QueryRequest]


# --------------------------------------------------------------------------------------------
# Relevance calibration (vecsearch extension)
# --------------------------------------------------------------------------------------------


class RelevanceFit(_Body):
    """Labelled queries to fit a collection's relevance model from."""

    queries: list[Vector] = Field(..., description="Query vectors (the collection's dimension).")
    relevant: list[
        Annotated[
            Any,
            WithJsonSchema(
                {
                    "anyOf": [
                        {"type": "array", "items": _POINT_ID_SCHEMA},
                        {"type": "object", "additionalProperties": {"type": "number"}},
                    ],
                    "description": "Relevant point ids, or judgements {id: gain} (gain > 0, "
                    "or >= min_gain, is relevant).",
                }
            ),
        ]
    ] = Field(..., description="One entry per query.")
    min_gain: StrictFloat | StrictInt | None = Field(
        None, description="Gains at least this are relevant (default: gains > 0)."
    )
    depth: StrictInt = Field(100, description="Candidates per query (features, training).")
    folds: StrictInt = Field(5, description="Cross-validation folds for the held-out report.")
    seed: StrictInt = Field(0, description="Seed of the fold shuffles.")
    n_components: StrictInt = Field(8, description="Principal components of the queries.")
    ridge: StrictFloat | StrictInt | None = Field(
        None, description="Ridge strength (default: chosen by inner cross-validation)."
    )


class RelevanceInfo(BaseModel):
    """A fitted relevance model: description and held-out quality report."""

    format: str
    version: int
    revision: int | None = None
    depth: int
    feature_names: list[str]
    ridge: float
    meta: dict[str, Any]
    report: dict[str, Any]


# --------------------------------------------------------------------------------------------
# Payload indexes and snapshots
# --------------------------------------------------------------------------------------------


class CreateFieldIndex(_Body):
    """Index a payload field so filters on it are answered from the index."""

    field_name: str
    field_schema: Annotated[
        Any,
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "string", "enum": ["keyword", "integer", "float", "bool"]},
                    {"type": "object", "properties": {"type": {"type": "string"}}},
                ],
                "description": "keyword, integer, float or bool (or {type: ...}).",
            }
        ),
    ] = None


class SnapshotRecover(_Body):
    """Restore a collection from a snapshot file of this server."""

    location: str = Field(
        ...,
        description=(
            "file:// URL or path of a snapshot inside the data directory's snapshots folder "
            "(remote URLs are not supported)."
        ),
    )
    priority: str | None = Field(None, description="Accepted and ignored.")
    checksum: str | None = Field(None, description="Expected SHA-256 of the file.")
    api_key: str | None = Field(None, description="Accepted and ignored (no remote fetch).")


# --------------------------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------------------------


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
    vecsearch: dict[str, Any] | None = None


class Record(BaseModel):
    id: int | str
    payload: dict[str, Any] | None = None
    vector: list[float] | list[list[float]] | None = None


class ScoredPoint(BaseModel):
    id: int | str
    version: int
    score: float
    payload: dict[str, Any] | None = None
    vector: list[float] | list[list[float]] | None = None
    relevance: float | None = Field(
        None, description="vecsearch: calibrated relevance (0..1) when a model is fitted."
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


class SnapshotDescription(BaseModel):
    name: str
    creation_time: str | None = None
    size: int
    checksum: str | None = None
