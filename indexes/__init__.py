"""vecsearch's index layer: ANN algorithms over numpy arrays with Numba hot loops.

Imports numpy and numba only; every index follows :class:`indexes.base.Index`.
"""

from indexes.base import METRICS, Index, SearchParams
from indexes.binary import BinaryIndex, BinaryParams
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
from indexes.ivfpq import IVFPQIndex, IVFPQParams
from indexes.kmeans import KMeans, KMeansResult
from indexes.pq import ProductQuantizer

__all__ = [
    "METRICS",
    "BinaryIndex",
    "BinaryParams",
    "DimensionMismatchError",
    "FlatIndex",
    "FlatParams",
    "IVFPQIndex",
    "IVFPQParams",
    "Index",
    "IndexFormatError",
    "InvalidParameterError",
    "InvalidVectorError",
    "KMeans",
    "KMeansResult",
    "NotTrainedError",
    "ProductQuantizer",
    "SearchParams",
    "UnknownIdError",
    "UnknownMetricError",
    "UnsupportedOperationError",
    "VecsearchError",
]
