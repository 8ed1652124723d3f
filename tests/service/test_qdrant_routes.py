"""docs/qdrant-api.md (the table of Qdrant's REST routes and how we serve them) is current, its
annotations agree with the routes the app serves, and scripts/qdrant_routes.py notices when
they do not."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from fastapi import APIRouter, FastAPI

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = ".venv/bin/python scripts/qdrant_routes.py"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "qdrant_routes", ROOT / "scripts/qdrant_routes.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


qr = _load_script()


@pytest.fixture(scope="module")
def built() -> tuple[str, list[str]]:
    """The page regenerated in memory, and the annotations' disagreements with the app."""
    return qr.build()


def test_annotations_agree_with_the_served_routes(built: tuple[str, list[str]]) -> None:
    _, problems = built
    assert not problems, "docs/qdrant-api-notes.toml disagrees with the app:\n" + "\n".join(
        problems
    )


def test_page_is_current(built: tuple[str, list[str]]) -> None:
    page, _ = built
    current = qr.DOC.read_text(encoding="utf-8")
    assert current == page, f"docs/qdrant-api.md is stale: run {REGENERATE}"


def test_readme_lists_every_route_by_status() -> None:
    readme = qr.README.read_text(encoding="utf-8")
    assert readme == qr.build_readme(), f"README.md's route list is stale: run {REGENERATE}"
    block = readme[readme.index(qr.README_START) : readme.index(qr.README_END)]
    routes = qr.client_routes() + qr.unlisted_routes(qr.load_notes())
    for r in routes:
        assert f"`{r.method} {r.path}`" in block, r
    with pytest.raises(ValueError, match="no"):
        qr.splice("no block here", "x")


def test_client_routes_are_qdrants() -> None:
    """The introspection finds Qdrant's routes with their methods, templates and tags."""
    routes = {r.operation: r for r in qr.client_routes()}
    assert len(routes) >= 60
    up = routes["upsert_points"]
    assert (up.tag, up.method, up.path) == (
        "Points",
        "PUT",
        "/collections/{collection_name}/points",
    )
    assert routes["get_point"].path == "/collections/{collection_name}/points/{id}"
    assert routes["update_aliases"].tag == "Aliases"
    assert routes["cluster_status"].tag == "Distributed"
    assert routes["delete_field_index"].method == "DELETE"
    assert {"Collections", "Points", "Search", "Snapshots", "Service"} <= {
        r.tag for r in routes.values()
    }
    # the hand-kept deprecated routes are not (or no longer) among qdrant-client's
    unlisted = qr.unlisted_routes(qr.load_notes())
    assert unlisted and not {r.key for r in unlisted} & {r.key for r in routes.values()}


def test_served_routes_blank_parameter_names_and_skip_framework_pages() -> None:
    app = FastAPI()
    router = APIRouter(prefix="/collections/{name}")

    @router.get("/points/{pid}")
    def get_point(name: str, pid: str) -> None: ...

    @router.api_route("/things", methods=["PUT", "POST"])
    def things(name: str) -> None: ...

    app.include_router(router)
    assert qr.served_routes(app) == {
        ("GET", "/collections/{}/points/{}"): "/collections/{name}/points/{pid}",
        ("PUT", "/collections/{}/things"): "/collections/{name}/things",
        ("POST", "/collections/{}/things"): "/collections/{name}/things",
    }
    assert qr.normalise("/collections/{collection_name}/points/") == "/collections/{}/points"
    assert qr.normalise("/") == "/"


def _route(op: str, method: str, path: str) -> object:
    return qr.QdrantRoute("Points", op, method, path)


ROUTES = [
    _route("get_point", "GET", "/collections/{collection_name}/points/{id}"),
    _route("facet", "POST", "/collections/{collection_name}/facet"),
]
SERVED = {("GET", "/collections/{}/points/{}"): "/collections/{name}/points/{pid}"}


def test_check_accepts_consistent_annotations() -> None:
    notes = {"routes": {"get_point": "partial: no shard keys", "facet": "not supported: later"}}
    assert qr.check(ROUTES, SERVED, notes) == []
    # an unannotated route that is not served counts as "not supported"
    assert qr.check(ROUTES, SERVED, {"routes": {"get_point": "supported"}}) == []


