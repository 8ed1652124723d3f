"""First start on a fresh clone: seconds until ``/readyz`` is 200, with a cold and a warm
Numba kernel cache.

    python -m bench first-start            (or: python -m bench.first_start)

What it does, in order, in a work folder (default ``/tmp/vecsearch-first-start``):

1. ``git clone`` the repository's committed HEAD (uncommitted edits are not measured) and run
   its ``./setup.sh`` with ``VECSEARCH_SETUP_WARMUP=0`` (its own ``.venv``, packages from the
   configured index; the install-time kernel step is measured apart in 3).
2. ``cold``: no kernel cache, no data: ``.venv/bin/vecsearch serve --demo --data-dir data``
   (the README's first screen without the install-time step). Then it waits for the
   background warm-up process to compile every other kernel unit (``background_s``).
3. ``setup-warmup``: the cache wiped, the install-time step of ``./setup.sh``
   (``.venv/bin/python -m service.warmup --quiet --jobs 0``), timed, again on the warm
   cache (what a second ``./setup.sh`` costs), and once more from a cold cache in one
   process (``--jobs 1``) for comparison (the starts use the cache of the ``--jobs 0`` step).
4. ``first-start``: that cache, no data: the README's first screen after ``./setup.sh``.
5. ``restart``: the same again with the demo collection already built (a second start).

Each start is timed from the process launch to the first 200 of ``/healthz`` (imports and
uvicorn) and of ``/readyz``, with the phases the server logs (demo build, per-unit compile)
and the CPU seconds of the server (with its children) against those of the whole machine
during the start, so a record taken while other work ran says how much of the CPU it had.
Writes ``bench/results/first_start/summary.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench.machine import machine_info
from bench.result_paths import study_dir

ROOT = Path(__file__).resolve().parent.parent
STUDY = "first_start"
_DEMO = re.compile(r"demo: built collection .* in ([0-9.]+) s")
_UNIT = re.compile(r"warm-up: (\S+) kernels ready in ([0-9.]+) s")
#: The install-time kernel step as ./setup.sh runs it.
SETUP_WARMUP = ("--quiet", "--jobs", "0")
_READY = re.compile(r"^\w+: ready in [0-9.]+ s$", re.M)
_BACKGROUND = re.compile(r"warm-up: background process \d+ ended \(exit (\S+)\) after ([0-9.]+) s")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _busy_cpu_seconds() -> float:
    """CPU seconds every process of the machine has used (all cores, not idle / iowait)."""
    import psutil

    t = psutil.cpu_times()
    return float(sum(v for k, v in t._asdict().items() if k not in ("idle", "iowait")))


def _tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of process ``pid`` and its live children (user + system)."""
    import psutil

    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for q in procs:
        try:
            c = q.cpu_times()
            total += c.user + c.system + c.children_user + c.children_system
        except psutil.NoSuchProcess:
            continue
    return total


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def _wipe_kernel_cache(repo: Path) -> int:
    """Delete Numba's cache files under ``repo`` (what a fresh clone has); returns how many."""
    n = 0
    for pattern in ("*.nbi", "*.nbc"):
        for f in repo.rglob(pattern):
            if ".venv" not in f.parts:
                f.unlink()
                n += 1
    return n


def _move_kernel_cache(src: Path, dst: Path) -> None:
    """Move Numba's cache files from the tree ``src`` to the same places under ``dst``."""
    for pattern in ("*.nbi", "*.nbc"):
        for f in src.rglob(pattern):
            if ".venv" in f.parts:
                continue
            target = dst / f.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(f, target)


def _kernel_cache_files(repo: Path) -> int:
    return sum(1 for f in repo.rglob("*.nbi") if ".venv" not in f.parts)


def _env() -> dict[str, str]:
    from vecsearch.datasets.paths import shared_data_dir

    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "VECSEARCH_"))}
    # the clone may not sit beside shared/: point it at this checkout's shared data folder
    env["VECSEARCH_SHARED_DATA"] = str(shared_data_dir())
    return env


