"""Issue 19, request validation: requests that used to end in a 500 get a 400 that names the
field and the limit, and change nothing (count and every stored point, vectors and payloads
included, are equal before and after). Each case is the exact request (method, path, raw
body), the status and the whole message.

* vectors whose scores would overflow float32 (norm above 1e15 outside Cosine), on every
  write path and as queries;
* nesting: request bodies (128 levels), filters (64), prefetches (16), payloads (64);
* lone surrogates (``"\\ud800"``) wherever a string goes, and integers beyond 64 bits;
* an internal error answers 500 in Qdrant's envelope, is logged once, and leaves a
  keep-alive connection usable (a real uvicorn server).
"""

from __future__ import annotations

import http.client
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service import create_app
from tests.service.conftest import ServerThread, make_settings
from vecsearch.database import Database

BIG = [3e38, 3e38, 3e38, 3e38]  # finite in float32; its norm is 6e38
NORM = (
    "vector norm 6e+38 exceeds the limit 1e+15 (outside Cosine, larger vectors could make "
    "scores overflow float32); scale the vectors down"
)
SPARSE_NORM = NORM.replace("6e+38", "3e+38")
BODY_DEPTH = (
    "Format error in JSON body: nested deeper than 128 levels of objects and arrays (the limit)"
)
FILTER_DEPTH = (
    "filter: filter nested deeper than 64 levels (the limit; each filter inside must, "
    "should, must_not, min_should or nested adds a level)"
)
PAYLOAD_DEPTH = (
    "payload nested deeper than 64 levels of objects and arrays (the limit; the payload "
    "object is level 1)"
)
LONE = (
    "holds a lone UTF-16 surrogate, which is not valid Unicode (escape characters outside "
    "the BMP as a surrogate pair, or send UTF-8)"
)

COLLECTION = {
    "vectors": {
        "img": {"size": 4, "distance": "Dot"},
        "txt": {"size": 4, "distance": "Euclid"},
        "m": {"size": 4, "distance": "Dot", "multivector_config": {"comparator": "max_sim"}},
    },
    "sparse_vectors": {"sp": {}, "bm": {"modifier": "idf"}},
}
POINTS = [
    {
        "id": i,
        "vector": {
            "img": [1.0, i, 0.5, -1.0],
            "txt": [i, 1.0, 0.0, 2.0],
            "m": [[1.0, 0.0, i, 0.0], [0.5, 0.5, 0.5, 0.5]],
            "sp": {"indices": [1, 7], "values": [0.5, float(i)]},
            "bm": {"text": f"hello world number {i}", "model": "qdrant/bm25"},
        },
        "payload": {"i": i, "city": ["Berlin", "Paris"][i % 2]},
    }
    for i in range(1, 4)
]


def nested(inner: Any, key: str, levels: int, *, listed: bool) -> Any:
    """``inner`` wrapped ``levels`` times as ``{key: [inner]}`` (or ``{key: inner}``)."""
    for _ in range(levels):
        inner = {key: [inner] if listed else inner}
    return inner


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    c = make_client()
    r = c.put("/collections/n", json=COLLECTION)
    assert r.status_code == 200, r.text
    r = c.put("/collections/n/points", json={"points": POINTS})
    assert r.status_code == 200, r.text
    r = c.put("/collections/d", json={"vectors": {"size": 4, "distance": "Dot"}})
    assert r.status_code == 200, r.text
    r = c.put("/collections/d/points", json={"points": [{"id": 1, "vector": [1, 2, 3, 4]}]})
    assert r.status_code == 200, r.text
    return c


def stored(client: TestClient) -> list[Any]:
    """Everything a rejected request must leave as it was: counts, points with vectors and
    payloads, collection info (payload schema), aliases."""
    out: list[Any] = []
    for name in ("n", "d"):
        r = client.post(f"/collections/{name}/points/count", json={"exact": True})
        out.append(r.json()["result"])
        body = {"limit": 100, "with_payload": True, "with_vector": True}
        r = client.post(f"/collections/{name}/points/scroll", json=body)
        out.append(r.json()["result"])
        info = client.get(f"/collections/{name}").json()["result"]
        out.append((info["points_count"], info["payload_schema"]))
    out.append(client.get("/aliases").json()["result"])
    return out


