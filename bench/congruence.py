"""How congruent the served API is with qdrant-client's local mode: runs the congruence
test files and counts their cases.

    python -m bench.congruence

Every congruence test sends the same calls through the real ``qdrant-client`` to a real
``vecsearch serve`` and to ``QdrantClient(":memory:")`` (Qdrant's semantics in pure Python)
and compares the answers. A case is one pytest test case (a parametrised call or refusal,
or a test that compares a fixed group of calls), except that a Hypothesis test counts one
case per generated sequence (each sequence compares every read it makes). This tool runs
those files with pytest (JUnit XML and Hypothesis statistics), counts the cases that agree,
and records
``bench/results/congruence/summary.{json,md}``. A case that disagrees fails its test, so on
a green suite the share is 100%; the deliberate differences are not counted as cases (they
are listed in the test modules' docstrings and in the engine's code).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from bench.machine import machine_info
from bench.result_paths import study_dir

ROOT = Path(__file__).resolve().parent.parent
FILES = [
    "tests/service/test_query_congruence.py",
    "tests/service/test_random_congruence.py",
    "tests/service/test_filter_congruence.py",
    "tests/service/test_updates_congruence.py",
    "tests/service/test_sparse_congruence.py",
    "tests/service/test_named_congruence.py",
    "tests/service/test_aliases.py",
]
_STATS = re.compile(r"(\d+) passing, (\d+) failing")
_TEST = re.compile(r"^(tests/\S+)::(\S+):\s*$")


def _hypothesis(stdout: str) -> dict[str, dict[str, int]]:
    """``{test id: {"passing", "failing"}}`` from ``--hypothesis-show-statistics``."""
    out: dict[str, dict[str, int]] = {}
    current = None
    for line in stdout.splitlines():
        m = _TEST.match(line.strip())
        if m:
            current = f"{m.group(1)}::{m.group(2)}"
            continue
        s = _STATS.search(line)
        if s and current is not None:
            got = out.setdefault(current, {"passing": 0, "failing": 0})
            got["passing"] += int(s.group(1))
            got["failing"] += int(s.group(2))
    return out


def run(files: list[str]) -> dict[str, Any]:
    """Run the files and count their cases."""
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                f"--junitxml={xml}",
                "--hypothesis-show-statistics",
                *files,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        tree = ET.parse(xml)
    stats = _hypothesis(proc.stdout)
    per_file: dict[str, dict[str, int]] = {}
    for case in tree.iter("testcase"):
        path = case.get("classname", "").replace(".", "/") + ".py"
        name = case.get("name", "")
        f = per_file.setdefault(path, {"cases": 0, "agree": 0, "hypothesis_sequences": 0})
        failed = case.find("failure") is not None or case.find("error") is not None
        if case.find("skipped") is not None:
            continue
        h = next((v for k, v in stats.items() if k.endswith(f"::{name}")), None)
        if h is not None:  # one case per generated sequence
            n = h["passing"] + h["failing"]
            f["cases"] += n
            f["agree"] += h["passing"]
            f["hypothesis_sequences"] += n
        else:
            f["cases"] += 1
            f["agree"] += 0 if failed else 1
    cases = sum(f["cases"] for f in per_file.values())
    agree = sum(f["agree"] for f in per_file.values())
    return {
        "cases": cases,
        "agree": agree,
        "share": agree / cases if cases else None,
        "pytest_exit": proc.returncode,
        "files": per_file,
        "machine": machine_info(),
    }


def markdown(rec: dict[str, Any]) -> str:
    """The record as a Markdown report."""
    lines = [
        "# Congruence with qdrant-client's local mode",
        "",
        f"{rec['agree']} of {rec['cases']} cases agree ({100 * (rec['share'] or 0):.1f}%); "
        f"pytest exit code {rec['pytest_exit']}. Commit {rec['machine'].get('git_commit')}.",
        "",
        "| test file | cases | agree | of which Hypothesis sequences |",
        "|---|---|---|---|",
    ]
    for path, f in sorted(rec["files"].items()):
        lines.append(f"| `{path}` | {f['cases']} | {f['agree']} | {f['hypothesis_sequences']} |")
    lines += ["", "Regenerate: `python -m bench.congruence`.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=None, help="results folder (default bench/results)")
    args = ap.parse_args(argv)
    rec = run(FILES)
    out = study_dir("congruence", args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(rec, indent=2) + "\n")
    (out / "summary.md").write_text(markdown(rec))
    print(markdown(rec))
    return 0 if rec["pytest_exit"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
