"""The append-only audit log in the state store, its verification and its queries.

Layout: `audit/entries/<sequence, 20 digits>` holds each entry (zero-padded so key order is
sequence order); `audit/head` holds the last sequence and hash. An append writes the new entry
and the head in one transaction, expecting the head's current version, so two concurrent appends
cannot both extend the same entry: one commits, the other retries on the new head. The chain
therefore never forks. `append_with` adds the entry to a caller's transaction, so a mutation and
its audit entry are one commit: a crash can lose neither without the other. Appends from one
process choose their links one at a time (a lock) from the head the previous one will leave, and
commit outside the lock, in order, so the store's group commit batches them; if one fails, the
ones queued behind it fail their head check and retry. The version check also covers other
processes sharing the store.

`verify` catches edits, deletions and truncation by anyone who cannot also rewrite every later
entry and the head; export `head()` somewhere else now and then to catch even that.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final

from thecloud.control.iam.audit_chain import (
    GENESIS_HASH,
    AuditEntry,
    AuditResult,
    chain_hash,
    decode_entry,
    encode_entry,
    validate_text,
)
from thecloud.core.clock import utc_now
from thecloud.core.errors import ConflictError, InvalidArgumentError, StateError
from thecloud.core.state import Applied, Operation, Put, StateStore, Txn
from thecloud.core.state.model import validate_limit

__all__ = ["AuditHead", "AuditLog", "AuditPage"]

_ENTRIES: Final = "audit/entries/"
_HEAD: Final = "audit/head"
# Appends retry on a moved head; this bounds the wait under extreme contention.
_MAX_APPEND_ATTEMPTS: Final = 100
_SCAN_PAGE: Final = 500
_TIME_PATTERN = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@dataclass(frozen=True, slots=True)
class AuditHead:
    """The last sequence and its hash; worth exporting to anchor the chain elsewhere."""

    sequence: int
    hash: str


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of query results; pass `next_after` as `after_sequence` for the next page."""

    entries: tuple[AuditEntry, ...]
    next_after: int | None


def _entry_key(sequence: int) -> str:
    return f"{_ENTRIES}{sequence:020d}"


def _check_time(value: str | None, what: str) -> None:
    if value is not None and not (isinstance(value, str) and _TIME_PATTERN.fullmatch(value)):
        raise InvalidArgumentError(f"{what} must look like 2026-01-31T12:00:00.000Z")


