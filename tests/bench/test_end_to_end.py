"""Tiny end-to-end runs of the CLI on synthetic data: JSON, Markdown and PNG come out valid."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import pytest

from bench.cli import main

matplotlib.use("Agg")

CONFIG = """
[run]
k = 5
runs = 1

[algorithms.flat]

[algorithms.hnswlib]
build = { M = 8, ef_construction = [40, 80] }
query = { ef = [5, 20, 80] }
"""
DATASET = "synthetic-l2-1500x16-id6-q60-s1"


@pytest.fixture(scope="module")
def result_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One tiny run shared by the tests below (private cache folder)."""
    tmp = tmp_path_factory.mktemp("e2e")
    cfg = tmp / "tiny.toml"
    cfg.write_text(CONFIG)
    root = tmp / "results"
    argv = ["run", "--dataset", DATASET, "--algorithms", "flat,hnswlib,hnsw", "--study", "e2e"]
    argv += ["--config", str(cfg), "--queries", "50", "--threads", "2"]
    argv += ["--results-dir", str(root)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VECSEARCH_CACHE", str(tmp / "cache"))
        assert main(argv) == 0
    yield root / "e2e"  # <results-dir>/<study>/


def test_run_writes_json_markdown_png(result_dir: Path) -> None:
    stem = f"{DATASET}-k5"
    result = json.loads((result_dir / f"{stem}.json").read_text())
    assert result["dataset"]["n_queries"] == 50 and result["settings"]["k"] == 5
    assert result["machine"]["versions"]["numpy"] and result["machine"]["cpu_model"]
    points = result["points"]
    flat = [p for p in points if p["system"] == "flat"]
    hnsw = [p for p in points if p["system"] == "hnswlib"]
    assert len(flat) == 1 and len(hnsw) == 2 * 3  # build grid x query sweep
    assert flat[0]["latency"]["recall"] == 1.0 and flat[0]["batch"]["recall"] == 1.0
    for p in points:
        for mode in ("latency", "batch"):
            assert 0.0 <= p[mode]["recall"] <= 1.0 and p[mode]["qps"] > 0
        lt = p["latency"]
        assert 0 < lt["p50_ms"] <= lt["p95_ms"] <= lt["p99_ms"]
        assert p["build_time_s"] >= 0 and p["index_bytes"] > 0 and p["build_peak_rss_bytes"] > 0
    # more ef never loses much recall on the same graph
    by_build: dict[int, list[float]] = {}
    for p in hnsw:
        by_build.setdefault(p["build_params"]["ef_construction"], []).append(p["latency"]["recall"])
    for recalls in by_build.values():
        assert recalls[-1] >= recalls[0]
    assert max(p["latency"]["recall"] for p in hnsw) >= 0.95
    # the summary reads the frontier: flat reaches every target, at its one QPS
    summ = result["summary"]["modes"]["latency"]
    assert summ["flat"]["0.99"]["qps"] == pytest.approx(flat[0]["latency"]["qps"])
    assert summ["hnswlib"]["0.90"]["ratio"] == pytest.approx(1.0)
    # our HNSW is skipped with its reason until indexes.hnsw exists
    names = {p["system"] for p in points}
    assert "hnsw" in names or any(s["system"] == "hnsw" for s in result["skipped"])

    md = (result_dir / f"{stem}.md").read_text()
    assert "| system | max recall |" in md and "| flat |" in md and "| hnswlib |" in md

    png = result_dir / f"{stem}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = matplotlib.image.imread(png)
    assert img.shape[0] > 300 and img.shape[1] > 600


def test_report_rerenders_from_json(result_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "copy.json"
    path.write_text((result_dir / f"{DATASET}-k5.json").read_text())
    assert main(["report", str(path), "--reference", "flat"]) == 0
    assert "ratio to flat" in (tmp_path / "copy.md").read_text()
    assert (tmp_path / "copy.png").read_bytes()[:4] == b"\x89PNG"


def test_lid_order_experiment(tmp_path: Path, tmp_cache: Path) -> None:
    out = tmp_path / "lid-order"  # <results-dir>/lid-order/
    argv = ["lid-order", "--dataset", "synthetic-l2-1200x16-id8-q40-s2", "--M", "6"]
    argv += ["--ef-construction", "20", "--ef", "5,40", "--random-seeds", "0", "--k", "5"]
    argv += ["--queries", "40", "--results-dir", str(tmp_path)]
    assert main(argv) == 0
    (path,) = out.glob("*.json")
    assert path.name == "synthetic-l2-1200x16-id8-q40-s2-k5-hnswlib.json"
    result = json.loads(path.read_text())
    assert [b["order"] for b in result["builds"]] == ["random-s0", "lid-asc", "lid-desc"]
    asc, desc = result["builds"][1], result["builds"][2]
    assert asc["mean_lid_first_10pct"] < result["dataset_lid"]["mean"]
    assert desc["mean_lid_first_10pct"] > result["dataset_lid"]["mean"]
    assert result["dataset_lid"]["pooled"] == pytest.approx(8, rel=0.2)
    for row in result["effect"]:
        assert set(row["recall"]) == {"random-s0", "lid-asc", "lid-desc"}
    assert next(out.glob("*.png")).read_bytes()[:4] == b"\x89PNG"
    assert "desc − asc" in next(out.glob("*.md")).read_text()


def test_bad_input_is_an_error_not_a_crash(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "--dataset", "no-such-data", "--results-dir", str(tmp_path)]) == 2
    assert "unknown dataset" in capsys.readouterr().err
    argv = ["run", "--dataset", DATASET, "--algorithms", "flat,flat"]
    argv += ["--results-dir", str(tmp_path)]
    assert main(argv) == 2
    assert "twice" in capsys.readouterr().err


def test_interleaved_run_measures_every_point(tmp_path: Path, tmp_cache: Path) -> None:
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(CONFIG.replace("runs = 1", "runs = 2"))
    argv = ["run", "--dataset", DATASET, "--algorithms", "flat,hnswlib", "--interleave"]
    argv += ["--config", str(cfg), "--queries", "30", "--modes", "latency"]
    argv += ["--results-dir", str(tmp_path), "--tag", "il"]
    assert main(argv) == 0
    result = json.loads((tmp_path / "run" / f"{DATASET}-k5-il.json").read_text())
    assert result["settings"]["interleave"] is True
    assert len(result["points"]) == 1 + 2 * 3
    assert all(p["passes"] == 2 and "batch" not in p for p in result["points"])
    assert result["points"][0]["latency"]["recall"] == 1.0
