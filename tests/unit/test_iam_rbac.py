"""Role-based access control: built-in and custom roles, project scoping, tenant isolation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from thecloud.control.iam import (
    Action,
    Authorizer,
    Directory,
    Permission,
    PermissionDeniedError,
    Principal,
    PrincipalKind,
    RoleBindingRepository,
    RoleRepository,
)
from thecloud.core.errors import ConflictError, InvalidArgumentError, NotFoundError
from thecloud.core.state import LmdbStateStore

pytestmark = [pytest.mark.unit, pytest.mark.anyio]

MUTATIONS = (Action.CREATE, Action.UPDATE, Action.DELETE)


@pytest.fixture
def anyio_backend() -> str:
    """Run on asyncio, the loop the control plane uses."""
    return "asyncio"


@dataclass
class World:
    """Two tenants, helpers to make bound principals, and the authorizer."""

    directory: Directory
    roles: RoleRepository
    bindings: RoleBindingRepository
    authorizer: Authorizer
    tenant_a: str
    tenant_b: str

    async def principal(self, tenant_id: str, name: str, role: str | None = None) -> Principal:
        """Create a user in the tenant, bind `role` to it tenant-wide, return it as principal."""
        user = await self.directory.users.create(tenant_id, name)
        if role is not None:
            await self.bindings.grant(tenant_id, PrincipalKind.USER, user.id, role)
        return Principal(tenant_id, PrincipalKind.USER, user.id)

    async def allowed(
        self,
        principal: Principal,
        action: Action,
        resource_type: str,
        *,
        tenant_id: str | None = None,
        project_id: str | None = None,
        owner_id: str | None = None,
    ) -> bool:
        """Return whether the authorizer allows the request."""
        try:
            await self.authorizer.authorize(
                principal,
                action,
                resource_type,
                tenant_id or principal.tenant_id,
                project_id,
                owner_id=owner_id,
            )
        except PermissionDeniedError:
            return False
        return True


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    """Tenants `a` and `b` over a fresh LMDB store."""
    async with await LmdbStateStore.open(tmp_path) as store:
        directory = Directory(store)
        roles = RoleRepository(store)
        bindings = RoleBindingRepository(store, directory, roles)
        a = await directory.tenants.create("a")
        b = await directory.tenants.create("b")
        yield World(directory, roles, bindings, Authorizer(roles, bindings, directory), a.id, b.id)


async def test_reader_reads_but_cannot_mutate(world: World) -> None:
    reader = await world.principal(world.tenant_a, "rita", "reader")
    for kind in ("lb", "volume", "key", "role", "audit"):
        assert await world.allowed(reader, Action.READ, kind)
        assert await world.allowed(reader, Action.LIST, kind)
        for action in MUTATIONS:
            assert not await world.allowed(reader, action, kind, owner_id=reader.id)
    # Secret values are credentials: a reader may list which exist, not read them.
    assert await world.allowed(reader, Action.LIST, "secret")
    assert not await world.allowed(reader, Action.READ, "secret")


async def test_member_manages_resources_and_only_its_own_keys(world: World) -> None:
    member = await world.principal(world.tenant_a, "mo", "member")
    other = await world.principal(world.tenant_a, "ola", "member")
    for action in (*MUTATIONS, Action.READ, Action.LIST):
        assert await world.allowed(member, action, "lb")
        assert await world.allowed(member, action, "key", owner_id=member.id)
        assert not await world.allowed(member, action, "key", owner_id=other.id)
        assert not await world.allowed(member, action, "key")
    for action in MUTATIONS:
        assert not await world.allowed(member, action, "role")
        assert not await world.allowed(member, action, "role-binding")
        assert not await world.allowed(member, action, "user")
    assert await world.allowed(member, Action.READ, "role")


async def test_admin_does_everything_in_its_tenant_only(world: World) -> None:
    admin = await world.principal(world.tenant_a, "ada", "admin")
    victim = await world.principal(world.tenant_a, "vic", "member")
    for action in Action:
        for kind in ("lb", "key", "role", "role-binding", "audit", "user"):
            assert await world.allowed(admin, action, kind, owner_id=victim.id)
            assert not await world.allowed(admin, action, kind, tenant_id=world.tenant_b)


async def test_tenant_a_principal_is_denied_on_tenant_b(world: World) -> None:
    admin_a = await world.principal(world.tenant_a, "ada", "admin")
    admin_b = await world.principal(world.tenant_b, "bob", "admin")
    project_b = await world.directory.projects.create(world.tenant_b, "web")
    assert await world.allowed(admin_b, Action.READ, "lb", project_id=project_b.id)
    assert not await world.allowed(
        admin_a, Action.READ, "lb", tenant_id=world.tenant_b, project_id=project_b.id
    )
    # Binding a role in tenant b to an account of tenant a is refused outright.
    with pytest.raises(NotFoundError):
        await world.bindings.grant(world.tenant_b, PrincipalKind.USER, admin_a.id, "admin")


async def test_denial_names_no_tenant_data(world: World) -> None:
    nobody = await world.principal(world.tenant_a, "nobody")
    with pytest.raises(PermissionDeniedError) as caught:
        await world.authorizer.authorize(nobody, Action.DELETE, "lb", world.tenant_b)
    assert world.tenant_b not in str(caught.value)


async def test_a_principal_without_bindings_is_denied(world: World) -> None:
    nobody = await world.principal(world.tenant_a, "nobody")
    assert not await world.allowed(nobody, Action.READ, "lb")


async def test_project_scoped_binding_applies_only_in_its_project(world: World) -> None:
    web = await world.directory.projects.create(world.tenant_a, "web")
    db = await world.directory.projects.create(world.tenant_a, "db")
    dev = await world.principal(world.tenant_a, "dev")
    await world.bindings.grant(world.tenant_a, PrincipalKind.USER, dev.id, "member", web.id)
    assert await world.allowed(dev, Action.CREATE, "lb", project_id=web.id)
    assert not await world.allowed(dev, Action.CREATE, "lb", project_id=db.id)
    assert not await world.allowed(dev, Action.CREATE, "lb")


async def test_custom_role_grants_exactly_its_permissions(world: World) -> None:
    await world.roles.create(
        world.tenant_a,
        "lb-operator",
        [Permission(Action.UPDATE, "lb"), Permission(Action.READ, "lb")],
    )
    operator = await world.principal(world.tenant_a, "op", "lb-operator")
    assert await world.allowed(operator, Action.UPDATE, "lb")
    assert not await world.allowed(operator, Action.DELETE, "lb")
    assert not await world.allowed(operator, Action.UPDATE, "volume")
    # Custom roles are per tenant: tenant b has no such role.
    with pytest.raises(NotFoundError):
        await world.roles.get(world.tenant_b, "lb-operator")
    await world.roles.delete(world.tenant_a, "lb-operator")
    assert not await world.allowed(operator, Action.UPDATE, "lb")


async def test_wildcard_does_not_reach_iam_resources(world: World) -> None:
    await world.roles.create(world.tenant_a, "everything", [Permission(Action.DELETE, "*")])
    holder = await world.principal(world.tenant_a, "holder", "everything")
    assert await world.allowed(holder, Action.DELETE, "lb")
    assert not await world.allowed(holder, Action.DELETE, "key")
    assert not await world.allowed(holder, Action.DELETE, "role-binding")


async def test_role_definitions_are_validated(world: World) -> None:
    with pytest.raises(ConflictError):
        await world.roles.create(world.tenant_a, "admin", [Permission(Action.READ, "lb")])
    with pytest.raises(InvalidArgumentError):
        await world.roles.create(world.tenant_a, "empty", [])
    with pytest.raises(InvalidArgumentError):
        Permission(Action.READ, "Bad Type")
    with pytest.raises(InvalidArgumentError):
        Permission("obliterate", "lb")  # type: ignore[arg-type]
    await world.roles.create(world.tenant_a, "viewer", [Permission(Action.READ, "lb")])
    with pytest.raises(ConflictError):
        await world.roles.create(world.tenant_a, "viewer", [Permission(Action.READ, "lb")])
    listed, _ = await world.roles.list(world.tenant_a)
    assert [role.name for role in listed] == ["viewer"]


async def test_bindings_can_be_revoked_and_are_not_duplicated(world: World) -> None:
    user = await world.directory.users.create(world.tenant_a, "uma")
    principal = Principal(world.tenant_a, PrincipalKind.USER, user.id)
    binding = await world.bindings.grant(world.tenant_a, PrincipalKind.USER, user.id, "reader")
    with pytest.raises(ConflictError):
        await world.bindings.grant(world.tenant_a, PrincipalKind.USER, user.id, "reader")
    assert await world.allowed(principal, Action.READ, "lb")
    await world.bindings.revoke(world.tenant_a, user.id, binding.id)
    assert not await world.allowed(principal, Action.READ, "lb")
    with pytest.raises(NotFoundError):
        await world.bindings.revoke(world.tenant_a, user.id, binding.id)
