"""The layout version of stored state, and the rule for opening a store written by other code.

A store records the schema version of the code that created it. Code may open a store of its own
version; a store written by newer code is refused, because this code cannot know what the newer
layout means and writing to it could corrupt it.
"""

from __future__ import annotations

from typing import Final

from thecloud.core.errors import StateError

__all__ = ["SCHEMA_VERSION", "check_schema_version", "parse_schema_version"]

#: The layout this code reads and writes. Bump it, with a migration, when the layout changes.
SCHEMA_VERSION: Final = 1


def check_schema_version(stored: int | None, code: int, where: str) -> int:
    """Return the version to keep recording for a store at `where`, or raise StateError.

    `stored` is the version found in the store (None for a store opened for the first time);
    `code` is the version of the code opening it.
    """
    if stored is None:
        return code
    if stored > code:
        raise StateError(
            f"state store {where} has schema version {stored}, newer than version {code} this "
            "code understands; upgrade thecloud before opening it"
        )
    if stored < 1:
        raise StateError(f"state store {where} records an invalid schema version {stored}")
    return stored


def parse_schema_version(raw: bytes, where: str) -> int:
    """Decode a stored schema version (ASCII decimal), raising StateError if it is garbage."""
    try:
        return int(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise StateError(f"state store {where} holds an unreadable schema version {raw!r}") from exc