@pytest.mark.parametrize(
    ("notes", "served", "expected"),
    [
        # served, but annotated as not supported
        ({"routes": {"get_point": "not supported"}}, SERVED, "is served but annotated"),
        # served, and not annotated at all
        ({"routes": {}}, SERVED, "is served but annotated 'not supported'"),
        # annotated as supported, but not served
        (
            {"routes": {"get_point": "supported", "facet": "partial: no filter"}},
            SERVED,
            "but the app does not serve it",
        ),
        # an annotation for an operation Qdrant does not have
        ({"routes": {"get_point": "supported", "nope": "supported"}}, SERVED, "no such Qdrant"),
        # a served route that is neither Qdrant's nor an extra
        (
            {"routes": {"get_point": "supported"}},
            {**SERVED, ("PUT", "/collections/{}/relevance"): "/collections/{n}/relevance"},
            "served but not annotated",
        ),
        # an extra that is really a Qdrant route
        (
            {
                "routes": {"get_point": "supported"},
                "extras": {"GET /collections/{c}/points/{i}": "x"},
            },
            SERVED,
            "annotate it in [routes]",
        ),
        # an extra the app does not serve
        (
            {"routes": {"get_point": "supported"}, "extras": {"GET /gone": "x"}},
            SERVED,
            "is not served",
        ),
        # malformed annotations
        ({"routes": {"get_point": "partial"}}, SERVED, "must say what is missing"),
        ({"routes": {"get_point": "supported: mostly"}}, SERVED, "takes no detail"),
        ({"routes": {"get_point": "maybe"}}, SERVED, "must start with one of"),
        ({"routes": {"get_point": "supported"}, "extras": {"/x": "no method"}}, SERVED, "METHOD"),
    ],
)
def test_check_names_each_disagreement(notes: dict, served: dict, expected: str) -> None:
    problems = qr.check(ROUTES, served, notes)
    assert any(expected in p for p in problems), problems


def test_render_counts_and_groups() -> None:
    routes = [*ROUTES, qr.QdrantRoute("Aliases", "get_aliases", "GET", "/aliases")]
    notes = {
        "routes": {"get_point": "partial: a | b", "get_aliases": "supported"},
        "extras": {"PUT /collections/{collection_name}/relevance": "fit"},
    }
    page = qr.render(routes, notes)
    assert "**3 routes: 1 supported, 1 partial, 1 not supported.**" in page
    assert page.index("## Aliases (1 of 1 served)") < page.index("## Points (1 of 2 served)")
    assert (
        "| GET | `/collections/{collection_name}/points/{id}` | `get_point` | partial: a \\| b |"
        in page
    )
    assert "| PUT | `/collections/{collection_name}/relevance` | fit |" in page
    assert qr.render(routes, notes) == page


def test_check_mode_reports_a_stale_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, built: tuple[str, list[str]]
) -> None:
    page, _ = built
    monkeypatch.setattr(qr, "build", lambda: built)
    monkeypatch.setattr(qr, "DOC", tmp_path / "docs" / "qdrant-api.md")
    readme = qr.README.read_text(encoding="utf-8")
    monkeypatch.setattr(qr, "README", tmp_path / "README.md")
    monkeypatch.setattr(qr, "ROOT", tmp_path)
    qr.DOC.parent.mkdir()
    qr.DOC.write_text(page + "edited by hand\n", encoding="utf-8")
    qr.README.write_text(readme, encoding="utf-8")
    assert qr.main(["--check"]) == 1
    assert qr.main([]) == 0
    assert qr.DOC.read_text(encoding="utf-8") == page
    assert qr.main(["--check"]) == 0
    # a README whose route block was edited by hand is stale too, and is rewritten
    start = readme.index(qr.README_START)
    qr.README.write_text(readme[:start] + readme[start:].replace("`GET /`", "`GET /x`", 1))
    assert qr.main(["--check"]) == 1
    assert qr.main([]) == 0
    assert qr.README.read_text(encoding="utf-8") == readme