def send(client: TestClient, method: str, path: str, raw: str | bytes) -> Any:
    return client.request(method, path, content=raw, headers={"content-type": "application/json"})


def refused(client: TestClient, method: str, path: str, raw: str | bytes, message: str) -> None:
    """The request is a 400 with exactly ``message`` and changes nothing."""
    before = stored(client)
    r = send(client, method, path, raw)
    assert r.status_code == 400, r.text
    body = r.json()
    assert set(body) == {"status", "time"}, body
    assert body["status"]["error"] == message
    assert stored(client) == before


def dumps(body: Any) -> str:
    return json.dumps(body)


# --- 1. scores that would overflow float32 ---------------------------------------------------

BIG_WRITES = [
    # (method, path, body, message)
    (
        "PUT",
        "/collections/d/points",
        {"points": [{"id": 2, "vector": BIG}]},
        f"points[0].vector: {NORM}",
    ),
    (
        "PUT",
        "/collections/d/points",
        {"batch": {"ids": [2, 3], "vectors": [[1, 1, 1, 1], BIG]}},
        f"batch.vectors[1]: {NORM}",
    ),
    (
        "PUT",
        "/collections/n/points",
        {"points": [{"id": 9, "vector": {"img": BIG}}]},
        f"points[0].vector.img: {NORM}",
    ),
    (
        "PUT",
        "/collections/n/points",
        {"points": [{"id": 9, "vector": {"txt": BIG}}]},
        f"points[0].vector.txt: {NORM}",
    ),
    (
        "PUT",
        "/collections/n/points",
        {"points": [{"id": 9, "vector": {"m": [[1, 1, 1, 1], BIG]}}]},
        f"points[0].vector.m[1]: {NORM}",
    ),
    (
        "PUT",
        "/collections/n/points",
        {"points": [{"id": 9, "vector": {"sp": {"indices": [1, 2], "values": [3e38, 1]}}}]},
        f"points[0].vector.sp.values: {SPARSE_NORM}",
    ),
    (
        "PUT",
        "/collections/n/points",
        {"batch": {"ids": [8, 9], "vectors": {"img": [[1, 1, 1, 1], BIG]}}},
        f"batch.vectors.img[1]: {NORM}",
    ),
    (
        "PUT",
        "/collections/n/points/vectors",
        {"points": [{"id": 1, "vector": {"img": BIG}}]},
        f"points[0].vector.img: {NORM}",
    ),
    (
        "PUT",
        "/collections/d/points/vectors",
        {"points": [{"id": 1, "vector": BIG}]},
        f"points[0].vector: {NORM}",
    ),
    (
        "POST",
        "/collections/n/points/batch",
        {
            "operations": [
                {"upsert": {"points": [{"id": 5, "vector": {"img": [1, 1, 1, 1]}}]}},
                {"update_vectors": {"points": [{"id": 1, "vector": {"txt": BIG}}]}},
            ]
        },
        f"operations[1].update_vectors.points[0].vector.txt: {NORM}",
    ),
    (
        "POST",
        "/collections/n/points/batch",
        {"operations": [{"upsert": {"points": [{"id": 5, "vector": {"img": BIG}}]}}]},
        f"operations[0].upsert.points[0].vector.img: {NORM}",
    ),
]

BIG_QUERIES = [
    ("/collections/d/points/search", {"vector": BIG}, f"vector: {NORM}"),
    ("/collections/d/points/query", {"query": BIG}, f"query: {NORM}"),
    ("/collections/n/points/query", {"query": BIG, "using": "txt"}, f"query: {NORM}"),
    (
        "/collections/n/points/query",
        {"query": [[1, 1, 1, 1], BIG], "using": "m"},
        f"query[1]: {NORM}",
    ),
    (
        "/collections/n/points/query",
        {"query": {"indices": [1], "values": [3e38]}, "using": "sp"},
        f"query.values: {SPARSE_NORM}",
    ),
    (
        "/collections/n/points/query",
        {"prefetch": [{"query": BIG, "using": "txt"}], "query": {"fusion": "rrf"}},
        f"prefetch[0].query: {NORM}",
    ),
    (
        "/collections/n/points/query",
        {"query": {"nearest": BIG}, "using": "img"},
        f"query.nearest: {NORM}",
    ),
    (
        "/collections/n/points/query",
        {"query": {"recommend": {"positive": [BIG]}}, "using": "img"},
        f"query.recommend.positive[0]: {NORM}",
    ),
    (
        "/collections/n/points/search",
        {"vector": {"name": "img", "vector": BIG}},
        f"vector.vector: {NORM}",
    ),
    (
        "/collections/n/points/search/batch",
        {
            "searches": [
                {"vector": {"name": "img", "vector": [1, 1, 1, 1]}},
                {"vector": {"name": "txt", "vector": BIG}},
            ]
        },
        f"searches[1].vector.vector: {NORM}",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "message"), BIG_WRITES)
