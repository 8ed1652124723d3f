"""Bodies of the collection routes: create, update (PATCH), aliases, payload indexes,
snapshots."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    StrictBool,
    StrictInt,
    Tag,
    WithJsonSchema,
)

from service.schemas.types import Body


class IndexSpec(Body):
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


class VectorParams(Body):
    """One dense vector space: the unnamed vector, or one named vector."""

    size: StrictInt = Field(..., description="Dimension of the vectors: 1 to 65,536.")
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
    quantization_config: Any = Field(
        None, description="Stored and echoed; no effect (choose index.type binary instead)."
    )
    on_disk: StrictBool | None = Field(None, description="Stored and echoed; no effect.")
    memory: str | None = Field(None, description="Stored and echoed; no effect.")
    datatype: str | None = Field(None, description="Only float32 is supported.")
    multivector_config: dict[str, Any] | None = Field(
        None,
        description=(
            'Qdrant\'s {"comparator": "max_sim"}: points and queries are lists of vectors, '
            "scored by MaxSim and indexed by MUVERA (Cosine or Dot)."
        ),
    )
    index: IndexSpec | None = Field(
        None, description="vecsearch extension: this vector's index (overrides the top level)."
    )


#: Tags of the two forms of ``vectors`` (they appear in validation error locations, where
#: :func:`service.errors.field_path` drops them).
UNNAMED, NAMED = "<unnamed vector>", "<named vectors>"


def _vectors_form(value: Any) -> str:
    """Qdrant's two forms of ``vectors``: one ``{size, distance}``, or ``{name: {...}}``."""
    if isinstance(value, VectorParams):  # serialising a parsed body
        return UNNAMED
    if isinstance(value, dict) and ("size" in value or "distance" in value):
        return UNNAMED
    return NAMED


class CreateCollection(Body):
    """Qdrant's create-collection body plus vecsearch's ``index``.

    Qdrant fields that do not apply to a single-node embedded engine (shards, replication,
    optimizer, WAL, quantization, memory placement) are checked with Qdrant's limits and
    echoed, or refused where ignoring them would change behaviour
    (:mod:`vecsearch.config_checks`, docs/params.md).
    """

    vectors: (
        Annotated[
            Annotated[VectorParams, Tag(UNNAMED)] | Annotated[dict[str, VectorParams], Tag(NAMED)],
            Discriminator(_vectors_form),
        ]
        | None
    ) = Field(
        None,
        description=(
            "The unnamed vector {size, distance}, or named vectors {name: {...}}; may be "
            "left out when sparse_vectors are given (a sparse-only collection), as in Qdrant."
        ),
    )
    shard_number: StrictInt | None = None
    sharding_method: Any = None
    replication_factor: StrictInt | None = None
    write_consistency_factor: StrictInt | None = None
    on_disk_payload: StrictBool | None = None
    payload: dict[str, Any] | None = Field(
        None, description="Qdrant's {memory: cold | cached}: stored and echoed; no effect."
    )
    id_tracker: dict[str, Any] | None = Field(
        None, description="Qdrant's {memory: cold | cached | pinned}: stored and echoed."
    )
    hnsw_config: dict[str, Any] | None = Field(
        None,
        description="Qdrant's HNSW config: m / ef_construct (for hnsw), full_scan_threshold (KB).",
    )
    wal_config: Any = None
    optimizers_config: Any = None
    quantization_config: Any = None
    init_from: Any = None
    strict_mode_config: Any = None
    sparse_vectors: Any = Field(
        None,
        description=(
            "Sparse vectors by name: {name: {modifier: 'idf' | 'none', index: "
            "{full_scan_threshold, on_disk, datatype, memory}}}."
        ),
    )
    metadata: Any = None
    index: IndexSpec | None = Field(
        None, description="vecsearch extension: the vector index of every space it fits."
    )


class VectorParamsDiff(Body):
    """What PATCH may change in one vector space."""

    hnsw_config: dict[str, Any] | None = Field(
        None, description="m / ef_construct rebuild the index in the background."
    )
    quantization_config: Any = Field(None, description="Stored and echoed; no effect.")
    on_disk: StrictBool | None = Field(None, description="Stored and echoed; no effect.")
    memory: str | None = Field(None, description="Stored and echoed; no effect.")
    index: IndexSpec | None = Field(
        None, description="vecsearch extension: a new index type or parameters (rebuilt)."
    )


class UpdateCollection(Body):
    """Qdrant's collection update (``PATCH``): index changes are applied by rebuilding the
    index in the background while the old one keeps answering."""

    vectors: dict[str, VectorParamsDiff] | None = Field(
        None, description='Changes per vector name ("" is the unnamed vector).'
    )
    hnsw_config: dict[str, Any] | None = None
    optimizers_config: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    quantization_config: Any = None
    sparse_vectors: Any = Field(
        None,
        description=(
            "Sparse vectors by name: {name: {modifier: 'idf' | 'none', index: "
            "{full_scan_threshold, on_disk, datatype, memory}}}."
        ),
    )
    strict_mode_config: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


class CreateFieldIndex(Body):
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


class CreateAlias(Body):
    """Another name for a collection (which must exist and not be an alias itself)."""

    collection_name: str
    alias_name: str


class DeleteAlias(Body):
    """Remove an alias (no error if it does not exist)."""

    alias_name: str


class RenameAlias(Body):
    """Give an alias a new name."""

    old_alias_name: str
    new_alias_name: str


class AliasOperation(Body):
    """One of Qdrant's alias operations: exactly one of the three fields."""

    create_alias: CreateAlias | None = None
    delete_alias: DeleteAlias | None = None
    rename_alias: RenameAlias | None = None


class ChangeAliases(Body):
    """Qdrant's ``ChangeAliasesOperation``: applied in order, all or nothing."""

    actions: list[AliasOperation]


class AliasDescription(BaseModel):
    alias_name: str
    collection_name: str


class AliasesResponse(BaseModel):
    aliases: list[AliasDescription]
