"""Library exceptions with stable names.

Every error raised on bad input derives from :class:`VecsearchError` and carries a stable
``code`` string. Upper layers (engine, service) map these codes to their own error shapes
(HTTP status, Qdrant error envelope) without string matching on messages.
"""

from __future__ import annotations


class VecsearchError(Exception):
    """Base class of every error vecsearch raises on purpose."""

    code = "vecsearch_error"


class InvalidParameterError(VecsearchError, ValueError):
    """A parameter is out of range or of the wrong kind (k <= 0, bad ef, bad shape...)."""

    code = "invalid_parameter"


class DimensionMismatchError(InvalidParameterError):
    """Vectors do not have the index's dimension."""

    code = "dimension_mismatch"


class InvalidVectorError(InvalidParameterError):
    """Vectors contain NaN or infinity, or cannot be normalised (zero vector under cosine)."""

    code = "invalid_vector"


class UnknownMetricError(InvalidParameterError):
    """The metric name is not one of ``l2``, ``ip``, ``cosine``."""

    code = "unknown_metric"


class NotTrainedError(VecsearchError, RuntimeError):
    """The index needs ``train`` before ``add`` or ``search``."""

    code = "not_trained"


class UnknownIdError(VecsearchError, KeyError):
    """An id given to ``remove`` (or another by-id call) is not in the index."""

    code = "unknown_id"

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable.
        return str(self.args[0]) if self.args else self.code


class UnsupportedOperationError(VecsearchError, NotImplementedError):
    """The index type does not support this operation."""

    code = "unsupported_operation"


class IndexFormatError(VecsearchError, ValueError):
    """A saved index cannot be read: wrong type, unknown format version or missing files."""

    code = "index_format"
