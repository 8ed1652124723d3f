"""The recall/latency harness: sweeps, peers and reports over the engine's datasets.

Run as ``python -m bench`` or ``vecsearch bench``.

Peers run in the same process as our indexes, so up to three thread runtimes share the CPUs:
Numba's OpenMP layer, faiss's own libgomp and OpenBLAS. With OpenMP's default wait policy,
idle OpenMP threads spin after each parallel region and starve the others (measured on a
2-core machine: faiss binary batch search 0.8 ms -> 160 ms after a Numba parallel call; flat
batch search about 2.5x slower). The harness therefore asks for passive waiting unless the
caller chose a policy; this must happen before any OpenMP runtime loads, hence here.

OpenBLAS's own pthreads spin the same way after a multi-threaded call (for 2^28 cycles by
default): measured on Vaswani, a binary batch search right after a flat batch search took
54 instead of 33 us per query, the BLAS threads holding both cores. The spin is cut to 2^4
cycles (``OPENBLAS_THREAD_TIMEOUT=4``), which left flat's own batch and single-query speed
unchanged (measured on Vaswani and WordNet).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
