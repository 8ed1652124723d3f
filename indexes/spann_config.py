"""SPANN's parameters, validated in one place: the build config and the per-call search knobs.

:class:`SPANNConfig` holds the build parameters of :class:`indexes.spann.SPANNIndex` (what
its constructor takes, what ``save`` writes into the manifest's ``meta`` under the same
names, and what ``load`` reads back); :class:`SPANNParams` the per-call search parameters.
See :mod:`indexes.spann` for what each means.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from indexes.base import SearchParams, check_positive_int
from indexes.errors import IndexFormatError, InvalidParameterError
from indexes.spann_codecs import CODECS


def _positive_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
        raise InvalidParameterError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not (np.isfinite(v) and v > 0):
        raise InvalidParameterError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def _at_least(name: str, value: Any, low: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= low:
        raise InvalidParameterError(f"{name} must be a number >= {low:g}, got {value!r}")
    return float(value)


def _within(name: str, value: Any, low: float, high: float, *, open_low: bool) -> float:
    ok = isinstance(value, int | float) and (low < value if open_low else low <= value)
    if not (ok and value <= high):
        bracket = "(" if open_low else "["
        raise InvalidParameterError(f"{name} must be in {bracket}{low:g}, {high:g}], got {value!r}")
    return float(value)


@dataclass(frozen=True)
class SPANNConfig:
    """Build parameters of a SPANN index (validated and normalised on construction).

    Saved as the manifest's ``meta`` entries of the same names; :meth:`from_meta` reads them
    back (saves from before the codec option have no ``codec``: float32)."""

    head_ratio: float = 0.02
    replica_count: int = 8
    rng_factor: float = 1.0
    closure_ratio: float = 4.0
    posting_vector_limit: int = 256
    build_candidates: int = 64
    reassign_candidates: int = 8
    branching: int = 16
    head_M: int = 16
    head_ef_construction: int = 200
    slack: float = 0.25
    max_train_points: int = 100_000
    chunk_rows: int = 65_536
    kmeans_iter: int = 10
    compact_fraction: float = 0.2
    seed: int = 0
    codec: str = "float32"

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise InvalidParameterError(f"codec must be one of {tuple(CODECS)}, got {self.codec!r}")
        put = object.__setattr__  # frozen: store the normalised values, once
        put(self, "head_ratio", _within("head_ratio", self.head_ratio, 0.0, 1.0, open_low=True))
        put(self, "replica_count", check_positive_int("replica_count", self.replica_count))
        if self.replica_count > 255:
            raise InvalidParameterError("replica_count must be at most 255")
        put(self, "rng_factor", _positive_float("rng_factor", self.rng_factor))
        put(self, "closure_ratio", _at_least("closure_ratio", self.closure_ratio, 1.0))
        limit = check_positive_int("posting_vector_limit", self.posting_vector_limit)
        if limit < 4:
            raise InvalidParameterError("posting_vector_limit must be at least 4")
        put(self, "posting_vector_limit", limit)
        put(self, "build_candidates", check_positive_int("build_candidates", self.build_candidates))
        put(
            self,
            "reassign_candidates",
            check_positive_int("reassign_candidates", self.reassign_candidates),
        )
        put(self, "branching", check_positive_int("branching", self.branching))
        if self.branching < 2:
            raise InvalidParameterError("branching must be at least 2")
        put(self, "head_M", check_positive_int("head_M", self.head_M))
        put(
            self,
            "head_ef_construction",
            check_positive_int("head_ef_construction", self.head_ef_construction),
        )
        put(self, "slack", _within("slack", self.slack, 0.0, 10.0, open_low=False))
        put(self, "max_train_points", check_positive_int("max_train_points", self.max_train_points))
        put(self, "chunk_rows", check_positive_int("chunk_rows", self.chunk_rows))
        put(self, "kmeans_iter", check_positive_int("kmeans_iter", self.kmeans_iter))
        put(
            self,
            "compact_fraction",
            _within("compact_fraction", self.compact_fraction, 0.0, 1.0, open_low=True),
        )
        put(self, "seed", int(self.seed))

    def to_meta(self) -> dict[str, Any]:
        """The manifest entries (plain JSON values)."""
        return asdict(self)

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> SPANNConfig:
        """The config saved in a manifest's ``meta`` (other entries are ignored); every
        parameter must be there but ``codec``, which saves before that option lack."""
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in meta and n != "codec"]
        if missing:
            raise IndexFormatError(f"the manifest lacks build parameters {missing}")
        return cls(**{n: meta[n] for n in names if n in meta})


@dataclass(frozen=True, slots=True)
class SPANNParams(SearchParams):
    """Per-call SPANN search parameters.

    ``n_probe``: heads asked of the head index (SPTAG's SearchInternalResultNum), i.e. the
    most postings read. ``max_dist_ratio``: probe only heads whose squared distance is at most
    this times the closest head's (SPTAG's MaxDistRatio; ``inf`` disables pruning).
    ``ef_heads``: head-index beam width (default ``max(2 * n_probe, 64)``).
    ``oversampling`` (``codec="binary"`` only; ignored by float32): candidates kept by code
    score, ``ceil(oversampling * k)``, then rescored exactly with their float vectors.
    """

    n_probe: int = 32
    max_dist_ratio: float = 8.0
    ef_heads: int | None = None
    oversampling: float = 8.0

    def __post_init__(self) -> None:
        check_positive_int("n_probe", self.n_probe)
        o = self.oversampling
        if isinstance(o, bool) or not isinstance(o, int | float) or not (1.0 <= o <= 1000.0):
            raise InvalidParameterError(f"oversampling must be a number in [1, 1000], got {o!r}")
        if self.ef_heads is not None:
            check_positive_int("ef_heads", self.ef_heads)
        r = self.max_dist_ratio
        if isinstance(r, bool) or not isinstance(r, int | float) or not r >= 1.0:
            raise InvalidParameterError(f"max_dist_ratio must be a number >= 1, got {r!r}")
