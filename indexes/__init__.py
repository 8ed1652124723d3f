"""vecsearch's index layer: ANN algorithms over numpy arrays with Numba hot loops.

Imports numpy and numba only; every index follows :class:`indexes.base.Index`.
"""

from indexes.base import METRICS, Index, SearchParams
from indexes.errors import (
    DimensionMismatchError,
    IndexFormatError,
    InvalidParameterError,
    InvalidVectorError,
    NotTrainedError,
    UnknownIdError,
    UnknownMetricError,
    UnsupportedOperationError,
    VecsearchError,
)
from indexes.flat import FlatIndex, FlatParams
from indexes.hnsw import HNSWIndex, HNSWParams

__all__ = [
    "METRICS",
    "DimensionMismatchError",
    "FlatIndex",
    "FlatParams",
    "HNSWIndex",
    "HNSWParams",
    "Index",
    "IndexFormatError",
    "InvalidParameterError",
    "InvalidVectorError",
    "NotTrainedError",
    "SearchParams",
    "UnknownIdError",
    "UnknownMetricError",
    "UnsupportedOperationError",
    "VecsearchError",
]
