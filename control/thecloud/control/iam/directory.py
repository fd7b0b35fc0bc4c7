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
from thecloud.core.state import Put, StateStore

__all__ = [
    "DEFAULT_PAGE",
    "Directory",
    "ProjectRepository",
    "ServiceAccountRepository",
    "TenantRepository",
    "UserRepository",
    "new_tenant_id",
]

#: Page size used when a caller does not ask for one.
DEFAULT_PAGE = 100
# Holds the id of the tenant whose admins are the installation's admins (the first one made).
_SYSTEM_TENANT = "iam/system/tenant"

R = TypeVar("R", Project, User, ServiceAccount)


def new_tenant_id() -> str:
    """Return a fresh tenant id (to name a tenant before it is created)."""
    return new_id(TENANT_ID_PREFIX)


class TenantRepository:
    """Creates, finds and lists tenants; names are unique across the installation.

    Deleting a tenant needs to know what it still holds, so it lives on `Directory`.
    """

    def __init__(self, store: StateStore, clock: Callable[[], str] = utc_now) -> None:
        self.table = RecordTable(store, "tenants", Tenant)
        self._store = store
        self._clock = clock

    def prepare(self, name: str, *, record_id: str | None = None) -> tuple[Tenant, tuple[Put, ...]]:
        """Return a new tenant called `name` and the steps creating it (to commit with others);
        they fail with ConflictError if the name is taken."""
        tenant_id = new_tenant_id() if record_id is None else parse_id(record_id, TENANT_ID_PREFIX)
        tenant = Tenant(tenant_id, validate_name(name, "tenant"), self._clock())
        return tenant, self.table.insert_steps((), tenant)

    async def create(self, name: str, *, record_id: str | None = None) -> Tenant:
        """Create a tenant called `name`; ConflictError if the name is taken."""
        tenant, _ = self.prepare(name, record_id=record_id)
        return await self.table.insert((), tenant)

    async def get(self, tenant_id: str) -> Tenant:
        """Return the tenant `tenant_id`; NotFoundError if there is none."""
        tenant = await self.table.get((), parse_id(tenant_id, TENANT_ID_PREFIX))
        if tenant is None:
            raise NotFoundError(f"tenant {tenant_id!r} does not exist")
        return tenant

    async def get_versioned(self, tenant_id: str) -> tuple[Tenant, int]:
        """Return the tenant `tenant_id` and its version; NotFoundError if there is none."""
        found = await self.table.get_versioned((), parse_id(tenant_id, TENANT_ID_PREFIX))
        if found is None:
            raise NotFoundError(f"tenant {tenant_id!r} does not exist")
        return found

    async def system_tenant_id(self) -> str | None:
        """Return the id of the system tenant (whose admins manage tenants), if there is one."""
        entry = await self._store.get(_SYSTEM_TENANT)
        return None if entry is None else entry.value.decode()

    @staticmethod
    def claim_system_tenant_step(tenant_id: str) -> Put:
        """Return the step making `tenant_id` the system tenant; it fails with ConflictError
        if there is one already."""
        return Put(_SYSTEM_TENANT, parse_id(tenant_id, TENANT_ID_PREFIX).encode(), expect_version=0)

    async def claim_system_tenant(self, tenant_id: str) -> bool:
        """Make `tenant_id` the system tenant unless there is one; return whether it now is."""
        tenant = await self.get(tenant_id)
        try:
            await self._store.put(_SYSTEM_TENANT, tenant.id.encode(), expect_version=0)
        except ConflictError:
            return await self.system_tenant_id() == tenant.id
        return True

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

    async def get_versioned(self, tenant_id: str, record_id: str) -> tuple[R, int]:
        """Return the record and its version (its ETag); NotFoundError if absent."""
        tenant_id = parse_id(tenant_id, TENANT_ID_PREFIX)
        found = await self.table.get_versioned((tenant_id,), parse_id(record_id, self._prefix))
        if found is None:
            raise NotFoundError(f"{self._what} {record_id!r} does not exist in this tenant")
        return found

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

    async def delete(
        self, tenant_id: str, record_id: str, *, expect_version: int | None = None
    ) -> None:
        """Delete the record; NotFoundError if absent, PreconditionFailedError if not at
        `expect_version` (when given)."""
        record = await self.get(tenant_id, record_id)
        if not await self.table.remove(
            (record.tenant_id,), record.id, expect_version=expect_version
        ):
            raise NotFoundError(f"{self._what} {record_id!r} does not exist in this tenant")

    def new_id(self) -> str:
        """Return a fresh id for a record of this kind (to name it before it is created)."""
        return new_id(self._prefix)

    def _record(
        self, tenant_id: str, name: str, factory: Callable[..., R], record_id: str | None
    ) -> R:
        return factory(
            id=self.new_id() if record_id is None else parse_id(record_id, self._prefix),
            tenant_id=parse_id(tenant_id, TENANT_ID_PREFIX),
            name=validate_name(name, self._what),
            created_at=self._clock(),
        )

    async def _new(
        self, tenant_id: str, name: str, factory: Callable[..., R], record_id: str | None
    ) -> R:
        tenant = await self._tenants.get(tenant_id)
        record = self._record(tenant.id, name, factory, record_id)
        return await self.table.insert((tenant.id,), record)


class ProjectRepository(_TenantScopedRepository[Project]):
    """Projects of each tenant."""

    _what = "project"
    _prefix = PROJECT_ID_PREFIX

    def __init__(
        self, store: StateStore, tenants: TenantRepository, clock: Callable[[], str] = utc_now
    ) -> None:
        super().__init__(tenants, RecordTable(store, "projects", Project), clock)

    async def create(self, tenant_id: str, name: str, *, record_id: str | None = None) -> Project:
        """Create a project called `name` in the tenant; ConflictError if the name is taken."""
        return await self._new(tenant_id, name, Project, record_id)


class UserRepository(_TenantScopedRepository[User]):
    """Human accounts of each tenant."""

    _what = "user"
    _prefix = USER_ID_PREFIX

    def __init__(
        self, store: StateStore, tenants: TenantRepository, clock: Callable[[], str] = utc_now
    ) -> None:
        super().__init__(tenants, RecordTable(store, "users", User), clock)

    async def create(self, tenant_id: str, name: str, *, record_id: str | None = None) -> User:
        """Create a user called `name` in the tenant; ConflictError if the name is taken."""
        return await self._new(tenant_id, name, User, record_id)


class ServiceAccountRepository(_TenantScopedRepository[ServiceAccount]):
    """Service accounts of each tenant."""

    _what = "service account"
    _prefix = SERVICE_ACCOUNT_ID_PREFIX

    def __init__(
        self, store: StateStore, tenants: TenantRepository, clock: Callable[[], str] = utc_now
    ) -> None:
        super().__init__(tenants, RecordTable(store, "service-accounts", ServiceAccount), clock)

    async def create(
        self, tenant_id: str, name: str, *, record_id: str | None = None
    ) -> ServiceAccount:
        """Create a service account in the tenant; ConflictError if the name is taken."""
        return await self._new(tenant_id, name, ServiceAccount, record_id)

    def prepare(
        self, tenant_id: str, name: str, *, record_id: str | None = None
    ) -> tuple[ServiceAccount, tuple[Put, ...]]:
        """Return a new service account and the steps creating it, for a tenant created in
        the same transaction (so its existence is not checked here)."""
        account = self._record(tenant_id, name, ServiceAccount, record_id)
        return account, self.table.insert_steps((account.tenant_id,), account)


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
