"""Schema-driven fuzzing of the OpenAPI spec with schemathesis: valid and invalid requests
for every operation must never get a 5xx, and every response must match its documented
schema.

Bounded: a fixed number of examples per operation, deterministic generation. Operations on a
collection are pointed at a small existing collection ``fuzz`` (dimension 4, 20 points) so
the fuzzer reaches the engine instead of stopping at 404; creating and deleting collections
and restoring snapshots keep the generated names.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
)

from service import Settings, create_app

DATA = Path(tempfile.mkdtemp(prefix="vecsearch-fuzz-"))
APP = create_app(Settings(data_dir=DATA, warmup=False))
#: VECSEARCH_FUZZ_EXAMPLES / VECSEARCH_FUZZ_RANDOM=1 run a longer, randomised fuzz by hand.
EXAMPLES = int(os.environ.get("VECSEARCH_FUZZ_EXAMPLES", "12"))
DETERMINISTIC = os.environ.get("VECSEARCH_FUZZ_RANDOM", "") != "1"
CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": DETERMINISTIC},
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)

#: Operations that keep their generated collection name.
KEEP_NAME = {
    ("PUT", "/collections/{collection_name}"),
    ("DELETE", "/collections/{collection_name}"),
    ("PUT", "/collections/{collection_name}/snapshots/recover"),
}


@pytest.fixture(scope="module", autouse=True)
def fuzz_collection() -> Iterator[None]:
    """Start the app (schemathesis runs its lifespan) and create the ``fuzz`` collection."""
    with asgi.get_client(APP) as client:
        assert APP.state.service.wait_ready(60)
        r = client.put("/collections/fuzz", json={"vectors": {"size": 4, "distance": "Cosine"}})
        assert r.status_code == 200, r.text
        points = [
            {"id": i, "vector": [1.0, i, -i / 2, 0.5], "payload": {"g": i % 3, "s": f"v{i}"}}
            for i in range(1, 21)
        ]
        r = client.put("/collections/fuzz/points", json={"points": points})
        assert r.status_code == 200, r.text
    yield
    asgi.shutdown_lifespans()  # closes the database
    shutil.rmtree(DATA, ignore_errors=True)


@schema.parametrize()
def test_api_never_fails_with_5xx(case):
    key = (case.method.upper(), case.operation.path)
    if case.path_parameters and "collection_name" in case.path_parameters and key not in KEEP_NAME:
        case.path_parameters["collection_name"] = "fuzz"
    case.call_and_validate(
        checks=[
            not_a_server_error,
            response_schema_conformance,
            content_type_conformance,
            negative_data_rejection,
        ]
    )
