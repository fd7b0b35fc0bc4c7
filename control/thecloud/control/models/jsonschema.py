"""JSON Schema (2020-12, as OpenAPI 3.1 uses it) derived from the models' type hints.

One source of truth: the dataclasses the server parses bodies into and renders responses from
are the ones the OpenAPI document describes. Supported annotations: str, int, bool, float, None,
`X | None`, `list[X]`, `tuple[X, ...]`, `dict[str, Any]`, `Any`, str enums, nested dataclasses,
and `Annotated[int, Range(...)]` / `Annotated[str, Text(...)]` for bounds.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from dataclasses import dataclass
from typing import Any, Final, Union

__all__ = ["Range", "SchemaRegistry", "Text", "type_schema"]

JsonObject = dict[str, Any]
_REF_PREFIX: Final = "#/components/schemas/"


@dataclass(frozen=True, slots=True)
class Range:
    """Bounds of an integer field (inclusive)."""

    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True, slots=True)
class Text:
    """Bounds of a string field: length and an optional regular expression."""

    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None


class SchemaRegistry:
    """Collects the schemas of named models as they are referenced, for `components/schemas`."""

    def __init__(self) -> None:
        self.components: dict[str, JsonObject] = {}

    def ref(self, model: type) -> JsonObject:
        """Return a `$ref` to `model`'s schema, registering it (and what it uses) first."""
        name = model.__name__
        if name not in self.components:
            # Registered before its fields, so a self-referencing model terminates.
            self.components[name] = {}
            self.components[name] = self._dataclass_schema(model)
        return {"$ref": _REF_PREFIX + name}

    def _dataclass_schema(self, model: type) -> JsonObject:
        hints = typing.get_type_hints(model, include_extras=True)
        properties: JsonObject = {}
        required: list[str] = []
        for item in dataclasses.fields(model):
            properties[item.name] = type_schema(hints[item.name], self)
            no_default = (
                item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING
            )
            if no_default:
                required.append(item.name)
        schema: JsonObject = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        doc = (model.__doc__ or "").strip().split("\n")[0]
        if doc:
            schema["description"] = doc
        if getattr(model, "__closed__", False):
            schema["additionalProperties"] = False
        return schema


def _bounds(schema: JsonObject, extras: tuple[Any, ...]) -> JsonObject:
    for extra in extras:
        if isinstance(extra, Range):
            if extra.minimum is not None:
                schema["minimum"] = extra.minimum
            if extra.maximum is not None:
                schema["maximum"] = extra.maximum
        elif isinstance(extra, Text):
            if extra.min_length is not None:
                schema["minLength"] = extra.min_length
            if extra.max_length is not None:
                schema["maxLength"] = extra.max_length
            if extra.pattern is not None:
                schema["pattern"] = extra.pattern
    return schema


def type_schema(hint: Any, registry: SchemaRegistry) -> JsonObject:  # noqa: PLR0911
    """Return the JSON Schema of one annotation."""
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        base, *extras = typing.get_args(hint)
        return _bounds(type_schema(base, registry), tuple(extras))
    if hint is Any:
        return {}
    if hint is type(None) or hint is None:
        return {"type": "null"}
    if origin in (Union, types.UnionType):
        options = [type_schema(arg, registry) for arg in typing.get_args(hint)]
        return {"anyOf": options}
    if origin in (list, tuple):
        args = typing.get_args(hint)
        return {"type": "array", "items": type_schema(args[0], registry) if args else {}}
    if origin is dict or hint is dict:
        return {"type": "object"}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"type": "string", "enum": [str(member.value) for member in hint]}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return registry.ref(hint)
    simple = {str: "string", bool: "boolean", int: "integer", float: "number"}
    if hint in simple:
        return {"type": simple[hint]}
    raise TypeError(f"no JSON Schema for annotation {hint!r}")