def test_vector_whose_scores_overflow_is_refused_on_every_write_path(
    client: TestClient, method: str, path: str, body: Any, message: str
) -> None:
    refused(client, method, path, dumps(body), message)


@pytest.mark.parametrize(("path", "body", "message"), BIG_QUERIES)
def test_query_vector_whose_scores_overflow_is_refused(
    client: TestClient, path: str, body: Any, message: str
) -> None:
    refused(client, "POST", path, dumps(body), message)


def test_vectors_at_the_norm_limit_give_finite_scores(client: TestClient) -> None:
    """Vectors just under the limit are stored, and every score about them is a number: dot
    products, distances, MaxSim over 50 query vectors, dbsf fusion."""
    v = [5e14, 5e14, 5e14, 4.99e14]  # norm just under 1e15
    point = {"id": 7, "vector": {"img": v, "txt": [-x for x in v], "m": [v, v, v]}}
    assert client.put("/collections/n/points", json={"points": [point]}).status_code == 200
    assert (
        client.put("/collections/d/points", json={"points": [{"id": 7, "vector": v}]}).status_code
        == 200
    )
    queries = [
        ("d", {"query": v, "limit": 5}),
        ("n", {"query": v, "using": "img", "limit": 5}),
        ("n", {"query": v, "using": "txt", "limit": 5}),
        ("n", {"query": [v] * 50, "using": "m", "limit": 5}),
        (
            "n",
            {
                "prefetch": [{"query": v, "using": "img"}, {"query": v, "using": "txt"}],
                "query": {"fusion": "dbsf"},
            },
        ),
    ]
    for name, body in queries:
        r = client.post(f"/collections/{name}/points/query", json=body)
        assert r.status_code == 200, r.text
        points = r.json()["result"]["points"]
        assert 7 in [p["id"] for p in points]
        for p in points:
            assert isinstance(p["score"], float), (body, p)
    r = client.post("/collections/n/points/query", json={"query": v, "using": "img", "limit": 1})
    assert r.json()["result"]["points"][0]["score"] == pytest.approx(
        float(sum(x * x for x in v)), rel=1e-5
    )


# --- 2. nesting -------------------------------------------------------------------------------

LEAF = {"key": "i", "match": {"value": 1}}


def prefetch_chain(levels: int) -> dict:
    """A query body whose prefetches nest ``levels`` deep, each a nearest query."""
    node = {"query": [1, 1, 1, 1], "using": "img"}
    for _ in range(levels):
        node = {"prefetch": node, "query": [1, 1, 1, 1], "using": "img"}
    return node


def _deep_payload(levels: int) -> dict:
    """A payload object nested ``levels`` levels deep (the payload itself is level 1)."""
    return nested({"x": 1}, "a", levels - 1, listed=False)


