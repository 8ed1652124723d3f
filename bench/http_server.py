"""The pieces of the HTTP harness that its studies share (:mod:`bench.http_bench`,
:mod:`bench.http_writes`, :mod:`bench.http_overhead`, :mod:`bench.hybrid`): a ``vecsearch
serve`` child process from a source tree, a free port, the environment, machine facts."""

from __future__ import annotations

import http.client
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


class Server:
    """``vecsearch serve`` in a child process, from this checkout or from source ``tree``
    (``bench.http_overhead`` compares trees), with ``extra_env`` on top of the environment."""

    def __init__(
        self, data_dir: Path, tree: Path = ROOT, extra_env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, **(extra_env or {}), "PYTHONPATH": str(tree)}
        cmd = [sys.executable, "-m", "vecsearch.cli", "serve", "--data-dir", str(data_dir)]
        cmd += ["--port", str(self.port), "--log-level", "warning"]
        self.proc = subprocess.Popen(cmd, env=env, cwd=tree)

    def wait_ready(self, timeout: float = 1200) -> None:
        """Wait for ``/readyz`` (a fresh tree compiles its kernels first)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited")
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            finally:
                c.close()
            time.sleep(0.2)
        raise TimeoutError("server not ready")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def machine() -> dict[str, Any]:
    import importlib.metadata as md

    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_1m": os.getloadavg()[0],
        "versions": {p: md.version(p) for p in ("numpy", "numba", "fastapi", "uvicorn", "httpx")},
    }
