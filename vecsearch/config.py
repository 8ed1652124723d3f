"""Collection configuration: the vector spaces of a collection and the settings around them.

A collection is a set of **vector spaces** sharing one store of points and payloads
(ARCHITECTURE.md §3). Each space is one :class:`SpaceConfig`: a name (``""`` for Qdrant's
unnamed vector), a size, a distance, an index type with its parameters, an optional
multi-vector (MaxSim) comparator, and Qdrant's per-vector settings. A point may lack the
vector of any named space (Qdrant's optional vectors).

Qdrant's create-collection body is read by :mod:`vecsearch.config_qdrant`; this module holds
the frozen model, its stored JSON form (:meth:`CollectionConfig.to_dict` /
:meth:`CollectionConfig.from_stored`, which also reads the schema-1 form of one unnamed
vector), and :meth:`CollectionConfig.create` for Python callers.

Settings that Qdrant accepts but that have no effect in a single-node embedded engine
(shards, replication, WAL, optimizer thresholds, ``on_disk``, ``memory``,
``quantization_config``) are checked by :mod:`vecsearch.config_checks`, kept as given in
:attr:`CollectionConfig.qdrant` / the space's fields, and echoed back in collection info,
so clients that read them back see what they set. They change nothing (the ones that would
are refused):
vectors are kept as float32 in RAM-resident indexes (use ``index.type = "binary"`` or
``"hnsw_binary"`` for binary codes).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from vecsearch.config_checks import INT64_MAX, check_int_range, check_vector_size
from vecsearch.errors import ValidationError
from vecsearch.registry import default_index_type, get_index_type

#: Default of Qdrant's ``full_scan_threshold`` (KB of vectors below which search is exact).
DEFAULT_FULL_SCAN_THRESHOLD_KB = 10_000
#: Version of the stored configuration JSON (1: one unnamed vector, no ``format`` key; 3 adds
#: ``sparse``).
CONFIG_FORMAT = 3


class Distance(enum.StrEnum):
    """Qdrant's distance names and the index metric each uses."""

    COSINE = "Cosine"
    DOT = "Dot"
    EUCLID = "Euclid"

    @property
    def metric(self) -> str:
        """The index-layer metric (``cosine``, ``ip``, ``l2``)."""
        return {"Cosine": "cosine", "Dot": "ip", "Euclid": "l2"}[self.value]

    @property
    def higher_is_better(self) -> bool:
        """Cosine and Dot scores are similarities; Euclid scores are distances."""
        return self is not Distance.EUCLID

    @classmethod
    def parse(cls, value: Any, field: str = "distance") -> Distance:
        """Accept Qdrant's names case-insensitively, and the index metrics as aliases."""
        if isinstance(value, Distance):
            return value
        aliases = {
            "cosine": cls.COSINE,
            "angular": cls.COSINE,
            "dot": cls.DOT,
            "ip": cls.DOT,
            "euclid": cls.EUCLID,
            "euclidean": cls.EUCLID,
            "l2": cls.EUCLID,
        }
        if isinstance(value, str) and value.lower() in aliases:
            return aliases[value.lower()]
        raise ValidationError(
            field, f"unsupported distance {value!r}; expected one of Cosine, Dot, Euclid"
        )


def parse_multivector(cfg: Any, distance: Distance, field: str) -> str | None:
    """The MaxSim comparator of a ``multivector_config`` (``None``: single vectors)."""
    if cfg is None:
        return None
    sub = f"{field}.multivector_config"
    if not isinstance(cfg, Mapping):
        raise ValidationError(sub, 'expected an object {"comparator": "max_sim"}')
    if set(cfg) - {"comparator"}:
        raise ValidationError(f"{sub}.{sorted(set(cfg) - {'comparator'})[0]}", "unknown field")
    comparator = cfg.get("comparator")
    if not isinstance(comparator, str) or comparator.lower() != "max_sim":
        raise ValidationError(
            f"{sub}.comparator", f"unsupported comparator {comparator!r}; expected max_sim"
        )
    if distance is Distance.EUCLID:
        raise ValidationError(
            f"{field}.distance", "multi-vector (MaxSim) spaces support Cosine or Dot"
        )
    return "max_sim"


