"""Where the harness keeps its records: ``bench/results/<study>/<dataset>-k<k>[-<variant>].<ext>``.

Every tool of the harness names its output files with :func:`result_path` (and a study's own
summary files with :func:`study_dir`), so a record's path says which study, dataset and k it
holds, and a re-run of the same command replaces the record it supersedes. ``variant``
distinguishes runs of one study on one dataset (an index type and size, a configuration, a
``--tag``); ``ext`` is ``json`` (the full record), ``md`` (the report), ``png`` (the plot) or
another artifact's suffix.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

#: The records kept in the repository.
RESULTS_DIR = Path(__file__).resolve().parent / "results"

_PART = re.compile(r"[A-Za-z0-9_.+-]+")


def _checked(what: str, value: str) -> str:
    if not _PART.fullmatch(value):
        raise ValueError(f"result path: bad {what} {value!r} (letters, digits, _ . + - only)")
    return value


def study_dir(study: str, root: str | os.PathLike[str] | None = None) -> Path:
    """The folder of one study's records: ``<root>/<study>`` (root: :data:`RESULTS_DIR`)."""
    return Path(RESULTS_DIR if root is None else root) / _checked("study", study)


def result_path(
    study: str,
    dataset: str,
    k: int,
    ext: str,
    *,
    variant: str = "",
    root: str | os.PathLike[str] | None = None,
) -> Path:
    """``<root>/<study>/<dataset>-k<k>[-<variant>].<ext>``; the folder is not created."""
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise ValueError(f"result path: k must be a positive integer, got {k!r}")
    name = f"{_checked('dataset', dataset)}-k{k}"
    if variant:
        name += f"-{_checked('variant', variant)}"
    return study_dir(study, root) / f"{name}.{_checked('extension', ext)}"


def result_paths(
    study: str,
    dataset: str,
    k: int,
    *,
    variant: str = "",
    root: str | os.PathLike[str] | None = None,
    exts: tuple[str, ...] = ("json", "md", "png"),
) -> dict[str, Path]:
    """:func:`result_path` for each of ``exts``, with the study folder created."""
    paths = {ext: result_path(study, dataset, k, ext, variant=variant, root=root) for ext in exts}
    study_dir(study, root).mkdir(parents=True, exist_ok=True)
    return paths
