"""Benchmark configuration: which systems, their build grid and query sweep (TOML).

Format (every key optional)::

    [run]                         # defaults for CLI options
    k = 10
    runs = 3
    queries = 1000

    [algorithms.hnswlib]          # a system's name in reports
    adapter = "hnswlib"           # registry name (default: the section name)
    build = { M = [16], ef_construction = [200] }      # lists are swept as a grid
    query = { ef = [10, 20, 40, 80, 160, 320] }

A scalar value is a one-element list. Systems not in the file run with the adapter's own
defaults. ``[datasets."<name>".algorithms.<system>]`` overrides a system for one dataset
(for example IVF-PQ's ``m`` must divide the dimension).
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "default.toml"


@dataclass
class AlgorithmSpec:
    """One system to benchmark: adapter name, build grid and query sweep (expanded)."""

    name: str
    adapter: str
    build_grid: list[dict[str, Any]] = field(default_factory=lambda: [{}])
    query_grid: list[dict[str, Any]] = field(default_factory=lambda: [{}])


def expand_grid(table: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Cartesian product of a table of lists: ``{a=[1,2], b=3}`` -> 2 dicts, keys in order."""
    if not table:
        return [{}]
    keys = list(table)
    values = [v if isinstance(v, list) else [v] for v in table.values()]
    for k, v in zip(keys, values, strict=True):
        if not v:
            raise ValueError(f"config: parameter {k!r} has an empty list")
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


def load_config(path: str | Path | None) -> dict[str, Any]:
    """Parse a TOML config (``None``: the default config shipped in ``bench/configs``)."""
    p = Path(path) if path is not None else DEFAULT_CONFIG
    with open(p, "rb") as fh:
        return tomllib.load(fh)


def algorithm_specs(config: dict[str, Any], names: list[str], dataset: str) -> list[AlgorithmSpec]:
    """Specs for ``names`` in the given order, with per-dataset overrides applied."""
    base = config.get("algorithms", {})
    override = config.get("datasets", {}).get(dataset, {}).get("algorithms", {})
    specs = []
    for name in names:
        entry = {**base.get(name, {})}
        for key, value in override.get(name, {}).items():
            if key in ("build", "query") and isinstance(value, dict):
                entry[key] = {**entry.get(key, {}), **value}
            else:
                entry[key] = value
        unknown = set(entry) - {"adapter", "build", "query"}
        if unknown:
            raise ValueError(f"config for {name!r}: unknown key(s) {sorted(unknown)}")
        specs.append(
            AlgorithmSpec(
                name=name,
                adapter=entry.get("adapter", name),
                build_grid=expand_grid(entry.get("build")),
                query_grid=expand_grid(entry.get("query")),
            )
        )
    return specs
