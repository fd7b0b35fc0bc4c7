"""Helpers for the load balancer's integration tests: backends, raw clients, certificates.

`Backend` is a threaded HTTP/1.1 server on a loopback port that records every request it
receives (so a test can prove a hostile request never reached it) and answers through a
replaceable handler. `RawResponse` reads one HTTP/1.1 response off a raw socket byte-exactly.
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from thecloud.dataplane.lb import LoadBalancer, LoadBalancerConfig

TIMEOUT = 5.0


# ---------------------------------------------------------------- backends


@dataclass
class Request:
    """One request as a backend received it; the body is read by the handler (or `Backend`)."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    rfile: BinaryIO
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    def header_values(self, name: str) -> list[str]:
        """Every value of a header, in order."""
        wanted = name.lower()
        return [v for k, v in self.headers if k.lower() == wanted]

    def body_chunks(self) -> Iterator[bytes]:
        """The request body as it arrives (Content-Length or chunked), without buffering it."""
        length = self.header("content-length")
        if (self.header("transfer-encoding") or "").lower() == "chunked":
            # Strict: a body cut anywhere (even in the last CRLF) is not a complete request.
            while True:
                size = int(_read_line(self.rfile).split(b";")[0], 16)
                if size == 0:
                    while _read_line(self.rfile) != b"":
                        pass
                    return
                yield _read_exactly(self.rfile, size)
                if _read_line(self.rfile) != b"":
                    raise ValueError("chunk data longer than its size")
        elif length is not None:
            remaining = int(length)
            while remaining:
                chunk = self.rfile.read1(min(remaining, 65536))  # type: ignore[attr-defined]
                if not chunk:
                    raise ConnectionError("body cut short")
                remaining -= len(chunk)
                yield chunk

    def read_body(self) -> bytes:
        """The whole body (also stored in `body`)."""
        self.body = b"".join(self.body_chunks())
        return self.body


Handler = Callable[["Backend", Request, socket.socket], None]


def _read_line(rfile: BinaryIO) -> bytes:
    """One CRLF-terminated line without its CRLF; EOF before the CRLF raises."""
    line = rfile.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("line cut short")
    return line[:-2]


def _read_exactly(rfile: BinaryIO, size: int) -> bytes:
    data = rfile.read(size)
    if len(data) != size:
        raise ConnectionError("short read")
    return data


