"""vecsearch's index layer: ANN algorithms over numpy arrays with Numba hot loops.

Imports numpy and numba only; every index follows :class:`indexes.base.Index`.

OpenMP threads wait passively unless the caller chose otherwise: Numba's OpenMP threading
layer shares the cores with OpenBLAS (and, in benchmarks, faiss's libgomp), and spinning idle
OpenMP threads slowed batch search 2.5x on a 2-core machine (measured by the harness, see
``bench/__init__.py``). It must be set before an OpenMP runtime loads, hence here. For the
same reason OpenBLAS's threads spin only briefly after a call (``OPENBLAS_THREAD_TIMEOUT``;
effective when this package is imported before numpy first loads OpenBLAS).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")


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
from indexes.hnsw import HNSWIndex, HNSWParams
from indexes.ivfpq import IVFPQIndex, IVFPQParams
from indexes.kmeans import KMeans, KMeansResult
from indexes.pq import ProductQuantizer
from indexes.spann import SPANNIndex, SPANNParams

__all__ = [
    "METRICS",
    "BinaryIndex",
    "BinaryParams",
    "DimensionMismatchError",
    "FlatIndex",
    "FlatParams",
    "HNSWIndex",
    "HNSWParams",
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
    "SPANNIndex",
    "SPANNParams",
    "SearchParams",
    "UnknownIdError",
    "UnknownMetricError",
    "UnsupportedOperationError",
    "VecsearchError",
]
