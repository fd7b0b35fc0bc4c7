"""The identity records IAM keeps: tenants, projects, users, service accounts, and principals.

Records are immutable dataclasses of plain JSON values, so they round-trip through the state
store unchanged; `encode_record` and `decode_record` are the one codec they share.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from thecloud.core.documents import as_document
from thecloud.core.errors import StateError

__all__ = [
    "PROJECT_ID_PREFIX",
    "SERVICE_ACCOUNT_ID_PREFIX",
    "TENANT_ID_PREFIX",
    "USER_ID_PREFIX",
    "Principal",
    "PrincipalKind",
    "Project",
    "ServiceAccount",
    "Tenant",
    "User",
    "decode_record",
    "encode_record",
]

#: Id type prefixes (`tnt-...`, `prj-...`, `usr-...`, `sva-...`).
TENANT_ID_PREFIX: Final = "tnt"
PROJECT_ID_PREFIX: Final = "prj"
USER_ID_PREFIX: Final = "usr"
SERVICE_ACCOUNT_ID_PREFIX: Final = "sva"

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Tenant:
    """An isolated customer: everything else belongs to exactly one tenant."""

    id: str
    name: str
    created_at: str


@dataclass(frozen=True, slots=True)
class Project:
    """A grouping of resources inside a tenant; role bindings may be limited to one."""

    id: str
    tenant_id: str
    name: str
    created_at: str


@dataclass(frozen=True, slots=True)
class User:
    """A human account inside a tenant."""

    id: str
    tenant_id: str
    name: str
    created_at: str


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """A non-human account inside a tenant, for automation holding API keys."""

    id: str
    tenant_id: str
    name: str
    created_at: str


class PrincipalKind(enum.StrEnum):
    """Which kind of account a principal is."""

    USER = "user"
    SERVICE_ACCOUNT = "service_account"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: an account in a tenant, and the API key it presented (if any)."""

    tenant_id: str
    kind: PrincipalKind
    id: str
    key_id: str | None = None


def encode_record(record: object) -> bytes:
    """Return the canonical JSON encoding of a record dataclass."""
    return json.dumps(as_document(record), sort_keys=True, separators=(",", ":")).encode()


def decode_record(raw: bytes, factory: Callable[..., R]) -> R:
    """Rebuild a record with `factory` from `raw`; StateError if the stored bytes do not fit."""
    try:
        fields: dict[str, Any] = json.loads(raw)
        return factory(**fields)
    except (ValueError, TypeError) as error:
        raise StateError("a stored IAM record is unreadable") from error
