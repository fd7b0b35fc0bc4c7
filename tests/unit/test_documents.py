"""Dataclass records as JSON documents: the same result as `dataclasses.asdict`, shallowly."""

from __future__ import annotations

import dataclasses
import enum

import pytest

from thecloud.core.documents import as_document

pytestmark = pytest.mark.unit


class Colour(enum.StrEnum):
    RED = "red"


@dataclasses.dataclass(frozen=True)
class Inner:
    name: str
    colour: Colour


@dataclasses.dataclass(frozen=True)
class Outer:
    id: str
    count: int
    ratio: float
    flag: bool
    missing: None
    inner: Inner
    items: tuple[Inner, ...]
    tags: list[str]
    by_name: dict[str, Inner]


def test_a_nested_record_converts_exactly_as_asdict_does() -> None:
    inner = Inner("a", Colour.RED)
    value = Outer("x", 3, 0.5, True, None, inner, (inner, inner), ["t"], {"a": inner})

    document = as_document(value)

    assert document == dataclasses.asdict(value)
    assert document["inner"] == {"name": "a", "colour": "red"}
    assert document["by_name"]["a"] == {"name": "a", "colour": Colour.RED}


@pytest.mark.parametrize("value", [Inner, {"a": 1}, "text"])
def test_anything_but_a_dataclass_instance_is_refused(value: object) -> None:
    with pytest.raises(TypeError, match="dataclass instance"):
        as_document(value)
