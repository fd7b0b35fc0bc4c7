"""HTTP/1.1 through the proxy: keep-alive, pipelining, streamed bodies, 100-continue."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from lb_support import (
    Backend,
    RawResponse,
    Request,
    backends,
    config,
    raw_connection,
    respond,
    running,
)

pytestmark = pytest.mark.integration

MB = 1 << 20


def echo_path(backend: Backend, request: Request, sock: socket.socket) -> None:
    """Answers with the request path; /slow waits first, so a reordering proxy would show."""
    request.read_body()
    if request.target == "/slow":
        time.sleep(0.3)
    respond(sock, 200, request.target.encode(), [("X-Backend", backend.name)])


def test_keep_alive_serves_many_requests_on_one_connection_and_reuses_upstream() -> None:
    with backends(1) as (backend,), running(config([backend])) as proxy:
        with raw_connection(proxy.port) as (sock, rfile):
            for _ in range(5):
                sock.sendall(b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")
                reply = RawResponse.read(rfile)
                assert (reply.status, reply.body) == (200, b"b0")
        assert len(backend.received) == 5
        # Sequential requests reuse the idle upstream connection instead of opening new ones.
        assert backend.connections == 1


def test_pipelined_requests_are_answered_in_order() -> None:
    with backends(2, echo_path) as pool, running(config(pool)) as proxy:
        with raw_connection(proxy.port) as (sock, rfile):
            paths = ["/slow", "/two", "/three", "/slow", "/five"]
            sock.sendall(b"".join(f"GET {p} HTTP/1.1\r\nHost: a\r\n\r\n".encode() for p in paths))
            bodies = [RawResponse.read(rfile).body.decode() for _ in paths]
        assert bodies == paths


def test_chunked_response_is_streamed_before_the_backend_finishes() -> None:
    release = threading.Event()

    def stream(backend: Backend, request: Request, sock: socket.socket) -> None:
        request.read_body()
        sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        release.wait(10)
        sock.sendall(b"4\r\nlast\r\n0\r\n\r\n")

    with (
        backends(1, stream) as pool,
        running(config(pool)) as proxy,
        raw_connection(proxy.port) as (sock, rfile),
    ):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        head = RawResponse.read(rfile, head_only=True)
        assert head.status == 200
        assert head.header("transfer-encoding") == "chunked"
        assert rfile.readline() == b"5\r\n"
        assert rfile.readline() == b"first\r\n"
        # The first chunk arrived while the backend still held the rest back.
        assert not release.is_set()
        release.set()
        assert rfile.readline() == b"4\r\n"
        assert rfile.readline() == b"last\r\n"
        assert rfile.readline() == b"0\r\n"


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_request_body_reaches_the_backend_before_the_client_finishes(framing: str) -> None:
    first_seen = threading.Event()

    def count(backend: Backend, request: Request, sock: socket.socket) -> None:
        total = 0
        for chunk in request.body_chunks():
            total += len(chunk)
            first_seen.set()
        respond(sock, 200, str(total).encode())

    with backends(1, count) as pool, running(config(pool)) as proxy:
        with raw_connection(proxy.port) as (sock, rfile):
            part = b"a" * 1000
            if framing == "chunked":
                sock.sendall(
                    b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + b"3e8\r\n"
                    + part
                    + b"\r\n"
                )
            else:
                sock.sendall(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n" + part)
            assert first_seen.wait(5), "the proxy held the first part of the body back"
            sock.sendall(b"3e8\r\n" + part + b"\r\n0\r\n\r\n" if framing == "chunked" else part)
            reply = RawResponse.read(rfile)
        assert (reply.status, reply.body) == (200, b"2000")


def _peak_rss_reset() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def _rss(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/self/status")


def test_fifty_megabytes_each_way_pass_without_buffering_in_memory() -> None:
    size = 50 * MB
    block = b"z" * MB

    def sink_then_source(backend: Backend, request: Request, sock: socket.socket) -> None:
        received = sum(len(chunk) for chunk in request.body_chunks())
        sock.sendall(
            f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nX-Got: {received}\r\n\r\n".encode()
        )
        for _ in range(size // MB):
            sock.sendall(block)

    with backends(1, sink_then_source) as pool, running(config(pool)) as proxy:
        # The proxy runs in this process: its buffers would show in our peak RSS.
        before = _rss("VmRSS")
        _peak_rss_reset()
        with raw_connection(proxy.port, timeout=30) as (sock, rfile):
            sock.sendall(f"PUT /big HTTP/1.1\r\nHost: a\r\nContent-Length: {size}\r\n\r\n".encode())
            for _ in range(size // MB):
                sock.sendall(block)
            head = RawResponse.read(rfile, head_only=True)
            assert head.status == 200
            assert head.header("x-got") == str(size)
            got = 0
            while got < size:
                chunk = rfile.read1(MB)  # type: ignore[attr-defined]
                assert chunk
                got += len(chunk)
        peak = _rss("VmHWM")
        assert got == size
        assert peak - before < 20 * MB, f"peak RSS grew by {(peak - before) / MB:.0f} MB"


def test_expect_100_continue_lets_the_client_wait_before_sending_the_body() -> None:
    def continue_then_echo(backend: Backend, request: Request, sock: socket.socket) -> None:
        if (request.header("expect") or "").lower() == "100-continue":
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        respond(sock, 200, request.read_body())

    with backends(1, continue_then_echo) as pool, running(config(pool)) as proxy:
        with raw_connection(proxy.port) as (sock, rfile):
            sock.sendall(
                b"POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
            )
            interim = RawResponse.read(rfile)
            assert interim.status == 100
            sock.sendall(b"hello")
            final = RawResponse.read(rfile)
        assert (final.status, final.body) == (200, b"hello")


def test_an_http_1_0_client_never_sees_interim_responses() -> None:
    def hints_then_ok(backend: Backend, request: Request, sock: socket.socket) -> None:
        sock.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n")
        respond(sock, 200, b"ok")

    with backends(1, hints_then_ok) as pool, running(config(pool)) as proxy:
        with raw_connection(proxy.port) as (sock, rfile):
            sock.sendall(b"GET /old HTTP/1.0\r\n\r\n")
            first = RawResponse.read(rfile)
        assert (first.status, first.body) == (200, b"ok")
        with raw_connection(proxy.port) as (sock, rfile):
            sock.sendall(b"GET /new HTTP/1.1\r\nHost: a\r\n\r\n")
            assert RawResponse.read(rfile, head_only=True).status == 103
            assert RawResponse.read(rfile).body == b"ok"


def test_a_body_ended_by_the_backend_closing_is_rechunked_and_the_client_kept() -> None:
    def until_close(backend: Backend, request: Request, sock: socket.socket) -> None:
        sock.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nno length, ")
        time.sleep(0.05)
        sock.sendall(request.target.encode())
        sock.shutdown(socket.SHUT_WR)

    with backends(1, until_close) as pool, running(config(pool)) as proxy:
        with raw_connection(proxy.port) as (sock, rfile):
            for path in ("/one", "/two"):
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
                reply = RawResponse.read(rfile)
                assert (reply.status, reply.body) == (200, b"no length, " + path.encode())
                assert reply.header("transfer-encoding") == "chunked"
                assert reply.header("connection") is None
        with raw_connection(proxy.port) as (sock, rfile):
            sock.sendall(b"GET /old HTTP/1.0\r\n\r\n")
            reply = RawResponse.read(rfile)
            assert (reply.header("connection"), reply.body) == ("close", b"no length, /old")
