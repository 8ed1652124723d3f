"""The read entry points of a collection that go through the engine's query module:
search, search batch, query, query batch, the legacy recommend / discover bodies and the
groups routes (:class:`QueryMethods`, a mixin of :class:`vecsearch.collection.Collection`).

They parse a body into checked :class:`~vecsearch.query.Query` objects against the
collection (``self`` is the query module's ``Source`` and ``Reader``) and run them; the
query language itself lives in :mod:`vecsearch.query`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from vecsearch.errors import ValidationError
from vecsearch.models import ScoredPoint
from vecsearch.query import Query, parse_query, parse_search, run, run_groups
from vecsearch.query.execute import Control
from vecsearch.query.parse import Resolver
from vecsearch.query.requests import group_answers, parse_group_request, parse_request


class QueryMethods:
    """Search and query methods (mixed into the collection, which provides what
    :mod:`vecsearch.query.parse` and :mod:`vecsearch.query.execute` read)."""

    def query(
        self, body: Mapping[str, Any] | Query, resolve: Resolver | None = None
    ) -> list[ScoredPoint]:
        """Qdrant's Query API (``POST /points/query``; see :mod:`vecsearch.query.parse`);
        ``resolve`` maps collection names to collections (``lookup_from``)."""
        q = body if isinstance(body, Query) else parse_query(self, body, "", resolve)
        return run(self, [q])[0]

    def query_batch(
        self,
        bodies: Sequence[Mapping[str, Any] | Query],
        field: str = "searches",
        resolve: Resolver | None = None,
        kind: str = "query",
        control: Control | None = None,
    ) -> list[list[ScoredPoint]]:
        """Several read requests of ``kind`` (``query``, ``recommend``, ``discover``; see
        :mod:`vecsearch.query.requests`), every one checked before any runs; one lock for
        the batch. Errors name ``field[i]`` (``field=""``: a single request, errors name its
        fields). ``control`` can stop the batch between searches
        (:class:`~vecsearch.query.execute.Control`)."""
        parse = functools.partial(parse_request, kind=kind, resolve=resolve)
        return run(self, self._parse_batch(bodies, parse, field), control)

    def query_groups(
        self,
        body: Mapping[str, Any],
        resolve: Resolver | None = None,
        kind: str = "query",
        control: Control | None = None,
    ) -> list[dict[str, Any]]:
        """A grouped read of ``kind`` (``/points/{query,search,recommend}/groups``): Qdrant's
        ``PointGroup`` objects, best group first."""
        q = parse_group_request(self, body, "", kind=kind, resolve=resolve)
        assert q.groups is not None
        return group_answers(run_groups(self, [q], control)[0], q.groups, resolve)

    def search(
        self,
        vector: Any,
        limit: int = 10,
        offset: int = 0,
        filter: Any = None,
        params: Mapping[str, Any] | None = None,
        score_threshold: float | None = None,
        with_payload: Any = False,
        with_vector: Any = False,
        relevance_threshold: float | None = None,
        using: str | None = None,
    ) -> list[ScoredPoint]:
        """The ``limit`` best points for ``vector`` in space ``using`` after skipping
        ``offset``, best first.

        ``params``: ``{"exact": true}`` for exact search, and per-call index parameters
        (``hnsw_ef`` / ``ef``, ``nprobe``, ...). ``filter``: Qdrant filter JSON or a parsed
        :class:`Filter`. ``k`` results come back whenever ``k`` points pass the filter.
        ``relevance_threshold`` (needs a fitted relevance model) drops hits whose calibrated
        relevance is below it, so fewer than ``limit`` (or no) hits may come back.
        """
        body = {
            "vector": vector if using is None else {"name": using, "vector": vector},
            "limit": limit,
            "offset": offset,
            "filter": filter,
            "params": params,
            "score_threshold": score_threshold,
            "with_payload": with_payload,
            "with_vector": with_vector,
            "relevance_threshold": relevance_threshold,
        }
        return run(self, [parse_search(self, body)])[0]

    def search_batch(
        self,
        requests: Sequence[Mapping[str, Any] | Query],
        field: str = "searches",
        control: Control | None = None,
    ) -> list[list[ScoredPoint]]:
        """Several searches (Qdrant's search bodies); every request is validated before any
        runs, so one bad request fails the batch. ``control``: as for :meth:`query_batch`."""
        return run(self, self._parse_batch(requests, parse_search, field), control)

    def _parse_batch(self, bodies: Any, parse: Callable[..., Query], field: str) -> list[Query]:
        if isinstance(bodies, Mapping) or not isinstance(bodies, Sequence):
            raise ValidationError(field, "expected a list of requests")
        return [
            b if isinstance(b, Query) else parse(self, b, f"{field}[{i}]" if field else "")
            for i, b in enumerate(bodies)
        ]
