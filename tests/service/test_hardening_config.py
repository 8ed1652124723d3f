# ruff: noqa: E501  (a table of exact requests and messages reads best one case a line)
"""Issue 19, item 6, over HTTP (a real uvicorn server): the reproductions of the issue --
``hnsw M = 1e9`` accepted and then every search a 500, vector size 10^6, 2^63 a 500 -- are
400s giving the limit, nothing is created or changed, and search-time parameters past their
bound are clamped (the 500s of ``hnsw_ef`` 2^63 and ``oversampling`` 1e9 are answers)."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

BIG = 2**63


def _error(r: httpx.Response) -> str:
    return r.json()["status"]["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"vectors": {"size": 4, "distance": "Cosine"}, "hnsw_config": {"m": 1e9}},
            "hnsw_config.m: expected an integer in [0, 1024], got 1000000000.0",
        ),
        (
            {"vectors": {"size": 4, "distance": "Cosine"}, "hnsw_config": {"m": 10**9}},
            "hnsw_config.m: expected an integer in [0, 1024], got 1000000000",
        ),
        (
            {"vectors": {"size": 4, "distance": "Cosine"}, "hnsw_config": {"m": BIG}},
            "hnsw_config.m: expected an integer in [0, 1024], got 9223372036854775808",
        ),
        (
            {"vectors": {"size": 10**6, "distance": "Cosine"}},
            "vectors.size: expected an integer in [1, 65536], got 1000000",
        ),
        (
            {"vectors": {"size": BIG, "distance": "Cosine"}},
            "vectors.size: expected an integer in [1, 65536], got 9223372036854775808",
        ),
        (
            {"vectors": {"img": {"size": 70_000, "distance": "Dot"}}},
            "vectors.img.size: expected an integer in [1, 65536], got 70000",
        ),
        (
            {
                "vectors": {
                    "size": 70_000,
                    "distance": "Dot",
                    "multivector_config": {"comparator": "max_sim"},
                }
            },
            "vectors.size: expected an integer in [1, 65536], got 70000",
        ),
        (
            {
                "vectors": {"size": 4, "distance": "Cosine"},
                "index": {"type": "hnsw", "params": {"M": BIG}},
            },
            "index.params.M: expected an integer in [2, 1024], got 9223372036854775808",
        ),
        (
            {
                "vectors": {"size": 4, "distance": "Euclid"},
                "index": {"type": "ivf_pq", "params": {"nlist": BIG}},
            },
            "index.params.nlist: expected an integer in [1, 65536], got 9223372036854775808",
        ),
        (
            {
                "vectors": {"size": 4, "distance": "Cosine"},
                "wal_config": {"wal_capacity_mb": 2**70},
            },
            "wal_config.wal_capacity_mb: expected an integer in [1, 18446744073709551615], got "
            "1180591620717411303424",
        ),
    ],
)
def test_create_over_a_bound_is_a_400_that_creates_nothing(server, body, message):
    r = httpx.put(f"{server.url}/collections/c", json=body)
    assert r.status_code == 400, r.text
    assert _error(r) == message
    assert httpx.get(f"{server.url}/collections/c").status_code == 404
    assert httpx.get(f"{server.url}/collections").json()["result"]["collections"] == []


def _make(url: str, name: str, index: dict | None = None, distance: str = "Cosine") -> list:
    body: dict = {"vectors": {"size": 8, "distance": distance}}
    if index is not None:
        body["index"] = index
    assert httpx.put(f"{url}/collections/{name}", json=body).status_code == 200
    x = np.random.default_rng(3).normal(size=(299, 8))
    points = [{"id": i + 1, "vector": x[i].tolist()} for i in range(299)]
    r = httpx.put(f"{url}/collections/{name}/points?wait=true", json={"points": points}, timeout=60)
    assert r.status_code == 200, r.text
    return points


def test_patch_over_a_bound_changes_nothing(server):
    url = server.url
    _make(url, "c")
    info = httpx.get(f"{url}/collections/c").json()["result"]
    scroll = {"limit": 1000, "with_vector": True}
    points = httpx.post(f"{url}/collections/c/points/scroll", json=scroll).json()["result"]
    cases = [
        ({"hnsw_config": {"m": 10**9}}, "hnsw_config.m: expected an integer in [0, 1024], got 1000000000"),
        ({"hnsw_config": {"ef_construct": BIG}},
         "hnsw_config.ef_construct: expected an integer in [4, 4096], got 9223372036854775808"),
        ({"vectors": {"": {"hnsw_config": {"m": 5000}}}},
         "vectors..hnsw_config.m: expected an integer in [0, 1024], got 5000"),
        ({"optimizers_config": {"indexing_threshold": 2**64}},
         "optimizers_config.indexing_threshold: expected an integer in [0, 18446744073709551615], "
         "got 18446744073709551616"),
    ]  # fmt: skip
    for body, message in cases:
        r = httpx.patch(f"{url}/collections/c", json=body)
        assert r.status_code == 400, r.text
        assert _error(r) == message
    after = httpx.get(f"{url}/collections/c").json()["result"]
    assert after["config"] == info["config"]
    assert httpx.post(f"{url}/collections/c/points/scroll", json=scroll).json()["result"] == points
    search = {"vector": [1.0] * 8, "limit": 3}
    assert httpx.post(f"{url}/collections/c/points/search", json=search).status_code == 200


@pytest.mark.parametrize(
    ("index", "distance", "params"),
    [
        (None, "Cosine", {"hnsw_ef": BIG}),
        ({"type": "hnsw_binary"}, "Cosine", {"hnsw_ef": BIG}),
        ({"type": "hnsw_binary"}, "Cosine", {"quantization": {"oversampling": 1e30}}),
        ({"type": "hnsw_binary"}, "Cosine", {"quantization": {"oversampling": 1e9}}),
        ({"type": "spann"}, "Euclid", {"hnsw_ef": BIG}),
        ({"type": "binary"}, "Cosine", {"quantization": {"oversampling": 1e30}}),
        ({"type": "ivf_pq", "params": {"nlist": 4, "m": 2}}, "Euclid", {"quantization": {"oversampling": 1e30}}),
    ],
)  # fmt: skip
def test_search_parameters_past_their_bound_answer(server, index, distance, params):
    """Each was a 500 (TypingError, OverflowError, MemoryError); now the search answers
    with the best hit first, through the legacy search and the Query API."""
    url = server.url
    points = _make(url, "c", index, distance)
    target = points[41]
    body = {"vector": target["vector"], "limit": 5, "params": params}
    r = httpx.post(f"{url}/collections/c/points/search", json=body, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["result"][0]["id"] == target["id"]
    body = {"query": target["vector"], "limit": 5, "params": params}
    r = httpx.post(f"{url}/collections/c/points/query", json=body, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["result"]["points"][0]["id"] == target["id"]
