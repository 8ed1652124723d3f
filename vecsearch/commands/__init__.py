"""Subcommands of the ``vecsearch`` CLI: ``build``, ``info``, ``search`` and ``serve``.

Each module has ``register(subparsers)``, which adds its parser with ``func`` set to the
function that runs it (returning the exit status).
"""

from vecsearch.commands import build, info, search, serve

__all__ = ["build", "info", "search", "serve"]
