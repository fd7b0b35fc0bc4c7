"""Smoke test of the native load balancer through its Python API, over loopback sockets."""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.self_signed import write_self_signed
from thecloud.core.errors import InvalidArgumentError, StateError
from thecloud.dataplane.lb import LoadBalancer, LoadBalancerConfig
from thecloud.dataplane.metrics import Registry

pytestmark = pytest.mark.unit


class _NamedHandler(BaseHTTPRequestHandler):
    """Answers with the server's name and echoes the X-Forwarded-For it received."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = f"{self.server.name} {self.headers.get('X-Forwarded-For')}".encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test asserts on responses, not on logs."""


def _backend(name: str) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NamedHandler)
    server.name = name  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def backend_one() -> Iterator[str]:
    yield from _backend("one")


@pytest.fixture
def backend_two() -> Iterator[str]:
    yield from _backend("two")


def _config(backend: str) -> LoadBalancerConfig:
    return LoadBalancerConfig.from_dict(
        {
            "listeners": [{"name": "web", "bind": "127.0.0.1:0", "default_pool": "app"}],
            "pools": [{"name": "app", "backends": [{"address": backend}]}],
        }
    )


def _get(address: tuple[str, int]) -> tuple[int, str]:
    connection = http.client.HTTPConnection(*address, timeout=5)
    try:
        connection.request("GET", "/", headers={"Host": "app.test"})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def _two_xx_count(registry: Registry, backend: str) -> float | None:
    """The 2xx response count of `backend` in the registry's exposition, if present."""
    for line in registry.render().decode().splitlines():
        if line.startswith("thecloud_lb_backend_requests_total{") and all(
            label in line for label in (f'backend="{backend}"', 'class="2xx"', 'pool="app"')
        ):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_proxies_a_request_then_switches_backends_on_update(
    backend_one: str, backend_two: str, registry: Registry
) -> None:
    with LoadBalancer(_config(backend_one), metrics=registry) as lb:
        address = lb.addresses()["web"]
        assert _get(address) == (200, "one 127.0.0.1")
        lb.update(_config(backend_two))
        assert _get(address) == (200, "two 127.0.0.1")
        stats = lb.stats()
        assert stats["requests_total"] == 2
        backends = {b["address"]: b for b in stats["pools"]["app"]["backends"]}
        assert backends[backend_two]["requests"] == 1
        assert backends[backend_two]["up"] is True
        # The engine counts a response right after relaying its last byte: allow it a moment.
        deadline = time.monotonic() + 2.0
        while _two_xx_count(registry, backend_two) != 1.0:
            assert time.monotonic() < deadline, registry.render().decode()
            time.sleep(0.01)
        assert lb.drain(timeout=5.0) is True
    lb.stop()  # idempotent after the context manager stopped it


def test_lifecycle_errors_are_clear(backend_one: str) -> None:
    lb = LoadBalancer(_config(backend_one))
    with pytest.raises(StateError, match="not started"):
        lb.addresses()
    lb.start()
    try:
        with pytest.raises(StateError, match="already started"):
            lb.start()
        with pytest.raises(InvalidArgumentError, match="timeout"):
            lb.drain(timeout=-1.0)
    finally:
        lb.stop()


def _tls_get(address: tuple[str, int], server_name: str) -> tuple[bytes, bytes]:
    """One GET over TLS with SNI `server_name`; returns the server certificate and response."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(address, timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        tls.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        response = b""
        while chunk := tls.recv(4096):
            response += chunk
        peer = tls.getpeercert(binary_form=True)
        assert peer is not None
        return peer, response


def test_terminates_tls_with_the_certificate_chosen_by_sni(
    backend_one: str, tmp_path: Path
) -> None:
    a = write_self_signed(tmp_path, "a.example", "a.example")
    b = write_self_signed(tmp_path, "b.example", "b.example")
    a_cert, a_der = a.cert_file, a.der
    b_cert, b_der = b.cert_file, b.der
    certificates = [
        {"cert_file": str(c), "key_file": str(c.with_suffix(".key")), "server_names": [n]}
        for c, n in ((a_cert, "a.example"), (b_cert, "b.example"))
    ]
    config = LoadBalancerConfig.from_dict(
        {
            "listeners": [
                {
                    "name": "web",
                    "bind": "127.0.0.1:0",
                    "default_pool": "app",
                    "tls": {"certificates": certificates},
                }
            ],
            "pools": [{"name": "app", "backends": [{"address": backend_one}]}],
        }
    )
    with LoadBalancer(config) as lb:
        address = lb.addresses()["web"]
        peer, response = _tls_get(address, "b.example")
        assert peer == b_der
        assert response.startswith(b"HTTP/1.1 200 OK") and response.endswith(b"one 127.0.0.1")
        assert _tls_get(address, "unknown.example")[0] == a_der
