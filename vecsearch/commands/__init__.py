"""Subcommands of the ``vecsearch`` CLI: ``build``, ``info``, ``search``, ``serve`` and
``relevance``.

Each module has ``register(subparsers)``, which adds its parser with ``func`` set to the
function that runs it (returning the exit status).
"""

from vecsearch.commands import build, info, relevance, search, serve

__all__ = ["build", "info", "relevance", "search", "serve"]
