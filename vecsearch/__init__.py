"""vecsearch's engine: collections, durable storage, filters, relevance and the CLI.

Depends on :mod:`indexes`; never imports the service layer or FastAPI.
"""

__version__ = "0.1.0"
