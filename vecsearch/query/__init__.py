"""The engine's query module: one entry point for search, search batch, query and query
batch. :mod:`~vecsearch.query.parse` turns Qdrant's request bodies into checked
:class:`~vecsearch.query.model.Query` trees; :mod:`~vecsearch.query.execute` runs them over
the collection's vector spaces. Routers translate HTTP to these calls and results back, and
hold no query logic."""

from vecsearch.query.execute import run, run_groups
from vecsearch.query.model import Fusion, Nearest, Query, Stage
from vecsearch.query.parse import MAX_PREFETCH_DEPTH, parse_query, parse_search

__all__ = [
    "MAX_PREFETCH_DEPTH",
    "Fusion",
    "Nearest",
    "Query",
    "Stage",
    "parse_query",
    "parse_search",
    "run",
    "run_groups",
]
