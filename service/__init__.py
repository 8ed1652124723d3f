"""vecsearch's HTTP service (FastAPI), following Qdrant's REST API for the common subset.

Depends on :mod:`vecsearch`; nothing below imports it. Entry points: :func:`create_app`,
:class:`Settings`, and :func:`service.server.serve` (what ``vecsearch serve`` runs).
"""

from service.app import create_app
from service.settings import Settings

__all__ = ["Settings", "create_app"]
