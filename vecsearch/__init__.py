"""vecsearch's engine: collections, durable storage, filters, relevance and the CLI.

Depends on :mod:`indexes`; never imports the service layer or FastAPI.

Entry points: :class:`Database` (a data directory of collections), :class:`Collection`
(Qdrant's point operations and queries over named vector spaces), :class:`CollectionConfig`,
:func:`parse_filter`, and the error classes in :mod:`vecsearch.errors`.
"""

__version__ = "0.1.0"

from vecsearch.collection import Collection
from vecsearch.config import CollectionConfig, Distance
from vecsearch.database import Database
from vecsearch.filters import Filter, parse_filter
from vecsearch.models import Record, ScoredPoint, UpdateResult

__all__ = [
    "Collection",
    "CollectionConfig",
    "Database",
    "Distance",
    "Filter",
    "Record",
    "ScoredPoint",
    "UpdateResult",
    "__version__",
    "parse_filter",
]
