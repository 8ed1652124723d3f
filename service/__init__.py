"""vecsearch's HTTP service (FastAPI), following Qdrant's REST API for the common subset.

Depends on :mod:`vecsearch`; nothing below imports it.
"""
