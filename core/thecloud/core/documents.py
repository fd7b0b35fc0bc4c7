"""Dataclass records as JSON-ready documents, without `dataclasses.asdict`'s deep copy.

`asdict` deep-copies every field value, which on a request path costs more than the JSON encoding
that follows; records hold immutable plain values, so a shallow walk that converts only nested
dataclasses (directly or inside lists, tuples and dicts) gives the same document.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Final

__all__ = ["as_document"]

_PLAIN: Final = frozenset({str, int, bool, float, type(None)})


@functools.cache
def _field_names(kind: type) -> tuple[str, ...]:
    return tuple(item.name for item in dataclasses.fields(kind))


def as_document(value: object) -> dict[str, Any]:
    """Return a dataclass instance as a dict of its fields, nested dataclasses converted too
    (str enums stay as they are: JSON encodes them as their values)."""
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        raise TypeError(f"expected a dataclass instance, not {type(value).__name__}")
    return {name: _plain(getattr(value, name)) for name in _field_names(type(value))}


def _plain(item: Any) -> Any:
    kind = type(item)
    if kind in _PLAIN:
        return item
    if hasattr(kind, "__dataclass_fields__"):
        return as_document(item)
    if kind is list or kind is tuple:
        return kind(_plain(element) for element in item)
    if kind is dict:
        return {key: _plain(element) for key, element in item.items()}
    return item
