"""The recall/latency harness: real datasets, exact ground truth, peers and reports.

Run as ``python -m bench`` or ``vecsearch bench``.
"""
