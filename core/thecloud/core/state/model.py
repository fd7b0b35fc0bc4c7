"""The values a state store hands out and accepts: entries, pages, events and transactions.

Both backends (embedded LMDB, clustered etcd) speak these types, so callers never see which one
holds their data. Validation of keys and values lives here too, so both reject the same input with
the same InvalidArgumentError before anything is written.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from thecloud.core.errors import InvalidArgumentError, StateError

__all__ = [
    "MAX_KEY_BYTES",
    "MAX_PAGE_LIMIT",
    "MAX_VALUE_BYTES",
    "CompactedError",
    "Applied",
    "Check",
    "Delete",
    "Entry",
    "Event",
    "EventKind",
    "Operation",
    "Page",
    "Put",
    "Txn",
    "validate_key",
    "validate_limit",
    "validate_prefix",
    "validate_value",
]

#: Longest key, in UTF-8 bytes; keys are names and paths, not payloads.
MAX_KEY_BYTES: Final = 1024
#: Largest value; etcd's default request limit is 1.5 MiB, so 1 MiB leaves room for encoding.
MAX_VALUE_BYTES: Final = 1 << 20
#: Largest page a single `list` call may ask for, so one call cannot pin the whole store.
MAX_PAGE_LIMIT: Final = 10_000


class CompactedError(StateError):
    """A watch asked for revisions the store has already compacted away; resync from a list."""

    # Repeating the same watch can never succeed: the history is gone.
    retryable = False

    def __init__(self, message: str, *, compact_revision: int) -> None:
        super().__init__(message)
        #: The oldest revision that can still be watched from.
        self.compact_revision = compact_revision


@dataclass(frozen=True, slots=True)
class Entry:
    """One key as stored: its value, per-key version (1 on create) and last store revision."""

    key: str
    value: bytes
    version: int
    mod_revision: int


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing in key order; pass `next_key` as `start_after` for the next page."""

    entries: tuple[Entry, ...]
    next_key: str | None


class EventKind(enum.Enum):
    """What a watched change did to its key."""

    PUT = "put"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Event:
    """One change seen by a watch; a delete carries an empty value and version 0."""

    kind: EventKind
    key: str
    value: bytes
    version: int
    revision: int


@dataclass(frozen=True, slots=True)
class Put:
    """Transaction step: write `value` at `key`, if its version is `expect_version` (0: absent)."""

    key: str
    value: bytes
    expect_version: int | None = None


@dataclass(frozen=True, slots=True)
class Delete:
    """Transaction step: remove `key` (absent is fine) if its version is `expect_version`."""

    key: str
    expect_version: int | None = None


@dataclass(frozen=True, slots=True)
class Check:
    """Transaction step that writes nothing: the commit fails unless `key` has `expect_version`."""

    key: str
    expect_version: int


Operation = Put | Delete | Check


@dataclass(frozen=True, slots=True)
class Applied:
    """What a committed transaction did: its revision and one result per step, in order.

    A Put's result is the new Entry, a Delete's whether the key existed, a Check's None.
    """

    revision: int
    results: tuple[Entry | bool | None, ...]


@dataclass(frozen=True, slots=True)
class Txn:
    """Steps committed all together or not at all; each key appears in at most one step.

    Validation happens on construction, so an invalid transaction never reaches a backend.
    """

    ops: tuple[Operation, ...]

    def __post_init__(self) -> None:
        if not self.ops:
            raise InvalidArgumentError("a transaction needs at least one operation")
        seen: set[str] = set()
        for op in self.ops:
            validate_key(op.key)
            if op.key in seen:
                # etcd refuses duplicate keys in one txn; refuse them everywhere for one behaviour.
                raise InvalidArgumentError(f"key {op.key!r} appears twice in one transaction")
            seen.add(op.key)
            if op.expect_version is not None:
                _validate_version(op.expect_version)
            if isinstance(op, Put):
                validate_value(op.value)


def validate_key(key: object) -> bytes:
    """Return `key` as UTF-8 if it is a valid key, else raise InvalidArgumentError."""
    if not isinstance(key, str) or not key:
        raise InvalidArgumentError(f"a key must be a non-empty str, not {key!r}")
    return validate_prefix(key)


def validate_prefix(prefix: object) -> bytes:
    """Return `prefix` (possibly empty) as UTF-8 if it could start a key, else raise."""
    if not isinstance(prefix, str):
        raise InvalidArgumentError(f"a key must be a str, not {type(prefix).__name__}")
    # isprintable() rejects NUL and every other control character.
    if not prefix.isprintable():
        raise InvalidArgumentError(f"key {prefix!r} holds non-printable characters")
    raw = prefix.encode("utf-8", errors="strict")
    if len(raw) > MAX_KEY_BYTES:
        raise InvalidArgumentError(f"a key may hold at most {MAX_KEY_BYTES} bytes, not {len(raw)}")
    return raw


def validate_value(value: object) -> bytes:
    """Return `value` if it is bytes of allowed size, else raise InvalidArgumentError."""
    if not isinstance(value, bytes):
        raise InvalidArgumentError(f"a value must be bytes, not {type(value).__name__}")
    if len(value) > MAX_VALUE_BYTES:
        raise InvalidArgumentError(
            f"a value may hold at most {MAX_VALUE_BYTES} bytes, not {len(value)}"
        )
    return value


def validate_limit(limit: object) -> int:
    """Return `limit` if it is a page size between 1 and MAX_PAGE_LIMIT, else raise."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_LIMIT:
        raise InvalidArgumentError(f"limit must be an int in 1..{MAX_PAGE_LIMIT}, not {limit!r}")
    return limit


def _validate_version(version: object) -> None:
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise InvalidArgumentError(f"expect_version must be an int >= 0, not {version!r}")