NESTING = [
    # the issue's reproduction: depth ~300 used to be a 500 RecursionError, >= 500 a generic 400
    (
        "POST",
        "/collections/n/points/scroll",
        {"filter": nested(LEAF, "must", 300, listed=True)},
        BODY_DEPTH,
    ),
    (
        "POST",
        "/collections/n/points/scroll",
        '{"filter": ' + '{"must": [' * 600 + json.dumps(LEAF) + "]}" * 600 + "}",
        BODY_DEPTH,
    ),
    (
        "POST",
        "/collections/n/points/count",
        {"filter": nested(LEAF, "should", 65, listed=True)},
        BODY_DEPTH,
    ),
    # filters nested more than 64 levels within the body limit (one JSON level each)
    (
        "POST",
        "/collections/n/points/scroll",
        {"filter": nested(LEAF, "must", 65, listed=False)},
        FILTER_DEPTH,
    ),
    (
        "POST",
        "/collections/n/points/count",
        {"filter": nested(LEAF, "must_not", 65, listed=False)},
        FILTER_DEPTH,
    ),
    (
        "POST",
        "/collections/n/points/delete",
        {"filter": nested(LEAF, "should", 70, listed=False)},
        FILTER_DEPTH,
    ),
    (
        "POST",
        "/collections/n/points/query",
        {"query": [1, 1, 1, 1], "using": "img", "filter": nested(LEAF, "must", 80, listed=False)},
        FILTER_DEPTH,
    ),
    (
        "POST",
        "/collections/n/points/scroll",
        {
            "filter": nested(
                {"nested": {"key": "a", "filter": {"must": LEAF}}}, "must", 64, listed=False
            )
        },
        FILTER_DEPTH,
    ),
    # one level more than the 128 of the body that test_nesting_at_the_limits_is_accepted sends
    (
        "POST",
        "/collections/n/points/count",
        {"filter": nested({"key": "i", "match": {"any": [[1]]}}, "must", 62, listed=True)},
        BODY_DEPTH,
    ),
    # prefetches nested more than 16 levels
    (
        "POST",
        "/collections/n/points/query",
        prefetch_chain(17),
        "prefetch" + "[0].prefetch" * 16 + "[0]: prefetch nested deeper than 16 levels (the limit)",
    ),
    # payloads nested more than 64 levels
    (
        "PUT",
        "/collections/n/points",
        {"points": [{"id": 9, "vector": {}, "payload": _deep_payload(65)}]},
        f"points[0].payload: {PAYLOAD_DEPTH}",
    ),
    (
        "PUT",
        "/collections/d/points",
        {"batch": {"ids": [9], "vectors": [[1, 1, 1, 1]], "payloads": [_deep_payload(65)]}},
        f"batch.payloads[0]: {PAYLOAD_DEPTH}",
    ),
    (
        "POST",
        "/collections/n/points/payload",
        {"payload": _deep_payload(65), "points": [1]},
        f"payload: {PAYLOAD_DEPTH}",
    ),
    (
        "PUT",
        "/collections/n/points/payload",
        {"payload": {"list": [_deep_payload(64)]}, "points": [1]},
        f"payload: {PAYLOAD_DEPTH}",
    ),
    # within 64 levels itself, but set under a 10-step key the stored payload would be deeper
    (
        "POST",
        "/collections/n/points/payload",
        {"payload": _deep_payload(60), "points": [1], "key": ".".join(["k"] * 10)},
        f"payload: {PAYLOAD_DEPTH}",
    ),
    # deep nesting in a field the models refuse anyway: the depth is what is reported
    (
        "POST",
        "/collections/n/points/scroll",
        {"bogus": nested(1, "a", 200, listed=True)},
        BODY_DEPTH,
    ),
    ("PUT", "/collections/n/points", {"points": nested([], "a", 129, listed=True)}, BODY_DEPTH),
]


@pytest.mark.parametrize(("method", "path", "body", "message"), NESTING)
def test_nesting_beyond_the_limits_is_refused(
    client: TestClient, method: str, path: str, body: Any, message: str
) -> None:
    refused(client, method, path, body if isinstance(body, str) else dumps(body), message)


def test_nesting_at_the_limits_is_accepted(client: TestClient) -> None:
    """64 filter levels, 16 prefetch levels, a 64-level payload, a body of 128 levels."""
    r = client.post(
        "/collections/n/points/count", json={"filter": nested(LEAF, "must", 64, listed=False)}
    )
    assert r.status_code == 200 and r.json()["result"]["count"] == 1, r.text
    r = client.post("/collections/n/points/query", json=prefetch_chain(16))
    assert r.status_code == 200, r.text
    deep = _deep_payload(64)
    r = client.put(
        "/collections/n/points", json={"points": [{"id": 9, "vector": {}, "payload": deep}]}
    )
    assert r.status_code == 200, r.text
    r = client.post("/collections/n/points", json={"ids": [9], "with_payload": True})
    assert r.status_code == 200 and r.json()["result"][0]["payload"] == deep, r.text
    # a body of exactly 128 levels: the body, 62 filters of 2 levels each, a 3-level leaf
    leaf = {"key": "i", "match": {"any": [1]}}
    raw = dumps({"filter": nested(leaf, "must", 62, listed=True)})
    r = send(client, "POST", "/collections/n/points/count", raw)
    assert r.status_code == 200 and r.json()["result"]["count"] == 1, r.text


