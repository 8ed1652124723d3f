"""Engine errors with stable codes.

Every error the engine raises on purpose derives from :class:`indexes.errors.VecsearchError`
and carries a stable ``code`` (what the service maps to an HTTP status and Qdrant's error
envelope) and a ``category``:

* ``"bad_request"``: the caller sent something invalid; nothing was changed;
* ``"not_found"``: a collection, point or snapshot does not exist;
* ``"conflict"``: the thing to create already exists, or is in use;
* ``"unavailable"``: a feature is not installed in this build;
* ``"internal"``: storage trouble that is not the caller's fault;
* ``"insufficient_storage"``: the disk (or the database) is full; nothing was written.

Validation errors name the offending field (``field`` attribute, e.g. ``"points[3].vector"``,
``"filter.must[0].match"``) so the service can say exactly what was wrong.

Index-layer errors (:mod:`indexes.errors`) keep their own codes; the engine wraps the ones it
can attribute to a field in :class:`ValidationError` subclasses that also inherit from the
index error, so ``except DimensionMismatchError`` still catches them.
"""

from __future__ import annotations

from indexes.errors import (
    DimensionMismatchError,
    InvalidParameterError,
    InvalidVectorError,
    VecsearchError,
)

__all__ = [
    "AliasNotFoundError",
    "CollectionExistsError",
    "CollectionLockedError",
    "CollectionNotFoundError",
    "CollectionUnavailableError",
    "EngineError",
    "FilterError",
    "IndexTypeUnavailableError",
    "InputFileError",
    "InvalidPointIdError",
    "PointNotFoundError",
    "RelevanceLabelError",
    "RelevanceModelMissingError",
    "RelevanceModelNotFoundError",
    "RelevanceUnsupportedError",
    "SnapshotIntegrityError",
    "SnapshotNotFoundError",
    "StorageError",
    "StorageFullError",
    "TooManyOpenFilesError",
    "ValidationError",
    "VecsearchError",
    "VectorDimensionError",
    "VectorValueError",
    "error_category",
]


class EngineError(VecsearchError):
    """Base class of the engine's own errors."""

    code = "engine_error"
    category = "internal"


class ValidationError(EngineError, InvalidParameterError):
    """A request field is invalid; ``field`` names it (dotted / indexed path), ``reason`` says why.

    ``str(err)`` is ``"<field>: <reason>"`` so a message alone is enough for a user.
    """

    code = "validation_error"
    category = "bad_request"

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


class VectorDimensionError(ValidationError, DimensionMismatchError):
    """A vector does not have the collection's dimension."""

    code = "dimension_mismatch"


class VectorValueError(ValidationError, InvalidVectorError):
    """A vector holds NaN/infinity, or is zero under the cosine distance."""

    code = "invalid_vector"


class InvalidPointIdError(ValidationError):
    """A point id is neither an unsigned 64-bit integer nor a UUID."""

    code = "invalid_point_id"


class FilterError(ValidationError):
    """A filter is malformed (unknown condition, wrong value type, ...)."""

    code = "invalid_filter"


class RelevanceLabelError(ValidationError):
    """Labelled queries for a relevance fit are unusable: unknown point ids, an empty set of
    relevant ids, a label list that does not match the queries, or data that cannot be fitted."""

    code = "invalid_relevance_labels"


class RelevanceUnsupportedError(ValidationError):
    """Relevance calibration maps cosine scores: the collection's distance is not Cosine."""

    code = "relevance_unsupported"


class RelevanceModelMissingError(ValidationError):
    """A search asked for ``relevance_threshold`` but the collection has no fitted model."""

    code = "relevance_model_missing"


class RelevanceModelNotFoundError(EngineError, LookupError):
    """The collection has no fitted relevance model (to read or delete)."""

    code = "relevance_model_not_found"
    category = "not_found"


class CollectionNotFoundError(EngineError, LookupError):
    """No collection of that name exists in the database."""

    code = "collection_not_found"
    category = "not_found"


class AliasNotFoundError(EngineError, LookupError):
    """No collection alias of that name exists (renaming one)."""

    code = "alias_not_found"
    category = "not_found"


class CollectionExistsError(EngineError):
    """A collection of that name already exists."""

    code = "collection_exists"
    category = "conflict"


class CollectionLockedError(EngineError):
    """Another process has the collection open for writing."""

    code = "collection_locked"
    category = "conflict"


class PointNotFoundError(EngineError, LookupError):
    """A point addressed by id (for a payload update) does not exist."""

    code = "point_not_found"
    category = "not_found"


class SnapshotNotFoundError(EngineError, LookupError):
    """No snapshot of that name exists."""

    code = "snapshot_not_found"
    category = "not_found"


class SnapshotIntegrityError(EngineError):
    """A snapshot file fails its SHA-256 check or is not a vecsearch snapshot."""

    code = "snapshot_corrupt"
    category = "bad_request"


class IndexTypeUnavailableError(EngineError):
    """The requested index type is unknown, or its module is not installed yet."""

    code = "index_type_unavailable"
    category = "unavailable"


class InputFileError(EngineError):
    """A bulk-build input file is unreadable or holds a bad record (file, row and problem)."""

    code = "bad_input_file"
    category = "bad_request"

    def __init__(self, file: str, problem: str, row: int | None = None) -> None:
        self.file = file
        self.row = row
        self.problem = problem
        where = f"{file}, row {row}" if row is not None else file
        super().__init__(f"{where}: {problem}")


class StorageError(EngineError):
    """The store on disk cannot be read or written (corruption, disk full, ...)."""

    code = "storage_error"
    category = "internal"


class CollectionUnavailableError(EngineError):
    """A collection exists on disk but cannot be opened (unreadable files, a bad ``LOCK``, a
    damaged store); the message says why, without server paths. The others are served."""

    code = "collection_unavailable"
    category = "unavailable"


class TooManyOpenFilesError(EngineError):
    """The process ran out of file descriptors (``EMFILE`` / ``ENFILE``): a transient
    shortage, not the caller's fault (see :mod:`vecsearch.fdlimit`)."""

    code = "too_many_open_files"
    category = "unavailable"


class StorageFullError(StorageError):
    """A write failed because the disk or the database is full; nothing of it was written
    (the service answers 507 Insufficient Storage)."""

    code = "storage_full"
    category = "insufficient_storage"


def error_category(exc: BaseException) -> str:
    """Category of any vecsearch error: engine errors say it; index-layer input errors are
    ``bad_request``; anything else is ``internal``."""
    cat = getattr(exc, "category", None)
    if isinstance(cat, str):
        return cat
    if isinstance(exc, InvalidParameterError):
        return "bad_request"
    return "internal"
