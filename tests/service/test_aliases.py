"""Collection aliases: Qdrant's routes and rules over HTTP, the same answers as qdrant-client's
local mode (``QdrantClient(":memory:")``) for the same calls (queries through an alias
included), and aliases that survive a server restart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from qdrant_client import QdrantClient, models

from service import create_app
from tests.service.conftest import ServerThread, create, make_settings, upsert

pytestmark = pytest.mark.filterwarnings("ignore:Local mode performs exact")
rng = np.random.default_rng(18)
VECS = rng.normal(size=(40, 8)).astype(np.float32)
EXACT = models.SearchParams(exact=True)


def _actions(client: TestClient, *actions: dict[str, Any]) -> Any:
    return client.post("/collections/aliases", json={"actions": list(actions)})


def _mk(alias: str, collection: str) -> dict[str, Any]:
    return {"create_alias": {"collection_name": collection, "alias_name": alias}}


def _aliases(client: TestClient, path: str = "/aliases") -> list[tuple[str, str]]:
    r = client.get(path)
    assert r.status_code == 200, r.text
    return [(a["alias_name"], a["collection_name"]) for a in r.json()["result"]["aliases"]]


# -- HTTP --------------------------------------------------------------------------------------
def test_create_list_rename_delete(client):
    create(client, "a")
    create(client, "b")
    assert _aliases(client) == []
    r = _actions(client, _mk("x", "a"), _mk("y", "a"), _mk("z", "b"))
    assert r.status_code == 200 and r.json()["result"] is True, r.text
    assert _aliases(client) == [("x", "a"), ("y", "a"), ("z", "b")]
    assert _aliases(client, "/collections/a/aliases") == [("x", "a"), ("y", "a")]
    assert _aliases(client, "/collections/nope/aliases") == []  # as Qdrant: no error
    r = _actions(
        client,
        {"rename_alias": {"old_alias_name": "x", "new_alias_name": "w"}},
        {"delete_alias": {"alias_name": "y"}},
        {"delete_alias": {"alias_name": "never-existed"}},  # not an error in Qdrant
        _mk("z", "a"),  # an existing alias is re-pointed
    )
    assert r.status_code == 200, r.text
    assert _aliases(client) == [("w", "a"), ("z", "a")]


def test_every_route_resolves_an_alias(client):
    create(client, "a", dim=8)
    upsert(client, "a", VECS[:10], [{"g": i % 2} for i in range(10)])
    assert _actions(client, _mk("x", "a")).status_code == 200
    upsert(client, "x", VECS[10:20], start=10)  # a write through the alias
    info = client.get("/collections/x").json()["result"]
    assert info["points_count"] == 20
    assert client.get("/collections/x/exists").json()["result"] == {"exists": True}
    r = client.post("/collections/x/points", json={"ids": [3], "with_payload": True})
    assert r.status_code == 200 and r.json()["result"][0]["payload"] == {"g": 1}, r.text
    r = client.post("/collections/x/points/count", json={"exact": True})
    assert r.json()["result"]["count"] == 20
    r = client.patch("/collections/x", json={"optimizers_config": {"indexing_threshold": 100}})
    assert r.status_code == 200, r.text
    cfg = client.get("/collections/a").json()["result"]["config"]["optimizer_config"]
    assert cfg["indexing_threshold"] == 100
    r = client.put("/collections/x/index", json={"field_name": "g", "field_schema": "integer"})
    assert r.status_code == 200, r.text
    assert "g" in client.get("/collections/a").json()["result"]["payload_schema"]


def test_deleting_a_collection_deletes_its_aliases(client):
    create(client, "a")
    create(client, "b")
    assert _actions(client, _mk("x", "a"), _mk("y", "b")).status_code == 200
    # deleting by an alias's name deletes nothing (Qdrant does not resolve it there)
    assert client.delete("/collections/x").json()["result"] is False
    assert client.get("/collections/a").status_code == 200
    assert client.delete("/collections/a").json()["result"] is True
    assert _aliases(client) == [("y", "b")]
    assert client.get("/collections/x").status_code == 404
    create(client, "a")  # a new collection of that name does not inherit the alias
    assert _aliases(client, "/collections/a/aliases") == []


BAD_ACTIONS: dict[str, tuple[list[dict[str, Any]], int, str]] = {
    "target collection missing": ([_mk("x", "nope")], 404, "Collection `nope` doesn't exist"),
    "target is an alias": ([_mk("x", "a"), _mk("y", "x")], 404, "Collection `x` doesn't exist"),
    "alias named like a collection": ([_mk("b", "a")], 409, "actions[1].create_alias.alias_name"),
    "rename of a missing alias": (
        [{"rename_alias": {"old_alias_name": "q", "new_alias_name": "r"}}],
        404,
        "Alias q does not exist",
    ),
    "rename onto a collection's name": (
        [_mk("x", "a"), {"rename_alias": {"old_alias_name": "x", "new_alias_name": "b"}}],
        400,
        "actions[2].rename_alias.new_alias_name",
    ),
    "invalid alias name": ([_mk("bad/name", "a")], 400, "actions[1].create_alias.alias_name"),
    "empty operation": ([{}], 400, "actions[1]"),
    "two operations in one": (
        [{**_mk("x", "a"), "delete_alias": {"alias_name": "x"}}],
        400,
        "actions[1]",
    ),
    "missing field": ([{"create_alias": {"alias_name": "x"}}], 422, "collection_name"),
    "unknown field": ([{"create_alias": {**_mk("x", "a")["create_alias"], "z": 1}}], 422, "z"),
}


@pytest.mark.parametrize("name", sorted(BAD_ACTIONS))
def test_refusals_change_nothing(client, name):
    """Each bad request (after a good first action) is refused with Qdrant's status and a
    message naming the problem, and no action of it applies, the good first one included."""
    create(client, "a")
    create(client, "b")
    assert _actions(client, _mk("keep", "b")).status_code == 200
    actions, status, text = BAD_ACTIONS[name]
    r = _actions(client, _mk("first", "a"), *actions)
    assert r.status_code == status, r.text
    assert text in r.json()["status"]["error"], r.text
    assert _aliases(client) == [("keep", "b")]


def test_body_shape_refused(client):
    for body in ({}, {"actions": {}}, {"actions": [1]}, {"actions": [], "extra": 1}):
        r = client.post("/collections/aliases", json=body)
        assert r.status_code == 422, (body, r.text)


def test_collection_named_like_an_alias_refused(client):
    create(client, "a")
    assert _actions(client, _mk("x", "a")).status_code == 200
    r = client.put("/collections/x", json={"vectors": {"size": 4, "distance": "Dot"}})
    assert r.status_code == 400, r.text
    assert "Alias with the same name already exists" in r.json()["status"]["error"]
    assert client.get("/collections").json()["result"]["collections"] == [{"name": "a"}]


def test_alias_file_is_written_atomically(client, tmp_path):
    create(client, "a")
    assert _actions(client, _mk("x", "a")).status_code == 200
    data = tmp_path / "data"
    assert json.loads((data / "aliases.json").read_text()) == {"aliases": {"x": "a"}}
    assert [p.name for p in data.iterdir() if "aliases" in p.name] == ["aliases.json"]


# -- qdrant-client: the served API against local mode --------------------------------------------
def _fill(c: QdrantClient) -> None:
    for name in ("a", "b"):
        c.create_collection(name, models.VectorParams(size=8, distance=models.Distance.COSINE))
    c.upsert("a", [models.PointStruct(id=i, vector=VECS[i].tolist()) for i in range(20)])
    c.upsert("b", [models.PointStruct(id=i, vector=VECS[20 + i].tolist()) for i in range(20)])


@pytest.fixture
def pair(qclient):
    ref = QdrantClient(":memory:")
    for c in (qclient, ref):
        _fill(c)
    return qclient, ref


def _alias_state(c: QdrantClient) -> tuple[list, list, list]:
    every = sorted((a.alias_name, a.collection_name) for a in c.get_aliases().aliases)
    per = [sorted(a.alias_name for a in c.get_collection_aliases(n).aliases) for n in ("a", "b")]
    return every, per[0], per[1]


def _hits(c: QdrantClient, name: str) -> list[tuple[Any, float]]:
    res = c.query_points(name, query=VECS[5].tolist(), limit=5, search_params=EXACT)
    return [(p.id, round(p.score, 4)) for p in res.points]


def _create(alias: str, collection: str) -> models.CreateAliasOperation:
    return models.CreateAliasOperation(
        create_alias=models.CreateAlias(collection_name=collection, alias_name=alias)
    )


def _rename(old: str, new: str) -> models.RenameAliasOperation:
    return models.RenameAliasOperation(
        rename_alias=models.RenameAlias(old_alias_name=old, new_alias_name=new)
    )


def _delete(alias: str) -> models.DeleteAliasOperation:
    return models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias))


#: Steps run in order on both sides; after each, the alias state and a query through each
#: alias must agree.
STEPS: list[list[Any]] = [
    [_create("prod", "a"), _create("staging", "b")],
    [_create("prod", "b"), _create("old", "a")],  # the blue/green switch
    [_rename("old", "archive"), _delete("staging"), _delete("never-existed")],
    [_create("x", "a"), _create("y", "a"), _delete("x")],
]


def test_alias_operations_agree_with_local_mode(pair):
    ours, ref = pair
    for step in STEPS:
        for c in pair:
            assert c.update_collection_aliases(change_aliases_operations=step) is True
        state = _alias_state(ours)
        assert state == _alias_state(ref)
        for alias, _ in state[0]:
            assert _hits(ours, alias) == _hits(ref, alias), alias
            assert ours.collection_exists(alias) and ref.collection_exists(alias)
    assert _alias_state(ours)[0] == [("archive", "a"), ("prod", "b"), ("y", "a")]
    assert _hits(ours, "prod") == _hits(ours, "b") != _hits(ours, "a")
    for c in pair:  # deleting a collection deletes its aliases on both sides
        c.delete_collection("a")
    assert _alias_state(ours) == _alias_state(ref) == ([("prod", "b")], [], ["prod"])


BAD: dict[str, list[Any]] = {
    "alias of a missing collection": [_create("x", "zzz")],
    "alias of an alias": [_create("x", "a"), _create("y", "x")],
    "alias named like a collection": [_create("b", "a")],
    "rename of a missing alias": [_rename("nope", "x")],
    "rename onto a collection": [_create("x", "a"), _rename("x", "b")],
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_same_refusals(pair, name):
    """Both refuse, and neither applied any action of the refused request."""
    ours, ref = pair
    for c in pair:
        c.update_collection_aliases(change_aliases_operations=[_create("keep", "b")])
        with pytest.raises(Exception) as info:
            c.update_collection_aliases(
                change_aliases_operations=[_create("first", "a"), *BAD[name]]
            )
        if c is ours:
            assert any(s in str(info.value) for s in ("400", "404", "409")), str(info.value)
    assert _alias_state(ours) == _alias_state(ref) == ([("keep", "b")], [], ["keep"])


def test_collection_named_like_an_alias_refused_by_both(pair):
    for c in pair:
        c.update_collection_aliases(change_aliases_operations=[_create("x", "a")])
        with pytest.raises(Exception) as info:
            c.create_collection("x", models.VectorParams(size=8, distance=models.Distance.DOT))
        assert "already exists" in str(info.value)
    for c in pair:
        assert sorted(d.name for d in c.get_collections().collections) == ["a", "b"]


# -- durability --------------------------------------------------------------------------------
def _serve(tmp_path: Path) -> ServerThread:
    srv = ServerThread(create_app(make_settings(tmp_path)))
    srv.start()
    return srv


def test_aliases_survive_a_restart(tmp_path):
    srv = _serve(tmp_path)
    try:
        c = QdrantClient(url=srv.url)
        _fill(c)
        c.update_collection_aliases(
            change_aliases_operations=[_create("prod", "a"), _create("other", "b")]
        )
        before = _hits(c, "prod")
        c.close()
    finally:
        srv.stop()
    srv = _serve(tmp_path)
    try:
        c = QdrantClient(url=srv.url)
        assert _alias_state(c) == ([("other", "b"), ("prod", "a")], ["prod"], ["other"])
        assert _hits(c, "prod") == before == _hits(c, "a")
        c.close()
    finally:
        srv.stop()


# -- random sequences (Hypothesis): the same refusals and the same state as local mode -----------
NAMES = ["x", "y", "a"]  # a (and b) are collections
TARGETS = ["a", "b", "x", "nope"]
action = st.one_of(
    st.builds(_create, st.sampled_from(NAMES), st.sampled_from(TARGETS)),
    st.builds(_delete, st.sampled_from(NAMES)),
    st.builds(_rename, st.sampled_from(NAMES), st.sampled_from(NAMES)),
)
actions = st.lists(action, min_size=1, max_size=3)
step = st.one_of(  # alias changes three times as often as collection changes
    actions,
    actions,
    actions,
    st.just("recreate b"),  # delete collection b (its aliases go) and create it again
    st.sampled_from(NAMES).map(lambda n: ("create collection", n)),
)


def _run(c: QdrantClient, s: Any) -> bool:
    """Apply one step; True if it was accepted."""
    try:
        if s == "recreate b":
            c.delete_collection("b")
            c.create_collection("b", models.VectorParams(size=8, distance=models.Distance.COSINE))
        elif isinstance(s, tuple):
            c.create_collection(s[1], models.VectorParams(size=8, distance=models.Distance.DOT))
        else:
            c.update_collection_aliases(change_aliases_operations=s)
    except Exception:  # local mode raises ValueError, ours UnexpectedResponse
        return False
    return True


@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(step, min_size=1, max_size=8))
@example(steps=[[_create("x", "a")], [_rename("x", "a")]])
@example(steps=[[_create("x", "b"), _create("y", "x")], "recreate b", ("create collection", "y")])
@example(steps=[[_create("x", "b")], ("create collection", "x"), "recreate b", [_delete("x")]])
def test_random_alias_sequences_agree_with_local_mode(pair, steps):
    ours, ref = pair
    for c in pair:  # a fresh start: no aliases, collections a and b only
        for a in c.get_aliases().aliases:
            c.update_collection_aliases(change_aliases_operations=[_delete(a.alias_name)])
        for d in c.get_collections().collections:
            if d.name not in ("a", "b"):
                c.delete_collection(d.name)
    for s in steps:
        assert _run(ours, s) == _run(ref, s), s
        assert _alias_state(ours) == _alias_state(ref), s
        names = [sorted(d.name for d in c.get_collections().collections) for c in pair]
        assert names[0] == names[1], s
