"""Write docs/qdrant-api.md: every route of Qdrant's REST API and how vecsearch serves it.

Run from the repository root after adding or changing a route (the test
tests/service/test_qdrant_routes.py fails while the page is stale)::

    .venv/bin/python scripts/qdrant_routes.py           # rewrite docs/qdrant-api.md
    .venv/bin/python scripts/qdrant_routes.py --check   # exit 1 if stale or inconsistent

Three sources, none of them copied by hand into the page:

* Qdrant's routes: introspected from ``qdrant_client.http.api`` (generated from Qdrant's
  openapi.json): every ``_build_for_<operation>`` method of every ``_<Tag>Api`` class is
  called with a recording stand-in for the HTTP client, which captures the method and the
  URL template exactly as qdrant-client would send them. The tag is the class's (Qdrant's
  OpenAPI tag), the operation name is Qdrant's ``operationId``. Qdrant routes that
  qdrant-client does not mirror (the deprecated search / recommend / discover family,
  dropped from qdrant-client in 1.16 but still served by Qdrant; routes newer than the
  installed client) are listed by hand in the notes' ``[unlisted]`` table, each with a note
  saying why it is missing from qdrant-client.
* Our routes: ``service.create_app`` over a throw-away data directory (never started), walked
  with FastAPI's route iterator; FastAPI's own docs pages are left out.
* docs/qdrant-api-notes.toml, kept by hand: for each Qdrant route, ``"supported"``,
  ``"partial: <what is missing>"`` or ``"not supported[: <reason>]"``, and the
  vecsearch-only routes in ``[extras]``.

Paths are compared with their parameter names blanked (``{name}`` and ``{collection_name}``
are the same route). The annotations must agree with the app: a served route must be
supported or partial, a route not served must be "not supported", and every served route
must be a Qdrant route or an extra; otherwise the script names the line to change and
writes nothing.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import inspect
import pkgutil
import re
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "qdrant-api.md"
NOTES = ROOT / "docs" / "qdrant-api-notes.toml"
SCRIPT = "scripts/qdrant_routes.py"

#: Section order of the page (Qdrant's tags); tags not named here follow, sorted.
TAG_ORDER = (
    "Collections",
    "Aliases",
    "Points",
    "Search",
    "Indexes",
    "Snapshots",
    "Service",
    "Distributed",
    "Beta",
    "Quotas",
)
METHOD_ORDER = ("GET", "PUT", "POST", "PATCH", "DELETE")
#: Methods every framework answers on its own; they are not routes of the API.
IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})

Key = tuple[str, str]  # (method, normalised path)


@dataclass(frozen=True)
class QdrantRoute:
    """One route of Qdrant's REST API."""

    tag: str
    operation: str
    method: str
    path: str
    #: for a route Qdrant serves but qdrant_client.http does not list: why (e.g. deprecated)
    unlisted: str = ""

    @property
    def key(self) -> Key:
        return self.method, normalise(self.path)


@dataclass(frozen=True)
class Status:
    """A route's annotation: ``kind`` is supported, partial or not supported."""

    kind: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}" if self.detail else self.kind


KINDS = ("supported", "partial", "not supported")


def normalise(path: str) -> str:
    """``path`` with every parameter blanked (``{name}``, ``{id:path}`` -> ``{}``)."""
    path = re.sub(r"\{[^}]*\}", "{}", path)
    return path.rstrip("/") or "/"


def parse_status(text: Any, where: str) -> Status:
    """An annotation string as a :class:`Status` (ValueError naming ``where`` if malformed)."""
    if not isinstance(text, str):
        raise ValueError(f"{where}: expected a string, got {text!r}")
    kind, sep, detail = text.partition(":")
    kind, detail = kind.strip(), detail.strip()
    if kind not in KINDS:
        raise ValueError(f"{where}: {text!r} must start with one of {', '.join(KINDS)}")
    if kind == "supported" and sep:
        raise ValueError(f"{where}: 'supported' takes no detail; use 'partial: ...'")
    if kind == "partial" and not detail:
        raise ValueError(f"{where}: 'partial' must say what is missing: 'partial: <what>'")
    return Status(kind, detail)


class _Recorder:
    """Stands in for qdrant-client's ApiClient: returns the request instead of sending it."""

    def request(self, **kwargs: Any) -> dict[str, Any]:
        return kwargs


