"""Timeouts: an idle keep-alive connection is closed; a backend too slow for total_ms gets 504."""

from __future__ import annotations

import socket
import time

import pytest
from lb_support import (
    Backend,
    RawResponse,
    Request,
    backends,
    closed_by_peer,
    config,
    raw_connection,
    respond,
    running,
)

pytestmark = pytest.mark.integration


def _timeouts(idle_ms: int = 60_000, total_ms: int = 0) -> dict[str, int]:
    return {
        "connect_ms": 2000,
        "request_headers_ms": 10_000,
        "idle_ms": idle_ms,
        "total_ms": total_ms,
    }


def test_idle_keep_alive_connection_is_closed_after_idle_timeout() -> None:
    with (
        backends(1) as pool,
        running(config(pool, timeouts=_timeouts(idle_ms=500))) as proxy,
        raw_connection(proxy.port) as (sock, rfile),
    ):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert RawResponse.read(rfile).status == 200
        began = time.monotonic()
        assert closed_by_peer(sock, rfile, timeout=3.0)
        assert 0.3 <= time.monotonic() - began <= 2.0


def _slow(backend: Backend, request: Request, sock: socket.socket) -> None:
    request.read_body()
    if request.target == "/slow":
        time.sleep(2.0)
    respond(sock, 200, b"done")


def test_exchange_over_total_timeout_gets_504_and_the_next_request_succeeds() -> None:
    with (
        backends(1, _slow) as pool,
        running(config(pool, timeouts=_timeouts(total_ms=500))) as proxy,
    ):
        began = time.monotonic()
        assert proxy.get("/slow").status == 504
        assert time.monotonic() - began < 1.5
        assert proxy.get("/fast").status == 200