def _start(repo: Path, name: str, wait_background: bool, timeout: float) -> dict[str, Any]:
    """One ``vecsearch serve --demo`` from launch to ready (and optionally to the end of the
    background warm-up), then a graceful stop."""
    port = _free_port()
    log_path = repo.parent / f"serve-{name}.log"
    cmd = [str(repo / ".venv/bin/vecsearch"), "serve", "--demo", "--data-dir", "data"]
    cmd += ["--port", str(port)]
    load_start = list(os.getloadavg())
    busy0 = _busy_cpu_seconds()
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=repo, env=_env(), stdout=log, stderr=subprocess.STDOUT)
    out: dict[str, Any] = {"scenario": name, "command": " ".join(cmd[1:])}
    try:
        base = f"http://127.0.0.1:{port}"
        healthz = ready = None
        while time.perf_counter() - t0 < timeout and proc.poll() is None:
            if healthz is None and _get(base + "/healthz") == 200:
                healthz = time.perf_counter() - t0
            if healthz is not None and _get(base + "/readyz") == 200:
                ready = time.perf_counter() - t0
                break
            time.sleep(0.2)
        out["healthz_s"] = healthz
        out["ready_s"] = ready
        out["server_cpu_s_at_ready"] = _tree_cpu_seconds(proc.pid)
        out["machine_cpu_s_at_ready"] = _busy_cpu_seconds() - busy0
        out["load_average_at_ready"] = list(os.getloadavg())
        if ready is not None and wait_background:
            while time.perf_counter() - t0 < timeout and proc.poll() is None:
                if _BACKGROUND.search(log_path.read_text(errors="replace")):
                    break
                time.sleep(0.5)
    finally:
        end = time.perf_counter() - t0
        out["server_cpu_s"] = _tree_cpu_seconds(proc.pid)
        out["machine_cpu_s"] = _busy_cpu_seconds() - busy0
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    text = log_path.read_text(errors="replace")
    demo = _DEMO.search(text)
    bg = _BACKGROUND.search(text)
    ready_line = _READY.search(text)  # the server's "ready in" line; later lines: background
    before_ready = text[: ready_line.start()] if ready_line else text
    out.update(
        wall_s=end,
        load_average_start=load_start,
        load_average_end=list(os.getloadavg()),
        demo_build_s=float(demo.group(1)) if demo else None,
        units_before_ready={u: float(s) for u, s in _UNIT.findall(before_ready)},
        background_s=float(bg.group(2)) if bg else None,
        background_exit=bg.group(1) if bg else None,
        exit_code=proc.returncode,
        log_tail=text.splitlines()[-5:],
    )
    out["cpu_share_of_machine"] = (
        out["server_cpu_s"] / out["machine_cpu_s"] if out["machine_cpu_s"] > 0 else None
    )
    return out


