"""API keys: shown once, stored as digests, refused at once when revoked or rotated."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from thecloud.control.iam import (
    ApiKeyService,
    AuthenticationError,
    Directory,
    Principal,
    PrincipalKind,
    load_or_create_server_key,
)
from thecloud.control.iam.tokens import format_token, parse_token
from thecloud.core.errors import ConfigError, ConflictError, NotFoundError
from thecloud.core.state import LmdbStateStore

pytestmark = [pytest.mark.unit, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    """Run on asyncio, the loop the control plane uses."""
    return "asyncio"


@dataclass
class World:
    """A store with one tenant, a user and a service account, and the key service over it."""

    store: LmdbStateStore
    directory: Directory
    keys: ApiKeyService
    tenant_id: str
    user_id: str
    bot_id: str


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    """One tenant with a user `alice` and a service account `bot`."""
    async with await LmdbStateStore.open(tmp_path / "state") as store:
        directory = Directory(store)
        server_key = load_or_create_server_key(tmp_path / "server.key")
        keys = ApiKeyService(store, directory, server_key)
        tenant = await directory.tenants.create("acme")
        user = await directory.users.create(tenant.id, "alice")
        bot = await directory.service_accounts.create(tenant.id, "bot")
        yield World(store, directory, keys, tenant.id, user.id, bot.id)


async def test_a_new_key_authenticates_as_its_account(world: World) -> None:
    issued = await world.keys.create(world.tenant_id, PrincipalKind.USER, world.user_id, "laptop")
    assert issued.token.startswith(f"tck_{issued.key.id}_")
    principal = await world.keys.authenticate(issued.token)
    assert principal == Principal(world.tenant_id, PrincipalKind.USER, world.user_id, issued.key.id)


async def test_the_secret_is_never_stored_or_shown_again(world: World) -> None:
    issued = await world.keys.create(
        world.tenant_id, PrincipalKind.SERVICE_ACCOUNT, world.bot_id, "ci"
    )
    parsed = parse_token(issued.token)
    assert parsed is not None
    page = await world.store.list("", limit=1000)
    # The secret is base64url, which may itself hold "_": cut at the key id, not at the last "_".
    secret_text = issued.token.removeprefix(f"tck_{parsed.key_id}_")
    for entry in page.entries:
        assert parsed.secret not in entry.value
        assert secret_text.encode() not in entry.value
    assert secret_text not in repr(issued)
    assert secret_text not in repr(parsed)
    listed, _ = await world.keys.list(world.tenant_id)
    assert listed == [issued.key]
    assert secret_text not in repr(listed)


async def test_a_revoked_key_is_rejected_at_once(world: World) -> None:
    issued = await world.keys.create(world.tenant_id, PrincipalKind.USER, world.user_id, "laptop")
    await world.keys.authenticate(issued.token)
    revoked = await world.keys.revoke(world.tenant_id, issued.key.id)
    assert revoked.revoked_at is not None
    with pytest.raises(AuthenticationError):
        await world.keys.authenticate(issued.token)
    with pytest.raises(ConflictError):
        await world.keys.rotate(world.tenant_id, issued.key.id)


async def test_a_rotated_keys_old_secret_fails_and_the_new_one_works(world: World) -> None:
    issued = await world.keys.create(world.tenant_id, PrincipalKind.USER, world.user_id, "laptop")
    rotated = await world.keys.rotate(world.tenant_id, issued.key.id)
    assert rotated.key.id == issued.key.id and rotated.token != issued.token
    with pytest.raises(AuthenticationError):
        await world.keys.authenticate(issued.token)
    assert (await world.keys.authenticate(rotated.token)).key_id == issued.key.id


async def test_keys_of_a_deleted_account_stop_working(world: World) -> None:
    issued = await world.keys.create(
        world.tenant_id, PrincipalKind.SERVICE_ACCOUNT, world.bot_id, "ci"
    )
    await world.directory.service_accounts.delete(world.tenant_id, world.bot_id)
    with pytest.raises(AuthenticationError):
        await world.keys.authenticate(issued.token)


async def test_bad_tokens_all_get_the_same_generic_error(world: World) -> None:
    issued = await world.keys.create(world.tenant_id, PrincipalKind.USER, world.user_id, "laptop")
    key_id, secret = issued.token.removeprefix("tck_").split("_", 1)
    other = await world.keys.create(world.tenant_id, PrincipalKind.USER, world.user_id, "desk")
    other_secret = other.token.removeprefix("tck_").split("_", 1)[1]
    unknown_id = "key-" + "0" * 26
    flipped = secret[:-2] + ("A" if secret[-2] != "A" else "B") + secret[-1]
    bad = [
        "",
        "tck_",
        "garbage",
        issued.token + "x",
        issued.token[:-1],
        " " + issued.token,
        issued.token.replace("tck_", "TCK_"),
        f"tck_{key_id.upper()}_{secret}",
        f"tck_{unknown_id}_{secret}",
        f"tck_{key_id}_{flipped}",
        f"tck_{key_id}_{other_secret}",
        f"tck_{key_id}_{secret}=",
    ]
    messages = set()
    for token in bad:
        with pytest.raises(AuthenticationError) as caught:
            await world.keys.authenticate(token)
        messages.add(str(caught.value))
    assert messages == {"authentication failed"}


async def test_non_canonical_base64_is_refused() -> None:
    token = format_token("key-" + "0" * 26, bytes(32))
    assert parse_token(token) is not None
    # The last of 43 characters carries two spare bits; setting them must not yield a twin.
    assert parse_token(token[:-1] + "B") is None


async def test_keys_are_private_to_their_tenant(world: World) -> None:
    issued = await world.keys.create(world.tenant_id, PrincipalKind.USER, world.user_id, "laptop")
    other = await world.directory.tenants.create("other")
    with pytest.raises(NotFoundError):
        await world.keys.revoke(other.id, issued.key.id)
    with pytest.raises(NotFoundError):
        await world.keys.create(other.id, PrincipalKind.USER, world.user_id, "sneaky")
    assert await world.keys.list(other.id) == ([], None)


async def test_listing_filters_by_account_and_pages(world: World) -> None:
    made = [
        (await world.keys.create(world.tenant_id, PrincipalKind.USER, world.user_id, f"k{i}")).key
        for i in range(3)
    ]
    bot_key = await world.keys.create(
        world.tenant_id, PrincipalKind.SERVICE_ACCOUNT, world.bot_id, "ci"
    )
    first, cursor = await world.keys.list(world.tenant_id, limit=2)
    rest, end = await world.keys.list(world.tenant_id, limit=10, start_after=cursor)
    assert end is None
    assert {key.id for key in first + rest} == {key.id for key in [*made, bot_key.key]}
    only_bot, _ = await world.keys.list(world.tenant_id, principal_id=world.bot_id)
    assert only_bot == [bot_key.key]


def test_the_server_key_file_is_created_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "server.key"
    old_umask = os.umask(0)
    try:
        key = load_or_create_server_key(path)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == key.material and len(key.material) == 32
    assert load_or_create_server_key(path).material == key.material
    assert key.material.hex() not in repr(key)
    assert [p.name for p in tmp_path.iterdir()] == ["server.key"]


def test_a_server_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "server.key"
    load_or_create_server_key(path)
    path.chmod(0o644)
    with pytest.raises(ConfigError) as caught:
        load_or_create_server_key(path)
    assert path.read_bytes().hex() not in str(caught.value)


def test_a_symlinked_server_key_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "real.key"
    load_or_create_server_key(target)
    link = tmp_path / "server.key"
    link.symlink_to(target)
    with pytest.raises(ConfigError):
        load_or_create_server_key(link)
