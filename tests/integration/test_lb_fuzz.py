"""Mutated requests on live sockets: the proxy answers or closes, never hangs or crashes, and
every request the backend completes is one the client was answered for (no smuggling)."""

from __future__ import annotations

import random
import re
import socket

import pytest
from lb_support import backends, config, request, running, wait_until

pytestmark = pytest.mark.integration

CASES = 3000
SEED = 20261127
TEMPLATES = [
    b"GET /a?b=c HTTP/1.1\r\nHost: fuzz.example\r\nAccept: */*\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: fuzz.example\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /c HTTP/1.1\r\nHost: fuzz.example\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n0\r\n\r\n",
    b"GET /1 HTTP/1.1\r\nHost: fuzz.example\r\n\r\nGET /2 HTTP/1.1\r\nHost: fuzz.example\r\n\r\n",
]
INTERESTING = [b"\r", b"\n", b"\x00", b":", b" ", b"\t", b"0", b"-", b";", b"\xff", b"\r\n"]
STATUS_LINE = re.compile(rb"HTTP/1\.1 (\d{3}) ")


def _mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(out) + 1)
        op = rng.randrange(5)
        if op == 0 and out:
            out[min(at, len(out) - 1)] = rng.randrange(256)
        elif op == 1:
            out[at:at] = rng.choice(INTERESTING)
        elif op == 2 and out:
            del out[min(at, len(out) - 1)]
        elif op == 3:
            end = min(len(out), at + rng.randint(1, 12))
            out[at:at] = out[at:end]
        else:
            del out[at:]
    return bytes(out)


def _exchange(port: int, payload: bytes) -> bytes:
    """Sends payload, half-closes, and reads until the proxy closes (a hang raises)."""
    with socket.create_connection(("127.0.0.1", port), timeout=2.0) as sock:
        try:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the proxy may close early on garbage; what it sent is still readable
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                return received
            if not chunk:
                return received
            received += chunk


def test_mutated_requests_are_answered_or_closed_and_never_smuggled() -> None:
    rng = random.Random(SEED)
    with backends(1) as (backend,), running(config([backend])) as proxy:
        for case in range(CASES):
            payload = _mutate(rng, rng.choice(TEMPLATES))
            before = len(backend.completed)
            reply = _exchange(proxy.port, payload)
            statuses = STATUS_LINE.findall(reply)
            assert reply == b"" or reply.startswith(b"HTTP/1.1 "), (case, payload, reply)
            answered = statuses.count(b"200")
            # Every request the backend finished was answered to this client, and vice versa.
            assert wait_until(lambda b=before, a=answered: len(backend.completed) - b == a, 1.0), (
                case,
                payload,
                reply,
                len(backend.completed) - before,
            )
        assert request(proxy.port, "/still-alive").status == 200
    for seen in backend.completed:
        assert seen.target.startswith("/"), seen.target
        assert seen.version == "HTTP/1.1"
        for name, value in seen.headers:
            assert re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", name), name
            assert not set(value) & {"\r", "\n", "\x00"}, value
