"""Strict JSON request bodies: an object with known fields of the expected types, nothing else.

Unknown fields are refused rather than ignored, so a typo (`projet_id`) fails loudly instead of
silently doing something else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from thecloud.control.api.errors import ApiError

__all__ = ["Field", "parse_body", "parse_object"]


@dataclass(frozen=True, slots=True)
class Field:
    """One accepted field: its JSON type and whether it must be present."""

    kind: type
    required: bool = True


def _bad(detail: str) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, detail)


def _type_name(kind: type) -> str:
    return {str: "a string", bool: "a boolean", int: "an integer", list: "an array"}.get(
        kind, kind.__name__
    )


def parse_body(raw: bytes, fields: Mapping[str, Field]) -> dict[str, Any]:
    """Return the body's fields; ApiError (400) for bad JSON, unknown, missing or mistyped ones.

    `null` counts as absent for optional fields.
    """
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _bad("the request body is not valid JSON") from None
    except RecursionError:
        raise _bad("the request body is nested too deeply") from None
    return parse_object(document, fields, "the request body")


def parse_object(document: object, fields: Mapping[str, Field], what: str) -> dict[str, Any]:
    """Return the fields of the JSON object `document` (called `what` in messages); 400 if bad."""
    if not isinstance(document, dict):
        raise _bad(f"{what} must be a JSON object")
    unknown = sorted(set(document) - set(fields))
    if unknown:
        raise _bad(f"unknown fields in {what}: {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, spec in fields.items():
        value = document.get(name)
        if value is None:
            if spec.required:
                raise _bad(f"field {name!r} is required")
            continue
        # bool is an int in Python; JSON says they are different types.
        if not isinstance(value, spec.kind) or (spec.kind is int and isinstance(value, bool)):
            raise _bad(f"field {name!r} must be {_type_name(spec.kind)}")
        values[name] = value
    return values