def client_routes() -> list[QdrantRoute]:
    """Every route of ``qdrant_client.http.api``, from its generated request builders."""
    import qdrant_client.http.api as api

    routes = []
    for info in pkgutil.iter_modules(api.__path__):
        module = importlib.import_module(f"{api.__name__}.{info.name}")
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or not re.fullmatch(r"_\w+Api", cls_name):
                continue
            tag = cls_name[1 : -len("Api")]
            builder = cls(_Recorder())
            for name, fn in inspect.getmembers(cls, inspect.isfunction):
                if not name.startswith("_build_for_"):
                    continue
                params = [p for p in inspect.signature(fn).parameters if p != "self"]
                op = name[len("_build_for_") :]
                try:  # every parameter None: the builders only test and str() them
                    request = fn(builder, **dict.fromkeys(params))
                except Exception as exc:
                    raise RuntimeError(f"cannot introspect {cls_name}.{name}: {exc!r}") from exc
                routes.append(QdrantRoute(tag, op, request["method"].upper(), request["url"]))
    if not routes:
        raise RuntimeError("found no routes in qdrant_client.http.api: its layout changed")
    return routes


def unlisted_routes(notes: Mapping[str, Any]) -> list[QdrantRoute]:
    """The notes' ``[unlisted]`` Qdrant routes (``op = {tag, method, path, note}``)."""
    out = []
    for op, spec in notes.get("unlisted", {}).items():
        if not isinstance(spec, Mapping) or set(spec) != {"tag", "method", "path", "note"}:
            raise ValueError(f"[unlisted] {op}: expected {{tag, method, path, note}}")
        if not spec["note"]:
            raise ValueError(f"[unlisted] {op}: the note must say why qdrant-client lacks it")
        route = QdrantRoute(spec["tag"], op, spec["method"].upper(), spec["path"], spec["note"])
        out.append(route)
    return out


def served_routes(app: Any) -> dict[Key, str]:
    """The routes ``app`` serves, by (method, normalised path), with their path as served;
    FastAPI's own pages (openapi.json, docs, redoc) are left out."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: included routers are flattened into app.routes

        def iter_route_contexts(routes: list[Any]) -> Iterable[Any]:
            return routes

    framework = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    out = {}
    for route in iter_route_contexts(app.routes):
        path = route.path
        if path is None or path in framework:
            continue
        for method in set(route.methods or ()) - IGNORED_METHODS:
            out[(method, normalise(path))] = path
    return out


def our_app_routes() -> dict[Key, str]:
    """:func:`served_routes` of ``service.create_app`` over an empty temporary data directory
    (the app is built, never started: nothing is opened or compiled)."""
    from service import Settings, create_app

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(data_dir=Path(tmp) / "data", warmup=False))
        return served_routes(app)


def load_notes(path: Path = NOTES) -> dict[str, Any]:
    with path.open("rb") as f:
        return tomllib.load(f)


def check(
    routes: Iterable[QdrantRoute], served: Mapping[Key, str], notes: Mapping[str, Any]
) -> list[str]:
    """Every disagreement between the annotations and the app, as a line to act on."""
    routes = list(routes)
    notes_file = NOTES.relative_to(ROOT)
    problems = []
    annotations = notes.get("routes", {})
    by_op = {r.operation: r for r in routes}
    for op in sorted(set(annotations) - set(by_op)):
        problems.append(f"[routes] {op}: no such Qdrant operation; remove it from {notes_file}")
    seen: dict[Key, str] = {}
    for r in routes:
        if r.key in seen:
            problems.append(f"{r.method} {r.path}: both {seen[r.key]} and {r.operation}")
        seen[r.key] = r.operation
        try:
            status = status_of(r, annotations)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        where = f"{r.method} {r.path} ({r.operation})"
        if r.key in served and status.kind == "not supported":
            problems.append(
                f"{where} is served but annotated {str(status)!r}: set [routes] {r.operation} "
                f'to "supported" or "partial: <what is missing>" in {notes_file}'
            )
        elif r.key not in served and status.kind != "not supported":
            problems.append(
                f"{where} is annotated {str(status)!r} but the app does not serve it: set "
                f'[routes] {r.operation} to "not supported: <reason>" in {notes_file}'
            )
    extras = {_extra_key(k): k for k in notes.get("extras", {})}
    for key, text in extras.items():
        if key[0] not in METHOD_ORDER or not key[1].startswith("/"):
            problems.append(f'[extras] {text!r}: expected "METHOD /path"')
        elif key in seen:
            problems.append(f"[extras] {text!r} is Qdrant's {seen[key]}: annotate it in [routes]")
        elif key not in served:
            problems.append(f"[extras] {text!r} is not served: remove it from {notes_file}")
    for key, path in sorted(served.items()):
        if key not in seen and key not in extras:
            problems.append(
                f"{key[0]} {path} is served but not annotated: add it to [extras] (a vecsearch "
                f"route) or [unlisted] (a Qdrant route qdrant-client does not list) in "
                f"{notes_file}"
            )
    return problems


def status_of(route: QdrantRoute, annotations: Mapping[str, Any]) -> Status:
    """The route's annotation; a route without one is "not supported" (no reason given)."""
    if route.operation not in annotations:
        return Status("not supported")
    return parse_status(annotations[route.operation], f"[routes] {route.operation}")


