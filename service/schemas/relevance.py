"""Bodies of the relevance calibration routes (vecsearch extension)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    Field,
    StrictFloat,
    StrictInt,
    WithJsonSchema,
)

from service.schemas.types import POINT_ID_SCHEMA, Body, Vector


class RelevanceFit(Body):
    """Labelled queries to fit a collection's relevance model from."""

    queries: list[Vector] = Field(..., description="Query vectors (the collection's dimension).")
    relevant: list[
        Annotated[
            Any,
            WithJsonSchema(
                {
                    "anyOf": [
                        {"type": "array", "items": POINT_ID_SCHEMA},
                        {"type": "object", "additionalProperties": {"type": "number"}},
                    ],
                    "description": "Relevant point ids, or judgements {id: gain} (gain > 0, "
                    "or >= min_gain, is relevant).",
                }
            ),
        ]
    ] = Field(..., description="One entry per query.")
    min_gain: StrictFloat | StrictInt | None = Field(
        None, description="Gains at least this are relevant (default: gains > 0)."
    )
    depth: StrictInt = Field(100, description="Candidates per query (features, training).")
    folds: StrictInt = Field(5, description="Cross-validation folds for the held-out report.")
    seed: StrictInt = Field(0, description="Seed of the fold shuffles.")
    n_components: StrictInt = Field(8, description="Principal components of the queries.")
    ridge: StrictFloat | StrictInt | None = Field(
        None, description="Ridge strength (default: chosen by inner cross-validation)."
    )


class RelevanceInfo(BaseModel):
    """A fitted relevance model: description and held-out quality report."""

    format: str
    version: int
    revision: int | None = None
    depth: int
    feature_names: list[str]
    ridge: float
    meta: dict[str, Any]
    report: dict[str, Any]
