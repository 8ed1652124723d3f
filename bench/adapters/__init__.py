"""Adapter registry: one name per benchmarked system, imported lazily.

Registering a system: add ``"name": "module:Class"`` below. Missing packages or index modules
surface as :class:`AdapterUnavailable` only when that system is asked for.
"""

from __future__ import annotations

import importlib

from bench.adapters.base import Adapter, AdapterUnavailable

ADAPTERS: dict[str, str] = {
    # ours (indexes/)
    "flat": "bench.adapters.ours:FlatAdapter",
    "hnsw": "bench.adapters.ours:HNSWAdapter",
    "binary": "bench.adapters.binary_adapter:BinaryAdapter",
    "ivfpq": "bench.adapters.ivfpq_adapter:IVFPQAdapter",
    "ivfpq-refine": "bench.adapters.ivfpq_adapter:IVFPQRefineAdapter",
    "spann": "bench.adapters.spann_adapter:SPANNAdapter",
    # peers
    "hnswlib": "bench.adapters.hnswlib_adapter:HnswlibAdapter",
    "faiss-flat": "bench.adapters.faiss_adapter:FaissFlatAdapter",
    "faiss-hnsw": "bench.adapters.faiss_adapter:FaissHNSWAdapter",
    "faiss-ivfpq": "bench.adapters.faiss_adapter:FaissIVFPQAdapter",
    "faiss-ivfpq-refine": "bench.adapters.faiss_adapter:FaissIVFPQRefineAdapter",
    "faiss-ivfflat": "bench.adapters.faiss_adapter:FaissIVFFlatAdapter",
    "faiss-binary": "bench.adapters.faiss_adapter:FaissBinaryFlatAdapter",
    "usearch": "bench.adapters.usearch_adapter:USearchAdapter",
}


def adapter_class(name: str) -> type[Adapter]:
    """The adapter class registered as ``name``."""
    try:
        target = ADAPTERS[name]
    except KeyError:
        raise ValueError(f"unknown adapter {name!r}; known: {sorted(ADAPTERS)}") from None
    module, _, cls = target.partition(":")
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise AdapterUnavailable(f"{name}: cannot import {module}: {exc}") from exc
    return getattr(mod, cls)


__all__ = ["ADAPTERS", "Adapter", "AdapterUnavailable", "adapter_class"]
