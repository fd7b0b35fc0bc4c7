"""Request bodies of the `/v1` API, as the server parses them and the SDK and CLI send them.

Every model is closed: a body with a field not listed here is refused (400).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Final

from thecloud.control.iam.records import PrincipalKind
from thecloud.control.iam.roles import Action
from thecloud.control.models.jsonschema import Range, Text

__all__ = [
    "NAME_PATTERN",
    "CreateKey",
    "CreateLoadBalancer",
    "CreateNamed",
    "CreateRole",
    "CreateRoleBinding",
    "PermissionSpec",
    "PutQuotas",
    "PutSecret",
    "RequestBody",
    "UpdateLoadBalancer",
]

#: Names of tenants, projects, accounts, roles, secrets and load balancers (a DNS label).
NAME_PATTERN: Final = r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$"
Name = Annotated[str, Text(min_length=1, max_length=63, pattern=NAME_PATTERN)]
# Quota limits: counts and sizes, bounded so sums never overflow anything downstream.
Limit = Annotated[int, Range(0, 1 << 40)]


class RequestBody:
    """Base of request models: marks them closed (no unknown fields) in the schema."""

    __slots__ = ()
    __closed__: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class CreateNamed(RequestBody):
    """Create a tenant, project, user or service account called `name`."""

    name: Name


@dataclass(frozen=True, slots=True)
class CreateKey(RequestBody):
    """Issue an API key to a user or service account of the tenant."""

    principal_kind: PrincipalKind
    principal_id: str
    name: Name


@dataclass(frozen=True, slots=True)
class CreateRoleBinding(RequestBody):
    """Give a principal a role in the tenant, or only in one project of it."""

    principal_kind: PrincipalKind
    principal_id: str
    role: str
    project_id: str | None = None


@dataclass(frozen=True, slots=True)
class PermissionSpec(RequestBody):
    """One grant of a custom role: an action on a resource type (`*`: every service type)."""

    action: Action
    resource_type: str
    own_only: bool = False


@dataclass(frozen=True, slots=True)
class CreateRole(RequestBody):
    """Define a custom role."""

    name: Name
    permissions: list[PermissionSpec]


@dataclass(frozen=True, slots=True)
class PutSecret(RequestBody):
    """Store a new version of a secret; the value is base64 of at most 64 KiB (not in reprs)."""

    value_base64: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class PutQuotas(RequestBody):
    """Set every quota of a tenant (a full replacement)."""

    instances: Limit
    vcpus: Limit
    memory_mib: Limit
    volume_gib: Limit
    load_balancers: Limit


@dataclass(frozen=True, slots=True)
class CreateLoadBalancer(RequestBody):
    """Create a load balancer; `config` is its listeners, routes and pools (see the LB docs)."""

    name: Name
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UpdateLoadBalancer(RequestBody):
    """Replace a load balancer's configuration."""

    config: dict[str, Any]
