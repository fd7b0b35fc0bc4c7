"""Roles as sets of permissions, and the three built-in roles every tenant has.

A permission is an (action, resource type) pair. The resource type `*` stands for every service
resource type (load balancers, volumes, instances...) but deliberately not for the IAM types in
`IAM_RESOURCE_TYPES`: keys, roles, bindings, accounts, the audit log and secrets give power over
other principals (or are credentials themselves), so a role reaches them only by naming them. A
permission marked `own_only` applies only to resources the principal itself owns (its own API
keys, say).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final

from thecloud.core.errors import InvalidArgumentError

__all__ = [
    "ADMIN",
    "ANY_RESOURCE",
    "BUILTIN_ROLES",
    "IAM_RESOURCE_TYPES",
    "MEMBER",
    "READER",
    "Action",
    "Permission",
    "Role",
    "validate_resource_type",
]

#: Resource type of permissions that cover every non-IAM resource type.
ANY_RESOURCE: Final = "*"
#: Resource types `*` does not cover.
IAM_RESOURCE_TYPES: Final = frozenset(
    {
        "key",
        "role",
        "role-binding",
        "user",
        "service-account",
        "project",
        "audit",
        "secret",
        "tenant",
        "quota",
    }
)
_RESOURCE_TYPE_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,31}")


class Action(enum.StrEnum):
    """What a request does to a resource."""

    CREATE = "create"
    READ = "read"
    UPDATE = "update"
    DELETE = "delete"
    LIST = "list"

    @classmethod
    def parse(cls, value: object) -> Action:
        """Return `value` as an Action; InvalidArgumentError if it names none."""
        if isinstance(value, str):
            try:
                return cls(value)
            except ValueError:
                pass
        raise InvalidArgumentError(f"action must be one of {[str(a) for a in cls]}")


#: Actions that change nothing.
_READ_ONLY: Final = (Action.READ, Action.LIST)


def validate_resource_type(resource_type: object, *, wildcard: bool = False) -> str:
    """Return `resource_type` if valid (and `*` only if `wildcard`), else raise."""
    if isinstance(resource_type, str) and (
        _RESOURCE_TYPE_PATTERN.fullmatch(resource_type)
        or (wildcard and resource_type == ANY_RESOURCE)
    ):
        return resource_type
    raise InvalidArgumentError(
        f"a resource type is 1 to 32 lowercase letters, digits or hyphens, not {resource_type!r}"
    )


@dataclass(frozen=True, slots=True)
class Permission:
    """Allows `action` on `resource_type` (`*`: every non-IAM type), optionally only own ones."""

    action: Action
    resource_type: str
    own_only: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "action", Action.parse(self.action))
        validate_resource_type(self.resource_type, wildcard=True)

    def allows(self, action: Action, resource_type: str, *, owns: bool) -> bool:
        """Return whether this permission covers the request."""
        if action is not self.action or (self.own_only and not owns):
            return False
        if self.resource_type == ANY_RESOURCE:
            return resource_type not in IAM_RESOURCE_TYPES
        return self.resource_type == resource_type


@dataclass(frozen=True, slots=True)
class Role:
    """A named set of permissions; built-in or defined by a tenant."""

    name: str
    permissions: frozenset[Permission]
    builtin: bool = False

    def allows(self, action: Action, resource_type: str, *, owns: bool) -> bool:
        """Return whether any permission of the role covers the request."""
        return any(p.allows(action, resource_type, owns=owns) for p in self.permissions)


def _grant(actions: tuple[Action, ...], *types: str, own_only: bool = False) -> set[Permission]:
    return {Permission(action, kind, own_only) for action in actions for kind in types}


_ALL_ACTIONS: Final = tuple(Action)

#: Everything in its tenant, IAM included.
ADMIN: Final = Role(
    "admin", frozenset(_grant(_ALL_ACTIONS, ANY_RESOURCE, *IAM_RESOURCE_TYPES)), builtin=True
)
#: Works with every service resource and sees the tenant's IAM setup, but manages only its own
#: keys: it cannot touch other principals' keys, roles or bindings.
MEMBER: Final = Role(
    "member",
    frozenset(
        _grant(_ALL_ACTIONS, ANY_RESOURCE)
        | _grant(
            _READ_ONLY,
            "role",
            "role-binding",
            "user",
            "service-account",
            "project",
            "tenant",
            "quota",
        )
        | _grant(_ALL_ACTIONS, "key", own_only=True)
    ),
    builtin=True,
)
#: Reads and lists everything, changes nothing; sees which secrets exist but not their values.
READER: Final = Role(
    "reader",
    frozenset(
        _grant(_READ_ONLY, ANY_RESOURCE, *(IAM_RESOURCE_TYPES - {"secret"}))
        | _grant((Action.LIST,), "secret")
    ),
    builtin=True,
)
#: The built-in roles by name; custom roles may not reuse these names.
BUILTIN_ROLES: Final = {role.name: role for role in (ADMIN, MEMBER, READER)}