class AuditLog:
    """Appends, verifies and queries the audit log."""

    def __init__(self, store: StateStore, clock: Callable[[], str] = utc_now) -> None:
        self._store = store
        self._clock = clock
        self._appending = asyncio.Lock()
        # The head the next append links to, as of the last append this process queued (None:
        # read it from the store). Lets appends queue behind each other before they commit.
        self._next: tuple[AuditHead, int] | None = None

    async def _read_head(self) -> tuple[AuditHead, int]:
        entry = await self._store.get(_HEAD)
        if entry is None:
            return AuditHead(0, GENESIS_HASH), 0
        try:
            fields = json.loads(entry.value)
            return AuditHead(int(fields["sequence"]), str(fields["hash"])), entry.version
        except (ValueError, TypeError, KeyError) as error:
            raise StateError("the audit log head is unreadable") from error

    async def head(self) -> AuditHead:
        """Return the last sequence and hash (sequence 0 and GENESIS_HASH for an empty log)."""
        return (await self._read_head())[0]

    async def append(
        self,
        *,
        principal_id: str,
        action: str,
        resource: str,
        result: AuditResult,
        request_id: str,
        tenant_id: str | None = None,
    ) -> AuditEntry:
        """Record one request at the end of the chain and return the stored entry.

        Never pass secrets in any field: the log is meant to be read. ConflictError only if the
        head kept moving for every one of many attempts.
        """
        entry, _ = await self.append_with(
            None,
            principal_id=principal_id,
            action=action,
            resource=resource,
            result=result,
            request_id=request_id,
            tenant_id=tenant_id,
        )
        return entry

    async def append_with(
        self,
        txn: Txn | None,
        *,
        principal_id: str,
        action: str,
        resource: str,
        result: AuditResult,
        request_id: str,
        tenant_id: str | None = None,
    ) -> tuple[AuditEntry, Applied | None]:
        """Commit `txn` (if any) and its audit entry as one transaction: both land or neither.

        Returns the entry and what `txn` did (its results first, as `txn` listed its steps).
        ConflictError if a version condition of `txn` fails: then nothing is written, the
        entry included, and the caller decides whether to audit the failure.
        """
        fields = {
            "principal_id": validate_text(principal_id, "principal"),
            "action": validate_text(action, "action"),
            "resource": validate_text(resource, "resource"),
            "request_id": validate_text(request_id, "request id"),
        }
        if tenant_id is not None:
            validate_text(tenant_id, "tenant")
        try:
            result = AuditResult(result)
        except ValueError:
            raise InvalidArgumentError(f"audit result must be one of {list(AuditResult)}") from None
        return await self._append(txn, fields, tenant_id, result)

    async def _append(
        self,
        txn: Txn | None,
        fields: dict[str, str],
        tenant_id: str | None,
        result: AuditResult,
    ) -> tuple[AuditEntry, Applied | None]:
        ops = () if txn is None else txn.ops
        for _ in range(_MAX_APPEND_ATTEMPTS):
            entry, expected_head, pending = await self._queue(ops, fields, tenant_id, result)
            try:
                applied = await pending
            except ConflictError:
                async with self._appending:
                    # What this process queued after this append expected it to land: start
                    # again from the stored head.
                    self._next = None
                    stored_head = (await self._read_head())[1]
                # A head still where this append expected it means a condition of `txn` itself
                # failed, which retrying cannot fix; otherwise the head moved (another process,
                # or an earlier append that failed): retry on the new one.
                if txn is not None and stored_head == expected_head:
                    raise
                continue
            if txn is None:
                return entry, None
            return entry, Applied(applied.revision, applied.results[: len(ops)])
        raise ConflictError("the audit log head kept moving; the append was not recorded")

    async def _queue(
        self,
        ops: tuple[Operation, ...],
        fields: dict[str, str],
        tenant_id: str | None,
        result: AuditResult,
    ) -> tuple[AuditEntry, int, asyncio.Future[Applied]]:
        """Chain the next entry onto the last one queued and hand the commit to the store.

        The lock covers only choosing the link and queueing, not the commit: appends queue in
        chain order and the store's group commit makes one fsync of many of them.
        """
        async with self._appending:
            if self._next is None:
                self._next = await self._read_head()
            head, head_version = self._next
            unsigned = AuditEntry(
                sequence=head.sequence + 1,
                time=self._clock(),
                tenant_id=tenant_id,
                result=result,
                previous_hash=head.hash,
                hash="",
                **fields,
            )
            entry = replace(unsigned, hash=chain_hash(unsigned))
            new_head = json.dumps({"sequence": entry.sequence, "hash": entry.hash}).encode()
            combined = Txn(
                (
                    *ops,
                    Put(_HEAD, new_head, expect_version=head_version),
                    Put(_entry_key(entry.sequence), encode_entry(entry), expect_version=0),
                )
            )
            self._next = (AuditHead(entry.sequence, entry.hash), head_version + 1)
            # A task starts before any waiter of the lock resumes (both are ready callbacks, in
            # order), so the store receives commits in the order their links were chosen.
            pending = asyncio.ensure_future(self._store.apply(combined))
        return entry, head_version, pending

    async def _scan(self, after_sequence: int) -> tuple[list[tuple[str, bytes]], bool]:
        page = await self._store.list(
            _ENTRIES,
            limit=_SCAN_PAGE,
            start_after=_entry_key(after_sequence) if after_sequence else None,
        )
        return [(e.key, e.value) for e in page.entries], page.next_key is None

    async def verify(self) -> int | None:
        """Check the whole chain; return the first sequence that is wrong, or None if intact.

        Wrong means: edited (hash mismatch), missing or out of place (sequence gap), or not
        vouched for by the head (entries cut off the end, or added past it).
        """
        expected = 1
        previous = GENESIS_HASH
        done = False
        while not done:
            items, done = await self._scan(expected - 1)
            for key, raw in items:
                suffix = key.removeprefix(_ENTRIES)
                # A key that is not a sequence at all was planted; the chain is broken there.
                if not suffix.isdigit() or int(suffix) != expected:
                    return expected
                key_sequence = expected
                try:
                    entry = decode_entry(raw)
                except StateError:
                    return key_sequence
                if (
                    entry.sequence != key_sequence
                    or entry.previous_hash != previous
                    or chain_hash(entry) != entry.hash
                ):
                    return key_sequence
                previous = entry.hash
                expected += 1
        last = expected - 1
        head = await self.head()
        if head.sequence != last:
            return min(head.sequence, last) + 1
        if head.hash != previous:
            return last
        return None

    async def query(
        self,
        *,
        tenant_id: str | None = None,
        principal_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 100,
        after_sequence: int = 0,
    ) -> AuditPage:
        """Return entries in sequence order matching every filter given.

        `since` is inclusive and `until` exclusive, both in the `YYYY-MM-DDTHH:MM:SS.mmmZ` form
        entries carry. `next_after` is None once no entries remain to scan.
        """
        validate_limit(limit)
        _check_time(since, "since")
        _check_time(until, "until")
        if isinstance(after_sequence, bool) or not isinstance(after_sequence, int):
            raise InvalidArgumentError("after_sequence must be an int")
        if after_sequence < 0:
            raise InvalidArgumentError("after_sequence must be >= 0")
        matches: list[AuditEntry] = []
        cursor = after_sequence
        done = False
        while not done:
            items, done = await self._scan(cursor)
            for _key, raw in items:
                entry = decode_entry(raw)
                cursor = entry.sequence
                if (
                    (tenant_id is None or entry.tenant_id == tenant_id)
                    and (principal_id is None or entry.principal_id == principal_id)
                    and (since is None or entry.time >= since)
                    and (until is None or entry.time < until)
                ):
                    matches.append(entry)
                    if len(matches) == limit:
                        return AuditPage(tuple(matches), cursor)
        return AuditPage(tuple(matches), None)