# --- 4. lone surrogates, and integers beyond 64 bits ----------------------------------------

SURROGATES = [
    # (method, path, raw body, message)
    (
        "PUT",
        "/collections/n/points",
        '{"points": [{"id": 9, "vector": {}, "payload": {"a": "\\ud800"}}]}',
        f"points[0].payload.a: the string '\\ud800' {LONE}",
    ),
    (
        "PUT",
        "/collections/n/points",
        '{"points": [{"id": 9, "vector": {}, "payload": '
        '{"ok": "\\ud83d\\ude00", "b": ["x", "y\\udc00z"]}}]}',
        f"points[0].payload.b[1]: the string 'y\\udc00z' {LONE}",
    ),
    (
        "PUT",
        "/collections/n/points",
        '{"points": [{"id": 9, "vector": {}, "payload": {"\\ud800": 1}}]}',
        f"points[0].payload: the key '\\ud800' {LONE}",
    ),
    (  # the same as raw bytes (ED A0 80), which Python's JSON parser lets through too
        "PUT",
        "/collections/n/points",
        b'{"points": [{"id": 9, "vector": {}, "payload": {"a": "\xed\xa0\x80"}}]}',
        f"points[0].payload.a: the string '\\ud800' {LONE}",
    ),
    (
        "POST",
        "/collections/n/points/payload",
        '{"payload": {"a": "\\udfff"}, "points": [1]}',
        f"payload.a: the string '\\udfff' {LONE}",
    ),
    (
        "POST",
        "/collections/n/points/payload",
        '{"payload": {"x": 1}, "points": [1], "key": "a\\ud800"}',
        f"key: the string 'a\\ud800' {LONE}",
    ),
    (
        "PUT",
        "/collections/n/points",
        '{"points": [{"id": 9, "vector": {"\\ud800": [1, 1, 1, 1]}}]}',
        f"points[0].vector: the key '\\ud800' {LONE}",
    ),
    (
        "PUT",
        "/collections/n/points",
        '{"points": [{"id": 9, "vector": {"bm": {"text": "a\\udc00b", "model": "qdrant/bm25"}}}]}',
        f"points[0].vector.bm.text: the string 'a\\udc00b' {LONE}",
    ),
    (
        "POST",
        "/collections/n/points/query",
        '{"query": {"text": "a\\udc00b", "model": "qdrant/bm25"}, "using": "bm"}',
        f"query.text: the string 'a\\udc00b' {LONE}",
    ),
    (
        "POST",
        "/collections/n/points/scroll",
        '{"filter": {"must": [{"key": "city", "match": {"value": "\\ud800"}}]}}',
        f"filter.must[0].match.value: the string '\\ud800' {LONE}",
    ),
    (
        "POST",
        "/collections/n/points/count",
        '{"filter": {"must": [{"key": "city\\ud800", "match": {"any": ["a"]}}]}}',
        f"filter.must[0].key: the string 'city\\ud800' {LONE}",
    ),
    (
        "PUT",
        "/collections/n/index",
        '{"field_name": "\\ud800", "field_schema": "keyword"}',
        f"field_name: the string '\\ud800' {LONE}",
    ),
    (
        "POST",
        "/collections/aliases",
        '{"actions": [{"create_alias": {"collection_name": "n", "alias_name": "\\ud800"}}]}',
        f"actions[0].create_alias.alias_name: the string '\\ud800' {LONE}",
    ),
    (
        "PUT",
        "/collections/n/points",
        '{"points": [{"id": 9, "vector": {}, "payload": {"big": 1180591620717411303424}}]}',
        "points[0].payload.big: integer 1180591620717411303424 is outside the 64-bit range "
        "[-9223372036854775808, 18446744073709551615] (send it as a float or a string)",
    ),
    (
        "POST",
        "/collections/n/points/scroll",
        '{"limit": 1' + "0" * 5000 + "}",
        "Format error in JSON body: Exceeds the limit (4300 digits) for integer string "
        "conversion: value has 5001 digits; use sys.set_int_max_str_digits() to increase the limit",
    ),
    (
        "POST",
        "/collections/n/points/scroll",
        b'{"limit": 1, "x": "\xc3("}',
        "Format error in JSON body: not valid UTF-8 (byte 19)",
    ),
]


