"""Creating the first tenant and its admin: a service account with the admin role and a key.

Run by `thecloud admin bootstrap` against the state directory directly, not over HTTP: before it
runs nobody holds a key to ask the API with. Run it before `thecloud serve` starts (or while the
server is stopped): LMDB would let both processes open the store, but the server caches nothing
it would need to learn about, and keeping the first step offline keeps it simple to reason about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from thecloud.control.api.services import STORE_DIR, build_iam_services, load_keys
from thecloud.control.iam import ADMIN, AuditResult, PrincipalKind
from thecloud.core.errors import ConflictError, NotFoundError
from thecloud.core.ids import new_id
from thecloud.core.state import LmdbStateStore

__all__ = ["ADMIN_ACCOUNT", "Bootstrapped", "bootstrap"]

#: Name of the service account bootstrap creates.
ADMIN_ACCOUNT: Final = "admin"


@dataclass(frozen=True, slots=True)
class Bootstrapped:
    """What bootstrap made; the token is shown once and never stored in clear."""

    tenant_id: str
    service_account_id: str
    key_id: str
    token: str = field(repr=False)


async def bootstrap(state_dir: Path, tenant_name: str) -> Bootstrapped:
    """Create tenant `tenant_name` with an admin service account and its first API key.

    ConflictError if the tenant exists already (bootstrap runs once per tenant).
    """
    server_key, master_key = load_keys(state_dir)
    async with await LmdbStateStore.open(state_dir / STORE_DIR) as store:
        iam = build_iam_services(store, server_key, master_key)
        try:
            await iam.directory.tenants.get_by_name(tenant_name)
        except NotFoundError:
            pass
        else:
            raise ConflictError(f"tenant {tenant_name!r} exists already; bootstrap runs once")
        tenant = await iam.directory.tenants.create(tenant_name)
        account = await iam.directory.service_accounts.create(tenant.id, ADMIN_ACCOUNT)
        await iam.bindings.grant(tenant.id, PrincipalKind.SERVICE_ACCOUNT, account.id, ADMIN.name)
        issued = await iam.keys.create(
            tenant.id, PrincipalKind.SERVICE_ACCOUNT, account.id, "bootstrap"
        )
        await iam.audit.append(
            principal_id=account.id,
            action="tenant.bootstrap",
            resource=f"tenants/{tenant.id}",
            result=AuditResult.SUCCESS,
            request_id=new_id("req"),
            tenant_id=tenant.id,
        )
    return Bootstrapped(tenant.id, account.id, issued.key.id, issued.token)
