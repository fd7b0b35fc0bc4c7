"""Creating a tenant and its admin (a service account with the admin role and a key) offline.

The first tenant bootstrapped becomes the system tenant: its admins create further tenants (over
the API) and set every tenant's quotas.

Run by `thecloud admin bootstrap` against the state directory directly, not over HTTP: before it
runs nobody holds a key to ask the API with. It may run while `thecloud serve` (or a `Cloud`)
has the same state directory open: LMDB serialises writers across processes, and the server
follows IAM changes in the store (the IAM generation watch), so it accepts the new key at once.
The tenant, account, binding, key and audit entry land in one commit (iam/tenant_setup.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from thecloud.control.api.services import build_iam_services, load_keys, open_state_store
from thecloud.control.iam.audited_store import AuditScope
from thecloud.control.iam.directory import new_tenant_id
from thecloud.control.iam.tenant_setup import ADMIN_ACCOUNT
from thecloud.core.errors import ConflictError, NotFoundError
from thecloud.core.ids import new_id

__all__ = ["ADMIN_ACCOUNT", "Bootstrapped", "bootstrap"]


@dataclass(frozen=True, slots=True)
class Bootstrapped:
    """What bootstrap made; the token is shown once and never stored in clear."""

    tenant_id: str
    service_account_id: str
    key_id: str
    token: str = field(repr=False)


async def bootstrap(
    state_dir: Path, tenant_name: str, etcd_endpoint: str | None = None
) -> Bootstrapped:
    """Create tenant `tenant_name` with an admin service account and its first API key.

    ConflictError if the tenant exists already (bootstrap runs once per tenant).
    """
    server_key, master_key = load_keys(state_dir)
    async with await open_state_store(state_dir, etcd_endpoint) as store:
        iam = build_iam_services(store, server_key, master_key)
        try:
            await iam.directory.tenants.get_by_name(tenant_name)
        except NotFoundError:
            pass
        else:
            raise ConflictError(f"tenant {tenant_name!r} exists already; bootstrap runs once")
        tenant_id = new_tenant_id()
        admin_id = iam.directory.service_accounts.new_id()
        # The new admin is the actor: nobody else exists to act for yet.
        scope = AuditScope(
            principal_id=admin_id,
            action="tenant.bootstrap",
            resource=lambda: f"tenants/{tenant_id}",
            request_id=new_id("req"),
            tenant=lambda: tenant_id,
        )
        with scope.active():
            made = await iam.tenant_setup.create(
                tenant_name,
                key_name="bootstrap",
                tenant_id=tenant_id,
                admin_id=admin_id,
                # The first tenant bootstrapped administers the installation.
                system=await iam.directory.tenants.system_tenant_id() is None,
            )
    return Bootstrapped(made.tenant.id, made.admin.id, made.key.key.id, made.key.token)
