"""The one naming rule of the harness's records, and the kept records follow it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.result_paths import RESULTS_DIR, result_path, result_paths, study_dir

#: Files of a study that are not one run's record (aggregates and hand-written notes).
STUDY_FILES = {
    "binary": {"summary.json", "summary.md", "recall-vs-bits.png"},
    "relevance": {"NOTES.md"},
    # a study of the API, not of a dataset: no dataset or k to name its record by
    "congruence": {"summary.json", "summary.md"},
    # a study of start-up on a fresh clone: no dataset or k either
    "first_start": {"summary.json", "summary.md", "summary.png"},
    # closing many collections (python -m bench.shutdown): no dataset or k either
    "shutdown": {"summary.json", "summary.md", "summary.png"},
}
RECORD = re.compile(r"(?P<dataset>[A-Za-z0-9_.+-]+?)-k(?P<k>[1-9][0-9]*)(?:-[A-Za-z0-9_.+-]+)?")


def test_result_path_layout(tmp_path: Path) -> None:
    assert result_path("hnsw", "glove-50-angular", 10, "json") == (
        RESULTS_DIR / "hnsw" / "glove-50-angular-k10.json"
    )
    assert result_path("binary", "fashion-mnist-784-euclidean", 10, "md", variant="cpu") == (
        RESULTS_DIR / "binary" / "fashion-mnist-784-euclidean-k10-cpu.md"
    )
    paths = result_paths("spann", "x", 5, variant="v", root=tmp_path)
    assert paths == {e: tmp_path / "spann" / f"x-k5-v.{e}" for e in ("json", "md", "png")}
    assert (tmp_path / "spann").is_dir()  # created for the writer
    assert study_dir("lid", tmp_path) == tmp_path / "lid"


@pytest.mark.parametrize(
    ("study", "dataset", "k", "variant"),
    [("../x", "d", 10, ""), ("s", "a/b", 10, ""), ("s", "d", 0, ""), ("s", "d", 10, "a b")],
)
def test_result_path_rejects_bad_parts(study: str, dataset: str, k: int, variant: str) -> None:
    with pytest.raises(ValueError, match="result path"):
        result_path(study, dataset, k, "json", variant=variant)


def test_kept_records_follow_the_layout() -> None:
    assert RESULTS_DIR.is_dir()
    misplaced = [p.name for p in RESULTS_DIR.iterdir() if p.is_file()]
    assert not misplaced, f"records outside a study folder: {misplaced}"
    bad = []
    for path in sorted(RESULTS_DIR.rglob("*")):
        if path.is_dir():
            if path.parent != RESULTS_DIR:
                bad.append(f"{path.relative_to(RESULTS_DIR)}/ (a folder inside a study)")
            continue
        study = path.parent.name
        if path.name in STUDY_FILES.get(study, set()):
            continue
        if not RECORD.fullmatch(path.name.rsplit(".", 1)[0]):
            bad.append(str(path.relative_to(RESULTS_DIR)))
    assert not bad, "not <study>/<dataset>-k<k>[-<variant>].<ext>:\n" + "\n".join(bad)
