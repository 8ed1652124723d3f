"""Closing many collections: what a graceful stop costs (issue 19).

``python -m bench.shutdown [--collections 1000] [--points 200]`` makes a data directory of
``--collections`` HNSW collections (32-d Cosine, ``--points`` points each, index saved),
opens them all in one :class:`~vecsearch.database.Database` and times
:meth:`Database.close` in three situations:

* *unchanged*: nothing was written since the indexes were saved (close saves nothing now);
* *changed, parallel*: one point upserted into every collection, then ``close`` (every index
  saved, :data:`vecsearch.database.CLOSE_THREADS` at a time: what the service does now);
* *changed, serial*: the same, but every index saved one after the other before closing
  (what ``close`` did before issue 19: the 55 s stop of 1,000 collections).

Records ``bench/results/shutdown/summary.{json,md,png}`` with the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.machine import machine_info
from bench.result_paths import study_dir
from vecsearch.database import CLOSE_THREADS, Database

STUDY = "shutdown"
DIM = 32


def _fill(data: Path, n: int, points: int) -> list[str]:
    """One collection built through the API, copied ``n`` times (the same files)."""
    rng = np.random.default_rng(0)
    db = Database(data)
    body = {"vectors": {"size": DIM, "distance": "Cosine"}, "index": {"type": "hnsw"}}
    x = rng.standard_normal((points, DIM)).astype(np.float32)
    db.create_collection("template", body).upsert_batch(list(range(points)), x)
    db.close()
    root = data / "collections"
    names = [f"c{i:05d}" for i in range(n)]
    for name in names:
        shutil.copytree(root / "template", root / name)
    shutil.rmtree(root / "template")
    return names


def _open_all(data: Path, names: list[str]) -> Database:
    db = Database(data)
    for name in names:
        db.get_collection(name)
    return db


def _touch(db: Database, names: list[str], pid: int) -> None:
    v = np.random.default_rng(pid).standard_normal(DIM).tolist()
    for name in names:
        db.get_collection(name).upsert([{"id": pid, "vector": v}])


def run(n: int, points: int, work: Path) -> dict[str, Any]:
    """The three timings (seconds) and the load around each."""
    data = work / "data"
    names = _fill(data, n, points)
    out: dict[str, Any] = {}

    def timed(label: str, fn: Any) -> None:
        load0 = list(os.getloadavg())
        t0 = time.perf_counter()
        fn()
        out[label] = {
            "seconds": time.perf_counter() - t0,
            "load_average_start": load0,
            "load_average_end": list(os.getloadavg()),
        }

    db = _open_all(data, names)
    timed("unchanged", db.close)
    db = _open_all(data, names)
    _touch(db, names, 10_000_001)
    timed("changed, parallel", db.close)
    db = _open_all(data, names)
    _touch(db, names, 10_000_002)

    def serial() -> None:
        for name in names:
            db.get_collection(name).save_index()
        for name in names:
            db.get_collection(name).close(save_index=False)

    timed("changed, serial (before)", serial)
    db.close()
    return out


def markdown(rec: dict[str, Any]) -> str:
    """The report."""
    m = rec["machine"]
    lines = [
        "# Closing many collections (graceful stop)",
        "",
        f"`{rec['command']}` at commit {rec['commit'][:10]}: {rec['collections']:,} HNSW "
        f"collections of {rec['points']} points ({DIM}-d Cosine), {m['cpu_model']}, "
        f"{m['logical_cpus']} logical CPUs; {CLOSE_THREADS} closing threads.",
        "",
        "| situation | seconds | load average at start |",
        "|---|---:|---:|",
    ]
    for label, r in rec["timings"].items():
        lines.append(f"| {label} | {r['seconds']:.2f} | {r['load_average_start'][0]:.2f} |")
    lines += [
        "",
        "*unchanged*: nothing written since the last save, so nothing is saved. *changed*: "
        "one point upserted into every collection first. *serial (before)*: every index "
        "saved one after the other, as `Database.close` did before issue 19. The service "
        "keeps at most `max_open_collections` (100) open, so a stop saves at most that many.",
        "",
    ]
    return "\n".join(lines)


def plot(rec: dict[str, Any], path: Path) -> None:
    """One bar per situation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(rec["timings"])
    secs = [rec["timings"][k]["seconds"] for k in labels]
    fig, ax = plt.subplots(figsize=(7, 2.8))
    ax.barh(range(len(labels)), secs, color=["#55a868", "#4c72b0", "#c44e52"])
    for i, s in enumerate(secs):
        ax.text(s, i, f" {s:.1f} s", va="center")
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel(f"seconds to close {rec['collections']:,} open collections")
    load = rec["machine"]["load_average_1_5_15min"][0]
    ax.set_title(f"Database.close (load {load:.1f})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Run the study and write its records."""
    p = argparse.ArgumentParser(prog="python -m bench.shutdown", description=__doc__)
    p.add_argument("--collections", type=int, default=1000)
    p.add_argument("--points", type=int, default=200)
    p.add_argument("--out", type=Path, default=None, help="results root (default: bench/results)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vecsearch-shutdown-") as tmp:
        timings = run(args.collections, args.points, Path(tmp))
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    rec = {
        "study": STUDY,
        "command": "python -m bench.shutdown "
        f"--collections {args.collections} --points {args.points}",
        "commit": commit or "unknown",
        "collections": args.collections,
        "points": args.points,
        "timings": timings,
        "machine": machine_info(),
    }
    out = study_dir(STUDY, args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(rec, indent=2) + "\n", encoding="utf-8")
    (out / "summary.md").write_text(markdown(rec), encoding="utf-8")
    plot(rec, out / "summary.png")
    print(markdown(rec))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
