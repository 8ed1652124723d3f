"""Loosely typed values of request bodies, validated by the engine (documented with explicit
JSON schemas), and the base class of request bodies."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    WithJsonSchema,
)

NUMBERS = {"type": "array", "items": {"type": "number"}}
SPARSE = {
    "type": "object",
    "properties": {
        "indices": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "values": {"type": "array", "items": {"type": "number"}},
    },
    "required": ["indices", "values"],
    "description": "A sparse vector: unique term indices and their values, same length.",
}
DOCUMENT = {
    "type": "object",
    "properties": {
        "text": {"type": "string"},
        "model": {"type": "string", "enum": ["qdrant/bm25", "Qdrant/bm25"]},
        "options": {"type": "object"},
    },
    "required": ["text", "model"],
    "description": "Server-side BM25: a text turned into a sparse vector (sparse spaces only).",
}
MULTI = {
    "type": "array",
    "items": NUMBERS,
    "minItems": 1,
    "description": "Multi-vector collections: a non-empty list of vectors.",
}
POINT_ID_SCHEMA = {
    "anyOf": [
        {"type": "integer", "minimum": 0, "maximum": 2**64 - 1},
        {"type": "string", "format": "uuid"},
    ],
    "description": "Point id: an unsigned 64-bit integer or a UUID.",
}

PointId = Annotated[Any, WithJsonSchema(POINT_ID_SCHEMA)]
Vector = Annotated[
    Any,
    WithJsonSchema(
        {
            "anyOf": [
                NUMBERS,
                MULTI,
                {
                    "type": "object",
                    "additionalProperties": {"anyOf": [NUMBERS, MULTI, SPARSE, DOCUMENT]},
                    "description": (
                        'Named vectors {name: vector}; "" is the unnamed vector. A point may '
                        "leave out any named vector. Sparse vectors are given by name, as "
                        "{indices, values} or a BM25 document {text, model}."
                    ),
                },
            ],
            "description": (
                "A dense vector of its space's dimension (finite numbers), a non-empty list "
                "of such vectors for a multi-vector space, or named vectors {name: vector}."
            ),
        }
    ),
]
Payload = dict[str, Any]
FilterJson = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "type": "object",
            "description": (
                "Qdrant filter: {must, should, must_not: condition or list of conditions, "
                "min_should: {conditions, min_count}}. Conditions: {key, match: {value | any | "
                "except | text | text_any | phrase | prefix | substring}}, {key, range: {gt, "
                "gte, lt, lte} (numbers or date-times)}, {key, values_count}, {key, geo_radius "
                "| geo_bounding_box | geo_polygon}, {is_empty: {key}}, {is_null: {key}}, "
                "{has_id: [ids]}, {has_vector: name}, {nested: {key, filter}}, or a nested "
                "filter."
            ),
            "properties": {
                "must": {},
                "should": {},
                "must_not": {},
                "min_should": {"type": "object"},
            },
            "additionalProperties": False,
            "example": {"must": [{"key": "genre", "match": {"value": "news"}}]},
        }
    ),
]
WithPayload = Annotated[
    Any,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "boolean"},
                {"type": "array", "items": {"type": "string"}},
                {
                    "type": "object",
                    "properties": {"include": {"type": "array", "items": {"type": "string"}}},
                    "required": ["include"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "properties": {"exclude": {"type": "array", "items": {"type": "string"}}},
                    "required": ["exclude"],
                    "additionalProperties": False,
                },
            ],
            "description": "Which payload to return: all, none, these keys, or all but these.",
        }
    ),
]
WithVector = Annotated[
    Any,
    WithJsonSchema(
        {
            "anyOf": [{"type": "boolean"}, {"type": "array", "items": {"type": "string"}}],
            "description": "Return the vectors (true), none (false), or the named ones.",
        }
    ),
]
ShardKey = Annotated[
    Any,
    WithJsonSchema({"description": "Not supported (one shard): must be absent or null."}),
]


class Body(BaseModel):
    """Request bodies reject unknown fields (422 naming the field). A deliberate difference:
    Qdrant's server ignores fields it does not know (its own REST tests send some), but
    here a misspelt or unsupported option must not silently do nothing."""

    model_config = ConfigDict(extra="forbid")
