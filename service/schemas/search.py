"""Bodies of the search and Query API routes."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    WithJsonSchema,
)

from service.schemas.types import (
    DOCUMENT,
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

SearchVector = Annotated[
    Any,
    WithJsonSchema(
        {
            "anyOf": [
                NUMBERS,
                MULTI,
                {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "vector": {}},
                    "required": ["name", "vector"],
                    "additionalProperties": False,
                },
            ],
            "description": (
                "A vector of the unnamed vector space, or {name, vector} (for a sparse "
                "vector, vector is {indices, values})."
            ),
        }
    ),
]


class QuantizationSearchParams(Body):
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


class SearchRequest(Body):
    """Qdrant's (deprecated but still served) search body."""

    vector: SearchVector
    filter: FilterJson | None = None
    params: SearchParams | None = None
    limit: StrictInt = Field(10, description="Number of hits.")
    offset: StrictInt | None = Field(None, description="Skip this many hits first.")
    with_payload: WithPayload = Field(None, description="Default false.")
    with_vector: WithVector = Field(None, description="Default false.")
    with_vectors: WithVector = Field(None, description="Spelling of with_vector.")
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


class SearchRequestBatch(Body):
    """Several searches in one request."""

    searches: list[SearchRequest]


_EXAMPLE = {"anyOf": [NUMBERS, MULTI, POINT_ID_SCHEMA, SPARSE]}
_PAIR = {
    "type": "object",
    "properties": {"positive": _EXAMPLE, "negative": _EXAMPLE},
    "required": ["positive", "negative"],
}
_NEAREST_SCHEMA = {
    "type": "object",
    "properties": {
        "nearest": {"anyOf": [NUMBERS, MULTI, POINT_ID_SCHEMA, SPARSE, DOCUMENT]},
        "mmr": {
            "type": "object",
            "properties": {
                "diversity": {"type": "number", "minimum": 0, "maximum": 1},
                "candidates_limit": {"type": "integer", "minimum": 1, "maximum": 16384},
            },
            "additionalProperties": False,
        },
    },
    "required": ["nearest"],
    "additionalProperties": False,
}


def _kind(name: str, schema: dict) -> dict:
    return {
        "type": "object",
        "properties": {name: schema},
        "required": [name],
        "additionalProperties": False,
    }


_OTHER_KINDS = [
    _kind(
        "recommend",
        {
            "type": "object",
            "properties": {
                "positive": {"type": "array", "items": _EXAMPLE},
                "negative": {"type": "array", "items": _EXAMPLE},
                "strategy": {"enum": ["average_vector", "best_score", "sum_scores"]},
            },
        },
    ),
    _kind(
        "discover",
        {
            "type": "object",
            "properties": {"target": _EXAMPLE, "context": {"type": "array", "items": _PAIR}},
            "required": ["target"],
        },
    ),
    _kind("context", {"anyOf": [_PAIR, {"type": "array", "items": _PAIR}]}),
    _kind(
        "order_by",
        {
            "anyOf": [
                {"type": "string"},
                {
                    "type": "object",
                    "properties": {
                        "key": {"type": "string"},
                        "direction": {"enum": ["asc", "desc"]},
                        "start_from": {"anyOf": [{"type": "number"}, {"type": "string"}]},
                    },
                    "required": ["key"],
                },
            ]
        },
    ),
    _kind("sample", {"enum": ["random"]}),
]
QueryInput = Annotated[
    Any,
    WithJsonSchema(
        {
            "anyOf": [
                NUMBERS,
                MULTI,
                POINT_ID_SCHEMA,
                SPARSE,
                DOCUMENT,
                _NEAREST_SCHEMA,
                *_OTHER_KINDS,
                {
                    "type": "object",
                    "properties": {"fusion": {"type": "string", "enum": ["rrf", "dbsf"]}},
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
                "itself is left out), {nearest: vector or id}; for a sparse vector (using) "
                "{indices, values} or a BM25 document {text, model: 'qdrant/bm25'}; with "
                "prefetch also {fusion: 'rrf' | 'dbsf'} or {rrf: {k, weights}} (fusion of the "
                "prefetches), or a nearest query that re-scores the prefetched points exactly; "
                "{nearest, mmr: {diversity, candidates_limit}}, {recommend: {positive, "
                "negative, strategy}}, {discover: {target, context}}, {context: pairs}, "
                "{order_by: key | {key, direction, start_from}}, {sample: 'random'}. "
                "Without query: the points passing the filter in id order. formula and "
                "relevance_feedback are rejected with 400 naming the field."
            ),
        }
    ),
]


class LookupLocation(Body):
    """Read by-id examples from another collection (its vector ``vector``, default: the
    space searched)."""

    collection: str
    vector: str | None = None


class Prefetch(Body):
    """A sub-request of a staged query: its results are the candidates of the query above."""

    prefetch: list[Prefetch] | Prefetch | None = Field(
        None, description="Nested sub-requests (their results feed this one's query)."
    )
    query: QueryInput = None
    using: str | None = Field(None, description="Vector name (default: the unnamed vector).")
    filter: FilterJson | None = Field(
        None, description="Combined (AND) with the filters of the requests above."
    )
    params: SearchParams | None = None
    score_threshold: StrictFloat | None = None
    limit: StrictInt | None = Field(None, description="Candidates to return, default 10.")
    lookup_from: LookupLocation | None = None


class QueryRequest(Body):
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
    using: str | None = Field(None, description="Vector name (default: the unnamed vector).")
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
    with_vectors: WithVector = Field(None, description="Spelling of with_vector.")
    with_payload: WithPayload = Field(None, description="Default false.")
    lookup_from: LookupLocation | None = Field(
        None, description="Read by-id examples from another collection."
    )
    shard_key: ShardKey = None


class QueryRequestBatch(Body):
    """Several queries in one request."""

    searches: list[QueryRequest]
