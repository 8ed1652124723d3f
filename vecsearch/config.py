"""Collection configuration: vector size, distance (Qdrant's names), index type and parameters.

:meth:`CollectionConfig.from_dict` reads Qdrant's create-collection body::

    {"vectors": {"size": 384, "distance": "Cosine"},
     "hnsw_config": {"m": 16, "ef_construct": 200},          # optional, Qdrant's
     "index": {"type": "hnsw", "params": {"M": 32}}}         # optional, vecsearch's extension

Qdrant fields that do not apply to an embedded single-node engine (``shard_number``,
``optimizers_config``, ``wal_config``...) are accepted and ignored. Only one unnamed vector
per point is supported (no named or sparse vectors). That vector may be a multi-vector:
``"vectors": {"size": 384, "distance": "Cosine", "multivector_config": {"comparator":
"max_sim"}}`` makes every point (and query) a list of ``size``-dimensional vectors, scored by
MaxSim (sum over query vectors of the best Cosine/Dot similarity among the point's vectors),
indexed by MUVERA (index type ``muvera``, :class:`indexes.muvera.MuveraIndex`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vecsearch.errors import ValidationError
from vecsearch.registry import default_index_type, get_index_type

#: Qdrant create-collection fields that are accepted and have no effect here.
IGNORED_QDRANT_FIELDS = frozenset(
    {
        "shard_number",
        "sharding_method",
        "replication_factor",
        "write_consistency_factor",
        "on_disk_payload",
        "optimizers_config",
        "wal_config",
        "quantization_config",
        "init_from",
        "strict_mode_config",
        "sparse_vectors",
        "metadata",
        "timeout",
    }
)
#: Default of Qdrant's ``full_scan_threshold`` (KB of vectors below which search is exact).
DEFAULT_FULL_SCAN_THRESHOLD_KB = 10_000


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
                f"{'multi' if itype.multivector else 'single'}-vector points; this collection "
                f"has {'multi' if multivector else 'single'}-vector points"
                + (" (use 'muvera')" if multivector else " (multivector_config not set)"),
            )
        return cls(name, itype.build_params(dim, params, f"{field}.params"))


@dataclass(frozen=True)
class CollectionConfig:
    """Everything fixed at collection creation."""

    size: int
    distance: Distance
    index: IndexConfig
    #: Filtered searches allowing fewer than this many KB of vectors run exactly.
    full_scan_threshold_kb: int = DEFAULT_FULL_SCAN_THRESHOLD_KB
    #: ``"max_sim"`` when points are lists of vectors (Qdrant's ``multivector_config``).
    multivector: str | None = None

    @property
    def is_multivector(self) -> bool:
        """Points and queries are lists of vectors, scored by MaxSim."""
        return self.multivector is not None

    def __post_init__(self) -> None:
        get_index_type(self.index.type).check_metric(self.metric)

    @property
    def metric(self) -> str:
        """Index-layer metric name."""
        return self.distance.metric

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
        """Validated configuration from Python arguments (``multivector="max_sim"`` for
        multi-vector points)."""
        size = _positive_int(size, "vectors.size")
        dist = Distance.parse(distance, "vectors.distance")
        comparator = _multivector({"comparator": multivector} if multivector else None, dist)
        return cls(
            size=size,
            distance=dist,
            index=IndexConfig.resolve(
                index, index_params, size, multivector=comparator is not None
            ),
            full_scan_threshold_kb=_positive_int(full_scan_threshold_kb, "full_scan_threshold"),
            multivector=comparator,
        )

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> CollectionConfig:
        """Validated configuration from a Qdrant-style create-collection body (see module doc)."""
        if not isinstance(body, Mapping):
            raise ValidationError("", "collection config must be a JSON object")
        unknown = set(body) - {"vectors", "hnsw_config", "index"} - IGNORED_QDRANT_FIELDS
        if unknown:
            raise ValidationError(sorted(unknown)[0], "unknown collection config field")
        vectors = body.get("vectors")
        if not isinstance(vectors, Mapping):
            raise ValidationError("vectors", "expected an object {size, distance}")
        if "size" not in vectors and len(vectors) == 1:
            raise ValidationError("vectors", "named vectors are not supported; use one vector")
        extra = set(vectors) - {
            "size",
            "distance",
            "on_disk",
            "hnsw_config",
            "quantization_config",
            "multivector_config",
            "datatype",
        }
        if extra:
            raise ValidationError(f"vectors.{sorted(extra)[0]}", "unknown vector config field")
        if vectors.get("datatype") not in (None, "float32"):
            raise ValidationError("vectors.datatype", "only float32 vectors are supported")
        size = _positive_int(vectors.get("size"), "vectors.size")
        distance = Distance.parse(vectors.get("distance"), "vectors.distance")
        comparator = _multivector(vectors.get("multivector_config"), distance)

        index = body.get("index")
        hnsw_cfg = body.get("hnsw_config") or vectors.get("hnsw_config")
        if index is not None and not isinstance(index, Mapping):
            raise ValidationError("index", "expected an object {type, params}")
        index_type = index.get("type") if index else None
        params: dict[str, Any] = {}
        threshold = DEFAULT_FULL_SCAN_THRESHOLD_KB
        if hnsw_cfg is not None:
            if not isinstance(hnsw_cfg, Mapping):
                raise ValidationError("hnsw_config", "expected an object")
            if hnsw_cfg.get("full_scan_threshold") is not None:
                threshold = hnsw_cfg["full_scan_threshold"]
            resolved_type = index_type or default_index_type(comparator is not None)
            if resolved_type in ("hnsw", "muvera"):  # muvera: HNSW over the encodings
                params.update({k: v for k, v in hnsw_cfg.items() if k in ("m", "ef_construct")})
        if index and index.get("params") is not None:
            if not isinstance(index["params"], Mapping):
                raise ValidationError("index.params", "expected an object")
            params.update(index["params"])
        if index and set(index) - {"type", "params"}:
            raise ValidationError(
                f"index.{sorted(set(index) - {'type', 'params'})[0]}",
                "unknown field; expected type and params",
            )
        return cls(
            size=size,
            distance=distance,
            index=IndexConfig.resolve(index_type, params, size, multivector=comparator is not None),
            full_scan_threshold_kb=_positive_int(threshold, "hnsw_config.full_scan_threshold"),
            multivector=comparator,
        )

    def vectors_dict(self) -> dict[str, Any]:
        """Qdrant's ``vectors`` object of this collection."""
        out: dict[str, Any] = {"size": self.size, "distance": self.distance.value}
        if self.multivector is not None:
            out["multivector_config"] = {"comparator": self.multivector}
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON form, stored with the collection and read back by :meth:`from_stored`."""
        return {
            "vectors": self.vectors_dict(),
            "index": {"type": self.index.type, "params": dict(self.index.params)},
            "full_scan_threshold_kb": self.full_scan_threshold_kb,
        }

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> CollectionConfig:
        """Read :meth:`to_dict` output without importing the index module (the type may be
        unavailable in this build; opening the collection then fails with a clear error)."""
        return cls(
            size=int(data["vectors"]["size"]),
            distance=Distance(data["vectors"]["distance"]),
            index=IndexConfig(data["index"]["type"], dict(data["index"]["params"])),
            full_scan_threshold_kb=int(
                data.get("full_scan_threshold_kb", DEFAULT_FULL_SCAN_THRESHOLD_KB)
            ),
            multivector=(data["vectors"].get("multivector_config") or {}).get("comparator"),
        )


def _positive_int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValidationError(field, f"expected a positive integer, got {value!r}")
    return int(value)


def _multivector(cfg: Any, distance: Distance) -> str | None:
    """The MaxSim comparator of a ``multivector_config`` (``None``: single vectors)."""
    if cfg is None:
        return None
    field = "vectors.multivector_config"
    if not isinstance(cfg, Mapping):
        raise ValidationError(field, 'expected an object {"comparator": "max_sim"}')
    if set(cfg) - {"comparator"}:
        raise ValidationError(f"{field}.{sorted(set(cfg) - {'comparator'})[0]}", "unknown field")
    comparator = cfg.get("comparator")
    if not isinstance(comparator, str) or comparator.lower() != "max_sim":
        raise ValidationError(
            f"{field}.comparator", f"unsupported comparator {comparator!r}; expected max_sim"
        )
    if distance is Distance.EUCLID:
        raise ValidationError(
            "vectors.distance", "multi-vector (MaxSim) collections support Cosine or Dot"
        )
    return "max_sim"