def _extra_key(text: str) -> Key:
    method, _, path = text.partition(" ")
    return method.upper(), normalise(path.strip())


def _method_rank(method: str) -> int:
    return METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)


def _extra_rank(text: str) -> tuple[str, int]:
    method, path = _extra_key(text)
    return path, _method_rank(method)


def _tag_rank(tag: str) -> tuple[int, str]:
    return (TAG_ORDER.index(tag) if tag in TAG_ORDER else len(TAG_ORDER), tag)


def _route_rank(r: QdrantRoute) -> tuple[str, int]:
    return r.path, _method_rank(r.method)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(routes: Iterable[QdrantRoute], notes: Mapping[str, Any]) -> str:
    """The Markdown page (deterministic: the same inputs give the same bytes)."""
    routes = list(routes)
    annotations = notes.get("routes", {})
    statuses = {r.operation: status_of(r, annotations) for r in routes}
    counts = {k: sum(s.kind == k for s in statuses.values()) for k in KINDS}
    version = importlib.metadata.version("qdrant-client")
    n_unlisted = sum(bool(r.unlisted) for r in routes)
    lines = [
        "# Qdrant's REST API in vecsearch",
        "",
        f"<!-- Generated by {SCRIPT} from docs/qdrant-api-notes.toml; do not edit by hand. -->",
        "",
        f"Every route of Qdrant's REST API: the {len(routes) - n_unlisted} routes of "
        f"qdrant-client {version}'s `qdrant_client.http` (generated from Qdrant's "
        f"`openapi.json`) and {n_unlisted} routes Qdrant serves that qdrant-client does not "
        "list (with a note in italics), and what vecsearch serves of each.",
        "",
        f"**{len(routes)} routes: {counts['supported']} supported, {counts['partial']} "
        f"partial, {counts['not supported']} not supported.**",
        "",
    ]
    general = notes.get("general", [])
    if general:
        lines += ["Everywhere:", ""]
        lines += [f"- {g}" for g in general]
        lines.append("")
    tags = sorted({r.tag for r in routes}, key=_tag_rank)
    for tag in tags:
        group = sorted((r for r in routes if r.tag == tag), key=_route_rank)
        n_served = sum(statuses[r.operation].kind != "not supported" for r in group)
        lines += [
            f"## {tag} ({n_served} of {len(group)} served)",
            "",
            "| Method | Path | Operation | Status |",
            "|---|---|---|---|",
        ]
        for r in group:
            op = f"`{r.operation}`" + (f" *{r.unlisted}*" if r.unlisted else "")
            status = _cell(str(statuses[r.operation]))
            lines.append(f"| {r.method} | `{r.path}` | {op} | {status} |")
        lines.append("")
    extras = notes.get("extras", {})
    if extras:
        lines += [
            "## vecsearch's own routes",
            "",
            "| Method | Path | What |",
            "|---|---|---|",
        ]
        for text in sorted(extras, key=_extra_rank):
            method, path = text.split(" ", 1)
            lines.append(f"| {method.upper()} | `{path.strip()}` | {_cell(extras[text])} |")
        lines.append("")
    lines += [
        "## Regenerating this page",
        "",
        f"This page is written by `{SCRIPT}`; do not edit it. After adding or changing a "
        'route, update its line in `docs/qdrant-api-notes.toml` (`"supported"`, '
        '`"partial: <what is missing>"` or `"not supported: <reason>"`; vecsearch-only '
        "routes go in `[extras]`) and run `.venv/bin/python scripts/qdrant_routes.py`. "
        "The script lists Qdrant's routes from the installed qdrant-client and our routes "
        "from `service.create_app`; it refuses to write while an annotation disagrees with "
        "what the app serves, and names the line to change. "
        "`tests/service/test_qdrant_routes.py` fails while this page is stale.",
        "",
    ]
    return "\n".join(lines)


def build(notes_path: Path = NOTES) -> tuple[str, list[str]]:
    """The page and the list of problems, from the installed qdrant-client, our app and the
    notes at ``notes_path``."""
    notes = load_notes(notes_path)
    routes = client_routes() + unlisted_routes(notes)
    problems = check(routes, our_app_routes(), notes)
    return render(routes, notes), problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    args = parser.parse_args(argv)
    page, problems = build()
    if problems:
        print(f"{len(problems)} annotation(s) disagree with the app:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    if args.check:
        if current != page:
            print(f"{DOC.relative_to(ROOT)} is stale: run .venv/bin/python {SCRIPT}")
            return 1
        return 0
    if current != page:
        DOC.write_text(page, encoding="utf-8")
        print(f"wrote {DOC.relative_to(ROOT)}")
    else:
        print(f"{DOC.relative_to(ROOT)} is up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
