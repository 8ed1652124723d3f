"""``--cluster HOST:PORT`` with nothing listening there fails at once with the address in
the message, instead of Ray's minute of retries and its traceback."""

from __future__ import annotations

import socket
import time

import pytest

pytestmark = pytest.mark.cluster


def test_unreachable_cluster_address_fails_fast_and_says_where() -> None:
    from vecsearch.cluster.database import ClusterConnectError, check_reachable

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(ClusterConnectError, match=f"127.0.0.1:{port}"):
        check_reachable(f"127.0.0.1:{port}")
    assert time.monotonic() - t0 < 6
    with socket.socket() as srv:  # a listening port passes
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        check_reachable(f"127.0.0.1:{srv.getsockname()[1]}")
    check_reachable("ray://example:10001")  # left to Ray