def _warm_step(repo: Path, *args: str) -> dict[str, float]:
    """Run ``python -m service.warmup ARGS`` in the clone: wall seconds, its own CPU seconds
    (with its workers) and the machine's busy CPU seconds meanwhile."""
    own0 = os.times()
    busy0 = _busy_cpu_seconds()
    t0 = time.perf_counter()
    subprocess.run(
        [str(repo / ".venv/bin/python"), "-m", "service.warmup", *args],
        cwd=repo,
        env=_env(),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    own1 = os.times()
    return {
        "wall_s": time.perf_counter() - t0,
        "cpu_s": own1.children_user
        + own1.children_system
        - own0.children_user
        - own0.children_system,
        "machine_cpu_s": _busy_cpu_seconds() - busy0,
    }


def run(work: Path, timeout: float) -> dict[str, Any]:
    """Every step of the module docstring; returns the record."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    repo = work / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    env = {**_env(), "VECSEARCH_SETUP_WARMUP": "0"}
    t0 = time.perf_counter()
    subprocess.run(["./setup.sh"], cwd=repo, env=env, check=True, stdout=subprocess.DEVNULL)
    steps: dict[str, Any] = {"setup_without_warmup_s": time.perf_counter() - t0}
    starts = []
    _wipe_kernel_cache(repo)
    starts.append(_start(repo, "cold", wait_background=True, timeout=timeout))
    shutil.rmtree(repo / "data", ignore_errors=True)
    steps["cache_files_after_cold"] = _kernel_cache_files(repo)
    _wipe_kernel_cache(repo)
    load = list(os.getloadavg())
    steps["setup_warmup"] = _warm_step(repo, *SETUP_WARMUP)
    steps["setup_warmup_load_average"] = [load, list(os.getloadavg())]
    steps["cache_files_after_setup_warmup"] = _kernel_cache_files(repo)
    steps["setup_warmup_again"] = _warm_step(repo, *SETUP_WARMUP)  # a second ./setup.sh
    keep = repo.parent / "kernel-cache"  # the step once more in one process, for comparison
    _move_kernel_cache(repo, keep)
    steps["setup_warmup_one_process"] = _warm_step(repo, "--quiet", "--jobs", "1")
    _wipe_kernel_cache(repo)
    _move_kernel_cache(keep, repo)  # the starts below use the cache of setup.sh's own step
    starts.append(_start(repo, "first-start", wait_background=True, timeout=timeout))
    starts.append(_start(repo, "restart", wait_background=False, timeout=timeout))
    return {
        "study": STUDY,
        "command": "python -m bench first-start",
        "commit": commit,
        "work": str(work),
        "steps": steps,
        "starts": starts,
        "machine": machine_info(),
    }


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"


def _step(st: dict[str, float] | None) -> str:
    if st is None:
        return "—"
    return (
        f"{st['wall_s']:.1f} s ({st['cpu_s']:.0f} CPU s its own, "
        f"{st['machine_cpu_s']:.0f} CPU s the whole machine's)"
    )


def markdown(rec: dict[str, Any]) -> str:
    """The report."""
    m, st = rec["machine"], rec["steps"]
    lines = [
        "# First start: seconds to `/readyz` on a fresh clone",
        "",
        f"`{rec['command']}` at commit {rec['commit'][:10]}, {m['cpu_model']}, "
        f"{m['logical_cpus']} logical CPUs, load average at the end "
        f"{', '.join(f'{x:.2f}' for x in m['load_average_1_5_15min'])} (1/5/15 min).",
        "",
        f"- `./setup.sh` on the fresh clone without its kernel step: "
        f"{_fmt(st['setup_without_warmup_s'])} s.",
        f"- its kernel step (`python -m service.warmup --jobs 0`, every unit, cold cache): "
        f"{_step(st.get('setup_warmup'))} ({st['cache_files_after_setup_warmup']} cache "
        f"indexes); again on a warm cache (a second `./setup.sh`): "
        f"{_step(st.get('setup_warmup_again'))}; the same step in one process (`--jobs 1`): "
        f"{_step(st.get('setup_warmup_one_process'))}.",
        "",
        "| start | /healthz s | /readyz s | demo build s | kernels before ready s "
        "| background s | server CPU s to ready | machine CPU s to ready | load at start |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in rec["starts"]:
        units = s["units_before_ready"]
        lines.append(
            f"| {s['scenario']} | {_fmt(s['healthz_s'])} | {_fmt(s['ready_s'])} "
            f"| {_fmt(s['demo_build_s'])} | {_fmt(sum(units.values()) if units else None)} "
            f"| {_fmt(s['background_s'])} | {_fmt(s['server_cpu_s_at_ready'])} "
            f"| {_fmt(s['machine_cpu_s_at_ready'])} | {s['load_average_start'][0]:.2f} |"
        )
    lines += [
        "",
        "*cold*: no kernel cache, no data (`./setup.sh` without its kernel step, then "
        "`vecsearch serve --demo`). *first-start*: the README's first screen (`./setup.sh` "
        "with its kernel step, then `vecsearch serve --demo`). *restart*: the demo collection "
        "already built. *background*: the niced process that compiles every other kernel "
        "unit after ready. Machine CPU counts every process (other work included) over the "
        "same seconds: the server's share of it says how loaded the machine was.",
        "",
        "Kernel units compiled before ready: "
        + "; ".join(
            f"{s['scenario']}: "
            + (", ".join(f"{u} {v:.1f} s" for u, v in s["units_before_ready"].items()) or "—")
            for s in rec["starts"]
        ),
        "",
    ]
    return "\n".join(lines)


def plot(rec: dict[str, Any], path: Path) -> None:
    """Stacked bars: start-up to /healthz, demo build, kernels, the rest, per start."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    names = [s["scenario"] for s in rec["starts"]]
    for i, s in enumerate(rec["starts"]):
        ready = s["ready_s"] or 0.0
        parts = [
            ("imports + uvicorn", s["healthz_s"] or 0.0, "#888"),
            ("demo build", s["demo_build_s"] or 0.0, "#4c72b0"),
            ("kernels", sum(s["units_before_ready"].values()), "#dd8452"),
        ]
        rest = max(0.0, ready - sum(p[1] for p in parts))
        left = 0.0
        for label, w, colour in [*parts, ("other (loading)", rest, "#55a868")]:
            ax.barh(i, w, left=left, color=colour, label=label if i == 0 else None)
            left += w
        ax.text(left + 0.5, i, f"{ready:.1f} s", va="center")
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel("seconds from launch to /readyz 200")
    load = rec["machine"]["load_average_1_5_15min"][0]
    ax.set_title(f"vecsearch serve --demo on a fresh clone (load {load:.1f})")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Run the study and write its record."""
    p = argparse.ArgumentParser(prog="python -m bench first-start", description=__doc__)
    p.add_argument("--work", default="/tmp/vecsearch-first-start", help="scratch folder")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per start at most")
    p.add_argument("--out", help="results folder (default bench/results/first_start)")
    args = p.parse_args(argv)
    rec = run(Path(args.work), args.timeout)
    out = Path(args.out) if args.out else study_dir(STUDY)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(rec, indent=2) + "\n")
    (out / "summary.md").write_text(markdown(rec))
    plot(rec, out / "summary.png")
    print(markdown(rec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
