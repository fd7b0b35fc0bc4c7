"""Response documents of the `/v1` API.

The IAM records (`Project`, `ApiKey`, `AuditEntry`...) and operations are returned as they are
stored; the models here cover the documents built around them. `Versioned` resources also carry
`version` (their ETag) in the body. Fields holding a secret (a key's token, a secret's value)
are left out of reprs, so logging or printing a model never shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from thecloud.control.iam.api_keys import ApiKey
from thecloud.control.iam.audit_chain import AuditEntry
from thecloud.control.iam.records import Project, ServiceAccount, Tenant, User
from thecloud.control.iam.role_store import RoleBinding
from thecloud.control.iam.secrets_store import SecretMetadata
from thecloud.control.operations import Operation

__all__ = [
    "ApiKey",
    "AuditEntry",
    "AuditVerdict",
    "Deleted",
    "Health",
    "IssuedKey",
    "LoadBalancer",
    "LoadBalancerStats",
    "LoadBalancerStatus",
    "Operation",
    "Permission",
    "Problem",
    "Project",
    "Quotas",
    "Role",
    "RoleBinding",
    "Secret",
    "SecretMetadata",
    "SecretWithValue",
    "ServiceAccount",
    "Tenant",
    "TenantCreated",
    "User",
]


@dataclass(frozen=True, slots=True)
class Problem:
    """An RFC 9457 problem document; some types add members (a quota's name, say)."""

    type: str
    title: str
    status: int
    detail: str


@dataclass(frozen=True, slots=True)
class Health:
    """Liveness."""

    status: str


@dataclass(frozen=True, slots=True)
class Deleted:
    """The answer to a DELETE."""

    id: str
    deleted: bool


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key just created or rotated; `token` is shown here only, never again (nor in reprs)."""

    key: ApiKey
    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Permission:
    """One grant of a role."""

    action: str
    resource_type: str
    own_only: bool


@dataclass(frozen=True, slots=True)
class Role:
    """A built-in or custom role."""

    name: str
    builtin: bool
    permissions: list[Permission]


@dataclass(frozen=True, slots=True)
class AuditVerdict:
    """Whether the audit chain is intact, and the first bad sequence if not."""

    intact: bool
    first_bad_sequence: int | None


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret's metadata; `version` is its current version and its ETag."""

    tenant_id: str
    name: str
    version: int
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class SecretWithValue:
    """A secret's metadata and the value of the version read (kept out of reprs)."""

    tenant_id: str
    name: str
    version: int
    created_at: str
    updated_at: str
    value_base64: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Quotas:
    """A tenant's limits, what is in use against each, and the limits' version (their ETag;
    0 while the defaults apply)."""

    tenant_id: str
    instances: int
    vcpus: int
    memory_mib: int
    volume_gib: int
    load_balancers: int
    usage: dict[str, int]
    version: int


@dataclass(frozen=True, slots=True)
class TenantCreated:
    """A new tenant, its admin service account, and that account's first key (shown once)."""

    tenant: Tenant
    admin_service_account_id: str
    admin_key: IssuedKey


@dataclass(frozen=True, slots=True)
class LoadBalancerStatus:
    """What the reconciler last observed of a load balancer."""

    state: str
    addresses: dict[str, str]
    last_error: str | None
    observed_version: int


@dataclass(frozen=True, slots=True)
class LoadBalancer:
    """A load balancer: desired configuration, and status written back by the reconciler."""

    id: str
    tenant_id: str
    project_id: str
    name: str
    config: dict[str, Any]
    created_at: str
    updated_at: str
    status: LoadBalancerStatus
    version: int


@dataclass(frozen=True, slots=True)
class LoadBalancerStats:
    """Live counters of a running load balancer, as its engine reports them."""

    id: str
    state: str
    stats: dict[str, Any]