@dataclass(frozen=True)
class IndexConfig:
    """Index type and its constructor parameters (defaults filled in)."""

    type: str
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def resolve(
        cls,
        type_: str | None,
        params: Mapping[str, Any] | None,
        dim: int,
        field: str = "index",
        *,
        multivector: bool = False,
    ) -> IndexConfig:
        """Validate the type (it must be importable, and fit single- or multi-vector points)
        and fill in default parameters."""
        name = default_index_type(multivector) if type_ is None else type_
        if not isinstance(name, str):
            raise ValidationError(f"{field}.type", f"expected a string, got {name!r}")
        itype = get_index_type(name)
        if itype.multivector != multivector:
            raise ValidationError(
                f"{field}.type",
                f"index type {name!r} is for "
                f"{'multi' if itype.multivector else 'single'}-vector points; this vector "
                f"space has {'multi' if multivector else 'single'}-vector points"
                + (" (use 'muvera')" if multivector else " (multivector_config not set)"),
            )
        return cls(name, itype.build_params(dim, params, f"{field}.params"))


@dataclass(frozen=True)
class SpaceConfig:
    """One dense vector space: Qdrant's ``VectorParams`` of one vector name."""

    #: Qdrant's vector name; ``""`` is the unnamed (default) vector.
    name: str
    #: Storage id, fixed at creation: table ``vectors_<id>``, directory ``spaces/<id>/``.
    id: int
    size: int
    distance: Distance
    index: IndexConfig
    #: ``"max_sim"`` when points are lists of vectors (Qdrant's ``multivector_config``).
    multivector: str | None = None
    #: Filtered searches allowing fewer than this many KB of vectors run exactly.
    full_scan_threshold_kb: int = DEFAULT_FULL_SCAN_THRESHOLD_KB
    #: Qdrant's per-vector settings, as given (echoed in collection info).
    hnsw_config: dict[str, Any] | None = None
    quantization_config: Any = None
    on_disk: bool | None = None
    memory: str | None = None
    datatype: str | None = None

    def __post_init__(self) -> None:
        get_index_type(self.index.type).check_metric(self.metric)

    @property
    def metric(self) -> str:
        """Index-layer metric name."""
        return self.distance.metric

    @property
    def is_multivector(self) -> bool:
        """Points and queries are lists of vectors, scored by MaxSim."""
        return self.multivector is not None

    def vector_params(self) -> dict[str, Any]:
        """Qdrant's ``VectorParams`` JSON of this space."""
        out: dict[str, Any] = {"size": self.size, "distance": self.distance.value}
        if self.hnsw_config is not None:
            out["hnsw_config"] = dict(self.hnsw_config)
        if self.quantization_config is not None:
            out["quantization_config"] = self.quantization_config
        if self.on_disk is not None:
            out["on_disk"] = self.on_disk
        if self.memory is not None:
            out["memory"] = self.memory
        if self.datatype is not None:
            out["datatype"] = self.datatype
        if self.multivector is not None:
            out["multivector_config"] = {"comparator": self.multivector}
        return out

    def to_dict(self) -> dict[str, Any]:
        """Stored JSON form (see :meth:`CollectionConfig.to_dict`)."""
        return {
            "name": self.name,
            "id": self.id,
            "size": self.size,
            "distance": self.distance.value,
            "multivector": self.multivector,
            "index": {"type": self.index.type, "params": dict(self.index.params)},
            "full_scan_threshold_kb": self.full_scan_threshold_kb,
            "hnsw_config": self.hnsw_config,
            "quantization_config": self.quantization_config,
            "on_disk": self.on_disk,
            "memory": self.memory,
            "datatype": self.datatype,
        }

    @classmethod
    def from_stored(cls, d: Mapping[str, Any]) -> SpaceConfig:
        """Read :meth:`to_dict` output without importing the index module (the type may be
        unavailable in this build; opening the collection then fails with a clear error)."""
        return cls(
            name=str(d["name"]),
            id=int(d["id"]),
            size=int(d["size"]),
            distance=Distance(d["distance"]),
            index=IndexConfig(d["index"]["type"], dict(d["index"]["params"])),
            multivector=d.get("multivector"),
            full_scan_threshold_kb=int(
                d.get("full_scan_threshold_kb", DEFAULT_FULL_SCAN_THRESHOLD_KB)
            ),
            hnsw_config=d.get("hnsw_config"),
            quantization_config=d.get("quantization_config"),
            on_disk=d.get("on_disk"),
            memory=d.get("memory"),
            datatype=d.get("datatype"),
        )


