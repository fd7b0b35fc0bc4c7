"""Secrets: AES-256-GCM at rest, versioned, and never shown by accident."""

from __future__ import annotations

import json
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from thecloud.control.iam import SecretStore, SecretValue, load_or_create_server_key
from thecloud.core.errors import InvalidArgumentError, NotFoundError, StateError
from thecloud.core.ids import new_id
from thecloud.core.state import LmdbStateStore

pytestmark = [pytest.mark.unit, pytest.mark.anyio]

PLAINTEXT = b"hunter2-correct-horse-battery-staple"


@pytest.fixture
def anyio_backend() -> str:
    """Run on asyncio, the loop the control plane uses."""
    return "asyncio"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[LmdbStateStore]:
    """A fresh LMDB store."""
    async with await LmdbStateStore.open(tmp_path / "state") as opened:
        yield opened


@pytest.fixture
def secrets_store(store: LmdbStateStore, tmp_path: Path) -> SecretStore:
    """A secret store with a master key created on first use."""
    return SecretStore(store, load_or_create_server_key(tmp_path / "master.key"))


TENANT = new_id("tnt")


async def test_a_secret_round_trips_and_is_encrypted_at_rest(
    store: LmdbStateStore, secrets_store: SecretStore, tmp_path: Path
) -> None:
    metadata = await secrets_store.put(TENANT, "db-password", SecretValue(PLAINTEXT))
    assert metadata.version == 1
    assert (await secrets_store.get(TENANT, "db-password")).reveal() == PLAINTEXT
    page = await store.list("", limit=100)
    assert all(PLAINTEXT not in entry.value for entry in page.entries)
    assert stat.S_IMODE((tmp_path / "master.key").stat().st_mode) == 0o600


async def test_new_versions_rotate_the_value_and_keep_old_ones(secrets_store: SecretStore) -> None:
    await secrets_store.put(TENANT, "token", SecretValue(b"one"))
    metadata = await secrets_store.put(TENANT, "token", SecretValue(b"two"))
    assert metadata.version == 2
    assert (await secrets_store.get(TENANT, "token")).reveal() == b"two"
    assert (await secrets_store.get(TENANT, "token", 1)).reveal() == b"one"
    with pytest.raises(NotFoundError):
        await secrets_store.get(TENANT, "token", 3)


async def test_values_never_show_in_reprs_or_errors(secrets_store: SecretStore) -> None:
    value = SecretValue(PLAINTEXT)
    assert PLAINTEXT.decode() not in repr(value) and PLAINTEXT.decode() not in str(value)
    metadata = await secrets_store.put(TENANT, "api", value)
    assert PLAINTEXT.decode() not in repr(metadata)
    with pytest.raises(TypeError):
        hash(value)
    with pytest.raises(InvalidArgumentError) as caught:
        SecretValue(PLAINTEXT * 10_000)
    assert PLAINTEXT.decode() not in str(caught.value)


async def test_a_tampered_ciphertext_is_refused(
    store: LmdbStateStore, secrets_store: SecretStore
) -> None:
    await secrets_store.put(TENANT, "api", SecretValue(PLAINTEXT))
    key = f"iam/secret-versions/{TENANT}/api/{1:010d}"
    entry = await store.get(key)
    assert entry is not None
    record = json.loads(entry.value)
    sealed = bytearray.fromhex(record["sealed"])
    sealed[-1] ^= 1
    record["sealed"] = sealed.hex()
    await store.put(key, json.dumps(record).encode())
    with pytest.raises(StateError) as caught:
        await secrets_store.get(TENANT, "api")
    assert caught.value.__cause__ is None


async def test_a_ciphertext_moved_to_another_secret_is_refused(
    store: LmdbStateStore, secrets_store: SecretStore
) -> None:
    await secrets_store.put(TENANT, "one", SecretValue(b"first"))
    await secrets_store.put(TENANT, "two", SecretValue(b"second"))
    one = await store.get(f"iam/secret-versions/{TENANT}/one/{1:010d}")
    assert one is not None
    await store.put(f"iam/secret-versions/{TENANT}/two/{1:010d}", one.value)
    with pytest.raises(StateError):
        await secrets_store.get(TENANT, "two")


async def test_another_master_key_cannot_read(
    store: LmdbStateStore, secrets_store: SecretStore, tmp_path: Path
) -> None:
    await secrets_store.put(TENANT, "api", SecretValue(PLAINTEXT))
    other = SecretStore(store, load_or_create_server_key(tmp_path / "other.key"))
    with pytest.raises(StateError):
        await other.get(TENANT, "api")


async def test_secrets_list_without_values_and_delete_all_versions(
    store: LmdbStateStore, secrets_store: SecretStore
) -> None:
    await secrets_store.put(TENANT, "a", SecretValue(b"1"))
    await secrets_store.put(TENANT, "a", SecretValue(b"2"))
    await secrets_store.put(TENANT, "b", SecretValue(b"3"))
    listed, cursor = await secrets_store.list(TENANT)
    assert [(m.name, m.version) for m in listed] == [("a", 2), ("b", 1)] and cursor is None
    assert await secrets_store.list(new_id("tnt")) == ([], None)
    await secrets_store.delete(TENANT, "a")
    with pytest.raises(NotFoundError):
        await secrets_store.get(TENANT, "a")
    assert not (await store.list(f"iam/secret-versions/{TENANT}/a/", limit=10)).entries
    again = await secrets_store.put(TENANT, "a", SecretValue(b"new"))
    assert again.version == 1
