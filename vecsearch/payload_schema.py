"""Payload index definitions: Qdrant's ``field_schema`` checked, stored and shown.

``field_schema`` is a type name (``"keyword"``, ``"integer"``, ``"float"``, ``"bool"``,
``"geo"``, ``"text"``, ``"datetime"``, ``"uuid"``) or a params object ``{"type": ..., ...}``
with the members Qdrant 1.20 accepts for that type:

* every type: ``on_disk``, ``memory`` (``cold`` | ``cached`` | ``pinned``), ``enable_hnsw``
  (accepted; vecsearch keeps payload indexes in memory and has no payload-aware HNSW links);
* ``keyword``: ``is_tenant``, ``prefix``; ``uuid``: ``is_tenant``; ``integer``, ``float``,
  ``datetime``: ``is_principal`` (accepted, no effect on storage);
* ``integer``: ``lookup``, ``range`` (each default true; both false is refused, as in
  Qdrant; a disabled ability is answered by reading payloads instead);
* ``text``: ``tokenizer``, ``min_token_len``, ``max_token_len``, ``lowercase``,
  ``ascii_folding``, ``phrase_matching``, ``stopwords``, ``stemmer`` (see
  :mod:`vecsearch.text.tokenizers`); ``scoring`` (BM25 ranking over the field) is refused
  as not supported unless false.

``nested`` (index array elements as separate entries) is refused as not supported. Unknown
members are refused. Definitions are stored as the bare type name when given so (the
pre-params store format, still read) and as the params object's JSON otherwise; collection
info shows ``{"data_type", "params"?, "points"}`` as Qdrant does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vecsearch.errors import ValidationError
from vecsearch.text.tokenizers import TextOptions, parse_text_options

SCHEMAS = ("keyword", "integer", "float", "bool", "geo", "text", "datetime", "uuid")
_COMMON = {"type", "on_disk", "memory", "enable_hnsw", "nested"}
_MEMBERS: dict[str, set[str]] = {
    "keyword": _COMMON | {"is_tenant", "prefix"},
    "integer": _COMMON | {"lookup", "range", "is_principal"},
    "float": _COMMON | {"is_principal"},
    "bool": set(_COMMON),
    "geo": set(_COMMON),
    "datetime": _COMMON | {"is_principal"},
    "uuid": _COMMON | {"is_tenant"},
    "text": _COMMON
    | {
        "tokenizer",
        "min_token_len",
        "max_token_len",
        "lowercase",
        "ascii_folding",
        "phrase_matching",
        "stopwords",
        "stemmer",
        "scoring",
    },
}
_FLAGS = ("on_disk", "enable_hnsw", "is_tenant", "prefix", "lookup", "range", "is_principal")
_MEMORY = ("cold", "cached", "pinned")


@dataclass(frozen=True)
class IndexSpec:
    """A checked payload index definition."""

    type: str
    #: Qdrant's params object as given (``None`` members dropped), ``None`` for a bare name.
    params: dict[str, Any] | None = None

    @property
    def lookup(self) -> bool:
        """Whether an integer index answers ``match`` (Qdrant's ``lookup``, default true)."""
        return (self.params or {}).get("lookup", True) is not False

    @property
    def range(self) -> bool:
        """Whether an integer index answers ``range`` (Qdrant's ``range``, default true)."""
        return (self.params or {}).get("range", True) is not False

    @property
    def text_options(self) -> TextOptions:
        """Tokenization of a text index."""
        return parse_text_options(self.params or {}, "field_schema")

    def stored(self) -> str:
        """The store's form: the bare type name, or the params object's JSON."""
        return self.type if self.params is None else json.dumps(self.params, sort_keys=True)

    def info(self, points: int) -> dict[str, Any]:
        """Qdrant's ``PayloadIndexInfo``."""
        out: dict[str, Any] = {"data_type": self.type}
        if self.params is not None:
            out["params"] = dict(self.params)
        out["points"] = points
        return out


def parse_index_spec(schema: Any, field: str = "field_schema") -> IndexSpec:
    """Check a ``field_schema`` (a type name or a params object); errors name the member."""
    if isinstance(schema, IndexSpec):
        return schema
    if isinstance(schema, str):
        if schema not in SCHEMAS:
            raise ValidationError(
                field, f"unknown payload index type {schema!r}; expected one of {SCHEMAS}"
            )
        return IndexSpec(schema)
    if not isinstance(schema, Mapping):
        raise ValidationError(field, f"expected a type name or a params object, got {schema!r}")
    kind = schema.get("type")
    if kind not in SCHEMAS:
        raise ValidationError(
            f"{field}.type", f"unknown payload index type {kind!r}; expected one of {SCHEMAS}"
        )
    params = {k: v for k, v in schema.items() if v is not None}
    unknown = sorted(set(params) - _MEMBERS[kind])
    if unknown:
        raise ValidationError(f"{field}.{unknown[0]}", f"unknown member of a {kind} index")
    for name in _FLAGS:
        if name in params and not isinstance(params[name], bool):
            raise ValidationError(
                f"{field}.{name}", f"expected true or false, got {params[name]!r}"
            )
    if "memory" in params and params["memory"] not in _MEMORY:
        raise ValidationError(f"{field}.memory", f"expected one of {_MEMORY}")
    if "nested" in params:
        raise ValidationError(f"{field}.nested", "nested payload indexes are not supported")
    if kind == "integer" and params.get("lookup") is False and params.get("range") is False:
        raise ValidationError(field, "an integer index needs lookup or range: both cannot be false")
    if kind == "text":
        scoring = params.get("scoring")
        if scoring is not None and scoring is not False:
            raise ValidationError(
                f"{field}.scoring", "BM25 scoring of text indexes is not supported"
            )
        parse_text_options(params, field)
    return IndexSpec(kind, params)


def load_index_spec(stored: str) -> IndexSpec:
    """An index definition as the store holds it (a bare name, or a params object's JSON)."""
    if stored.startswith("{"):
        return parse_index_spec(json.loads(stored))
    return IndexSpec(stored)
