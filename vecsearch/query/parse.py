"""Qdrant's search and query bodies -> :class:`~vecsearch.query.model.Query`.

Everything is checked here, before anything runs, against the collection: vector names
(``using``, the search body's ``{"name", "vector"}``), query vectors (dimension, NaN,
zero vectors under Cosine), point-id queries (the point must exist and have the vector),
filters, index parameters, limits and thresholds. Errors name the field
(``searches[2].prefetch[0].query: expected dimension 384, got 383``).

Query API subset (Qdrant's shapes):

* ``query``: a vector (or a list of vectors for a multi-vector space), a point id (its
  vector is the query; the point itself is left out of the results), or
  ``{"nearest": vector | id}``; for a sparse space a sparse vector ``{"indices",
  "values"}`` or a BM25 inference object ``{"text", "model": "qdrant/bm25"}`` (its distinct
  terms with weight 1, IDF-weighted when the space has the modifier);
* ``using``: the vector space (default: the unnamed vector), per query and per prefetch;
* ``prefetch`` (one or a list, nested up to :data:`MAX_PREFETCH_DEPTH` levels): sub-queries
  with their own ``query``, ``using``, ``filter``, ``params``, ``score_threshold`` and
  ``limit`` (default 10); the request's ``filter`` is combined (AND) with every
  prefetch's. Over the prefetches' results the query is a fusion (``{"fusion": "rrf"}``,
  ``{"rrf": {"k", "weights"}}`` or ``{"fusion": "dbsf"}``) or a nearest query that
  re-scores their union exactly;
* ``filter``, ``score_threshold`` (on raw, fused or re-scored scores),
  ``relevance_threshold`` (plain nearest queries only), ``limit`` / ``offset`` (top level),
  ``with_payload`` / ``with_vector``, ``params``.

The other query kinds (``recommend``, ``discover``, ``context``, ``order_by``, ``sample``,
``nearest`` with ``mmr``) are parsed by :mod:`vecsearch.query.kinds`; without ``query`` the
stage returns the points passing the filter (or its prefetches' points) in id order.
``lookup_from`` (``{collection, vector}``) reads by-id examples from another collection.
``with_vectors`` is accepted wherever ``with_vector`` is (Qdrant accepts both spellings).
The groups bodies (``group_by``, ``group_size``, ``with_lookup``) and the legacy recommend
and discover bodies are parsed here into the same :class:`Query`.

Rejected with 400 naming the field: ``formula`` and ``relevance_feedback`` queries,
inference objects for dense spaces, and ``shard_key``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from vecsearch.config import CollectionConfig
from vecsearch.errors import ValidationError
from vecsearch.filters import Filter, parse_filter
from vecsearch.ids import PointId
from vecsearch.models import PayloadSelector, VectorSelector
from vecsearch.payload_path import parse_path
from vecsearch.query.kinds import (
    IdVectors,
    example,
    parse_context,
    parse_discover,
    parse_lookup_from,
    parse_mmr,
    parse_order_by,
    parse_recommend,
    parse_sample,
)
from vecsearch.query.model import (
    DEFAULT_RRF_K,
    Fusion,
    Groups,
    Lookup,
    Nearest,
    Query,
    Scan,
    Stage,
    Target,
)
from vecsearch.space import VectorSpace
from vecsearch.sparse_space import SparseSpace
from vecsearch.text.bm25 import is_inference_object, parse_document, query_vector
from vecsearch.validate import check_int, check_threshold

#: Deepest nesting of prefetches accepted (Qdrant documents none; this keeps a hostile body
#: from exhausting the stack). Each prefetch's filter may nest
#: :data:`vecsearch.filters.MAX_FILTER_DEPTH` levels of its own.
MAX_PREFETCH_DEPTH = 16
_KINDS = (
    "vecsearch answers nearest (with mmr), recommend, discover, context, order_by, sample "
    "and rrf / dbsf fusion queries"
)
AnySpace = VectorSpace | SparseSpace
#: Resolves a collection name (``lookup_from``) to a collection.
Resolver = Callable[[str], Any]
_QUERY_KEYS = frozenset(
    {
        "query",
        "prefetch",
        "using",
        "filter",
        "params",
        "score_threshold",
        "relevance_threshold",
        "limit",
        "offset",
        "with_vector",
        "with_vectors",
        "with_payload",
        "lookup_from",
        "shard_key",
    }
)
GROUP_KEYS = frozenset({"group_by", "group_size", "with_lookup"})
_PREFETCH_KEYS = frozenset(
    {"query", "prefetch", "using", "filter", "params", "score_threshold", "limit", "lookup_from"}
)
_SEARCH_KEYS = frozenset(
    {
        "vector",
        "limit",
        "offset",
        "filter",
        "params",
        "score_threshold",
        "relevance_threshold",
        "with_payload",
        "with_vector",
        "with_vectors",
        "shard_key",
        "lookup_from",
    }
)


class Source(Protocol):
    """What parsing needs from a collection."""

    name: str
    config: CollectionConfig

    def space(self, name: str | None, field: str = "using") -> AnySpace: ...

    def point_vector(self, pid: PointId, using: str, field: str) -> tuple[int, np.ndarray]: ...

    def check_relevance_threshold(self, value: Any, using: str, field: str) -> float | None: ...


def _pre(field: str) -> str:
    return f"{field}." if field else ""


def _reject(body: Mapping[str, Any], key: str, field: str, what: str) -> None:
    if body.get(key) is not None:
        raise ValidationError(f"{_pre(field)}{key}", what)


def _unknown(body: Any, known: frozenset[str], field: str, what: str) -> None:
    if not isinstance(body, Mapping):
        raise ValidationError(field, f"expected a {what} object")
    extra = set(body) - known
    if extra:
        raise ValidationError(f"{_pre(field)}{sorted(extra)[0]}", f"unknown {what} field")


def _using(src: Source, value: Any, field: str) -> AnySpace:
    if value is not None and not isinstance(value, str):
        raise ValidationError(field, f"expected a vector name, got {value!r}")
    return src.space(value, field)


def _nearest(space: AnySpace | None, ids: IdVectors, value: Any, field: str) -> Nearest:
    assert space is not None  # fusion stages have no space, nearest ones always do
    if isinstance(value, int | str) and not isinstance(value, bool):
        vec, label = example(space, ids, value, field)
        return Nearest(vec, () if label is None else (label,))
    if isinstance(space, SparseSpace):
        if is_inference_object(value):
            return Nearest(query_vector(parse_document(value, field).tokens()))
        if not isinstance(value, Mapping):
            raise ValidationError(
                field,
                f"{space.name!r} is a sparse vector: expected {{indices, values}}, "
                '{"text", "model": "qdrant/bm25"} or a point id',
            )
        return Nearest(space.check_query(value, field))
    if isinstance(value, Mapping):
        if "indices" in value or "values" in value:
            raise ValidationError(
                field, "a sparse query needs a sparse vector: set using to its name"
            )
        if is_inference_object(value):
            raise ValidationError(
                field,
                "server-side inference is available for sparse vectors with model "
                "'qdrant/bm25' only; set using to a sparse vector's name",
            )
        raise ValidationError(field, "expected a vector or a point id")
    if value is None or isinstance(value, bool | float):
        raise ValidationError(field, "expected a vector or a point id")
    return Nearest(space.check_query(value, field))


def _rrf(value: Any, field: str) -> Fusion:
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise ValidationError(field, "expected an object {k, weights}")
    unknown = sorted(set(value) - {"k", "weights"})
    if unknown:
        raise ValidationError(f"{field}.{unknown[0]}", "unknown field")
    k = value.get("k")
    k = DEFAULT_RRF_K if k is None else check_int(k, f"{field}.k", minimum=1)
    if k >= 2**64:  # (1 / (k + rank) must not overflow)
        raise ValidationError(f"{field}.k", f"expected an integer below 2^64, got {k}")
    weights = value.get("weights")
    if weights is None:
        return Fusion(k)
    if isinstance(weights, str | bytes) or not isinstance(weights, Sequence):
        raise ValidationError(f"{field}.weights", "expected a list of positive numbers")
    out = []
    for i, w in enumerate(weights):
        number = isinstance(w, int | float) and not isinstance(w, bool)
        value = float(w) if number and abs(w) < 1e308 else math.nan  # (no float overflow)
        if not math.isfinite(value) or value <= 0:
            raise ValidationError(f"{field}.weights[{i}]", f"expected a positive number, got {w!r}")
        out.append(value)
    return Fusion(k, tuple(out))


def _target(
    space: AnySpace | None, ids: IdVectors | None, target: Any, field: str
) -> Target | None:
    """The parsed ``query`` (None when absent); unknown kinds are a 400 naming them."""
    if target is None:
        return None
    if not isinstance(target, Mapping) or "indices" in target or is_inference_object(target):
        assert ids is not None
        return _nearest(space, ids, target, field)
    if not target:
        raise ValidationError(field, "empty query object")
    if "nearest" in target:
        assert ids is not None
        extra = sorted(k for k, v in target.items() if k not in ("nearest", "mmr"))
        if extra:
            raise ValidationError(f"{field}.{extra[0]}", "unknown field of a nearest query")
        near = _nearest(space, ids, target["nearest"], f"{field}.nearest")
        if target.get("mmr") is None:
            return near
        return Nearest(near.vector, near.exclude, parse_mmr(target["mmr"], f"{field}.mmr"))
    if len(target) > 1:
        raise ValidationError(field, f"expected one query kind, got {sorted(target)}")
    ((kind, value),) = target.items()
    f = f"{field}.{kind}"
    if kind == "fusion":
        if value in ("rrf", "dbsf"):
            return Fusion(method=value)
        raise ValidationError(f, f"unknown fusion {value!r}; expected rrf or dbsf")
    if kind == "rrf":
        return _rrf(value, f)
    if kind == "order_by":
        return parse_order_by(value, f)
    if kind == "sample":
        return parse_sample(value, f)
    if kind in ("recommend", "discover", "context"):
        assert space is not None and ids is not None
        if kind == "recommend":
            return parse_recommend(space, ids, value, f)
        if kind == "discover":
            return parse_discover(space, ids, value, f)
        return parse_context(space, ids, value, f)
    raise ValidationError(f, f"query kind is not supported: {_KINDS}")


def _and(a: Filter | None, b: Filter | None) -> Filter | None:
    if a is None or b is None:
        return a if b is None else b
    return Filter(must=(a, b))


def _stage(
    src: Source,
    node: Mapping[str, Any],
    field: str,
    outer: Filter | None,
    depth: int,
    resolve: Resolver | None = None,
) -> Stage:
    pre = _pre(field)
    if depth > MAX_PREFETCH_DEPTH:
        raise ValidationError(
            field, f"prefetch nested deeper than {MAX_PREFETCH_DEPTH} levels (the limit)"
        )
    if depth:
        _unknown(node, _PREFETCH_KEYS, field, "prefetch")
    query = node.get("query")
    spaceless = query is None or (
        isinstance(query, Mapping) and bool({"fusion", "rrf", "order_by", "sample"} & set(query))
    )
    # fusion, order_by, sample and filter-only stages rank without vectors: no space, no
    # params (a given ``using`` must still name a vector)
    space = None if spaceless else _using(src, node.get("using"), f"{pre}using")
    if spaceless and node.get("using") is not None:
        _using(src, node.get("using"), f"{pre}using")
    flt = _and(outer, parse_filter(node.get("filter"), f"{pre}filter"))
    params, exact = (
        (None, False) if space is None else space.search_params(node.get("params"), f"{pre}params")
    )
    raw = node.get("prefetch")
    nodes = [] if raw is None else (raw if isinstance(raw, list) else [raw])
    stages = tuple(
        _stage(src, p, f"{pre}prefetch[{i}]", flt, depth + 1, resolve) for i, p in enumerate(nodes)
    )
    ids = None
    if space is not None:
        found = parse_lookup_from(node.get("lookup_from"), f"{pre}lookup_from", resolve)
        other, vector = found if found is not None else (None, None)
        ids = IdVectors(src, space.name, other, vector)
    target = _target(space, ids, query, f"{pre}query")
    if target is None and stages:
        raise ValidationError(
            f"{pre}query", "missing: give a fusion or a query that ranks the prefetched points"
        )
    if target is None:  # no query: the points passing the filter, in id order
        target = Scan()
    if isinstance(target, Fusion):
        if not stages:
            raise ValidationError(f"{pre}query", "fusion needs prefetch (the lists to fuse)")
        if target.weights is not None and len(target.weights) != len(stages):
            raise ValidationError(
                f"{pre}query.rrf.weights",
                f"expected {len(stages)} weights (one per prefetch), got {len(target.weights)}",
            )
    limit = node.get("limit")
    limit = 10 if limit is None else check_int(limit, f"{pre}limit", minimum=1)
    threshold = check_threshold(node.get("score_threshold"), f"{pre}score_threshold")
    using = "" if space is None else space.name
    return Stage(field, using, target, flt, params, exact, threshold, limit, stages)


def with_vector_of(body: Mapping[str, Any], field: str) -> tuple[Any, str]:
    """``(value, field name)`` of ``with_vector`` or its spelling ``with_vectors`` (Qdrant
    accepts both; giving both is ambiguous)."""
    pre = _pre(field)
    one, two = body.get("with_vector"), body.get("with_vectors")
    if one is not None and two is not None:
        raise ValidationError(f"{pre}with_vectors", "give with_vector or with_vectors, not both")
    return (one, f"{pre}with_vector") if two is None else (two, f"{pre}with_vectors")


def _output(body: Mapping[str, Any], field: str) -> tuple[int, PayloadSelector, VectorSelector]:
    pre = _pre(field)
    offset = body.get("offset")
    offset = 0 if offset is None else check_int(offset, f"{pre}offset", minimum=0)
    return (
        offset,
        PayloadSelector.parse(body.get("with_payload"), f"{pre}with_payload"),
        VectorSelector.parse(*with_vector_of(body, field)),
    )


def parse_query(
    src: Source, body: Mapping[str, Any], field: str = "", resolve: Resolver | None = None
) -> Query:
    """A Query API body (``POST /points/query``) as a checked :class:`Query`; ``resolve``
    looks up the collections that ``lookup_from`` names."""
    _unknown(body, _QUERY_KEYS, field, "query request")
    return _query(src, body, field, resolve)


def _query(src: Source, body: Mapping[str, Any], field: str, resolve: Resolver | None) -> Query:
    _reject(body, "shard_key", field, "is not supported (one shard)")
    stage = _stage(src, body, field, None, 0, resolve)
    rthr = body.get("relevance_threshold")
    t = stage.target
    if rthr is not None and (stage.prefetch or not isinstance(t, Nearest) or t.mmr is not None):
        raise ValidationError(
            f"{_pre(field)}relevance_threshold",
            "applies to plain nearest queries, not to prefetch, fusion or other query kinds",
        )
    rel = src.check_relevance_threshold(rthr, stage.using, f"{_pre(field)}relevance_threshold")
    return Query(stage, *_output(body, field), relevance_threshold=rel)


def parse_query_groups(
    src: Source, body: Mapping[str, Any], field: str = "", resolve: Resolver | None = None
) -> Query:
    """A groups body (``POST /points/query/groups``: a query body without ``offset``, plus
    ``group_by``, ``group_size`` (default 3), ``with_lookup``; ``limit`` counts groups)."""
    _unknown(body, (_QUERY_KEYS - {"offset"}) | GROUP_KEYS, field, "query groups request")
    groups = parse_groups(body, field)
    plain = {k: v for k, v in body.items() if k not in GROUP_KEYS}
    q = _query(src, plain, field, resolve)
    if q.relevance_threshold is not None:
        raise ValidationError(f"{_pre(field)}relevance_threshold", "is not supported with groups")
    return Query(q.stage, 0, q.with_payload, q.with_vector, groups=groups)


def parse_groups(body: Mapping[str, Any], field: str) -> Groups:
    """The ``group_by``, ``group_size`` (default 3) and ``with_lookup`` of a groups body."""
    pre = _pre(field)
    key = body.get("group_by")
    if not isinstance(key, str) or not key:
        raise ValidationError(f"{pre}group_by", "missing: give the payload key to group by")
    parse_path(key, f"{pre}group_by")
    size = body.get("group_size")
    size = 3 if size is None else check_int(size, f"{pre}group_size", minimum=1)
    lookup = body.get("with_lookup")
    if lookup is None:
        return Groups(key, size)
    lf = f"{pre}with_lookup"
    if isinstance(lookup, str):
        lookup = {"collection": lookup}
    if not isinstance(lookup, Mapping) or not isinstance(lookup.get("collection"), str):
        raise ValidationError(lf, "expected a collection name or {collection, with_payload, ...}")
    extra = sorted(set(lookup) - {"collection", "with_payload", "with_vector", "with_vectors"})
    if extra:
        raise ValidationError(f"{lf}.{extra[0]}", "unknown field")
    wp = lookup.get("with_payload")
    return Groups(
        key,
        size,
        Lookup(
            lookup["collection"],
            PayloadSelector.parse(True if wp is None else wp, f"{lf}.with_payload"),
            VectorSelector.parse(*with_vector_of(lookup, lf)),
        ),
    )


_LEGACY = frozenset(
    {
        "filter",
        "params",
        "limit",
        "offset",
        "with_payload",
        "with_vector",
        "with_vectors",
        "score_threshold",
        "using",
        "lookup_from",
        "shard_key",
    }
)
_RECOMMEND = frozenset({"positive", "negative", "strategy"})
_DISCOVER = frozenset({"target", "context"})


def legacy_query(body: Mapping[str, Any], kind: str, field: str, groups: bool = False) -> dict:
    """A legacy ``/points/recommend`` or ``/points/discover`` body (``kind``) as the
    equivalent Query API body (plus the group keys when ``groups``)."""
    own = _RECOMMEND if kind == "recommend" else _DISCOVER
    known = _LEGACY | own | (GROUP_KEYS if groups else frozenset())
    _unknown(body, known - ({"offset"} if groups else set()), field, f"{kind} request")
    out = {k: v for k, v in body.items() if k not in own and v is not None}
    inner = {k: body[k] for k in own if body.get(k) is not None}
    if kind == "discover" and "target" not in inner:
        # no target: Qdrant's discovery API does a context search with the pairs
        out["query"] = {"context": inner.get("context") or []}
        return out
    if kind == "discover" and "context" not in inner:
        inner["context"] = []
    out["query"] = {kind: inner}
    return out


def parse_search(src: Source, body: Mapping[str, Any], field: str = "") -> Query:
    """A search body (``POST /points/search``: ``vector`` is a vector, ``{"name", "vector"}``
    or ``{"": vector}``) as a checked :class:`Query`."""
    _unknown(body, _SEARCH_KEYS, field, "search request")
    pre = _pre(field)
    _reject(body, "shard_key", field, "is not supported (one shard)")
    _reject(body, "lookup_from", field, "is not used by search (its vector is given)")
    if "vector" not in body:
        raise ValidationError(f"{pre}vector", "missing")
    vector, using, vfield = body["vector"], None, f"{pre}vector"
    if isinstance(vector, Mapping):
        if set(vector) == {"name", "vector"}:
            using, vector = vector["name"], vector["vector"]
            vfield = f"{pre}vector.vector"
        elif len(vector) == 1 and "" in vector:
            vector = vector[""]
        else:
            raise ValidationError(
                f"{pre}vector", 'expected a list of numbers or {"name": ..., "vector": [...]}'
            )
    space = _using(src, using, f"{pre}vector.name" if using is not None else f"{pre}vector")
    ids = IdVectors(src, space.name)
    q = _nearest(space, ids, vector, vfield).vector if isinstance(space, SparseSpace) else None
    if q is None:
        if isinstance(vector, Mapping):
            _nearest(space, ids, vector, vfield)  # raises, saying what was wrong
        q = space.check_query(vector, vfield)
    limit = body.get("limit")
    limit = 10 if limit is None else check_int(limit, f"{pre}limit", minimum=1)
    params, exact = space.search_params(body.get("params"), f"{pre}params")
    stage = Stage(
        field,
        space.name,
        Nearest(q),
        parse_filter(body.get("filter"), f"{pre}filter"),
        params,
        exact,
        check_threshold(body.get("score_threshold"), f"{pre}score_threshold"),
        limit,
    )
    rel = src.check_relevance_threshold(
        body.get("relevance_threshold"), space.name, f"{pre}relevance_threshold"
    )
    return Query(stage, *_output(body, field), relevance_threshold=rel)
