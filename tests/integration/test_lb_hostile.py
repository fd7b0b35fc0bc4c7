"""Hostile input on raw sockets: the right status, the connection closed, nothing forwarded."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from lb_support import (
    Backend,
    Proxy,
    RawResponse,
    backends,
    closed_by_peer,
    config,
    raw_connection,
    running,
    wait_until,
)

pytestmark = pytest.mark.integration

SMUGGLING = {
    "content-length and transfer-encoding": (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
    ),
    "two different content-lengths": (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"
    ),
    "obs-fold": b"GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n",
    "bare LF": b"GET / HTTP/1.1\nHost: a\nX-A: b\n\n",
    "NUL in a header value": b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n",
    "CR in a header value": b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n",
    "space before the colon": b"GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n",
    "absolute-form with userinfo": (
        b"GET http://user@a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n"
    ),
    "absolute-form naming another host than Host": (
        b"GET http://other.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n"
    ),
    "absolute-form not http": b"GET ftp://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n",
    "origin-form without a slash": b"GET a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n",
    "two hosts": b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n",
    "no host": b"GET / HTTP/1.1\r\nX-A: b\r\n\r\n",
}

# Only one Transfer-Encoding field whose value is exactly `chunked` (any case) is understood;
# lists, empty values and repeated fields are where parsers disagree, so all get 501.
ODD_TRANSFER_ENCODINGS = {
    "chunked then gzip": b"Transfer-Encoding: chunked, gzip\r\n",
    "gzip then chunked": b"Transfer-Encoding: gzip, chunked\r\n",
    "trailing comma": b"Transfer-Encoding: chunked,\r\n",
    "empty field then chunked": b"Transfer-Encoding:\r\nTransfer-Encoding: chunked\r\n",
    "identity then chunked": b"Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n",
}


@pytest.fixture(scope="module")
def proxied() -> Iterator[tuple[Proxy, Backend]]:
    with backends(1) as (backend,):
        document = config(
            [backend],
            timeouts={
                "connect_ms": 2000,
                "request_headers_ms": 1000,
                "idle_ms": 5000,
                "total_ms": 0,
            },
            limits={"max_connections": 1000, "max_header_bytes": 4096, "max_headers": 20},
        )
        with running(document) as proxy:
            yield proxy, backend


@pytest.mark.parametrize("raw", SMUGGLING.values(), ids=list(SMUGGLING))
def test_malformed_request_gets_400_closed_and_never_forwarded(
    proxied: tuple[Proxy, Backend], raw: bytes
) -> None:
    proxy, backend = proxied
    before = len(backend.received)
    with raw_connection(proxy.port) as (sock, rfile):
        sock.sendall(raw)
        assert RawResponse.read(rfile).status == 400
        assert closed_by_peer(sock, rfile)
    assert len(backend.received) == before


@pytest.mark.parametrize("field", ODD_TRANSFER_ENCODINGS.values(), ids=list(ODD_TRANSFER_ENCODINGS))
def test_transfer_encoding_other_than_one_chunked_gets_501_closed_and_never_forwarded(
    proxied: tuple[Proxy, Backend], field: bytes
) -> None:
    proxy, backend = proxied
    before = len(backend.received)
    with raw_connection(proxy.port) as (sock, rfile):
        sock.sendall(b"POST / HTTP/1.1\r\nHost: a\r\n" + field + b"\r\n0\r\n\r\n")
        assert RawResponse.read(rfile).status == 501
        assert closed_by_peer(sock, rfile)
    assert len(backend.received) == before


def test_connection_cannot_drop_framing_and_the_backend_gets_one_canonical_field(
    proxied: tuple[Proxy, Backend],
) -> None:
    proxy, backend = proxied
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
    before = len(backend.completed)
    with raw_connection(proxy.port) as (sock, rfile):
        sock.sendall(
            b"POST /up HTTP/1.1\r\nHost: a\r\n"
            b"Connection: content-length, transfer-encoding, host\r\n"
            b"Content-Length: %d, %d\r\n\r\n" % (len(smuggled), len(smuggled)) + smuggled
        )
        assert RawResponse.read(rfile).status == 200
        sock.sendall(
            b"POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChUnKeD\r\n\r\n"
            b"5\r\nhello\r\n0\r\n\r\n"
        )
        assert RawResponse.read(rfile).status == 200
    assert wait_until(lambda: len(backend.completed) >= before + 2, 2.0)
    first, second = backend.completed[before : before + 2]
    assert [r.target for r in backend.received if r.target == "/smuggled"] == []
    assert first.header_values("content-length") == [str(len(smuggled))]
    assert first.header("host") == "a" and first.body == smuggled
    assert second.header_values("transfer-encoding") == ["chunked"]
    assert second.body == b"hello"


def test_pipelined_local_answers_stop_reading_while_the_client_does_not_read() -> None:
    # Every request past the burst is answered 429 locally; a client that never reads must be
    # pushed back (its sends block) instead of the proxy queueing answers without bound.
    with backends(1) as (backend,):
        document = config(
            [backend], limits={"rate_limit": {"requests_per_second": 0.001, "burst": 1}}
        )
        with running(document) as proxy, raw_connection(proxy.port, timeout=1.0) as (sock, _):
            batch = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" * 4000
            sent = 0
            with pytest.raises(TimeoutError):
                while sent < 64 << 20:
                    sock.sendall(batch)
                    sent += len(batch)
            assert sent < 32 << 20, sent


def test_invalid_chunk_size_gets_400_closed_and_no_complete_request_upstream(
    proxied: tuple[Proxy, Backend],
) -> None:
    proxy, backend = proxied
    before = len(backend.completed)
    with raw_connection(proxy.port) as (sock, rfile):
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"zz\r\nhello\r\n0\r\n\r\n"
        )
        assert RawResponse.read(rfile).status == 400
        assert closed_by_peer(sock, rfile)
    assert len(backend.completed) == before


@pytest.mark.parametrize(
    "headers",
    [
        [("X-Big", "v" * 8000)],
        [(f"X-Many-{i}", "v") for i in range(40)],
    ],
    ids=["one huge header", "too many headers"],
)
def test_oversized_header_section_gets_431(
    proxied: tuple[Proxy, Backend], headers: list[tuple[str, str]]
) -> None:
    proxy, backend = proxied
    before = len(backend.received)
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers)
    with raw_connection(proxy.port) as (sock, rfile):
        sock.sendall(f"GET / HTTP/1.1\r\nHost: a\r\n{lines}\r\n".encode())
        assert RawResponse.read(rfile).status == 431
        assert closed_by_peer(sock, rfile)
    assert len(backend.received) == before


def test_slowloris_is_cut_by_the_request_header_timeout(proxied: tuple[Proxy, Backend]) -> None:
    proxy, _ = proxied
    payload = b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"s" * 100
    cut_after = None
    with raw_connection(proxy.port) as (sock, _rfile):
        sock.settimeout(0.2)  # the wait for an answer is also the pause between bytes
        began = time.monotonic()
        for byte in payload:
            try:
                sock.sendall(bytes([byte]))
                sock.recv(65536)  # a 408 or EOF: either way the proxy gave up on us
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                pass
            cut_after = time.monotonic() - began
            break
    assert cut_after is not None, "the proxy waited for a byte every 200 ms for 20 s"
    assert 0.8 <= cut_after <= 2.5, cut_after


def test_rate_limit_answers_429_past_the_burst() -> None:
    with backends(1) as (backend,):
        limits = {
            "max_connections": 1000,
            "max_header_bytes": 16384,
            "max_headers": 100,
            "rate_limit": {"requests_per_second": 2.0, "burst": 5},
        }
        with running(config([backend], limits=limits)) as proxy:
            statuses = [proxy.get("/").status for _ in range(12)]
        assert statuses[:5] == [200] * 5
        assert statuses.count(429) >= 6, statuses
        assert len(backend.received) == statuses.count(200)


def test_connection_limit_answers_503_to_the_connection_over_it() -> None:
    with backends(1) as (backend,):
        limits = {"max_connections": 2, "max_header_bytes": 16384, "max_headers": 100}
        with running(config([backend], limits=limits)) as proxy:
            with ExitStack() as stack:
                for _ in range(2):
                    sock, rfile = stack.enter_context(raw_connection(proxy.port))
                    sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                    assert RawResponse.read(rfile).status == 200
                with raw_connection(proxy.port) as (sock, rfile):
                    sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                    assert RawResponse.read(rfile).status == 503
                    assert closed_by_peer(sock, rfile)
            # Once the held connections close, new ones are served again.
            assert proxy.get("/").status == 200


def test_absolute_form_matching_the_host_is_forwarded_in_origin_form(
    proxied: tuple[Proxy, Backend],
) -> None:
    proxy, backend = proxied
    with raw_connection(proxy.port) as (sock, rfile):
        sock.sendall(b"GET http://a.example/x?y=1 HTTP/1.1\r\nHost: a.example\r\n\r\n")
        assert RawResponse.read(rfile).status == 200
    seen = backend.received[-1]
    assert (seen.target, seen.header("host")) == ("/x?y=1", "a.example")


def test_an_upload_refused_early_still_gets_its_answer_and_a_clean_close() -> None:
    with backends(1) as (backend,):
        limits = {
            "max_connections": 1000,
            "max_header_bytes": 16384,
            "max_headers": 100,
            "rate_limit": {"requests_per_second": 0.1, "burst": 1},
        }
        with running(config([backend], limits=limits)) as proxy:
            assert proxy.get("/").status == 200
            with raw_connection(proxy.port) as (sock, rfile):
                head = b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\n\r\n"
                sock.sendall(head + b"x" * 65536)
                reply = RawResponse.read(rfile)
                assert (reply.status, reply.header("connection")) == (429, "close")
                # A FIN, not a reset: closing with the upload unread would reset the connection.
                assert rfile.read() == b""
                # The proxy drains what is still on its way (bounded) instead of resetting.
                for _ in range(32):
                    sock.sendall(b"y" * 8192)
                    time.sleep(0.005)
        assert len(backend.received) == 1
