"""JSON success responses and the plain-JSON form of IAM records."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, Final

from thecloud.control.app import Response

__all__ = ["JSON", "json_response", "listing", "record"]

#: Content type of every success body.
JSON: Final = "application/json"


def json_response(document: Mapping[str, Any], status: HTTPStatus = HTTPStatus.OK) -> Response:
    """Return `document` as a compact JSON response."""
    return Response(status.value, json.dumps(document, separators=(",", ":")).encode(), JSON)


def record(value: object) -> dict[str, Any]:
    """Return a record dataclass as a JSON object (enums become their values)."""
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        raise TypeError(f"expected a record dataclass instance, not {type(value).__name__}")
    fields: dict[str, Any] = dataclasses.asdict(value)
    return fields


def listing(items: Sequence[Mapping[str, Any]], next_page_token: str | None) -> Response:
    """Return one page of a list route."""
    return json_response({"items": list(items), "next_page_token": next_page_token})
