"""The engine's aliases (vecsearch.aliases, Database): resolution, persistence across a
reopen, atomic all-or-nothing changes, and the names aliases may not take."""

from __future__ import annotations

import json

import pytest

from vecsearch.aliases import AliasStore, parse_actions
from vecsearch.database import Database, check_collection_name
from vecsearch.errors import (
    AliasNotFoundError,
    CollectionExistsError,
    CollectionNotFoundError,
    StorageError,
    ValidationError,
)

BODY = {"vectors": {"size": 2, "distance": "Dot"}}


def _create(alias: str, collection: str) -> dict:
    return {"create_alias": {"collection_name": collection, "alias_name": alias}}


def _apply(db: Database, *actions: dict) -> None:
    db.update_aliases(parse_actions({"actions": list(actions)}, check_collection_name))


def test_resolution_and_reopen(tmp_path):
    with Database(tmp_path) as db:
        coll = db.create_collection("a", BODY)
        _apply(db, _create("x", "a"))
        assert db.get_collection("x") is coll
        assert db.loaded_collection("x") is coll
        assert db.resolve("x") == "a" and db.resolve("a") == "a" and db.resolve("n") == "n"
        assert not db.collection_exists("x")  # strictly collections
    with Database(tmp_path) as db:
        assert db.aliases.all() == [("x", "a")]
        assert db.get_collection("x").name == "a"
        db.create_snapshot("x")  # filed under the collection's own name
        assert [s.name for s in db.list_snapshots("a")] == [s.name for s in db.list_snapshots("x")]
        assert len(db.list_snapshots("a")) == 1


def test_changes_are_all_or_nothing_and_saved(tmp_path):
    with Database(tmp_path) as db:
        db.create_collection("a", BODY)
        _apply(db, _create("x", "a"))
        saved = (tmp_path / "aliases.json").read_text()
        for bad, error in (
            (_create("y", "zzz"), CollectionNotFoundError),
            ({"rename_alias": {"old_alias_name": "q", "new_alias_name": "r"}}, AliasNotFoundError),
            (_create("a", "a"), CollectionExistsError),  # Qdrant's 409
        ):
            with pytest.raises(error):
                _apply(db, _create("first", "a"), bad)
            assert db.aliases.all() == [("x", "a")]
            assert (tmp_path / "aliases.json").read_text() == saved
        assert json.loads(saved) == {"aliases": {"x": "a"}}
        assert AliasStore(tmp_path).all() == [("x", "a")]


def test_names_an_alias_may_not_take_and_cleanup(tmp_path):
    with Database(tmp_path) as db:
        db.create_collection("a", BODY)
        _apply(db, _create("x", "a"))
        with pytest.raises(ValidationError, match="Alias with the same name"):
            db.create_collection("x", BODY)
        assert db.list_collections() == ["a"]
        assert db.delete_collection("x") is False  # an alias's name deletes nothing
        assert db.delete_collection("a") is True
        assert db.aliases.all() == []
        with pytest.raises(CollectionNotFoundError):
            db.get_collection("x")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "actions"),
        (
            {"actions": [{"create_alias": {"alias_name": "x"}}]},
            "actions[0].create_alias.collection_name",
        ),
        ({"actions": [{"drop_alias": {}}]}, "actions[0]"),
        ({"actions": [_create("../x", "a")]}, "actions[0].create_alias.alias_name"),
        ({"actions": [{"delete_alias": {"alias_name": 3}}]}, "actions[0].delete_alias.alias_name"),
    ],
)
def test_parse_errors_name_the_field(body, field):
    with pytest.raises(ValidationError) as info:
        parse_actions(body, check_collection_name)
    assert info.value.field == field


def test_a_damaged_alias_file_is_a_clear_storage_error(tmp_path):
    (tmp_path / "aliases.json").write_text('{"aliases": ')
    with pytest.raises(StorageError, match=r"aliases\.json is not a readable alias file"):
        Database(tmp_path)
