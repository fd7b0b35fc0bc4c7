"""One parsed HTTP request: method, path, query, headers and the size-capped body.

The body is read completely before any handler runs (requests are small JSON documents), and
reading stops as soon as it passes `MAX_BODY_BYTES`, so an oversized upload costs at most that
much memory before the 413.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final
from urllib.parse import parse_qsl

from thecloud.control.api.errors import ApiError
from thecloud.control.app import Receive, Scope
from thecloud.core.ids import new_correlation_id

__all__ = ["MAX_BODY_BYTES", "Request", "header_map", "read_request", "request_id_for"]

#: Largest request body accepted.
MAX_BODY_BYTES: Final = 1 << 20
# Echoed request ids end up in headers and the audit log: keep them short and plain.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@dataclass(frozen=True, slots=True)
class Request:
    """What a handler needs to know about the request."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    request_id: str

    def header(self, name: str) -> str | None:
        """Return the header `name` (lowercase), or None."""
        return self.headers.get(name)


def request_id_for(headers: dict[str, str]) -> str:
    """Return the client's X-Request-Id if it is sane (one, short, plain), else a fresh id."""
    candidate = headers.get("x-request-id")
    if candidate is not None and _SANE_REQUEST_ID.fullmatch(candidate):
        return candidate
    return new_correlation_id("req")


def header_map(scope: Scope) -> dict[str, str]:
    """The request's headers by lowercase name; repeated ones joined with ", "."""
    headers: dict[str, str] = {}
    for key, value in scope["headers"]:
        name = key.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[name] = f"{headers[name]}, {text}" if name in headers else text
    return headers


def _query(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode("latin-1")
    if not raw:
        return {}
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=False, errors="strict")
    except UnicodeDecodeError:
        raise ApiError(HTTPStatus.BAD_REQUEST, "the query string is not valid UTF-8") from None
    query: dict[str, str] = {}
    for name, value in pairs:
        if name in query:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"query parameter {name!r} is repeated")
        query[name] = value
    return query


async def _body(headers: dict[str, str], receive: Receive) -> bytes:
    declared = headers.get("content-length")
    if declared is None and "transfer-encoding" not in headers:
        return b""  # no framing, no body (RFC 9112 section 6.3): nothing to wait for
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, _too_large())
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ApiError(HTTPStatus.BAD_REQUEST, "the client went away mid-request")
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, _too_large())
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _too_large() -> str:
    return f"the request body exceeds {MAX_BODY_BYTES} bytes"


async def read_request(
    scope: Scope, receive: Receive, request_id: str, headers: dict[str, str]
) -> Request:
    """Parse `scope` (its `header_map` given) and read the body; ApiError (400, 413) if either
    is unacceptable."""
    return Request(
        method=scope["method"],
        path=scope["path"],
        query=_query(scope),
        headers=headers,
        body=await _body(headers, receive),
        request_id=request_id,
    )
