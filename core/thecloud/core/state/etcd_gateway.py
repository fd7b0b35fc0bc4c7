"""A small client for etcd's v3 API over its gRPC-gateway JSON endpoints (etcd 3.4 and later).

The gateway needs nothing but HTTP, so it works with Debian's etcd-server without generated gRPC
stubs. Keys and values travel base64-encoded; 64-bit integers travel as decimal strings; fields
at their default value (0, false, empty) are omitted, so every reader defaults them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncGenerator, Mapping
from typing import Any, Final

import httpx

from thecloud.core.errors import StateError

__all__ = ["EtcdGateway", "EtcdRequestError", "b64", "prefix_end", "unb64"]

#: gRPC status codes after which the same request may succeed: DEADLINE_EXCEEDED, ABORTED,
#: UNAVAILABLE (no leader, member shutting down) and RESOURCE_EXHAUSTED.
_RETRYABLE_CODES: Final = frozenset({4, 8, 10, 14})

JsonObject = dict[str, Any]


class EtcdRequestError(StateError):
    """etcd answered a request with a gRPC error; `code` is the gRPC status code."""

    def __init__(self, path: str, code: int, message: str) -> None:
        super().__init__(f"etcd {path} failed (gRPC code {code}): {message}")
        self.code = code
        self.message = message
        self.retryable = code in _RETRYABLE_CODES


def b64(raw: bytes) -> str:
    """Return `raw` in the gateway's base64 form."""
    return base64.b64encode(raw).decode("ascii")


def unb64(text: str | None) -> bytes:
    """Return the bytes of a gateway base64 field (an omitted field is empty)."""
    return base64.b64decode(text) if text else b""


def prefix_end(prefix: bytes) -> bytes:
    """Return the smallest key greater than every key starting with `prefix` (etcd range_end)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        # etcd reads range_end "\0" as "to the end of the keyspace".
        return b"\x00"
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


class EtcdGateway:
    """JSON requests and watch streams against one etcd client URL, e.g. http://127.0.0.1:2379."""

    def __init__(self, endpoint: str, *, timeout: float = 10.0) -> None:
        """Prepare a connection pool to `endpoint`; nothing is sent until the first request."""
        self._endpoint = endpoint.rstrip("/")
        self._client = httpx.AsyncClient(base_url=self._endpoint, timeout=timeout)

    async def call(self, path: str, body: Mapping[str, Any]) -> JsonObject:
        """POST `body` to `path` (e.g. "/v3/kv/range") and return the decoded answer."""
        try:
            response = await self._client.post(path, json=body)
        except httpx.HTTPError as exc:
            raise StateError(f"cannot reach etcd at {self._endpoint}: {exc!r}") from exc
        answer = self._decode(path, response.content)
        if response.status_code != httpx.codes.OK or "error" in answer:
            raise self._error(path, answer, response.status_code)
        return answer

    async def stream(self, path: str, body: Mapping[str, Any]) -> AsyncGenerator[JsonObject, None]:
        """POST `body` to streaming `path` (e.g. "/v3/watch") and yield each message's result."""
        # A watch is idle for as long as nothing changes, so only the connect may time out.
        timeout = httpx.Timeout(self._client.timeout.connect, read=None, write=None, pool=None)
        try:
            async with self._client.stream("POST", path, json=body, timeout=timeout) as response:
                if response.status_code != httpx.codes.OK:
                    answer = self._decode(path, await response.aread())
                    raise self._error(path, answer, response.status_code)
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    message = self._decode(path, line.encode("utf-8"))
                    if "error" in message:
                        raise self._error(path, message["error"], response.status_code)
                    yield message.get("result", {})
        except httpx.HTTPError as exc:
            raise StateError(f"etcd stream {path} at {self._endpoint} broke: {exc!r}") from exc
        raise StateError(f"etcd at {self._endpoint} ended stream {path}")

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._client.aclose()

    def _decode(self, path: str, content: bytes) -> JsonObject:
        try:
            answer = json.loads(content)
        except ValueError as exc:
            raise StateError(f"etcd {path} answered with invalid JSON: {content[:200]!r}") from exc
        if not isinstance(answer, dict):
            raise StateError(f"etcd {path} answered with {type(answer).__name__}, not an object")
        return answer

    def _error(self, path: str, answer: Any, status: int) -> EtcdRequestError:
        if isinstance(answer, dict):
            code = int(answer.get("code", 2))
            message = str(answer.get("message") or answer.get("error") or answer)
        else:
            code, message = 2, f"HTTP {status}: {answer!r}"
        return EtcdRequestError(path, code, message)
