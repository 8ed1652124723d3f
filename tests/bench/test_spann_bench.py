"""The SPANN benchmark's report: projection arithmetic and Markdown/PNG rendering."""

from __future__ import annotations

import pytest

from bench.spann_bench import markdown, plot, projection


def fake_result() -> dict:
    def point(param: str, recall: float, pages: float | None) -> dict:
        p = {
            "param": param,
            "recall": recall,
            "warm": {"mean_ms": 1.0, "p50_ms": 0.9, "p99_ms": 3.0, "cpu_mean_ms": 0.8, "qps": 1e3},
        }
        if pages is not None:
            p.update(pages_per_query=pages, bytes_per_query=pages * 4000, postings_per_query=4)
            p["cold"] = dict(p["warm"], mean_ms=2.0)
        return p

    return {
        "dataset": "toy",
        "n": 1000,
        "dim": 10,
        "metric": "l2",
        "k": 10,
        "queries": 5,
        "float_vectors_bytes": 40_000,
        "load_average_start": [1.0, 1.0, 1.0],
        "load_average_end": [1.0, 1.0, 1.0],
        "systems": {
            "spann": {
                "build": {"head_ratio": 0.02},
                "build_s": 1.0,
                "memory_bytes": 3000,
                "memory_ratio": 0.075,
                "memory_method": "x",
                "disk_bytes": 100_000,
                "postings_file_bytes": 92_000,
                "memory_report": {
                    "heads": 800,
                    "head_index": 100,
                    "offsets": 100,
                    "slot_ids": 0,
                    "dead_and_replicas": 2000,
                    "mapped": 8000,
                },
                "n_heads": 20,
                "posting_length_mean": 70.0,
                "posting_length_max": 100,
                "replicas_mean": 1.4,
                "record_bytes": 48,
                "rss": {"rss_before": 1, "rss_after": 3001, "rss_delta": 3000, "n_probe": 8},
                "rss_ratio": 0.075,
                "points": [
                    point("n_probe=2", 0.8, 10),
                    point("n_probe=4", 0.93, 20),
                    point("n_probe=8", 0.99, 40),
                ],
            },
            "hnsw": {
                "build": {"M": 16},
                "build_s": 1.0,
                "memory_bytes": 50_000,
                "memory_ratio": 1.25,
                "memory_method": "y",
                "points": [point("ef=16", 0.95, None)],
            },
        },
    }


def test_projection_scales_per_vector_costs():
    r = fake_result()
    pr = projection(r)
    assert pr["ram_bytes_per_vector"] == pytest.approx(1000 / 1000 + 1.0)
    assert pr["operating_point"]["param"] == "n_probe=4"  # cheapest point with recall >= 0.9
    big = pr["scaled"]["1B"]
    assert big["ram_bytes"] == pytest.approx(2.0e9)
    assert big["disk_bytes"] == pytest.approx((92 + 9) * 1e9)
    assert big["pages_per_query"] == 20


def test_report_renders(tmp_path):
    r = fake_result()
    r["projection"] = projection(r)
    md = markdown(r, {"cpu_model": "cpu", "usable_cpus": 2}, "python -m bench spann")
    assert "| spann | n_probe=4 | 0.9300 |" in md and "| 1B |" in md and "7.5%" in md
    plot(r, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 0