@dataclass(frozen=True)
class SparseSpaceConfig:
    """One sparse vector space: Qdrant's ``SparseVectorParams`` of one sparse vector name.

    Points give ``{"indices": [...], "values": [...]}`` (or a BM25 inference object); the
    space keeps an exact inverted index (:class:`indexes.sparse.SparseIndex`). With
    ``modifier = "idf"`` each query weight is multiplied by the term's inverse document
    frequency over the space's present vectors (Qdrant's formula, see
    :mod:`vecsearch.sparse_space`)."""

    name: str
    #: Storage id (shared numbering with the dense spaces: table ``vectors_<id>``).
    id: int
    #: ``"idf"`` or ``None`` (Qdrant's ``modifier``).
    modifier: str | None = None
    #: Qdrant's ``index`` settings, as given (``full_scan_threshold``, ``on_disk``,
    #: ``datatype``, ``memory``): accepted and echoed; the search is exact either way.
    index_params: dict[str, Any] | None = None

    #: The index type every sparse space uses (for collection info).
    INDEX_TYPE: ClassVar[str] = "sparse"

    @property
    def index(self) -> IndexConfig:
        """The index of the space, in the same shape as a dense space's."""
        return IndexConfig(self.INDEX_TYPE, {})

    @property
    def idf(self) -> bool:
        """Queries are weighted by inverse document frequency."""
        return self.modifier == "idf"

    def sparse_params(self) -> dict[str, Any]:
        """Qdrant's ``SparseVectorParams`` JSON of this space."""
        out: dict[str, Any] = {}
        if self.index_params:
            out["index"] = dict(self.index_params)
        if self.modifier is not None:
            out["modifier"] = self.modifier
        return out

    def to_dict(self) -> dict[str, Any]:
        """Stored JSON form."""
        return {
            "name": self.name,
            "id": self.id,
            "modifier": self.modifier,
            "index_params": self.index_params,
        }

    @classmethod
    def from_stored(cls, d: Mapping[str, Any]) -> SparseSpaceConfig:
        """Read :meth:`to_dict` output."""
        return cls(
            name=str(d["name"]),
            id=int(d["id"]),
            modifier=d.get("modifier"),
            index_params=d.get("index_params"),
        )


