"""The errors of the dataset loaders, with stable codes like every vecsearch error."""

from __future__ import annotations

from indexes.errors import VecsearchError


class DatasetMissingError(VecsearchError, FileNotFoundError):
    """A dataset's files or package are not installed; the message says how to get them."""

    code = "dataset_missing"


class UnknownDatasetError(VecsearchError, KeyError):
    """No dataset of that name is registered."""

    code = "unknown_dataset"

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.code
