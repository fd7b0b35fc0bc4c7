"""The behaviour every StateStore backend must have, as one set of async tests.

A backend's test module imports everything from here (`from tests.state_conformance import *`)
and defines an `open_store` fixture: a callable that takes optional `schema_version=` and returns
an async context manager yielding a store over the same data each time it is called within one
test. The same assertions thereby run against LMDB (unit tier) and etcd (integration tier).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from thecloud.core.errors import ConflictError, InvalidArgumentError, StateError
from thecloud.core.state import (
    MAX_KEY_BYTES,
    MAX_VALUE_BYTES,
    SCHEMA_VERSION,
    Check,
    CompactedError,
    CompactionPolicy,
    Compactor,
    Delete,
    Entry,
    Event,
    EventKind,
    Put,
    StateStore,
    Txn,
)

__all__ = [
    "StoreOpener",
    "anyio_backend",
    "test_apply_returns_each_steps_result",
    "test_bad_keys_and_values_are_refused_and_change_nothing",
    "test_compacted_revisions_cannot_be_watched",
    "test_compactor_keeps_the_configured_history",
    "test_concurrent_compare_and_swap_has_exactly_one_winner",
    "test_concurrent_puts_to_distinct_keys_all_land",
    "test_deleted_key_is_gone_and_recreated_at_version_one",
    "test_expect_version_mismatch_raises_conflict_and_writes_nothing",
    "test_largest_key_and_value_round_trip",
    "test_list_pages_through_keys_in_order",
    "test_newer_schema_version_is_refused",
    "test_put_then_get_returns_versions_and_revisions",
    "test_txn_applies_all_steps_or_none",
    "test_txn_with_no_or_duplicate_steps_is_refused",
    "test_watch_ends_when_the_store_closes",
    "test_watch_replays_from_a_revision_in_order",
    "test_watch_sees_commits_made_while_it_waits",
]

StoreOpener = Callable[..., contextlib.AbstractAsyncContextManager[StateStore]]

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """Run the async tests on asyncio, the loop the control plane uses."""
    return "asyncio"


async def collect(store: StateStore, prefix: str, start: int, count: int) -> list[Event]:
    """Return the first `count` events of a watch from `start`, failing after 10 s."""
    events: list[Event] = []
    with anyio.fail_after(10):
        async with contextlib.aclosing(store.watch(prefix, start_revision=start)) as stream:
            async for event in stream:
                events.append(event)
                if len(events) == count:
                    break
    return events


def summary(events: list[Event]) -> list[tuple[EventKind, str, bytes, int]]:
    """Return the comparable part of events: kind, key, value, version."""
    return [(event.kind, event.key, event.value, event.version) for event in events]


async def test_put_then_get_returns_versions_and_revisions(open_store: StoreOpener) -> None:
    async with open_store() as store:
        assert await store.get("a") is None
        first = await store.put("a", b"one")
        assert (first.key, first.value, first.version) == ("a", b"one", 1)
        second = await store.put("a", b"two")
        assert second.version == 2
        assert second.mod_revision > first.mod_revision
        assert await store.get("a") == second
        assert await store.revision() == second.mod_revision
        assert await store.schema_version() == SCHEMA_VERSION


async def test_deleted_key_is_gone_and_recreated_at_version_one(open_store: StoreOpener) -> None:
    async with open_store() as store:
        await store.put("k", b"1")
        await store.put("k", b"2")
        assert await store.delete("k") is True
        assert await store.get("k") is None
        assert await store.delete("k") is False
        assert (await store.put("k", b"3")).version == 1


async def test_expect_version_mismatch_raises_conflict_and_writes_nothing(
    open_store: StoreOpener,
) -> None:
    async with open_store() as store:
        created = await store.put("cas", b"v1", expect_version=0)
        before = await store.revision()
        with pytest.raises(ConflictError):
            await store.put("cas", b"again", expect_version=0)
        with pytest.raises(ConflictError):
            await store.put("cas", b"stale", expect_version=2)
        with pytest.raises(ConflictError):
            await store.delete("cas", expect_version=5)
        with pytest.raises(ConflictError):
            await store.put("absent", b"x", expect_version=1)
        assert await store.get("cas") == created
        assert await store.get("absent") is None
        assert await store.revision() == before
        assert (await store.put("cas", b"v2", expect_version=1)).version == 2
        assert await store.delete("cas", expect_version=2) is True


async def test_list_pages_through_keys_in_order(open_store: StoreOpener) -> None:
    async with open_store() as store:
        keys = [f"page/{index:03d}" for index in range(250)]
        await asyncio.gather(*(store.put(key, key.encode()) for key in reversed(keys)))
        await store.put("pagf", b"outside the prefix")
        await store.put("pag", b"shorter than the prefix")
        seen: list[str] = []
        sizes: list[int] = []
        start_after: str | None = None
        while True:
            page = await store.list("page/", limit=100, start_after=start_after)
            sizes.append(len(page.entries))
            seen.extend(entry.key for entry in page.entries)
            assert all(entry.value == entry.key.encode() for entry in page.entries)
            if page.next_key is None:
                break
            start_after = page.next_key
        assert sizes == [100, 100, 50]
        assert seen == keys
        everything = await store.list("", limit=1000)
        assert [entry.key for entry in everything.entries] == sorted(["pag", "pagf", *keys])
        assert everything.next_key is None
        with pytest.raises(InvalidArgumentError):
            await store.list("page/", limit=0)


async def test_txn_applies_all_steps_or_none(open_store: StoreOpener) -> None:
    async with open_store() as store:
        await store.put("t/a", b"a1")
        await store.put("t/gone", b"x")
        revision = await store.commit(
            Txn(
                (
                    Put("t/a", b"a2", expect_version=1),
                    Put("t/b", b"b1", expect_version=0),
                    Delete("t/gone"),
                    Check("t/never", expect_version=0),
                )
            )
        )
        a, b = await store.get("t/a"), await store.get("t/b")
        assert a is not None and b is not None
        assert (a.value, a.version, b.value, b.version) == (b"a2", 2, b"b1", 1)
        # All steps of one transaction share its revision.
        assert a.mod_revision == b.mod_revision == revision == await store.revision()
        assert await store.get("t/gone") is None
        with pytest.raises(ConflictError):
            await store.commit(
                Txn((Put("t/c", b"c1"), Put("t/a", b"a3", expect_version=1), Delete("t/b")))
            )
        assert await store.get("t/c") is None
        assert await store.get("t/a") == a
        assert await store.get("t/b") == b
        assert await store.revision() == revision


async def test_apply_returns_each_steps_result(open_store: StoreOpener) -> None:
    async with open_store() as store:
        await store.put("ap/a", b"a1")
        await store.put("ap/gone", b"x")
        applied = await store.apply(
            Txn(
                (
                    Put("ap/a", b"a2", expect_version=1),
                    Put("ap/b", b"b1"),
                    Delete("ap/gone"),
                    Delete("ap/never"),
                    Check("ap/absent", expect_version=0),
                )
            )
        )
        assert applied.revision == await store.revision()
        a, b, deleted, missing, checked = applied.results
        assert isinstance(a, Entry) and isinstance(b, Entry)
        assert (a.key, a.value, a.version, a.mod_revision) == ("ap/a", b"a2", 2, applied.revision)
        assert (b.key, b.version) == ("ap/b", 1)
        assert (deleted, missing, checked) == (True, False, None)
        assert await store.get("ap/a") == a
        with pytest.raises(ConflictError):
            await store.apply(Txn((Put("ap/c", b"c"), Check("ap/a", expect_version=1))))
        assert await store.get("ap/c") is None
        assert await store.revision() == applied.revision


async def test_txn_with_no_or_duplicate_steps_is_refused(open_store: StoreOpener) -> None:
    async with open_store():
        with pytest.raises(InvalidArgumentError):
            Txn(())
        with pytest.raises(InvalidArgumentError):
            Txn((Put("d", b"1"), Delete("d")))
        with pytest.raises(InvalidArgumentError):
            Txn((Put("d", b"1", expect_version=-1),))


async def test_watch_replays_from_a_revision_in_order(open_store: StoreOpener) -> None:
    async with open_store() as store:
        start = await store.revision() + 1
        await store.put("w/a", b"1")
        await store.put("other/x", b"not watched")
        await store.put("w/b", b"2")
        await store.delete("w/a")
        await store.commit(Txn((Put("w/a", b"3"), Put("w/c", b"4"))))
        events = await collect(store, "w/", start, 5)
        assert summary(events) == [
            (EventKind.PUT, "w/a", b"1", 1),
            (EventKind.PUT, "w/b", b"2", 1),
            (EventKind.DELETE, "w/a", b"", 0),
            (EventKind.PUT, "w/a", b"3", 1),
            (EventKind.PUT, "w/c", b"4", 1),
        ]
        revisions = [event.revision for event in events]
        assert revisions == sorted(revisions)
        assert revisions[3] == revisions[4]
        later = await collect(store, "w/", revisions[2], 3)
        assert later == events[2:]


async def test_watch_sees_commits_made_while_it_waits(open_store: StoreOpener) -> None:
    async with open_store() as store:
        start = await store.revision() + 1
        watcher = asyncio.create_task(collect(store, "live/", start, 20))
        await asyncio.sleep(0.05)
        for index in range(20):
            await store.put(f"live/{index % 3}", str(index).encode())
        events = await watcher
        assert [event.value for event in events] == [str(index).encode() for index in range(20)]


async def test_watch_ends_when_the_store_closes(open_store: StoreOpener) -> None:
    async with open_store() as store:
        start = await store.revision() + 1
        seen: list[Event] = []

        async def consume() -> None:
            async with contextlib.aclosing(store.watch("c/", start_revision=start)) as stream:
                async for event in stream:
                    seen.append(event)

        consumer = asyncio.create_task(consume())
        await store.put("c/1", b"x")
        with anyio.fail_after(10):
            while not seen:
                await asyncio.sleep(0.01)
        await store.close()
        with anyio.fail_after(10):
            await consumer
        assert [event.key for event in seen] == ["c/1"]
        with pytest.raises(StateError):
            await store.get("c/1")


async def test_compacted_revisions_cannot_be_watched(open_store: StoreOpener) -> None:
    async with open_store() as store:
        entries = [await store.put(f"cp/{index}", b"v") for index in range(6)]
        await store.compact(entries[3].mod_revision)
        with pytest.raises(CompactedError) as caught:
            await collect(store, "cp/", entries[0].mod_revision, 1)
        assert caught.value.compact_revision == entries[3].mod_revision
        assert not caught.value.retryable
        events = await collect(store, "cp/", entries[4].mod_revision, 2)
        assert [event.key for event in events] == ["cp/4", "cp/5"]
        # Compacting to an already compacted revision is a no-op; the future is refused.
        await store.compact(entries[1].mod_revision)
        with pytest.raises(InvalidArgumentError):
            await store.compact(await store.revision() + 100)
        assert await store.get("cp/0") == entries[0]


async def test_compactor_keeps_the_configured_history(open_store: StoreOpener) -> None:
    now = [0.0]
    async with open_store() as store:
        by_count = Compactor(store, CompactionPolicy(keep_revisions=3))
        entries = [await store.put(f"cc/{index}", b"v") for index in range(8)]
        point = await by_count.run_once()
        assert point == entries[-1].mod_revision - 3
        with pytest.raises(CompactedError):
            await collect(store, "cc/", point - 1, 1)
        assert len(await collect(store, "cc/", point + 1, 2)) == 2

        by_age = Compactor(
            store, CompactionPolicy(keep_revisions=None, keep_seconds=60), clock=lambda: now[0]
        )
        assert await by_age.run_once() == 0
        old = await store.revision()
        now[0] = 30.0
        await by_age.run_once()
        newer = await store.put("cc/new", b"v")
        now[0] = 61.0
        # Only what was current 60 s ago (revision `old`) is old enough to go.
        assert await by_age.run_once() == old + 1
        assert (await collect(store, "cc/", old + 1, 1))[0].revision == newer.mod_revision
    with pytest.raises(InvalidArgumentError):
        CompactionPolicy(keep_revisions=None, keep_seconds=None)


async def test_newer_schema_version_is_refused(open_store: StoreOpener) -> None:
    async with open_store(schema_version=SCHEMA_VERSION + 1) as store:
        assert await store.schema_version() == SCHEMA_VERSION + 1
    with pytest.raises(StateError, match="newer than version"):
        async with open_store():
            pass


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("", b"v"),
        ("nul\x00key", b"v"),
        ("new\nline", b"v"),
        ("x" * (MAX_KEY_BYTES + 1), b"v"),
        ("é" * (MAX_KEY_BYTES // 2 + 1), b"v"),
        (42, b"v"),
        ("ok", "not bytes"),
        ("ok", b"x" * (MAX_VALUE_BYTES + 1)),
    ],
)
async def test_bad_keys_and_values_are_refused_and_change_nothing(
    open_store: StoreOpener, key: Any, value: Any
) -> None:
    async with open_store() as store:
        before = await store.revision()
        with pytest.raises(InvalidArgumentError):
            await store.put(key, value)
        with pytest.raises(InvalidArgumentError):
            await store.commit(Txn((Put(key, value),)))
        if key != "ok":
            with pytest.raises(InvalidArgumentError):
                await store.get(key)
        assert await store.revision() == before
        assert await store.get("ok") is None


async def test_largest_key_and_value_round_trip(open_store: StoreOpener) -> None:
    async with open_store() as store:
        key = "k" * MAX_KEY_BYTES
        value = bytes(range(256)) * (MAX_VALUE_BYTES // 256)
        await store.put(key, value)
        entry = await store.get(key)
        assert entry is not None and entry.value == value


async def test_concurrent_puts_to_distinct_keys_all_land(open_store: StoreOpener) -> None:
    async with open_store() as store:
        entries = await asyncio.gather(
            *(store.put(f"many/{index:03d}", str(index).encode()) for index in range(100))
        )
        assert all(entry.version == 1 for entry in entries)
        page = await store.list("many/", limit=1000)
        assert [entry.value for entry in page.entries] == [str(i).encode() for i in range(100)]


async def test_concurrent_compare_and_swap_has_exactly_one_winner(
    open_store: StoreOpener,
) -> None:
    async with open_store() as store:
        await store.put("race", b"start")
        results = await asyncio.gather(
            *(store.put("race", str(i).encode(), expect_version=1) for i in range(20)),
            return_exceptions=True,
        )
        winners = [result for result in results if not isinstance(result, BaseException)]
        losers = [result for result in results if isinstance(result, BaseException)]
        assert len(winners) == 1
        assert all(isinstance(loser, ConflictError) for loser in losers)
        final = await store.get("race")
        assert final is not None and final.version == 2 and final == winners[0]
