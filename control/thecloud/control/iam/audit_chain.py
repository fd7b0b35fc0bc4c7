"""Audit entries and the hash chain that links them.

Each entry's hash is SHA-256 over the previous entry's hash (raw bytes) followed by the canonical
JSON encoding (sorted keys, no spaces, UTF-8) of every field except the hash itself. Changing,
removing or reordering any entry therefore breaks every hash after it. The first entry links to
`GENESIS_HASH`.
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Final

from thecloud.core.documents import as_document
from thecloud.core.errors import InvalidArgumentError, StateError

__all__ = [
    "GENESIS_HASH",
    "MAX_FIELD_LENGTH",
    "AuditEntry",
    "AuditResult",
    "chain_hash",
    "decode_entry",
    "encode_entry",
    "validate_text",
]

#: The hash the first entry links to.
GENESIS_HASH: Final = "0" * 64
#: Longest text field (action, resource, request id, principal), so one entry stays small.
MAX_FIELD_LENGTH: Final = 512


class AuditResult(enum.StrEnum):
    """How the audited request ended."""

    SUCCESS = "success"
    DENIED = "denied"
    FAILURE = "failure"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audited request: who did what to which resource, how it ended, and its chain links."""

    sequence: int
    time: str
    tenant_id: str | None
    principal_id: str
    action: str
    resource: str
    result: AuditResult
    request_id: str
    previous_hash: str
    hash: str


def validate_text(value: object, what: str) -> str:
    """Return `value` if it is a non-empty printable str of bounded length, else raise."""
    if not isinstance(value, str) or not value or not value.isprintable():
        raise InvalidArgumentError(f"audit {what} must be a non-empty printable str")
    if len(value) > MAX_FIELD_LENGTH:
        raise InvalidArgumentError(f"audit {what} may hold at most {MAX_FIELD_LENGTH} characters")
    return value


def _canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(entry: AuditEntry) -> str:
    """Return the hash `entry` must carry, given its other fields (see the module docstring)."""
    fields = as_document(entry)
    del fields["hash"]
    digest = hashlib.sha256(bytes.fromhex(entry.previous_hash) + _canonical(fields))
    return digest.hexdigest()


def encode_entry(entry: AuditEntry) -> bytes:
    """Return the stored form of `entry`."""
    return _canonical(as_document(entry))


def decode_entry(raw: bytes) -> AuditEntry:
    """Rebuild an entry from its stored form; StateError if it is unreadable."""
    try:
        fields: dict[str, Any] = json.loads(raw)
        entry = AuditEntry(**fields)
        # Unchecked types would make a tampered entry crash verify instead of failing it.
        if not isinstance(entry.sequence, int) or not isinstance(entry.previous_hash, str):
            raise TypeError("bad field types")
        bytes.fromhex(entry.previous_hash)
        return AuditEntry(**(fields | {"result": AuditResult(entry.result)}))
    except (ValueError, TypeError) as error:
        raise StateError("a stored audit entry is unreadable") from error
