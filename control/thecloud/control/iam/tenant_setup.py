"""Creating a tenant ready to use: the tenant, its admin service account, the admin role binding
and that account's first API key, in one transaction.

Nobody could ever act in a tenant without an admin, so the four records land together or not
at all: a crash part-way leaves nothing behind. Written through the audited store inside an
`AuditScope`, the same commit also carries the request's audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from thecloud.control.iam.api_keys import ApiKeyService, IssuedApiKey
from thecloud.control.iam.directory import Directory
from thecloud.control.iam.records import PrincipalKind, ServiceAccount, Tenant
from thecloud.control.iam.role_store import RoleBindingRepository
from thecloud.control.iam.roles import ADMIN
from thecloud.core.errors import ConflictError, NotFoundError
from thecloud.core.state import StateStore, Txn

__all__ = ["ADMIN_ACCOUNT", "NewTenant", "TenantSetup"]

#: Name of the service account every tenant starts with.
ADMIN_ACCOUNT: Final = "admin"


@dataclass(frozen=True, slots=True)
class NewTenant:
    """What creating a tenant made; the key's token is shown once and never stored in clear."""

    tenant: Tenant
    admin: ServiceAccount
    key: IssuedApiKey


class TenantSetup:
    """Creates tenants with their admin account, binding and key in one commit."""

    def __init__(
        self,
        store: StateStore,
        directory: Directory,
        bindings: RoleBindingRepository,
        keys: ApiKeyService,
    ) -> None:
        """`store` is what the commit goes through (the audited store, for the API)."""
        self._store = store
        self._directory = directory
        self._bindings = bindings
        self._keys = keys

    async def create(
        self,
        name: str,
        *,
        key_name: str,
        tenant_id: str | None = None,
        admin_id: str | None = None,
        system: bool = False,
    ) -> NewTenant:
        """Create tenant `name` with its admin; ConflictError if the name is taken.

        `tenant_id` and `admin_id` name the records in advance; `system` also makes the tenant
        the system tenant (ConflictError if there is one).
        """
        tenants = self._directory.tenants
        try:
            await tenants.get_by_name(name)
        except NotFoundError:
            pass
        else:
            raise ConflictError(f"a tenant named {name!r} already exists")
        tenant, tenant_steps = tenants.prepare(name, record_id=tenant_id)
        admin, admin_steps = self._directory.service_accounts.prepare(
            tenant.id, ADMIN_ACCOUNT, record_id=admin_id
        )
        kind = PrincipalKind.SERVICE_ACCOUNT
        _, binding_step = self._bindings.prepare(tenant.id, admin.id, ADMIN.name)
        issued, key_steps = self._keys.prepare(tenant.id, kind, admin.id, key_name)
        claim = (tenants.claim_system_tenant_step(tenant.id),) if system else ()
        txn = Txn((*tenant_steps, *claim, *admin_steps, binding_step, *key_steps))
        try:
            await self._store.apply(txn)
        except ConflictError:
            # Only a concurrent create of the same name (or system tenant) gets here.
            raise ConflictError(
                f"tenant {name!r} (or the system tenant) was created meanwhile"
            ) from None
        return NewTenant(tenant, admin, issued)