@dataclass(frozen=True)
class CollectionConfig:
    """Everything a collection is created with (and what PATCH may change)."""

    spaces: tuple[SpaceConfig, ...]
    #: The collection was created with Qdrant's named form ``{"vectors": {name: {...}}}``;
    #: False: the unnamed form (one space named ``""``).
    named: bool = False
    #: Qdrant's collection-level ``hnsw_config``, as given.
    hnsw_config: dict[str, Any] = field(default_factory=dict)
    #: Qdrant settings accepted without effect here (``optimizers_config``, ``wal_config``,
    #: ``params`` such as ``shard_number``, ``quantization_config``, ``strict_mode_config``,
    #: ``metadata``), as given, echoed in collection info; and ``created_at`` (RFC 3339, set
    #: by :meth:`Database.create_collection`, reported as Qdrant's ``CollectionInfo.created_at``).
    qdrant: dict[str, Any] = field(default_factory=dict)
    #: Sparse vector spaces (Qdrant's ``sparse_vectors``), by creation order.
    sparse: tuple[SparseSpaceConfig, ...] = ()

    def __post_init__(self) -> None:
        every = [*self.spaces, *self.sparse]
        names = [s.name for s in every]
        if len(set(names)) != len(names) or len({s.id for s in every}) != len(names):
            raise ValueError("vector space names and ids must be unique")

    # -- lookup --------------------------------------------------------------------------------
    def space(self, name: str | None, field: str = "using") -> SpaceConfig:
        """The dense space called ``name`` (``None`` and ``""`` mean the unnamed vector);
        :class:`ValidationError` naming ``field`` when there is none."""
        key = name or ""
        for s in self.spaces:
            if s.name == key:
                return s
        if any(s.name == key for s in self.sparse):
            raise ValidationError(field, f"{key!r} is a sparse vector; a dense vector is needed")
        return self._missing(key, field)

    def sparse_space(self, name: str) -> SparseSpaceConfig | None:
        """The sparse space called ``name``, or None."""
        return next((s for s in self.sparse if s.name == name), None)

    def any_space(self, name: str | None, field: str = "using") -> SpaceConfig | SparseSpaceConfig:
        """The dense or sparse space called ``name`` (errors as :meth:`space`)."""
        found = self.sparse_space(name or "")
        return found if found is not None else self.space(name, field)

    def _missing(self, key: str, field: str) -> Any:
        have = ", ".join(repr(n) for n in self.names) or "none"
        if key == "":
            raise ValidationError(
                field, f"this collection has only named vectors ({have}); name one"
            )
        raise ValidationError(field, f"no vector named {key!r} in this collection; have {have}")

    @property
    def names(self) -> list[str]:
        """Names of the spaces, dense ones first, in creation order."""
        return [s.name for s in (*self.spaces, *self.sparse)]

    @property
    def next_space_id(self) -> int:
        """The storage id a new space would get."""
        return 1 + max((s.id for s in (*self.spaces, *self.sparse)), default=-1)

    @property
    def vector(self) -> SpaceConfig:
        """The unnamed space (:class:`ValidationError` for a named collection)."""
        return self.space("", "vector")

    # -- single-space conveniences (the unnamed vector; what most callers have) ----------------
    @property
    def size(self) -> int:
        """Dimension of the unnamed vector."""
        return self.vector.size

    @property
    def distance(self) -> Distance:
        """Distance of the unnamed vector."""
        return self.vector.distance

    @property
    def metric(self) -> str:
        """Index metric of the unnamed vector."""
        return self.vector.metric

    @property
    def index(self) -> IndexConfig:
        """Index of the unnamed vector."""
        return self.vector.index

    @property
    def is_multivector(self) -> bool:
        """The unnamed vector is a multi-vector."""
        return self.vector.is_multivector

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        size: int,
        distance: str | Distance = Distance.COSINE,
        index: str | None = None,
        index_params: Mapping[str, Any] | None = None,
        full_scan_threshold_kb: int = DEFAULT_FULL_SCAN_THRESHOLD_KB,
        multivector: str | None = None,
    ) -> CollectionConfig:
        """A collection of one unnamed vector from Python arguments
        (``multivector="max_sim"`` for multi-vector points)."""
        size = check_vector_size(size, "vectors.size")
        dist = Distance.parse(distance, "vectors.distance")
        comparator = parse_multivector(
            {"comparator": multivector} if multivector else None, dist, "vectors"
        )
        space = SpaceConfig(
            name="",
            id=0,
            size=size,
            distance=dist,
            index=IndexConfig.resolve(
                index, index_params, size, multivector=comparator is not None
            ),
            multivector=comparator,
            full_scan_threshold_kb=check_int_range(
                full_scan_threshold_kb, "full_scan_threshold", 1, INT64_MAX // 1024
            ),
        )
        return cls((space,))

    def with_space(self, space: SpaceConfig) -> CollectionConfig:
        """A copy with ``space`` replacing the space of the same name."""
        return replace(
            self, spaces=tuple(space if s.name == space.name else s for s in self.spaces)
        )

    # -- stored form ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON form, stored with the collection and read back by :meth:`from_stored`."""
        return {
            "format": CONFIG_FORMAT,
            "named": self.named,
            "spaces": [s.to_dict() for s in self.spaces],
            "hnsw_config": dict(self.hnsw_config),
            "qdrant": dict(self.qdrant),
            "sparse": [s.to_dict() for s in self.sparse],
        }

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> CollectionConfig:
        """Read :meth:`to_dict` output, or the schema-1 form (one unnamed vector:
        ``{"vectors": {size, distance, multivector_config}, "index", "full_scan_threshold_kb"}``),
        which becomes the unnamed space with id 0."""
        if "format" not in data:
            vectors = data["vectors"]
            space = SpaceConfig(
                name="",
                id=0,
                size=int(vectors["size"]),
                distance=Distance(vectors["distance"]),
                index=IndexConfig(data["index"]["type"], dict(data["index"]["params"])),
                multivector=(vectors.get("multivector_config") or {}).get("comparator"),
                full_scan_threshold_kb=int(
                    data.get("full_scan_threshold_kb", DEFAULT_FULL_SCAN_THRESHOLD_KB)
                ),
            )
            return cls((space,))
        if int(data["format"]) > CONFIG_FORMAT:
            raise ValueError(
                f"collection config format {data['format']} is newer than this build reads "
                f"({CONFIG_FORMAT})"
            )
        return cls(
            spaces=tuple(SpaceConfig.from_stored(s) for s in data["spaces"]),
            named=bool(data.get("named", False)),
            hnsw_config=dict(data.get("hnsw_config") or {}),
            qdrant=dict(data.get("qdrant") or {}),
            sparse=tuple(SparseSpaceConfig.from_stored(s) for s in data.get("sparse") or ()),
        )
