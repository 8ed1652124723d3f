"""Subcommands of the ``vecsearch`` CLI that use the engine: ``build``, ``info``, ``search``.

Each module has ``register(subparsers)``, which adds its parser with ``func`` set to the
function that runs it (returning the exit status).
"""

from vecsearch.commands import build, info, search

__all__ = ["build", "info", "search"]
