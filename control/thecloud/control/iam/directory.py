"""Repositories for tenants, projects, users and service accounts, and the directory of all four.

Every id passed in is parsed with `parse_id`, so a malformed or wrong-type id is refused before it
can become part of a state-store key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from thecloud.control.iam.names import validate_name
from thecloud.control.iam.record_table import RecordTable
from thecloud.control.iam.records import (
    PROJECT_ID_PREFIX,
    SERVICE_ACCOUNT_ID_PREFIX,
    TENANT_ID_PREFIX,
    USER_ID_PREFIX,
    PrincipalKind,
    Project,
    ServiceAccount,
    Tenant,
    User,
)
from thecloud.core.clock import utc_now
from thecloud.core.errors import ConflictError, NotFoundError
from thecloud.core.ids import new_id, parse_id
from thecloud.core.state import StateStore

__all__ = [
    "DEFAULT_PAGE",
    "Directory",
    "ProjectRepository",
    "ServiceAccountRepository",
    "TenantRepository",
    "UserRepository",
]

#: Page size used when a caller does not ask for one.
DEFAULT_PAGE = 100

R = TypeVar("R", Project, User, ServiceAccount)


class TenantRepository:
    """Creates, finds and lists tenants; names are unique across the installation.

    Deleting a tenant needs to know what it still holds, so it lives on `Directory`.
    """

    def __init__(self, store: StateStore, clock: Callable[[], str] = utc_now) -> None:
        self.table = RecordTable(store, "tenants", Tenant)
        self._clock = clock

    async def create(self, name: str) -> Tenant:
        """Create a tenant called `name`; ConflictError if the name is taken."""
        tenant = Tenant(new_id(TENANT_ID_PREFIX), validate_name(name, "tenant"), self._clock())
        return await self.table.insert((), tenant)

    async def get(self, tenant_id: str) -> Tenant:
        """Return the tenant `tenant_id`; NotFoundError if there is none."""
        tenant = await self.table.get((), parse_id(tenant_id, TENANT_ID_PREFIX))
        if tenant is None:
            raise NotFoundError(f"tenant {tenant_id!r} does not exist")
        return tenant

    async def get_by_name(self, name: str) -> Tenant:
        """Return the tenant called `name`; NotFoundError if there is none."""
        tenant = await self.table.get_by_name((), validate_name(name, "tenant"))
        if tenant is None:
            raise NotFoundError(f"no tenant is named {name!r}")
        return tenant

    async def list(
        self, *, limit: int = DEFAULT_PAGE, start_after: str | None = None
    ) -> tuple[list[Tenant], str | None]:
        """Return a page of tenants in id order and the id to pass as `start_after` next."""
        return await self.table.list((), limit=limit, start_after=start_after)


class _TenantScopedRepository(Generic[R]):
    """Shared behaviour of records that live inside one tenant, unique by name there."""

    _what: str
    _prefix: str

    def __init__(
        self,
        tenants: TenantRepository,
        table: RecordTable[R],
        clock: Callable[[], str],
    ) -> None:
        self._tenants = tenants
        self.table: RecordTable[R] = table
        self._clock = clock

    async def get(self, tenant_id: str, record_id: str) -> R:
        """Return the record `record_id` of tenant `tenant_id`; NotFoundError if absent."""
        tenant_id = parse_id(tenant_id, TENANT_ID_PREFIX)
        record = await self.table.get((tenant_id,), parse_id(record_id, self._prefix))
        if record is None:
            raise NotFoundError(f"{self._what} {record_id!r} does not exist in this tenant")
        return record

    async def get_by_name(self, tenant_id: str, name: str) -> R:
        """Return the record called `name` in tenant `tenant_id`; NotFoundError if absent."""
        tenant_id = parse_id(tenant_id, TENANT_ID_PREFIX)
        record = await self.table.get_by_name((tenant_id,), validate_name(name, self._what))
        if record is None:
            raise NotFoundError(f"no {self._what} is named {name!r} in this tenant")
        return record

    async def list(
        self, tenant_id: str, *, limit: int = DEFAULT_PAGE, start_after: str | None = None
    ) -> tuple[list[R], str | None]:
        """Return a page of the tenant's records in id order, and where to continue."""
        tenant_id = parse_id(tenant_id, TENANT_ID_PREFIX)
        return await self.table.list((tenant_id,), limit=limit, start_after=start_after)

    async def delete(self, tenant_id: str, record_id: str) -> None:
        """Delete the record; NotFoundError if it does not exist."""
        record = await self.get(tenant_id, record_id)
        await self.table.remove((record.tenant_id,), record.id)

    async def _new(self, tenant_id: str, name: str, factory: Callable[..., R]) -> R:
        tenant = await self._tenants.get(tenant_id)
        record = factory(
            id=new_id(self._prefix),
            tenant_id=tenant.id,
            name=validate_name(name, self._what),
            created_at=self._clock(),
        )
        return await self.table.insert((tenant.id,), record)


