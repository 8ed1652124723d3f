"""Boundary checks for request values: vectors, payloads, limits. Each error names its field.

Validation happens before anything is written, so a rejected request changes nothing.

Vectors must be finite in float32; outside Cosine (whose vectors are normalised) a vector's
Euclidean norm may be at most :data:`MAX_VECTOR_NORM`, stored or query alike, so that no score
can overflow float32 (a dot product is at most ``norm(q) * norm(v)`` = 1e30, a squared
distance at most ``(norm(q) + norm(v))**2`` = 4e30, and sums of them over the vectors of a
multi-vector stay finite too; float32 ends at 3.4e38). Qdrant stores such vectors and then
answers ``"score": null``; refusing them at the door keeps every score a number.

Payloads must nest at most :data:`~vecsearch.json_limits.MAX_PAYLOAD_DEPTH` levels, hold
valid Unicode (no lone surrogates) and 64-bit integers: see :mod:`vecsearch.json_limits`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from vecsearch.errors import ValidationError, VectorDimensionError, VectorValueError
from vecsearch.json_limits import (
    INT_RANGE,
    MAX_PAYLOAD_DEPTH,
    json_depth,
    lone_surrogate_path,
    lone_surrogate_reason,
    may_hold_wide_int,
    wide_int_path,
)

#: Largest Euclidean norm of a vector outside Cosine spaces (and of a sparse vector's values).
MAX_VECTOR_NORM = 1e15
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_NOT_FINITE = "contains NaN or infinity (or exceeds float32 range)"


def norm_reason(norm: float) -> str:
    """The error reason for a vector whose norm exceeds :data:`MAX_VECTOR_NORM`."""
    return (
        f"vector norm {norm:.3g} exceeds the limit {MAX_VECTOR_NORM:.0e} (outside Cosine, "
        "larger vectors could make scores overflow float32); scale the vectors down"
    )


def unwrap_vector(v: Any, field: str) -> Any:
    """Accept ``{"": [...]}`` (the unnamed vector by name); named vectors are not supported."""
    if isinstance(v, Mapping):
        if set(v) == {""}:
            return v[""]
        raise ValidationError(field, "named vectors are not supported; send a list of numbers")
    return v


def check_vectors(
    vectors: Any, dim: int, field_of: Callable[[int], str], *, cosine: bool
) -> np.ndarray:
    """Validate rows and return them as float32 ``(n, dim)`` (unit-normalised for cosine).

    ``field_of(i)`` names row ``i`` in errors (``points[3].vector``).
    """
    if isinstance(vectors, np.ndarray):
        if vectors.ndim != 2 or vectors.shape[1] != dim:
            got = vectors.shape[1] if vectors.ndim == 2 else vectors.shape
            raise VectorDimensionError(field_of(0), f"expected dimension {dim}, got {got}")
        if not (np.issubdtype(vectors.dtype, np.number) and not np.iscomplexobj(vectors)):
            raise ValidationError(field_of(0), f"vectors must be real numbers, not {vectors.dtype}")
        rows = vectors
    else:
        if isinstance(vectors, str | bytes) or not isinstance(vectors, Sequence):
            raise ValidationError(field_of(0), "expected a list of vectors")
        for i, v in enumerate(vectors):
            if isinstance(v, np.ndarray):
                if v.ndim != 1 or v.shape[0] != dim:
                    raise VectorDimensionError(
                        field_of(i), f"expected dimension {dim}, got {v.shape}"
                    )
                continue
            if isinstance(v, str | bytes) or not isinstance(v, Sequence):
                raise ValidationError(field_of(i), "expected a list of numbers")
            if len(v) != dim:
                raise VectorDimensionError(field_of(i), f"expected dimension {dim}, got {len(v)}")
            for x in v:
                if isinstance(x, bool) or not isinstance(x, int | float | np.number):
                    raise ValidationError(field_of(i), f"expected numbers, got {x!r}")
                if isinstance(x, int) and abs(x) > _FLOAT32_MAX:  # (float() could overflow)
                    raise VectorValueError(field_of(i), _NOT_FINITE)
        rows = np.asarray(vectors, dtype=np.float64).reshape(len(vectors), dim)
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.ascontiguousarray(rows, dtype=np.float32)
    finite = np.isfinite(out).all(axis=1)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise VectorValueError(field_of(i), _NOT_FINITE)
    if not out.shape[0]:
        return out
    norms = np.sqrt(np.einsum("ij,ij->i", out, out, dtype=np.float64))
    if not cosine:
        big = norms > MAX_VECTOR_NORM
        if big.any():
            i = int(np.flatnonzero(big)[0])
            raise VectorValueError(field_of(i), norm_reason(float(norms[i])))
        return out
    if not (norms > 0).all():
        i = int(np.flatnonzero(~(norms > 0))[0])
        raise VectorValueError(field_of(i), "zero vector cannot be used with Cosine distance")
    return np.ascontiguousarray(out / norms[:, None], dtype=np.float32)


def check_query(vector: Any, dim: int, field: str, *, cosine: bool) -> np.ndarray:
    """One query vector as float32 ``(dim,)`` (normalised for cosine)."""
    v = unwrap_vector(vector, field)
    if isinstance(v, np.ndarray) and v.ndim == 1:
        return check_vectors(v.reshape(1, -1), dim, lambda i: field, cosine=cosine)[0]
    return check_vectors([v], dim, lambda i: field, cosine=cosine)[0]


def payload_json(payload: Any, field: str) -> str:
    """Serialise a payload object (``None`` is ``{}``); reject non-objects, NaN, bad keys."""
    if payload is None:
        return "{}"
    if not isinstance(payload, Mapping):
        raise ValidationError(field, f"expected a JSON object, got {type(payload).__name__}")
    try:
        text = json.dumps(payload, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except RecursionError:
        raise ValidationError(field, _depth_reason()) from None
    except (TypeError, ValueError) as exc:
        raise ValidationError(field, f"not valid JSON: {exc}") from None
    if json_depth(text, MAX_PAYLOAD_DEPTH) > MAX_PAYLOAD_DEPTH:
        raise ValidationError(field, _depth_reason())
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            found = lone_surrogate_path(payload, field)
            path, what = found if found is not None else (field, "a string")
            raise ValidationError(path, lone_surrogate_reason(what)) from None
    if may_hold_wide_int(text) and (wide := wide_int_path(payload, field)) is not None:
        lo, hi = INT_RANGE
        raise ValidationError(
            wide[0],
            f"integer {wide[1]} is outside the 64-bit range [{lo}, {hi}] (send it as a "
            "float or a string)",
        )
    return text


def _depth_reason() -> str:
    return (
        f"payload nested deeper than {MAX_PAYLOAD_DEPTH} levels of objects and arrays "
        "(the limit; the payload object is level 1)"
    )


def check_int(value: Any, field: str, *, minimum: int) -> int:
    """An integer >= ``minimum`` (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValidationError(field, f"expected an integer >= {minimum}, got {value!r}")
    return int(value)


def check_threshold(value: Any, field: str = "score_threshold") -> float | None:
    """A finite number or ``None``."""
    if value is None:
        return None
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not abs(value) <= sys.float_info.max:  # (no overflow on huge integers)
        raise ValidationError(field, f"expected a finite number, got {value!r}")
    return float(value)


def check_multivectors(
    sets: Any, dim: int, field_of: Callable[[int], str], *, cosine: bool
) -> list[np.ndarray]:
    """Validate multi-vector points: each a non-empty list of ``dim``-dimensional vectors.

    Returns float32 ``(m_i, dim)`` arrays (every vector unit-normalised for cosine). Errors
    name the point, and the vector within it (``points[3].vector[1]``).
    """
    if isinstance(sets, str | bytes) or not isinstance(sets, Sequence | np.ndarray):
        raise ValidationError(field_of(0), "expected a list of multi-vectors")
    return [check_multivector(s, dim, field_of(i), cosine=cosine) for i, s in enumerate(sets)]


def check_multivector(value: Any, dim: int, field: str, *, cosine: bool) -> np.ndarray:
    """One multi-vector (a point's or a query's) as float32 ``(m, dim)``, ``m >= 1``."""
    v = unwrap_vector(value, field)
    if isinstance(v, np.ndarray):
        if v.ndim != 2:
            raise ValidationError(field, f"expected a list of vectors (m, {dim}), got {v.shape}")
    elif isinstance(v, str | bytes) or not isinstance(v, Sequence):
        raise ValidationError(field, "expected a list of vectors (multi-vector collection)")
    if len(v) == 0:
        raise ValidationError(field, "empty multi-vector; give at least one vector")
    if not isinstance(v, np.ndarray) and not isinstance(v[0], Sequence | np.ndarray):
        raise ValidationError(
            field, "expected a list of vectors, got a single vector (multi-vector collection)"
        )
    return check_vectors(v, dim, lambda j: f"{field}[{j}]", cosine=cosine)
