"""WebSocket through the proxy: the Upgrade handshake passes, then frames flow both ways."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct
from typing import BinaryIO

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

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE = 0x1, 0x2, 0x8


def _accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def _read_frame(rfile: BinaryIO) -> tuple[int, bytes]:
    first, second = rfile.read(2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", rfile.read(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", rfile.read(8))
    mask = rfile.read(4) if second & 0x80 else b""
    payload = rfile.read(length)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return first & 0x0F, payload


def _frame(opcode: int, payload: bytes, *, masked: bool) -> bytes:
    head = bytes([0x80 | opcode])
    bit = 0x80 if masked else 0
    if len(payload) < 126:
        head += bytes([bit | len(payload)])
    elif len(payload) < 1 << 16:
        head += bytes([bit | 126]) + struct.pack("!H", len(payload))
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", len(payload))
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _echo(backend: Backend, request: Request, sock: socket.socket) -> None:
    """RFC 6455 server side: handshake, then echo every frame until a close frame."""
    key = request.header("sec-websocket-key")
    if (request.header("upgrade") or "").lower() != "websocket" or key is None:
        respond(sock, 426, b"websocket only")
        return
    sock.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + f"Sec-WebSocket-Accept: {_accept(key)}\r\n\r\n".encode()
    )
    while True:
        opcode, payload = _read_frame(request.rfile)
        sock.sendall(_frame(opcode, payload, masked=False))
        if opcode == CLOSE:
            raise ConnectionError("websocket closed")  # ends this connection's loop


def test_websocket_echo_through_the_proxy() -> None:
    with (
        backends(1, _echo) as pool,
        running(config(pool)) as proxy,
        raw_connection(proxy.port) as (sock, rfile),
    ):
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            (
                "GET /chat HTTP/1.1\r\nHost: a.example\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = RawResponse.read(rfile)
        assert head.status == 101
        assert head.header("sec-websocket-accept") == _accept(key)
        sock.sendall(_frame(TEXT, b"hello through the proxy", masked=True))
        assert _read_frame(rfile) == (TEXT, b"hello through the proxy")
        big = os.urandom(70_000)
        sock.sendall(_frame(BINARY, big, masked=True))
        assert _read_frame(rfile) == (BINARY, big)
        sock.sendall(_frame(CLOSE, struct.pack("!H", 1000), masked=True))
        assert _read_frame(rfile) == (CLOSE, struct.pack("!H", 1000))
