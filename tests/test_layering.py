"""The import rule of ARCHITECTURE.md §1: ``service -> vecsearch -> indexes``, never back."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STDLIB = set(sys.stdlib_module_names)

#: Top-level modules each layer may import (besides the standard library).
ALLOWED = {
    # llvmlite is numba's own code generator (used for intrinsics such as prefetch)
    "indexes": {"indexes", "numpy", "numba", "llvmlite"},
    "vecsearch": {"vecsearch", "indexes", "numpy", "numba", "tqdm", "orjson"},
    "service": {
        "service",
        "vecsearch",
        "indexes",
        "numpy",
        "fastapi",
        "starlette",
        "uvicorn",
        "pydantic",
        "pydantic_settings",
        "prometheus_client",
        "anyio",
        "threadpoolctl",
    },
}
#: Deliberate exceptions: (file, module) pairs with the reason they are allowed.
EXCEPTIONS = {
    # `vecsearch bench` and the GloVe demo delegate to the harness, imported lazily inside
    # the command functions; the engine itself never touches bench.
    ("vecsearch/cli.py", "bench"),
    # `vecsearch build` reads .hdf5 and .parquet inputs; the readers import h5py / pyarrow
    # lazily, only when a file of that format is opened (optional extra "io").
    ("vecsearch/readers.py", "h5py"),
    ("vecsearch/readers.py", "pyarrow"),
    # `vecsearch serve` starts the HTTP service; it imports service lazily inside the command
    # function, so importing the engine (or its CLI) never imports FastAPI.
    ("vecsearch/commands/serve.py", "service"),
    # Collection.fit_relevance limits BLAS to one thread while fitting when threadpoolctl is
    # installed (imported lazily inside the fit; without it the fit runs unchanged).
    ("vecsearch/collection.py", "threadpoolctl"),
    # `vecsearch serve --demo` builds the demo collection with the harness's dataset loader,
    # imported lazily inside the demo builder only.
    ("service/demo.py", "bench"),
}


def imports_of(path: Path) -> set[str]:
    """Top-level names of every module imported anywhere in ``path`` (functions included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def layer_files(layer: str) -> list[Path]:
    return sorted((ROOT / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_what_it_may(layer):
    assert layer_files(layer), f"layer {layer} has no modules"
    violations = []
    for path in layer_files(layer):
        rel = path.relative_to(ROOT).as_posix()
        for mod in imports_of(path) - STDLIB - ALLOWED[layer]:
            if (rel, mod) not in EXCEPTIONS:
                violations.append(f"{rel} imports {mod}")
    assert not violations, "layering broken:\n" + "\n".join(violations)


def test_rule_catches_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from service.app import create_app\n    import fastapi\n")
    assert imports_of(bad) == {"service", "fastapi"}