@pytest.mark.parametrize(("method", "path", "raw", "message"), SURROGATES)
def test_strings_that_cannot_be_encoded_are_refused(
    client: TestClient, method: str, path: str, raw: str | bytes, message: str
) -> None:
    refused(client, method, path, raw, message)


def test_valid_surrogate_pairs_and_wide_unsigned_ints_are_stored(client: TestClient) -> None:
    """The checks refuse only what cannot be written: an escaped emoji (a valid pair) and
    the largest unsigned 64-bit integer are stored and read back."""
    raw = (
        '{"points": [{"id": 9, "vector": {}, "payload": '
        '{"e": "\\ud83d\\ude00", "u": 18446744073709551615}}]}'
    )
    assert send(client, "PUT", "/collections/n/points", raw).status_code == 200
    r = client.post("/collections/n/points", json={"ids": [9], "with_payload": True})
    assert r.json()["result"][0]["payload"] == {"e": "\U0001f600", "u": 2**64 - 1}


# --- 9. an internal error keeps the connection -----------------------------------------------


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_internal_error_answers_500_logs_once_and_keeps_the_connection(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real uvicorn server; listing collections is made to raise RuntimeError in-process.
    The answer is Qdrant's error envelope, the error is logged once (by the service, with
    its traceback; uvicorn logs nothing), and the next request on the same keep-alive
    connection is answered."""
    server = ServerThread(create_app(make_settings(tmp_path)))
    server.start()
    logs = _Records()
    watched = [logging.getLogger(n) for n in ("service", "uvicorn.error", "uvicorn")]
    for lg in watched:
        lg.addHandler(logs)
    try:

        def boom(self: Database) -> list[str]:
            raise RuntimeError("injected failure")

        monkeypatch.setattr(Database, "list_collections", boom)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.request("GET", "/collections")
        r = conn.getresponse()
        body = json.loads(r.read())
        sock = conn.sock
        assert r.status == 500
        assert (r.getheader("connection") or "").lower() != "close"
        assert body["status"] == {
            "error": "Service internal error: RuntimeError",
            "code": "internal",
        }
        assert isinstance(body["time"], float)
        monkeypatch.undo()
        conn.request("GET", "/collections")
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read())["result"] == {"collections": []}
        assert conn.sock is sock  # the same TCP connection answered both
        conn.close()
    finally:
        for lg in watched:
            lg.removeHandler(logs)
        server.stop()
    errors = [rec for rec in logs.records if rec.levelno >= logging.ERROR]
    assert len(errors) == 1, [rec.getMessage() for rec in errors]
    assert errors[0].name == "service" and errors[0].exc_info is not None
    assert "GET /collections" in errors[0].getMessage()


# --- the same kinds of 500 found elsewhere in the query paths --------------------------------

OTHERS = [
    (
        "POST",
        "/collections/n/points/query",
        '{"query": {"order_by": {"key": "i", "start_from": 18446744073709551616}}}',
        "query.order_by.start_from: integer 18446744073709551616 is outside the 64-bit range",
    ),
    (
        "POST",
        "/collections/n/points/scroll",
        '{"order_by": {"key": "i", "start_from": -9223372036854775809}}',
        "order_by.start_from: integer -9223372036854775809 is outside the 64-bit range",
    ),
    (
        "POST",
        "/collections/n/points/query",
        '{"prefetch": [{"query": [1, 1, 1, 1], "using": "img"}, {"query": [1, 1, 1, 1], '
        '"using": "txt"}], "query": {"rrf": {"weights": [1e400, 1]}}}',
        "query.rrf.weights[0]: expected a positive number, got inf",
    ),
    (
        "POST",
        "/collections/n/points/query",
        '{"prefetch": [{"query": [1, 1, 1, 1], "using": "img"}, {"query": [1, 1, 1, 1], '
        '"using": "txt"}], "query": {"rrf": {"weights": [NaN, 1]}}}',
        "query.rrf.weights[0]: expected a positive number, got nan",
    ),
]


HUGE = "1" + "0" * 400  # an integer beyond the range of a float: float() overflows on it
OTHERS += [
    (
        "POST",
        "/collections/n/points/scroll",
        '{"filter": {"must": [{"key": "i", "range": {"gt": @}}]}}'.replace("@", HUGE),
        "filter.must[0].range.gt: number out of range of a 64-bit float",
    ),
    (
        "POST",
        "/collections/n/points/count",
        '{"filter": {"must": [{"key": "loc", "geo_radius": '
        '{"center": {"lon": @, "lat": 1}, "radius": 10}}]}}'.replace("@", HUGE),
        f"filter.must[0].geo_radius.center.lon: expected a finite number, got {HUGE}",
    ),
    (
        "POST",
        "/collections/n/points/query",
        (
            '{"query": {"text": "hi", "model": "qdrant/bm25", "options": {"k": @}}, "using": "bm"}'
        ).replace("@", HUGE),
        f"query.options.k: expected a number >= 0.0, got {HUGE}",
    ),
    (
        "POST",
        "/collections/n/points/query",
        '{"query": [1, 1, 1, @], "using": "img"}'.replace("@", HUGE),
        "query: contains NaN or infinity (or exceeds float32 range)",
    ),
    (
        "POST",
        "/collections/n/points/query",
        '{"query": {"indices": [1], "values": [@]}, "using": "sp"}'.replace("@", HUGE),
        f"query.values[0]: must be a finite float32, got {HUGE}",
    ),
    (
        "PUT",
        "/collections/n/points",
        '{"points": [{"id": 9, "vector": {"txt": [1, 1, 1, -@]}}]}'.replace("@", HUGE),
        "points[0].vector.txt: contains NaN or infinity (or exceeds float32 range)",
    ),
    (
        "POST",
        "/collections/n/points/query",
        (
            '{"prefetch": [{"query": [1, 1, 1, 1], "using": "img"}, {"query": [1, 1, 1, 1], '
            '"using": "txt"}], "query": {"rrf": {"k": @}}}'
        ).replace("@", HUGE),
        f"query.rrf.k: expected an integer below 2^64, got {HUGE}",
    ),
    (
        "POST",
        "/collections/n/points/recommend",
        '{"positive": [1], "using": "img", "score_threshold": @}'.replace("@", HUGE),
        f"score_threshold: expected a finite number, got {HUGE}",
    ),
]


@pytest.mark.parametrize(("method", "path", "raw", "message"), OTHERS)
def test_numbers_out_of_range_in_query_options_are_refused(
    client: TestClient, method: str, path: str, raw: str, message: str
) -> None:
    client.put("/collections/n/index", json={"field_name": "i", "field_schema": "integer"})
    refused(client, method, path, raw, message)


def test_payloads_stored_before_these_checks_are_still_readable(
    tmp_path: Any, make_client: Callable[..., TestClient]
) -> None:
    """A store written before the checks may hold what orjson cannot write (an integer beyond
    64 bits, 300 levels of nesting): reads of it answer 200 (the response falls back to
    Python's encoder) instead of a 500 on every read of that point."""
    import sqlite3

    db = Database(tmp_path / "data")
    db.create_collection("old", {"vectors": {"size": 2, "distance": "Dot"}})
    db.get_collection("old").upsert([{"id": 1, "vector": [1, 2], "payload": {"a": 1}}])
    db.close()
    deep: Any = {"x": 1}
    for _ in range(299):
        deep = {"a": deep}
    legacy = {"big": 2**70, "deep": deep}
    (store,) = (tmp_path / "data").rglob("store.sqlite")
    with sqlite3.connect(store) as con:
        assert con.execute("UPDATE points SET payload=?", (json.dumps(legacy),)).rowcount == 1
    con.close()
    client = make_client()
    r = client.post("/collections/old/points", json={"ids": [1], "with_payload": True})
    assert r.status_code == 200, r.text
    assert r.json()["result"][0]["payload"] == legacy
    body = {"query": [1, 1], "with_payload": True}
    r = client.post("/collections/old/points/query", json=body)
    assert r.status_code == 200 and r.json()["result"]["points"][0]["payload"] == legacy