class ProjectRepository(_TenantScopedRepository[Project]):
    """Projects of each tenant."""

    _what = "project"
    _prefix = PROJECT_ID_PREFIX

    def __init__(
        self, store: StateStore, tenants: TenantRepository, clock: Callable[[], str] = utc_now
    ) -> None:
        super().__init__(tenants, RecordTable(store, "projects", Project), clock)

    async def create(self, tenant_id: str, name: str) -> Project:
        """Create a project called `name` in the tenant; ConflictError if the name is taken."""
        return await self._new(tenant_id, name, Project)


class UserRepository(_TenantScopedRepository[User]):
    """Human accounts of each tenant."""

    _what = "user"
    _prefix = USER_ID_PREFIX

    def __init__(
        self, store: StateStore, tenants: TenantRepository, clock: Callable[[], str] = utc_now
    ) -> None:
        super().__init__(tenants, RecordTable(store, "users", User), clock)

    async def create(self, tenant_id: str, name: str) -> User:
        """Create a user called `name` in the tenant; ConflictError if the name is taken."""
        return await self._new(tenant_id, name, User)


class ServiceAccountRepository(_TenantScopedRepository[ServiceAccount]):
    """Service accounts of each tenant."""

    _what = "service account"
    _prefix = SERVICE_ACCOUNT_ID_PREFIX

    def __init__(
        self, store: StateStore, tenants: TenantRepository, clock: Callable[[], str] = utc_now
    ) -> None:
        super().__init__(tenants, RecordTable(store, "service-accounts", ServiceAccount), clock)

    async def create(self, tenant_id: str, name: str) -> ServiceAccount:
        """Create a service account in the tenant; ConflictError if the name is taken."""
        return await self._new(tenant_id, name, ServiceAccount)


class Directory:
    """All four repositories over one store, and the checks that span them."""

    def __init__(self, store: StateStore, clock: Callable[[], str] = utc_now) -> None:
        self.tenants = TenantRepository(store, clock)
        self.projects = ProjectRepository(store, self.tenants, clock)
        self.users = UserRepository(store, self.tenants, clock)
        self.service_accounts = ServiceAccountRepository(store, self.tenants, clock)

    async def delete_tenant(self, tenant_id: str) -> None:
        """Delete an empty tenant; ConflictError while it holds projects or accounts."""
        tenant = await self.tenants.get(tenant_id)
        for table in (self.projects.table, self.users.table, self.service_accounts.table):
            if await table.has_any((tenant.id,)):
                raise ConflictError(f"tenant {tenant.name!r} still holds projects or accounts")
        await self.tenants.table.remove((), tenant.id)

    async def principal_exists(
        self, tenant_id: str, kind: PrincipalKind, principal_id: str
    ) -> bool:
        """Return whether the account `principal_id` of `kind` exists in the tenant."""
        repository: UserRepository | ServiceAccountRepository = (
            self.users if kind is PrincipalKind.USER else self.service_accounts
        )
        try:
            await repository.get(tenant_id, principal_id)
        except NotFoundError:
            return False
        return True
