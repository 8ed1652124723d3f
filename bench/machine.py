"""What machine and software produced a result (stored in every result file)."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from bench.threads import available_threads

_PACKAGES = ("numpy", "numba", "faiss-cpu", "hnswlib", "usearch", "threadpoolctl", "matplotlib")


def cpu_model() -> str:
    """CPU model name from ``/proc/cpuinfo`` (or ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages a result depends on (``None`` if absent)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit(root: Path) -> str | None:
    """Commit of the working tree at ``root`` (with ``-dirty`` if modified), if it is a repo."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha or None


def _numba_layer() -> str | None:
    """Numba's threading layer, if a parallel kernel has run (else ``None``)."""
    try:
        import numba

        return str(numba.threading_layer())
    except (ImportError, ValueError):
        return None


def machine_info() -> dict[str, Any]:
    """CPU, core counts, memory, OS, package versions, BLAS pools, git commit, time."""
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
        mem = int(psutil.virtual_memory().total)
    except ImportError:
        physical, mem = None, None
    try:
        from threadpoolctl import threadpool_info

        pools = [
            {k: p.get(k) for k in ("user_api", "internal_api", "version", "num_threads")}
            for p in threadpool_info()
        ]
    except ImportError:
        pools = []
    return {
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": physical,
        "usable_cpus": available_threads(),
        "memory_bytes": mem,
        "platform": platform.platform(),
        "load_average_1_5_15min": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "versions": package_versions(),
        "thread_pools": pools,
        "environment": {
            k: os.environ.get(k)
            for k in ("OMP_WAIT_POLICY", "NUMBA_THREADING_LAYER", "OMP_NUM_THREADS")
        },
        "numba_threading_layer": _numba_layer(),
        "git_commit": git_commit(Path(__file__).resolve().parents[1]),
        "timestamp": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
