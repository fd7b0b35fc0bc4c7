"""What only the LMDB backend promises: data survives reopening, long keys keep their order,
group commit batches concurrent writers, and compaction really removes the history."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from thecloud.core.errors import StateError
from thecloud.core.state import CompactedError, LmdbStateStore
from thecloud.core.state.lmdb_codec import encode_event, event_key_has_prefix
from thecloud.core.state.lmdb_keyspace import HEAD_BYTES
from thecloud.core.state.model import EventKind

pytestmark = [pytest.mark.unit, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    """Run on asyncio, the loop the control plane uses."""
    return "asyncio"


async def test_data_revision_and_history_survive_reopening(tmp_path: Path) -> None:
    async with await LmdbStateStore.open(tmp_path) as store:
        first = await store.put("a", b"1")
        second = await store.put("a", b"2")
        await store.delete("b")
    async with await LmdbStateStore.open(tmp_path) as store:
        assert await store.get("a") == second
        assert await store.revision() == second.mod_revision
        async with contextlib.aclosing(store.watch("", start_revision=1)) as events:
            assert (await anext(events)).revision == first.mod_revision
        assert (await store.put("a", b"3")).mod_revision == second.mod_revision + 1


async def test_keys_longer_than_lmdb_keys_keep_their_order(tmp_path: Path) -> None:
    head = "h" * (HEAD_BYTES - 2)
    # Keys around and beyond LMDB's 511-byte limit, several sharing one 511-byte head.
    keys = [head, head + "a", head + "ab", head + "ab" + "z" * 400, head + "ac", head + "b"]
    keys += [head + "ab" + "y" * n for n in (1, 50, 513)]
    async with await LmdbStateStore.open(tmp_path) as store:
        for key in reversed(keys):
            await store.put(key, key.encode()[-8:])
        page = await store.list("", limit=100)
        assert [entry.key for entry in page.entries] == sorted(keys)
        paged = await store.list(head + "ab", limit=2, start_after=head + "ab")
        assert [entry.key for entry in paged.entries] == sorted(keys)[3:5]
        await store.delete(head + "ab" + "y")
        entry = await store.get(head + "ab" + "y" * 50)
        assert entry is not None and entry.value == (head + "ab" + "y" * 50).encode()[-8:]
        assert await store.get(head + "ab" + "y") is None


async def test_concurrent_writers_share_durable_commits(tmp_path: Path) -> None:
    async with await LmdbStateStore.open(tmp_path) as store:
        before = store._env.info()["last_txnid"]
        await asyncio.gather(*(store.put(f"k{i}", b"v") for i in range(200)))
        commits = store._env.info()["last_txnid"] - before
        # One commit for the first writer, then the ones that queued behind it share commits.
        assert commits < 20
        assert await store.revision() == 200


async def test_compaction_removes_the_old_change_log(tmp_path: Path) -> None:
    async with await LmdbStateStore.open(tmp_path) as store:
        for i in range(50):
            await store.put(f"k{i % 5}", b"v")
        await store.compact(45)
        with store._env.begin() as txn:
            assert txn.stat(store._log)["entries"] == 6
    async with await LmdbStateStore.open(tmp_path) as store:
        with pytest.raises(CompactedError):
            async with contextlib.aclosing(store.watch("", start_revision=44)) as events:
                await anext(events)


async def test_operations_after_close_are_refused(tmp_path: Path) -> None:
    store = await LmdbStateStore.open(tmp_path)
    await store.close()
    await store.close()
    with pytest.raises(StateError, match="closed"):
        await store.put("a", b"1")
    with pytest.raises(StateError, match="closed"):
        await store.list("", limit=1)


def test_a_change_log_record_is_matched_by_key_prefix_without_decoding() -> None:
    raw = encode_event(EventKind.PUT, b"iam/users/u1", b"{}", 1)

    assert event_key_has_prefix(raw, b"iam/")
    assert event_key_has_prefix(raw, b"iam/users/u1")
    assert not event_key_has_prefix(raw, b"iam/users/u10")  # longer than the key
    assert not event_key_has_prefix(raw, b"lb/")
    # The value's bytes never count as part of the key.
    assert not event_key_has_prefix(encode_event(EventKind.PUT, b"a", b"bc", 1), b"abc")
