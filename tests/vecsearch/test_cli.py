"""The README's main job: ``vecsearch neighbors`` over the real GloVe vectors; and
``vecsearch bench``, which runs the harness in a child process."""

from __future__ import annotations

from pathlib import Path

from vecsearch.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_neighbors_of_real_words(capsys):
    assert main(["neighbors", "king", "physics", "-k", "5"]) == 0
    out = capsys.readouterr().out
    assert "400,000 words" in out
    king = out.split("king:")[1].split("physics:")[0]
    physics = out.split("physics:")[1]
    assert "queen" in king and "prince" in king
    assert "chemistry" in physics
    # the query word itself is not listed as its own neighbour
    assert " king " not in king
    assert len([line for line in king.splitlines() if "cosine" in line]) == 5


def test_neighbors_bad_input(capsys):
    assert main(["neighbors", "notawordatallxyz"]) == 2
    assert "not in the GloVe vocabulary: notawordatallxyz" in capsys.readouterr().err
    assert main(["neighbors", "king", "-k", "0"]) == 2
    assert "-k must be a positive integer" in capsys.readouterr().err


def test_bench_delegates_arguments_and_exit_code(capfd, monkeypatch):
    monkeypatch.chdir(ROOT)  # `python -m bench` finds this checkout's harness
    assert main(["bench", "list"]) == 0
    out = capfd.readouterr().out
    assert "datasets:" in out and "glove-50-angular" in out
    assert main(["bench", "no-such-command"]) == 2  # argparse's exit code, passed through
    assert "invalid choice: 'no-such-command'" in capfd.readouterr().err
