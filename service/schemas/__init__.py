"""Request and response bodies, in Qdrant's REST shapes plus vecsearch's additive fields.

The request models check the shape of a body (required fields, no unknown fields, plain
types of scalars) and document it in OpenAPI. The values that need the collection to judge
(vector names and dimensions, NaN, point ids, filters, payload selectors, search parameters)
are typed loosely here and validated by the engine, whose errors name the field
(``points[3].vector.image: expected dimension 512, got 511``).
"""

from service.schemas.collections import (
    CreateCollection,
    CreateFieldIndex,
    IndexSpec,
    UpdateCollection,
    VectorParams,
    VectorParamsDiff,
)
from service.schemas.points import (
    Batch,
    CountRequest,
    DeletePayload,
    DeleteVectors,
    PointRequest,
    PointsSelector,
    PointStruct,
    PointVectors,
    ScrollRequest,
    SetPayload,
    UpdateOperations,
    UpdateVectors,
    UpsertPoints,
)
from service.schemas.relevance import RelevanceFit, RelevanceInfo
from service.schemas.responses import (
    CollectionDescription,
    CollectionExistence,
    CollectionInfo,
    CollectionsResponse,
    CountResult,
    Envelope,
    ErrorEnvelope,
    ErrorStatus,
    QueryResponse,
    Record,
    ScoredPoint,
    ScrollResult,
    SnapshotDescription,
    UpdateResult,
    VersionInfo,
)
from service.schemas.search import (
    Prefetch,
    QuantizationSearchParams,
    QueryRequest,
    QueryRequestBatch,
    SearchParams,
    SearchRequest,
    SearchRequestBatch,
)
from service.schemas.snapshots import SnapshotRecover

__all__ = [
    "Batch",
    "CollectionDescription",
    "CollectionExistence",
    "CollectionInfo",
    "CollectionsResponse",
    "CountRequest",
    "CountResult",
    "CreateCollection",
    "CreateFieldIndex",
    "DeletePayload",
    "DeleteVectors",
    "Envelope",
    "ErrorEnvelope",
    "ErrorStatus",
    "IndexSpec",
    "PointRequest",
    "PointStruct",
    "PointVectors",
    "PointsSelector",
    "Prefetch",
    "QuantizationSearchParams",
    "QueryRequest",
    "QueryRequestBatch",
    "QueryResponse",
    "Record",
    "RelevanceFit",
    "RelevanceInfo",
    "ScoredPoint",
    "ScrollRequest",
    "ScrollResult",
    "SearchParams",
    "SearchRequest",
    "SearchRequestBatch",
    "SetPayload",
    "SnapshotDescription",
    "SnapshotRecover",
    "UpdateCollection",
    "UpdateOperations",
    "UpdateResult",
    "UpdateVectors",
    "UpsertPoints",
    "VectorParams",
    "VectorParamsDiff",
    "VersionInfo",
]
