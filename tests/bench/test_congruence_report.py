"""The congruence report's parsing of pytest's Hypothesis statistics and its Markdown."""

from __future__ import annotations

from bench.congruence import _hypothesis, markdown

STATS = """
============================ Hypothesis Statistics =============================
tests/service/test_random_congruence.py::test_random_sequences_agree:

  - during generate phase (2.88 seconds):
    - 30 passing, 0 failing, and 0 invalid test cases
  - during shrink phase (1.0 seconds):
    - 4 passing, 2 failing, and 0 invalid test cases

tests/service/test_aliases.py::test_random_alias_sequences:

  - during generate phase (1.0 seconds):
    - 60 passing, 0 failing, and 0 invalid test cases
"""


def test_hypothesis_statistics_are_summed_per_test():
    got = _hypothesis(STATS)
    assert got == {
        "tests/service/test_random_congruence.py::test_random_sequences_agree": {
            "passing": 34,
            "failing": 2,
        },
        "tests/service/test_aliases.py::test_random_alias_sequences": {
            "passing": 60,
            "failing": 0,
        },
    }


def test_markdown_reports_the_share():
    rec = {
        "cases": 4,
        "agree": 3,
        "share": 0.75,
        "pytest_exit": 1,
        "machine": {"git_commit": "abc"},
        "files": {"tests/x.py": {"cases": 4, "agree": 3, "hypothesis_sequences": 2}},
    }
    text = markdown(rec)
    assert "3 of 4 cases agree (75.0%)" in text
    assert "| `tests/x.py` | 4 | 3 | 2 |" in text
