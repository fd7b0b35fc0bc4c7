"""JSON success responses and the plain-JSON form of IAM records."""

from __future__ import annotations

import functools
import json
from collections.abc import Hashable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, Final

from thecloud.control.app import Response
from thecloud.core.documents import as_document

__all__ = ["JSON", "etag", "json_response", "listing", "record", "versioned", "versioned_record"]

#: Content type of every success body.
JSON: Final = "application/json"
# One compact encoder for every response: `json.dumps` with `separators` builds a new encoder on
# each call, which costs as much as encoding a small record.
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"))
_OK: Final = HTTPStatus.OK.value


def json_response(
    document: Mapping[str, Any],
    status: HTTPStatus = HTTPStatus.OK,
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> Response:
    """Return `document` as a compact JSON response."""
    return Response(status.value, _ENCODER.encode(document).encode(), JSON, headers)


def etag(version: int) -> tuple[bytes, bytes]:
    """Return the ETag header of a resource at `version` (a strong validator)."""
    return (b"etag", b'"%d"' % version)


def versioned(
    document: Mapping[str, Any], version: int, status: HTTPStatus = HTTPStatus.OK
) -> Response:
    """Return a resource with its `version` in the body and as the ETag."""
    return json_response({**document, "version": version}, status, (etag(version),))


def versioned_record(value: Hashable, version: int) -> Response:
    """Return `versioned(record(value), version)` for an immutable record of plain values.

    Such a record at a version always has the same body, so bodies are cached: a GET of a hot
    record skips building and encoding its document. The cache is keyed by the record's value
    (not its id), so it can never answer with another record's fields; records that compare
    equal must therefore have the same document (no field holding 1 in one and True in another).
    """
    return Response(_OK, _versioned_body(value, version), JSON, (etag(version),))


@functools.lru_cache(maxsize=4096)
def _versioned_body(value: Hashable, version: int) -> bytes:
    return _ENCODER.encode({**record(value), "version": version}).encode()


def record(value: object) -> dict[str, Any]:
    """Return a record dataclass as a JSON object (str enums serialise as their values)."""
    return as_document(value)


def listing(items: Sequence[Mapping[str, Any]], next_page_token: str | None) -> Response:
    """Return one page of a list route."""
    return json_response({"items": list(items), "next_page_token": next_page_token})
