"""Tenants, projects, users and service accounts as records in the state store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from thecloud.control.iam import Directory, PrincipalKind
from thecloud.core.errors import ConflictError, InvalidArgumentError, NotFoundError
from thecloud.core.state import LmdbStateStore

pytestmark = [pytest.mark.unit, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    """Run on asyncio, the loop the control plane uses."""
    return "asyncio"


@pytest.fixture
async def directory(tmp_path: Path) -> AsyncIterator[Directory]:
    """A directory over a fresh LMDB store."""
    async with await LmdbStateStore.open(tmp_path) as store:
        yield Directory(store)


async def test_tenant_is_found_by_id_and_name(directory: Directory) -> None:
    tenant = await directory.tenants.create("acme")
    assert tenant.id.startswith("tnt-")
    assert await directory.tenants.get(tenant.id) == tenant
    assert await directory.tenants.get_by_name("acme") == tenant


async def test_duplicate_tenant_name_is_a_conflict(directory: Directory) -> None:
    await directory.tenants.create("acme")
    with pytest.raises(ConflictError):
        await directory.tenants.create("acme")


@pytest.mark.parametrize("name", ["", "Acme", "-acme", "acme-", "1acme", "a" * 64, "ac me", "a/b"])
async def test_invalid_names_are_refused(directory: Directory, name: str) -> None:
    with pytest.raises(InvalidArgumentError):
        await directory.tenants.create(name)


async def test_same_project_name_is_allowed_in_different_tenants(directory: Directory) -> None:
    first = await directory.tenants.create("first")
    second = await directory.tenants.create("second")
    a = await directory.projects.create(first.id, "web")
    b = await directory.projects.create(second.id, "web")
    assert a.id != b.id
    with pytest.raises(ConflictError):
        await directory.projects.create(first.id, "web")
    assert await directory.projects.get_by_name(second.id, "web") == b


async def test_records_of_one_tenant_are_invisible_from_another(directory: Directory) -> None:
    first = await directory.tenants.create("first")
    second = await directory.tenants.create("second")
    user = await directory.users.create(first.id, "alice")
    with pytest.raises(NotFoundError):
        await directory.users.get(second.id, user.id)
    assert await directory.principal_exists(first.id, PrincipalKind.USER, user.id)
    assert not await directory.principal_exists(second.id, PrincipalKind.USER, user.id)


async def test_listing_pages_through_every_record(directory: Directory) -> None:
    tenant = await directory.tenants.create("acme")
    made = [await directory.service_accounts.create(tenant.id, f"bot{i}") for i in range(5)]
    seen = []
    cursor: str | None = None
    while True:
        page, cursor = await directory.service_accounts.list(tenant.id, limit=2, start_after=cursor)
        seen += page
        if cursor is None:
            break
    assert sorted(seen, key=lambda record: record.id) == sorted(made, key=lambda r: r.id)


async def test_deleted_record_frees_its_name(directory: Directory) -> None:
    tenant = await directory.tenants.create("acme")
    user = await directory.users.create(tenant.id, "alice")
    await directory.users.delete(tenant.id, user.id)
    with pytest.raises(NotFoundError):
        await directory.users.get(tenant.id, user.id)
    again = await directory.users.create(tenant.id, "alice")
    assert again.id != user.id


async def test_a_tenant_holding_records_cannot_be_deleted(directory: Directory) -> None:
    tenant = await directory.tenants.create("acme")
    project = await directory.projects.create(tenant.id, "web")
    with pytest.raises(ConflictError):
        await directory.delete_tenant(tenant.id)
    await directory.projects.delete(tenant.id, project.id)
    await directory.delete_tenant(tenant.id)
    with pytest.raises(NotFoundError):
        await directory.tenants.get(tenant.id)


async def test_malformed_or_wrong_type_ids_are_refused(directory: Directory) -> None:
    tenant = await directory.tenants.create("acme")
    with pytest.raises(InvalidArgumentError):
        await directory.users.get(tenant.id, "../../tenants")
    with pytest.raises(InvalidArgumentError):
        await directory.users.get(tenant.id, tenant.id)


async def test_creating_in_a_missing_tenant_fails(directory: Directory) -> None:
    tenant = await directory.tenants.create("acme")
    await directory.delete_tenant(tenant.id)
    with pytest.raises(NotFoundError):
        await directory.projects.create(tenant.id, "web")
