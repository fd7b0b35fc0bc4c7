"""A mutation and its audit entry are one commit: same revision, never one without the other."""

from __future__ import annotations

import asyncio
import json

import pytest

from thecloud.control.api import IamServices
from thecloud.control.iam import AuditResult
from thecloud.control.iam.audited_store import AuditScope
from thecloud.core.errors import ConflictError
from thecloud.core.state import Put, Txn

pytestmark = [pytest.mark.unit, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    """Run on asyncio, the loop the control plane uses."""
    return "asyncio"


def _scope(resource: str) -> AuditScope:
    return AuditScope(
        principal_id="sva-01jd8x3m5q7k2n4p6r8t0v2w4y",
        action="project.create",
        resource=lambda: resource,
        request_id="req-1",
        tenant=lambda: None,
    )


async def test_the_change_and_its_entry_share_one_revision(iam: IamServices) -> None:
    tenant = await iam.directory.tenants.create("acme")
    before = await iam.audit.head()
    project_id = iam.directory.projects.new_id()
    scope = _scope(f"tenants/{tenant.id}/projects/{project_id}")
    with scope.active():
        await iam.directory.projects.create(tenant.id, "web", record_id=project_id)
        # A second commit in the same request is not audited twice.
        await iam.directory.projects.create(tenant.id, "api")
    await scope.finish(iam.audit, AuditResult.FAILURE)
    assert scope.recorded is not None and scope.recorded.result == AuditResult.SUCCESS
    head = await iam.audit.head()
    assert head.sequence == before.sequence + 1
    record = await iam.store.get(f"iam/projects/{tenant.id}/{project_id}")
    entry = await iam.store.get(f"audit/entries/{head.sequence:020d}")
    assert record is not None and entry is not None
    assert record.mod_revision == entry.mod_revision
    assert json.loads(entry.value)["resource"].endswith(project_id)
    assert await iam.audit.verify() is None


async def test_a_refused_change_writes_no_success_entry(iam: IamServices) -> None:
    tenant = await iam.directory.tenants.create("acme")
    await iam.directory.projects.create(tenant.id, "web")
    before = await iam.audit.head()
    revision = await iam.store.revision()
    scope = _scope(f"tenants/{tenant.id}/projects")
    with scope.active(), pytest.raises(ConflictError):
        await iam.directory.projects.create(tenant.id, "web")
    assert scope.recorded is None
    assert await iam.store.revision() == revision
    assert await iam.audit.head() == before
    await scope.finish(iam.audit, AuditResult.FAILURE)
    assert (await iam.audit.head()).sequence == before.sequence + 1
    assert scope.recorded is not None and scope.recorded.result == AuditResult.FAILURE


async def test_concurrent_changes_chain_in_order_and_failures_leave_no_entry(
    iam: IamServices,
) -> None:
    """Appends commit outside the lock, batched; a failing one must not break the others."""
    await iam.store.put("t/taken", b"x")
    before = await iam.audit.head()

    async def change(n: int) -> bool:
        # Every fifth change conflicts with the store (the key exists already).
        key = "t/taken" if n % 5 == 0 else f"t/{n}"
        try:
            await iam.audit.append_with(
                Txn((Put(key, b"v", expect_version=0),)),
                principal_id="sva-01jd8x3m5q7k2n4p6r8t0v2w4y",
                action="thing.create",
                resource=f"things/{n}",
                result=AuditResult.SUCCESS,
                request_id=f"req-{n}",
            )
        except ConflictError:
            return False
        return True

    outcomes = await asyncio.gather(*(change(n) for n in range(60)))
    assert outcomes.count(False) == 12
    head = await iam.audit.head()
    assert head.sequence == before.sequence + 48
    assert await iam.audit.verify() is None
    page = await iam.audit.query(limit=1000, after_sequence=before.sequence)
    audited = {entry.resource for entry in page.entries}
    assert audited == {f"things/{n}" for n in range(60) if n % 5}
    for n in range(60):
        assert (await iam.store.get(f"t/{n}") is not None) == bool(n % 5)
