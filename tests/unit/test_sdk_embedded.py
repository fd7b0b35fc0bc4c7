"""Embedded mode: the same API in-process over a real LMDB state directory, no socket."""

from __future__ import annotations

from pathlib import Path

import pytest

import thecloud
from thecloud.control.bootstrap import Bootstrapped, bootstrap
from thecloud.core.errors import ConfigError, NotFoundError
from thecloud.sdk import PermissionDeniedError, ResourceNotFoundError
from thecloud.sdk.embedded import Cloud

pytestmark = [pytest.mark.unit, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    """Run on asyncio, the loop the control plane uses."""
    return "asyncio"


@pytest.fixture
async def acme(tmp_path: Path) -> Bootstrapped:
    """A state directory with tenant acme and its admin."""
    return await bootstrap(tmp_path, "acme")


async def test_the_admin_session_creates_lists_and_audits(
    tmp_path: Path, acme: Bootstrapped
) -> None:
    async with Cloud(tmp_path) as cloud:
        created = await cloud.projects.create("web")
        names = [project.name async for project in cloud.projects.list()]
        actions = [entry.action async for entry in cloud.audit.list()]
        verdict = await cloud.audit.verify()

    assert created.tenant_id == acme.tenant_id
    assert names == ["web"]
    assert "project.create" in actions
    assert verdict.intact


async def test_the_session_key_is_revoked_when_the_block_ends(
    tmp_path: Path, acme: Bootstrapped
) -> None:
    async with Cloud(tmp_path, tenant="acme"):
        pass

    async with Cloud(tmp_path, api_key=acme.token) as cloud:
        keys = {key.name: key async for key in cloud.keys.list()}

    assert keys["embedded-session"].revoked_at is not None
    assert keys["bootstrap"].revoked_at is None


async def test_a_given_key_brings_its_own_authority(tmp_path: Path, acme: Bootstrapped) -> None:
    async with Cloud(tmp_path, api_key=acme.token) as admin:
        bot = await admin.service_accounts.create("bot")
        await admin.role_bindings.grant(bot.id, "reader")
        issued = await admin.keys.create(bot.id, "k")

    async with Cloud(tmp_path, api_key=issued.token) as reader:
        assert [a.name async for a in reader.service_accounts.list()] == ["admin", "bot"]
        with pytest.raises(PermissionDeniedError):
            await reader.projects.create("web")


async def test_errors_are_the_same_as_over_http(tmp_path: Path, acme: Bootstrapped) -> None:
    async with Cloud(tmp_path) as cloud:
        with pytest.raises(ResourceNotFoundError) as raised:
            await cloud.projects.get("prj-00000000000000000000000000")

    assert isinstance(raised.value, NotFoundError)
    assert raised.value.problem.request_id


async def test_the_tenant_must_be_named_when_there_are_several(
    tmp_path: Path, acme: Bootstrapped
) -> None:
    await bootstrap(tmp_path, "globex")

    with pytest.raises(ConfigError, match="several tenants"):
        async with Cloud(tmp_path):
            pass
    async with Cloud(tmp_path, tenant="globex") as cloud:
        assert cloud.config.tenant != acme.tenant_id


async def test_an_empty_state_directory_says_to_bootstrap(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="admin bootstrap"):
        async with Cloud(tmp_path):
            pass


def test_the_top_package_offers_cloud_and_nothing_else() -> None:
    assert thecloud.Cloud is Cloud
    with pytest.raises(AttributeError, match="no attribute 'Clod'"):
        thecloud.Clod  # noqa: B018 - the attribute access is the test
