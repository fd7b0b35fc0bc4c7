"""Byte layouts of the LMDB state backend: change-log records and meta counters.

Fixed-width big-endian integers make log keys sort by revision under LMDB's byte order.
"""

from __future__ import annotations

import struct
from typing import Final

from thecloud.core.state.model import Event, EventKind

__all__ = [
    "decode_event",
    "decode_int",
    "encode_event",
    "encode_int",
    "event_key_has_prefix",
    "log_key",
    "log_revision",
]

# Log key: revision, then the step's index inside its transaction.
_LOG_KEY: Final = struct.Struct(">QI")
# Log record: kind (0 put, 1 delete), version, key length, then key and value bytes.
_EVENT: Final = struct.Struct(">BQI")
_COUNTER: Final = struct.Struct(">Q")
_KINDS: Final = (EventKind.PUT, EventKind.DELETE)


def log_key(revision: int, index: int) -> bytes:
    """Return the change-log key of step `index` of the transaction at `revision`."""
    return _LOG_KEY.pack(revision, index)


def log_revision(raw_key: bytes) -> int:
    """Return the revision a change-log key belongs to."""
    revision: int = _LOG_KEY.unpack(raw_key)[0]
    return revision


def encode_event(kind: EventKind, key: bytes, value: bytes, version: int) -> bytes:
    """Return the change-log record of one change."""
    return _EVENT.pack(_KINDS.index(kind), version, len(key)) + key + value


def decode_event(raw_key: bytes, raw: bytes) -> Event:
    """Return the Event stored as change-log record `raw` under `raw_key`."""
    kind, version, key_length = _EVENT.unpack_from(raw)
    start = _EVENT.size
    key = bytes(raw[start : start + key_length]).decode("utf-8")
    return Event(
        kind=_KINDS[kind],
        key=key,
        value=bytes(raw[start + key_length :]),
        version=version,
        revision=log_revision(raw_key),
    )


def event_key_has_prefix(raw: bytes, prefix: bytes) -> bool:
    """Whether the key of change-log record `raw` starts with `prefix`, without decoding it
    (watchers skip most records: each sees only its own prefix)."""
    key_length: int = _EVENT.unpack_from(raw)[2]
    start = _EVENT.size
    return key_length >= len(prefix) and raw[start : start + len(prefix)] == prefix


def encode_int(value: int) -> bytes:
    """Return the stored form of a meta counter."""
    return _COUNTER.pack(value)


def decode_int(raw: bytes | memoryview[int] | None) -> int:
    """Return a stored meta counter, 0 if it was never written."""
    if raw is None:
        return 0
    counter: int = _COUNTER.unpack(raw)[0]
    return counter
