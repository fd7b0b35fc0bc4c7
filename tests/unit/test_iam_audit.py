"""The audit log: a hash chain that never forks and gives away any edit or deletion."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from thecloud.control.iam import AuditLog, AuditResult
from thecloud.control.iam.audit_chain import GENESIS_HASH, AuditEntry, chain_hash, encode_entry
from thecloud.core.errors import InvalidArgumentError
from thecloud.core.state import LmdbStateStore

pytestmark = [pytest.mark.unit, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    """Run on asyncio, the loop the control plane uses."""
    return "asyncio"


def _ticking_clock() -> Iterator[str]:
    second = 0
    while True:
        yield f"2026-01-01T00:00:{second:02d}.000Z"
        second += 1


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[LmdbStateStore]:
    """A fresh LMDB store."""
    async with await LmdbStateStore.open(tmp_path) as opened:
        yield opened


@pytest.fixture
def log(store: LmdbStateStore) -> AuditLog:
    """An audit log whose clock advances one second per entry."""
    ticks = _ticking_clock()
    return AuditLog(store, clock=lambda: next(ticks))


async def _fill(log: AuditLog, count: int) -> None:
    for i in range(count):
        await log.append(
            principal_id=f"usr-{i % 2}",
            action="delete",
            resource=f"lb/{i}",
            result=AuditResult.SUCCESS,
            request_id=f"req-{i}",
            tenant_id="tnt-a" if i % 3 else "tnt-b",
        )


async def test_entries_are_chained_from_genesis(log: AuditLog) -> None:
    first = await log.append(
        principal_id="usr-1", action="create", resource="lb/x", result="success", request_id="r1"
    )
    second = await log.append(
        principal_id="usr-1", action="delete", resource="lb/x", result="denied", request_id="r2"
    )
    assert (first.sequence, second.sequence) == (1, 2)
    assert first.previous_hash == GENESIS_HASH and second.previous_hash == first.hash
    assert chain_hash(second) == second.hash
    assert second.result is AuditResult.DENIED
    assert (await log.head()).hash == second.hash
    assert await log.verify() is None


async def test_concurrent_appends_do_not_fork_the_chain(log: AuditLog) -> None:
    await asyncio.gather(*(_fill(log, 5) for _ in range(8)))
    assert (await log.head()).sequence == 40
    assert await log.verify() is None


async def test_a_burst_of_appends_all_lands(log: AuditLog) -> None:
    # 300 requests auditing at once (as a busy API server does) must all be recorded, not give
    # up on a moving head.
    await asyncio.gather(*(_fill(log, 1) for _ in range(300)))
    assert (await log.head()).sequence == 300
    assert await log.verify() is None


async def test_an_edited_entry_is_detected(store: LmdbStateStore, log: AuditLog) -> None:
    await _fill(log, 6)
    key = f"audit/entries/{4:020d}"
    entry = await store.get(key)
    assert entry is not None
    fields = json.loads(entry.value)
    fields["result"] = "denied"
    await store.put(key, json.dumps(fields).encode())
    assert await log.verify() == 4


async def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(
    store: LmdbStateStore, log: AuditLog
) -> None:
    await _fill(log, 6)
    key = f"audit/entries/{3:020d}"
    entry = await store.get(key)
    assert entry is not None
    fields = json.loads(entry.value)
    fields["principal_id"] = "usr-innocent"
    del fields["hash"]
    forged = AuditEntry(**fields, hash="")
    forged = AuditEntry(**(fields | {"hash": chain_hash(forged)}))
    await store.put(key, encode_entry(forged))
    assert await log.verify() == 4


async def test_a_deleted_entry_is_detected(store: LmdbStateStore, log: AuditLog) -> None:
    await _fill(log, 6)
    await store.delete(f"audit/entries/{2:020d}")
    assert await log.verify() == 2


async def test_a_truncated_tail_is_detected(store: LmdbStateStore, log: AuditLog) -> None:
    await _fill(log, 6)
    await store.delete(f"audit/entries/{6:020d}")
    assert await log.verify() == 6


async def test_garbage_in_an_entry_is_detected(store: LmdbStateStore, log: AuditLog) -> None:
    await _fill(log, 3)
    await store.put(f"audit/entries/{2:020d}", b"not json")
    assert await log.verify() == 2


async def test_query_filters_by_principal_tenant_and_time(log: AuditLog) -> None:
    await _fill(log, 10)
    page = await log.query(principal_id="usr-1")
    assert [e.sequence for e in page.entries] == [2, 4, 6, 8, 10]
    assert page.next_after is None
    page = await log.query(tenant_id="tnt-b")
    assert [e.sequence for e in page.entries] == [1, 4, 7, 10]
    # Entry n was stamped at second n-1.
    page = await log.query(since="2026-01-01T00:00:03.000Z", until="2026-01-01T00:00:06.000Z")
    assert [e.sequence for e in page.entries] == [4, 5, 6]


async def test_query_pages_through_matches(log: AuditLog) -> None:
    await _fill(log, 10)
    seen: list[int] = []
    after = 0
    while True:
        page = await log.query(principal_id="usr-0", limit=2, after_sequence=after)
        seen += [e.sequence for e in page.entries]
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == [1, 3, 5, 7, 9]


async def test_bad_arguments_are_refused(log: AuditLog) -> None:
    with pytest.raises(InvalidArgumentError):
        await log.append(
            principal_id="", action="x", resource="y", result="success", request_id="r"
        )
    with pytest.raises(InvalidArgumentError):
        await log.append(
            principal_id="u", action="x\n", resource="y", result="success", request_id="r"
        )
    with pytest.raises(InvalidArgumentError):
        await log.append(principal_id="u", action="x", resource="y", result="meh", request_id="r")
    with pytest.raises(InvalidArgumentError):
        await log.query(since="yesterday")
    with pytest.raises(InvalidArgumentError):
        await log.query(after_sequence=-1)
    assert (await log.head()).sequence == 0
