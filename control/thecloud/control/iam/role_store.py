"""Custom roles and role bindings, kept in the state store per tenant.

Custom roles live at `iam/roles/<tenant>/<name>`; bindings at
`iam/role-bindings/<tenant>/<principal>/<binding id>`, so one prefix listing finds every binding
of a principal, which is what each authorization needs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Final

from thecloud.control.iam.directory import DEFAULT_PAGE, Directory
from thecloud.control.iam.errors import PreconditionFailedError
from thecloud.control.iam.names import validate_name
from thecloud.control.iam.records import (
    SERVICE_ACCOUNT_ID_PREFIX,
    TENANT_ID_PREFIX,
    USER_ID_PREFIX,
    PrincipalKind,
    decode_record,
    encode_record,
)
from thecloud.control.iam.roles import BUILTIN_ROLES, Permission, Role
from thecloud.core.errors import ConflictError, InvalidArgumentError, NotFoundError, StateError
from thecloud.core.ids import new_id, parse_id
from thecloud.core.state import MAX_PAGE_LIMIT, Put, StateStore
from thecloud.core.state.scoped import list_scoped

__all__ = [
    "BINDING_ID_PREFIX",
    "RoleBinding",
    "RoleBindingRepository",
    "RoleRepository",
    "new_binding_id",
]

#: Id type prefix of role bindings (`rbd-...`).
BINDING_ID_PREFIX: Final = "rbd"
_ROLES: Final = "iam/roles/"
_BINDINGS: Final = "iam/role-bindings/"


@dataclass(frozen=True, slots=True)
class RoleBinding:
    """Gives a principal a role in a tenant, or only in one project of it."""

    id: str
    tenant_id: str
    principal_id: str
    role: str
    project_id: str | None = None


def _encode_role(role: Role) -> bytes:
    permissions = sorted(
        (asdict(p) for p in role.permissions),
        key=lambda p: (p["resource_type"], p["action"], p["own_only"]),
    )
    return json.dumps({"name": role.name, "permissions": permissions}, sort_keys=True).encode()


def _decode_role(raw: bytes) -> Role:
    try:
        fields: dict[str, Any] = json.loads(raw)
        permissions = frozenset(Permission(**p) for p in fields["permissions"])
        return Role(validate_name(fields["name"], "role"), permissions)
    except (ValueError, TypeError, KeyError) as error:
        raise StateError("a stored role is unreadable") from error


class RoleRepository:
    """The built-in roles plus each tenant's custom roles."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    async def create(self, tenant_id: str, name: str, permissions: Iterable[Permission]) -> Role:
        """Define a custom role; ConflictError if the name is built-in or already taken."""
        tenant_id = parse_id(tenant_id, TENANT_ID_PREFIX)
        validate_name(name, "role")
        if name in BUILTIN_ROLES:
            raise ConflictError(f"{name!r} is a built-in role")
        role = Role(name, frozenset(permissions))
        if not role.permissions:
            raise InvalidArgumentError("a role needs at least one permission")
        try:
            await self._store.put(
                f"{_ROLES}{tenant_id}/{name}", _encode_role(role), expect_version=0
            )
        except ConflictError:
            raise ConflictError(f"a role named {name!r} already exists") from None
        return role

    async def find(self, tenant_id: str, name: str) -> Role | None:
        """Return the role `name` visible in the tenant (built-in or custom), or None."""
        builtin = BUILTIN_ROLES.get(name)
        if builtin is not None:
            return builtin
        entry = await self._store.get(f"{_ROLES}{parse_id(tenant_id, TENANT_ID_PREFIX)}/{name}")
        return None if entry is None else _decode_role(entry.value)

    async def get_custom(self, tenant_id: str, name: str) -> tuple[Role, int]:
        """Return the custom role `name` and its version; NotFoundError if there is none."""
        validate_name(name, "role")
        entry = await self._store.get(f"{_ROLES}{parse_id(tenant_id, TENANT_ID_PREFIX)}/{name}")
        if entry is None:
            raise NotFoundError(f"no custom role is named {name!r} in this tenant")
        return _decode_role(entry.value), entry.version

    async def get(self, tenant_id: str, name: str) -> Role:
        """Return the role `name` visible in the tenant; NotFoundError if there is none."""
        role = await self.find(tenant_id, validate_name(name, "role"))
        if role is None:
            raise NotFoundError(f"no role is named {name!r} in this tenant")
        return role

    async def list(
        self, tenant_id: str, *, limit: int = DEFAULT_PAGE, start_after: str | None = None
    ) -> tuple[list[Role], str | None]:
        """Return a page of the tenant's custom roles by name, and the name to continue after."""
        prefix = f"{_ROLES}{parse_id(tenant_id, TENANT_ID_PREFIX)}/"
        page = await list_scoped(self._store, prefix, limit=limit, start_after=start_after)
        roles = [_decode_role(entry.value) for entry in page.entries]
        return roles, None if page.next_key is None else roles[-1].name

    async def delete(self, tenant_id: str, name: str, *, expect_version: int | None = None) -> None:
        """Delete a custom role; bindings to it then grant nothing. NotFoundError if absent,
        PreconditionFailedError if `expect_version` is given and the role is at another."""
        validate_name(name, "role")
        if name in BUILTIN_ROLES:
            raise ConflictError(f"{name!r} is a built-in role")
        key = f"{_ROLES}{parse_id(tenant_id, TENANT_ID_PREFIX)}/{name}"
        try:
            existed = await self._store.delete(key, expect_version=expect_version)
        except ConflictError:
            raise PreconditionFailedError(
                f"role {name!r} is not at version {expect_version}"
            ) from None
        if not existed:
            raise NotFoundError(f"no role is named {name!r} in this tenant")