def respond(
    sock: socket.socket,
    status: int = 200,
    body: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
) -> None:
    """Writes one Content-Length response."""
    lines = [f"HTTP/1.1 {status} {http.client.responses.get(status, 'Status')}"]
    lines += [f"{k}: {v}" for k, v in headers or []]
    lines.append(f"Content-Length: {len(body)}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


def answer_with_name(backend: Backend, request: Request, sock: socket.socket) -> None:
    """The default handler: reads the body, answers 200 with the backend's name."""
    request.read_body()
    respond(sock, 200, backend.name.encode(), [("X-Backend", backend.name)])


class Backend:
    """A threaded HTTP/1.1 server on 127.0.0.1 that records requests and answers via `handler`."""

    def __init__(self, name: str, handler: Handler = answer_with_name) -> None:
        self.name = name
        self.handler = handler
        self.received: list[Request] = []
        """Every request whose head arrived."""
        self.completed: list[Request] = []
        """Requests the handler answered without error."""
        self.connections = 0
        self.health_status = 200
        self.health_checks = 0
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        backend = self

        class _Connection(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                backend._serve(self.request)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Connection)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        # A short poll interval: shutdown() waits for one, and every test closes its backends.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def _serve(self, sock: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            self._sockets.add(sock)
        rfile = sock.makefile("rb")
        try:
            while True:
                request = self._read_head(rfile)
                if request is None:
                    return
                if request.target == "/healthz":
                    request.read_body()
                    with self._lock:
                        self.health_checks += 1
                    respond(sock, self.health_status, b"health")
                    continue
                with self._lock:
                    self.received.append(request)
                self.handler(self, request, sock)
                with self._lock:
                    self.completed.append(request)
                if (request.header("connection") or "").lower() == "close":
                    return
        except (ConnectionError, OSError, ValueError):
            return
        finally:
            with self._lock:
                self._sockets.discard(sock)
            rfile.close()

    @staticmethod
    def _read_head(rfile: BinaryIO) -> Request | None:
        line = rfile.readline()
        if not line:
            return None
        method, target, version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        headers = []
        while True:
            raw = rfile.readline().decode("latin-1")
            if raw in ("\r\n", "\n", ""):
                break
            name, _, value = raw.partition(":")
            headers.append((name, value.strip()))
        return Request(method, target, version, headers, rfile)

    def requests_for(self, target: str) -> list[Request]:
        """Recorded requests whose request target is target."""
        with self._lock:
            return [r for r in self.received if r.target == target]

    def close(self) -> None:
        """Stops accepting and closes every open connection."""
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for sock in list(self._sockets):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@contextmanager
def backends(count: int, handler: Handler = answer_with_name) -> Iterator[list[Backend]]:
    """count recording backends named b0, b1, ...; closed when the block ends."""
    started = [Backend(f"b{i}", handler) for i in range(count)]
    try:
        yield started
    finally:
        for backend in started:
            backend.close()


# ---------------------------------------------------------------- the load balancer


def config(
    pool_backends: list[Backend],
    *,
    pool: dict[str, Any] | None = None,
    listener: dict[str, Any] | None = None,
    **top: Any,
) -> dict[str, Any]:
    """A one-listener, one-pool ("app") configuration in the contract's shape, on a free port."""
    return {
        "workers": 1,
        "listeners": [
            {
                "name": "web",
                "bind": "127.0.0.1:0",
                "default_pool": "app",
                "routes": [],
                **(listener or {}),
            }
        ],
        "pools": [
            {
                "name": "app",
                "backends": [{"address": b.address, "weight": 1} for b in pool_backends],
                "algorithm": {"kind": "round_robin"},
                **(pool or {}),
            }
        ],
        **top,
    }


@dataclass
class Proxy:
    """A started LoadBalancer and its listener's port."""

    balancer: LoadBalancer
    port: int
    extra: dict[str, int] = field(default_factory=dict)

    def get(
        self, path: str = "/", headers: dict[str, str] | None = None, method: str = "GET"
    ) -> Reply:
        """One request on a fresh connection through http.client."""
        return request(self.port, path, headers, method)


@contextmanager
def running(document: dict[str, Any]) -> Iterator[Proxy]:
    """A LoadBalancer started from document; stopped when the block ends."""
    balancer = LoadBalancer(LoadBalancerConfig.from_dict(document))
    balancer.start()
    try:
        addresses = balancer.addresses()
        yield Proxy(balancer, addresses["web"][1], {k: v[1] for k, v in addresses.items()})
    finally:
        balancer.stop()


# ---------------------------------------------------------------- clients


@dataclass
class Reply:
    """A response read by http.client."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


def request(
    port: int,
    path: str = "/",
    headers: dict[str, str] | None = None,
    method: str = "GET",
    body: bytes | None = None,
) -> Reply:
    """One request on a new connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Reply(response.status, response.getheaders(), response.read())
    finally:
        connection.close()


@dataclass
class RawResponse:
    """One response read off a raw socket."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    @classmethod
    def read(cls, rfile: BinaryIO, *, head_only: bool = False) -> RawResponse:
        """Reads the status line, headers and (unless head_only) the body."""
        line = rfile.readline()
        if not line:
            raise ConnectionError("connection closed before a response")
        status = int(line.split(b" ", 2)[1])
        headers = []
        while True:
            raw = rfile.readline().decode("latin-1")
            if raw in ("\r\n", ""):
                break
            name, _, value = raw.partition(":")
            headers.append((name.strip(), value.strip()))
        response = cls(status, headers, b"")
        if head_only or status in (100, 101, 204, 304):
            return response
        length = response.header("content-length")
        if (response.header("transfer-encoding") or "").lower() == "chunked":
            parts = []
            while True:
                size = int(rfile.readline().split(b";")[0], 16)
                if size == 0:
                    rfile.readline()
                    break
                parts.append(_read_exactly(rfile, size))
                rfile.readline()
            response.body = b"".join(parts)
        elif length is not None:
            response.body = _read_exactly(rfile, int(length))
        else:
            response.body = rfile.read()
        return response


@contextmanager
def raw_connection(port: int, timeout: float = TIMEOUT) -> Iterator[tuple[socket.socket, BinaryIO]]:
    """A raw TCP connection to the proxy and a buffered reader on it."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    rfile = sock.makefile("rb")
    try:
        yield sock, rfile
    finally:
        rfile.close()
        sock.close()


def closed_by_peer(sock: socket.socket, rfile: BinaryIO, timeout: float = TIMEOUT) -> bool:
    """Whether the peer closes the connection (EOF or reset) within timeout, reading what's left."""
    sock.settimeout(timeout)
    try:
        while rfile.read1(65536):  # type: ignore[attr-defined]
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Polls condition until it holds or timeout passes; returns whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


# ---------------------------------------------------------------- certificates


@dataclass(frozen=True)
class Certificates:
    """A test CA and leaf certificates it issued, as PEM files."""

    ca_file: Path
    leaves: dict[str, tuple[Path, Path]]
    """Leaf name -> (certificate file, key file)."""


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_certificates(directory: Path, leaves: dict[str, list[str]]) -> Certificates:
    """A CA and one leaf per entry (leaf name -> DNS names), written under directory."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("thecloud test CA"))
        .issuer_name(_name("thecloud test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    written = {}
    for leaf, names in leaves.items():
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(names[0]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        cert_file = directory / f"{leaf}.pem"
        key_file = directory / f"{leaf}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        written[leaf] = (cert_file, key_file)
    return Certificates(ca_file, written)
