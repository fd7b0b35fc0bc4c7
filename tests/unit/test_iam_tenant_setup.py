"""A tenant, its admin account, binding, key and audit entry land in one commit or not at all."""

from __future__ import annotations

from typing import cast

import pytest

from thecloud.control.api import IamServices
from thecloud.control.iam import PrincipalKind
from thecloud.control.iam.audited_store import AuditScope
from thecloud.control.iam.tenant_setup import TenantSetup
from thecloud.core.errors import ConflictError
from thecloud.core.state import Applied, StateStore, Txn

pytestmark = [pytest.mark.unit, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    """Run on asyncio, the loop the control plane uses."""
    return "asyncio"


class _CrashBeforeCommit:
    """Hands the transaction to nobody: the process 'dies' just before the commit."""

    def __init__(self) -> None:
        self.attempts: list[Txn] = []

    async def apply(self, txn: Txn) -> Applied:
        self.attempts.append(txn)
        raise OSError("power cut before the commit")


async def _everything(iam: IamServices) -> list[tuple[str, bytes]]:
    page = await iam.store.list("", limit=10_000)
    return [(entry.key, entry.value) for entry in page.entries]


def _scope(tenant_id: str) -> AuditScope:
    return AuditScope(
        principal_id="sva-01jd8x3m5q7k2n4p6r8t0v2w4y",
        action="tenant.create",
        resource=lambda: f"tenants/{tenant_id}",
        request_id="req-1",
        tenant=lambda: tenant_id,
    )


async def test_a_new_tenant_and_its_admin_and_audit_entry_share_one_revision(
    iam: IamServices,
) -> None:
    tenant_id = iam.directory.tenants.prepare("beta")[0].id
    with _scope(tenant_id).active():
        made = await iam.tenant_setup.create("beta", key_name="initial", tenant_id=tenant_id)
    principal = await iam.keys.authenticate(made.key.token)
    assert (principal.tenant_id, principal.id) == (tenant_id, made.admin.id)
    assert [b.role for b in await iam.bindings.list_for(tenant_id, made.admin.id)] == ["admin"]
    (entry,) = (await iam.audit.query(tenant_id=tenant_id)).entries
    assert (entry.action, entry.resource) == ("tenant.create", f"tenants/{tenant_id}")
    keys = [
        "iam/tenants/",
        "iam/service-accounts/",
        "iam/role-bindings/",
        "iam/api-keys/",
        "audit/head",
    ]
    revisions = set()
    for prefix in keys:
        (first, *_) = (await iam.store.list(prefix, limit=1)).entries
        revisions.add(first.mod_revision)
    assert revisions == {await iam.store.revision()}


async def test_a_crash_before_the_commit_leaves_nothing_behind(iam: IamServices) -> None:
    before = await _everything(iam)
    crash = _CrashBeforeCommit()
    setup = TenantSetup(cast(StateStore, crash), iam.directory, iam.bindings, iam.keys)
    with pytest.raises(OSError, match="power cut"):
        await setup.create("beta", key_name="initial")
    # One transaction was about to carry all of it; none of it is in the store.
    (txn,) = crash.attempts
    assert {step.key.split("/")[1] for step in txn.ops} >= {
        "tenants",
        "service-accounts",
        "role-bindings",
        "api-keys",
    }
    assert await _everything(iam) == before


async def test_a_step_failing_at_commit_rolls_back_the_others(iam: IamServices) -> None:
    await iam.tenant_setup.create("root", key_name="initial", system=True)
    before = await _everything(iam)
    head = await iam.audit.head()
    # The system tenant exists, so claiming it fails inside the commit, after the other steps.
    with _scope("tnt-01jd8x3m5q7k2n4p6r8t0v2w4y").active(), pytest.raises(ConflictError):
        await iam.tenant_setup.create("beta", key_name="initial", system=True)
    assert await _everything(iam) == before
    assert await iam.audit.head() == head
    assert not [t for t in (await iam.directory.tenants.list())[0] if t.name == "beta"]


async def test_a_taken_name_is_refused_before_anything_is_written(iam: IamServices) -> None:
    await iam.tenant_setup.create("beta", key_name="initial")
    before = await _everything(iam)
    with pytest.raises(ConflictError, match="'beta' already exists"):
        await iam.tenant_setup.create("beta", key_name="initial")
    assert await _everything(iam) == before
    tenant = await iam.directory.tenants.get_by_name("beta")
    (admin,), _ = await iam.directory.service_accounts.list(tenant.id)
    assert admin.name == "admin"
    (key,), _ = await iam.keys.list(tenant.id)
    assert key.principal_kind is PrincipalKind.SERVICE_ACCOUNT