def new_binding_id() -> str:
    """Return a fresh role binding id."""
    return new_id(BINDING_ID_PREFIX)


class RoleBindingRepository:
    """Grants and revokes roles of principals."""

    def __init__(self, store: StateStore, directory: Directory, roles: RoleRepository) -> None:
        self._store = store
        self._directory = directory
        self._roles = roles

    async def grant(
        self,
        tenant_id: str,
        principal_kind: PrincipalKind,
        principal_id: str,
        role: str,
        project_id: str | None = None,
        *,
        binding_id: str | None = None,
    ) -> RoleBinding:
        """Bind `role` to the principal in the tenant, or only in `project_id`.

        NotFoundError if the principal, role or project is not in the tenant; ConflictError if
        the same binding exists already.
        """
        tenant_id = parse_id(tenant_id, TENANT_ID_PREFIX)
        if not await self._directory.principal_exists(tenant_id, principal_kind, principal_id):
            raise NotFoundError(f"{principal_kind} {principal_id!r} does not exist in this tenant")
        await self._roles.get(tenant_id, role)
        if project_id is not None:
            project_id = (await self._directory.projects.get(tenant_id, project_id)).id
        existing = await self.list_for(tenant_id, principal_id)
        if any(b.role == role and b.project_id == project_id for b in existing):
            raise ConflictError(f"the principal already has role {role!r} there")
        binding, step = self.prepare(
            tenant_id, principal_id, role, project_id, binding_id=binding_id
        )
        await self._store.put(step.key, step.value, expect_version=step.expect_version)
        return binding

    def prepare(
        self,
        tenant_id: str,
        principal_id: str,
        role: str,
        project_id: str | None = None,
        *,
        binding_id: str | None = None,
    ) -> tuple[RoleBinding, Put]:
        """Return a new binding and the step storing it, unchecked: for a principal created in
        the same transaction and a role known to exist (a built-in one)."""
        binding_id = (
            new_binding_id() if binding_id is None else parse_id(binding_id, BINDING_ID_PREFIX)
        )
        tenant_id = parse_id(tenant_id, TENANT_ID_PREFIX)
        principal_id = self._check_principal_id(principal_id)
        binding = RoleBinding(binding_id, tenant_id, principal_id, role, project_id)
        key = f"{_BINDINGS}{tenant_id}/{principal_id}/{binding.id}"
        return binding, Put(key, encode_record(binding), expect_version=0)

    async def revoke(self, tenant_id: str, principal_id: str, binding_id: str) -> None:
        """Remove a binding; NotFoundError if it does not exist."""
        tenant_id = parse_id(tenant_id, TENANT_ID_PREFIX)
        binding_id = parse_id(binding_id, BINDING_ID_PREFIX)
        principal_id = self._check_principal_id(principal_id)
        if not await self._store.delete(f"{_BINDINGS}{tenant_id}/{principal_id}/{binding_id}"):
            raise NotFoundError(f"role binding {binding_id!r} does not exist")

    async def list_for(self, tenant_id: str, principal_id: str) -> list[RoleBinding]:
        """Return every binding of the principal in the tenant."""
        tenant_id = parse_id(tenant_id, TENANT_ID_PREFIX)
        prefix = f"{_BINDINGS}{tenant_id}/{self._check_principal_id(principal_id)}/"
        bindings: list[RoleBinding] = []
        cursor: str | None = None
        while True:
            page = await self._store.list(prefix, limit=MAX_PAGE_LIMIT, start_after=cursor)
            bindings += [decode_record(entry.value, RoleBinding) for entry in page.entries]
            if page.next_key is None:
                return bindings
            cursor = page.next_key

    @staticmethod
    def _check_principal_id(principal_id: str) -> str:
        # Principal ids become key segments; either account type is fine, nothing else is.
        head = principal_id.partition("-")[0]
        prefix = SERVICE_ACCOUNT_ID_PREFIX if head == SERVICE_ACCOUNT_ID_PREFIX else USER_ID_PREFIX
        return parse_id(principal_id, prefix)
