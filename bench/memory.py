"""Process memory: current RSS, its peak during a block (sampled), and the OS peak RSS."""

from __future__ import annotations

import resource
import sys
import threading
from types import TracebackType

import psutil


def rss_bytes() -> int:
    """Current resident set size of this process."""
    return int(psutil.Process().memory_info().rss)


def max_rss_bytes() -> int:
    """Peak RSS of this process since it started (``getrusage``; monotone)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


class PeakRSS:
    """Context manager sampling RSS every ``interval`` seconds in a background thread.

    Index builds release the GIL (C++ or Numba ``nogil``), so the sampler keeps running;
    ``peak`` is the highest RSS seen (a lower bound on the true peak), ``before``/``after``
    the RSS at entry and exit.
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.before = self.after = self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        proc = psutil.Process()
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, int(proc.memory_info().rss))

    def __enter__(self) -> PeakRSS:
        self.before = self.peak = rss_bytes()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.after = rss_bytes()
        self.peak = max(self.peak, self.after)
