"""The fast lane of plain upserts (service/fast_lane.py): it answers exactly what the route
answers — same status, same body, same stored data — for good and bad requests alike, with
and without API keys, and it does take the plain requests it is meant for."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.fast_lane import FastUpsertLane, plain_points
from tests.service.conftest import READ_KEY, WRITE_KEY
from vecsearch.errors import StorageFullError

UUID = "5c56c793-69f3-4fbf-87e6-c4bf54c28c26"

#: (body or raw bytes, query string): each sent to an app with the lane and one without.
CASES: list[tuple[Any, str]] = [
    ({"points": [{"id": 1, "vector": [0.1, 0.2, 0.3, 0.4]}]}, ""),
    ({"points": [{"id": 2, "vector": [1, 2, 3, 4], "payload": {"city": "Oslo"}}]}, ""),
    ({"points": [{"id": UUID, "vector": [1, 0, 0, 0], "payload": None}]}, "wait=false"),
    ({"points": [{"id": 3, "vector": [1, 0, 0, 1]}, {"id": 3, "vector": [0, 1, 0, 0]}]}, ""),
    ({"points": [{"id": 4, "vector": [1, 0, 0, 0]}]}, "wait=true"),
    ({"points": [{"id": 5, "vector": [1, 0, 0, 0]}]}, "wait=true&ordering=strong"),
    # refused by the engine's validation: the route answers
    ({"points": [{"id": 6, "vector": [1, 0, 0]}]}, ""),  # wrong dimension
    ({"points": [{"id": -1, "vector": [1, 0, 0, 0]}]}, ""),
    ({"points": [{"id": 2**64, "vector": [1, 0, 0, 0]}]}, ""),
    ({"points": [{"id": "not-a-uuid", "vector": [1, 0, 0, 0]}]}, ""),
    ({"points": [{"id": 7, "vector": [0, 0, 0, 0]}]}, ""),  # zero vector, Cosine
    ({"points": [{"id": 8, "vector": [1e300, 1, 1, 1]}]}, ""),  # beyond float32
    ({"points": [{"id": 9, "vector": [1, 0, 0, 0], "payload": {"": 1}}]}, ""),
    ({"points": [{"id": 10, "vector": [1, 0, 0, 0]}, {"id": 11, "vector": [1]}]}, ""),
    # other shapes: not the lane's
    (b'{"points": [{"id": 12, "vector": [NaN, 0, 0, 0]}]}', ""),
    ({"points": [{"id": 13.0, "vector": [1, 0, 0, 0]}]}, ""),
    ({"points": [{"id": True, "vector": [1, 0, 0, 0]}]}, ""),
    ({"points": [{"id": 14, "vector": [True, 0, 0, 0]}]}, ""),
    ({"points": [{"id": 15, "vector": ["1", 0, 0, 0]}]}, ""),
    ({"points": [{"id": 16, "vector": {"": [1, 0, 0, 0]}}]}, ""),
    ({"points": [{"id": 17, "vector": [1, 0, 0, 0], "payload": [1]}]}, ""),
    ({"points": [{"id": 18, "vector": [1, 0, 0, 0], "extra": 1}]}, ""),
    ({"points": [{"vector": [1, 0, 0, 0]}]}, ""),
    ({"points": [{"id": 19, "vector": [1, 0, 0, 0]}], "shard_key": "a"}, ""),
    ({"points": [{"id": 20, "vector": [1, 0, 0, 0]}], "update_mode": "upsert"}, ""),
    ({"points": []}, ""),
    ({"batch": {"ids": [21], "vectors": [[1, 0, 0, 0]]}}, ""),
    ({"points": "x"}, ""),
    ([1, 2], ""),
    (b'{"points": [', ""),
    (b'{"points": [{"id": 22, "vector": [1, 0, 0, 0]}]} trailing', ""),
    ({"points": [{"id": 23, "vector": [1, 0, 0, 0]}]}, "wait=maybe"),
    ({"points": [{"id": 24, "vector": [1, 0, 0, 0]}]}, "wait=1"),
]


def _lane(client: TestClient) -> FastUpsertLane | None:
    app: Any = client.app.middleware_stack  # type: ignore[attr-defined]
    while app is not None:
        if isinstance(app, FastUpsertLane):
            return app
        app = getattr(app, "app", None)
    return None


def _answer(client: TestClient, path: str, body: Any, query: str, **kw: Any) -> tuple:
    url = path + (f"?{query}" if query else "")
    if isinstance(body, bytes):
        r = client.put(url, content=body, headers={"content-type": "application/json", **kw})
    else:
        r = client.put(url, json=body, headers=kw)
    out = r.json()
    out.pop("time", None)
    return r.status_code, out


def _pair(make_client: Any, tmp_path: Path, **settings: Any) -> tuple[TestClient, TestClient]:
    fast = make_client(data_dir=tmp_path / "fast", fast_upsert_lane=True, **settings)
    slow = make_client(data_dir=tmp_path / "slow", fast_upsert_lane=False, **settings)
    assert _lane(fast) is not None and _lane(slow) is None
    return fast, slow


def _stored(client: TestClient, **headers: str) -> list[dict]:
    r = client.post(
        "/collections/c/points/scroll",
        json={"limit": 100, "with_vector": True, "with_payload": True},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return r.json()["result"]["points"]


def test_same_answers_and_data_as_the_route(make_client: Any, tmp_path: Path) -> None:
    fast, slow = _pair(make_client, tmp_path)
    for c in (fast, slow):
        r = c.put("/collections/c", json={"vectors": {"size": 4, "distance": "Cosine"}})
        assert r.status_code == 200
    lane = _lane(fast)
    assert lane is not None
    statuses = set()
    for body, query in CASES:
        got = _answer(fast, "/collections/c/points", body, query)
        want = _answer(slow, "/collections/c/points", body, query)
        assert got == want, (body, query)
        statuses.add(got[0])
    assert {200, 202, 400, 422} <= statuses  # the cases cover success and both kinds of error
    # the plain requests were the lane's (the first five and the empty payload key, which
    # the engine accepts); nothing else was
    assert lane.served == 6
    assert _stored(fast) == _stored(slow)
    assert len(_stored(fast)) == 11  # 1-5, 9, 16, 20, 21, 24 and the UUID


def test_unknown_collection_and_errors_after_validation(make_client: Any, tmp_path: Path) -> None:
    fast, slow = _pair(make_client, tmp_path)
    body = {"points": [{"id": 1, "vector": [1.0, 0.0]}]}
    assert _answer(fast, "/collections/nope/points", body, "") == _answer(
        slow, "/collections/nope/points", body, ""
    )
    assert _answer(fast, "/collections/nope/points", body, "")[0] == 404
    # a collection closed under the lane is not "loaded": the route reopens it and writes
    for c in (fast, slow):
        r = c.put("/collections/c", json={"vectors": {"size": 2, "distance": "Dot"}})
        assert r.status_code == 200
    coll = fast.app.state.service.db.loaded_collection("c")  # type: ignore[attr-defined]
    assert coll is not None
    coll.close()
    assert _answer(fast, "/collections/c/points", body, "")[0] == 200
    assert len(_stored(fast)) == 1


def test_store_errors_mapped_as_the_app_does(
    make_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An engine error after validation (here the store's full-disk error, raised by the
    collection's write) is answered by the app's own mapping: 507 with the engine's
    message and code, as the route answers it."""
    fast, slow = _pair(make_client, tmp_path)
    body = {"points": [{"id": 1, "vector": [1.0, 0.0]}]}
    answers = []
    for c in (fast, slow):
        r = c.put("/collections/c", json={"vectors": {"size": 2, "distance": "Dot"}})
        assert r.status_code == 200
        coll = c.app.state.service.db.loaded_collection("c")  # type: ignore[attr-defined]

        def full(*_: Any, **__: Any) -> Any:
            raise StorageFullError("Not enough space to store the write (test)")

        monkeypatch.setattr(coll, "upsert", full)
        answers.append(_answer(c, "/collections/c/points", body, ""))
    assert answers[0] == answers[1]
    assert answers[0][0] == 507 and answers[0][1]["status"]["code"] == "storage_full"
    assert _lane(fast).served == 1  # the lane answered it  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"api-key": READ_KEY},
        {"api-key": "wrong"},
        {"api-key": WRITE_KEY},
        {"authorization": f"Bearer {WRITE_KEY}"},
        {"authorization": f"Bearer {READ_KEY}"},
        {"api-key": "", "authorization": f"Bearer {WRITE_KEY}"},
        {"api-key": "wrong", "authorization": f"Bearer {WRITE_KEY}"},
    ],
)
def test_api_keys_as_the_route(make_client: Any, tmp_path: Path, headers: dict) -> None:
    keys = {"api_key": [WRITE_KEY], "read_only_api_key": [READ_KEY]}
    fast, slow = _pair(make_client, tmp_path, **keys)
    for c in (fast, slow):
        r = c.put(
            "/collections/c",
            json={"vectors": {"size": 2, "distance": "Dot"}},
            headers={"api-key": WRITE_KEY},
        )
        assert r.status_code == 200
    body = {"points": [{"id": 1, "vector": [1.0, 2.0]}]}
    got = _answer(fast, "/collections/c/points", body, "", **headers)
    assert got == _answer(slow, "/collections/c/points", body, "", **headers)
    assert _stored(fast, **{"api-key": WRITE_KEY}) == _stored(slow, **{"api-key": WRITE_KEY})
    lane = _lane(fast)
    assert lane is not None
    assert lane.served == (1 if got[0] == 200 else 0)


def test_plain_points_shape() -> None:
    assert plain_points({"points": [{"id": 1, "vector": [1, 2.5]}]}) == [
        {"id": 1, "vector": [1, 2.5], "payload": None}
    ]
    assert plain_points({"points": [{"id": 1, "vector": [math.inf]}]}) is not None  # engine's
    for bad in ({}, {"points": []}, {"points": [{"id": 1}]}, {"points": [{"id": 1, "vector": 3}]}):
        assert plain_points(bad) is None
