"""The embedded state store: LMDB on local disk, with group commit, a change log and watches.

Layout, all in one LMDB environment: `state.kv` maps key -> (version, mod_revision, value),
in buckets that let keys exceed LMDB's 511-byte key limit (see lmdb_keyspace); `state.log` maps
(revision, step) -> change record, the history watches replay; `state.meta` holds the schema
version, the current revision and the compaction point.

Invariants:
1. Only the writer thread writes (a single-thread executor fed by GroupCommitter); each batch is
   one LMDB write transaction, committed with fsync before any of its callers is answered.
2. `meta.revision` is the revision of the latest change; every change at revision r is in the
   log under r unless r < `meta.compacted`, and the kv table is the result of applying the log.
3. A request whose version condition fails writes nothing and consumes no revision; the other
   requests of its batch are unaffected.
4. Readers (get, list, revision, watches) run on the event loop in LMDB read transactions, so
   they see whole batches only, never a half-applied one.
5. Watchers wait on `_committed`, which is replaced and set after every batch and on close.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncGenerator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Self, cast

import lmdb

from thecloud.core.errors import ConflictError, InvalidArgumentError, StateError, TheCloudError
from thecloud.core.lmdb_env import DEFAULT_MAP_SIZE, open_environment
from thecloud.core.state.group_commit import GroupCommitter
from thecloud.core.state.lmdb_codec import (
    decode_event,
    decode_int,
    encode_event,
    encode_int,
    event_key_has_prefix,
    log_key,
)
from thecloud.core.state.lmdb_keyspace import (
    Record,
    delete_record,
    get_record,
    put_record,
    scan_records,
)
from thecloud.core.state.model import (
    Applied,
    CompactedError,
    Delete,
    Entry,
    Event,
    EventKind,
    Page,
    Put,
    Txn,
    validate_key,
    validate_limit,
    validate_prefix,
)
from thecloud.core.state.schema import SCHEMA_VERSION, check_schema_version, parse_schema_version
from thecloud.core.state.scoped import ClosingOnExit

__all__ = ["LmdbStateStore"]

_KV_DB: Final = b"state.kv"
_LOG_DB: Final = b"state.log"
_META_DB: Final = b"state.meta"
_SCHEMA_KEY: Final = b"schema_version"
_REVISION_KEY: Final = b"revision"
_COMPACTED_KEY: Final = b"compacted"
#: Change records a watch reads per read transaction, so a long replay does not pin old pages.
_WATCH_CHUNK: Final = 512

_StepResult = Entry | bool | None
# Aliases at module level: inside the class, `list` names the StateStore method.
_BatchResults = list["_Outcome | TheCloudError | None"]
_Events = list[Event]
_Found = list[Entry]
_Records = list[Record | None]
_Steps = list[_StepResult]


@dataclass(frozen=True, slots=True)
class _Compact:
    """Writer request: drop change records older than `revision`."""

    revision: int


@dataclass(frozen=True, slots=True)
class _Outcome:
    """Writer answer to a Txn: the store revision after it and one result per step."""

    revision: int
    results: tuple[_StepResult, ...]


def _entry(record: Record) -> Entry:
    return Entry(record.key.decode("utf-8"), record.value, record.version, record.mod_revision)


class LmdbStateStore(ClosingOnExit):
    """StateStore on an LMDB environment in one directory; open with `await LmdbStateStore.open`."""

    def __init__(self, env: lmdb.Environment, path: Path, executor: ThreadPoolExecutor) -> None:
        """Wrap an open environment; use `open`, which also creates the tables."""
        self._env = env
        self._path = path
        self._executor = executor
        self._kv = env.open_db(_KV_DB)
        self._log = env.open_db(_LOG_DB)
        self._meta = env.open_db(_META_DB)
        self._committed = asyncio.Event()
        self._closed = False
        self._committer: GroupCommitter[Txn | _Compact, _Outcome | None] = GroupCommitter(
            self._apply_batch, executor, on_committed=self._wake_watchers
        )

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        map_size: int = DEFAULT_MAP_SIZE,
        schema_version: int = SCHEMA_VERSION,
    ) -> Self:
        """Open (creating if needed) the store in directory `path`.

        `schema_version` is the layout the caller's code understands; a store recorded with a
        newer one is refused with StateError, a new store records it.
        """
        loop = asyncio.get_running_loop()
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="state-lmdb-writer")
        try:
            env = await loop.run_in_executor(
                executor, functools.partial(open_environment, path, map_size=map_size)
            )
            try:
                # Creating the tables is a write transaction with an fsync: keep it off the loop.
                store = await loop.run_in_executor(executor, cls, env, path, executor)
                await loop.run_in_executor(executor, store._record_schema, schema_version)
            except BaseException:
                env.close()
                raise
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return store

    def _record_schema(self, code_version: int) -> None:
        with self._env.begin(write=True, db=self._meta) as txn:
            raw = txn.get(_SCHEMA_KEY)
            stored = None if raw is None else parse_schema_version(bytes(raw), str(self._path))
            keep = check_schema_version(stored, code_version, str(self._path))
            if stored is None:
                txn.put(_SCHEMA_KEY, str(keep).encode("ascii"))

    async def close(self) -> None:
        """Finish queued writes, end watches, and close the environment."""
        if self._closed:
            return
        await self._committer.close()
        self._closed = True
        self._wake_watchers()
        self._executor.shutdown(wait=True)
        self._env.close()

    async def get(self, key: str) -> Entry | None:
        """Return the entry at `key`, or None."""
        raw_key = validate_key(key)
        with self._reading() as txn:
            record = get_record(txn, self._kv, raw_key)
        return None if record is None else _entry(record)

    async def put(self, key: str, value: bytes, *, expect_version: int | None = None) -> Entry:
        """Write `value` at `key` if its version is `expect_version`; return the new entry."""
        outcome = await self._submit(Txn((Put(key, value, expect_version),)))
        return cast(Entry, outcome.results[0])

    async def delete(self, key: str, *, expect_version: int | None = None) -> bool:
        """Remove `key` if its version is `expect_version`; return whether it existed."""
        outcome = await self._submit(Txn((Delete(key, expect_version),)))
        return cast(bool, outcome.results[0])

    async def commit(self, txn: Txn) -> int:
        """Apply every step of `txn` or none; return the store revision after it."""
        return (await self._submit(txn)).revision

    async def apply(self, txn: Txn) -> Applied:
        """Apply every step of `txn` or none; return the revision and each step's result."""
        outcome = await self._submit(txn)
        return Applied(outcome.revision, outcome.results)

    async def list(self, prefix: str, *, limit: int, start_after: str | None = None) -> Page:
        """Return up to `limit` entries under `prefix` after `start_after`, in key order."""
        raw_prefix = validate_prefix(prefix)
        validate_limit(limit)
        start = raw_prefix
        if start_after is not None:
            # The smallest key greater than start_after is start_after followed by a NUL byte.
            start = max(start, validate_key(start_after) + b"\x00")
        entries: _Found = []
        more = False
        with self._reading() as txn:
            for record in scan_records(txn, self._kv, start, raw_prefix):
                if len(entries) == limit:
                    more = True
                    break
                entries.append(_entry(record))
        return Page(entries=tuple(entries), next_key=entries[-1].key if more else None)

    async def revision(self) -> int:
        """Return the revision of the latest change (0 for a new store)."""
        with self._reading() as txn:
            return decode_int(txn.get(_REVISION_KEY, db=self._meta))

    async def schema_version(self) -> int:
        """Return the schema version recorded in the store."""
        with self._reading() as txn:
            raw = txn.get(_SCHEMA_KEY, db=self._meta)
        if raw is None:
            raise StateError(f"state store {self._path} has no schema version")
        return parse_schema_version(bytes(raw), str(self._path))

    async def compact(self, revision: int) -> None:
        """Drop the change history before `revision` (a no-op if already compacted past it)."""
        if isinstance(revision, bool) or not isinstance(revision, int) or revision < 1:
            raise InvalidArgumentError(f"revision must be an int >= 1, not {revision!r}")
        current = await self.revision()
        if revision > current:
            raise InvalidArgumentError(f"cannot compact to future revision {revision} > {current}")
        await self._committer.submit(_Compact(revision))

    async def watch(
        self, prefix: str, *, start_revision: int | None = None
    ) -> AsyncGenerator[Event, None]:
        """Yield changes under `prefix` from `start_revision` (default: after now), in order."""
        raw_prefix = validate_prefix(prefix)
        if start_revision is not None and (
            isinstance(start_revision, bool) or not isinstance(start_revision, int)
        ):
            raise InvalidArgumentError(f"start_revision must be an int, not {start_revision!r}")
        if start_revision is None or start_revision < 1:
            start_revision = await self.revision() + 1
        position = log_key(start_revision, 0)
        while not self._closed:
            # Take the signal before reading, so a commit landing after the read still wakes us.
            committed = self._committed
            events, position, exhausted = self._read_log(raw_prefix, position)
            for event in events:
                yield event
            # A chunk with nothing under the prefix still moved the position: read on, not wait.
            if not events and exhausted:
                await committed.wait()

    def _read_log(self, raw_prefix: bytes, position: bytes) -> tuple[_Events, bytes, bool]:
        with self._reading() as txn:
            compacted = decode_int(txn.get(_COMPACTED_KEY, db=self._meta))
            revision = int.from_bytes(position[:8], "big")
            if revision < compacted:
                raise CompactedError(
                    f"revision {revision} of {self._path} was compacted; oldest is {compacted}",
                    compact_revision=compacted,
                )
            cursor = txn.cursor(db=self._log)
            found = cursor.set_range(position)
            events: _Events = []
            scanned = 0
            while found and scanned < _WATCH_CHUNK:
                raw_key = bytes(cursor.key())
                raw_value = bytes(cursor.value())
                if event_key_has_prefix(raw_value, raw_prefix):
                    events.append(decode_event(raw_key, raw_value))
                position = raw_key + b"\x00"
                scanned += 1
                found = cursor.next()
        return events, position, not found

    def _reading(self) -> lmdb.Transaction:
        if self._closed:
            raise StateError("the state store is closed")
        try:
            return self._env.begin(write=False)
        except lmdb.Error as exc:
            raise StateError(f"cannot read state store {self._path}: {exc}") from exc

    async def _submit(self, txn: Txn) -> _Outcome:
        if self._closed:
            raise StateError("the state store is closed")
        outcome = await self._committer.submit(txn)
        return cast(_Outcome, outcome)

    def _wake_watchers(self) -> None:
        committed, self._committed = self._committed, asyncio.Event()
        committed.set()

    def _apply_batch(self, requests: Sequence[Txn | _Compact]) -> _BatchResults:
        results: _BatchResults = []
        try:
            with self._env.begin(write=True) as txn:
                revision = decode_int(txn.get(_REVISION_KEY, db=self._meta))
                for request in requests:
                    if isinstance(request, _Compact):
                        self._apply_compact(txn, request.revision)
                        results.append(None)
                        continue
                    try:
                        outcome = self._apply_txn(txn, request, revision + 1)
                    except ConflictError as exc:
                        results.append(exc)
                        continue
                    revision = outcome.revision
                    results.append(outcome)
                txn.put(_REVISION_KEY, encode_int(revision), db=self._meta)
        except lmdb.Error as exc:
            raise StateError(f"cannot write state store {self._path}: {exc}") from exc
        return results

    def _apply_txn(self, txn: lmdb.Transaction, request: Txn, revision: int) -> _Outcome:
        # Check every condition before writing anything, so a conflict leaves no trace.
        current: _Records = []
        for op in request.ops:
            entry = get_record(txn, self._kv, op.key.encode("utf-8"))
            version = 0 if entry is None else entry.version
            if op.expect_version is not None and op.expect_version != version:
                raise ConflictError(
                    f"key {op.key!r} is at version {version}, not {op.expect_version}"
                )
            current.append(entry)
        results: _Steps = []
        step = 0
        for op, entry in zip(request.ops, current, strict=True):
            raw_key = op.key.encode("utf-8")
            if isinstance(op, Put):
                version = 1 if entry is None else entry.version + 1
                put_record(txn, self._kv, Record(raw_key, version, revision, op.value))
                change = encode_event(EventKind.PUT, raw_key, op.value, version)
                txn.put(log_key(revision, step), change, db=self._log)
                step += 1
                results.append(Entry(op.key, op.value, version, revision))
            elif isinstance(op, Delete):
                if entry is not None:
                    delete_record(txn, self._kv, raw_key)
                    change = encode_event(EventKind.DELETE, raw_key, b"", 0)
                    txn.put(log_key(revision, step), change, db=self._log)
                    step += 1
                results.append(entry is not None)
            else:
                results.append(None)
        # A transaction that changed nothing does not consume a revision (protocol invariant 1).
        return _Outcome(revision if step else revision - 1, tuple(results))

    def _apply_compact(self, txn: lmdb.Transaction, revision: int) -> None:
        if revision <= decode_int(txn.get(_COMPACTED_KEY, db=self._meta)):
            return
        bound = log_key(revision, 0)
        cursor = txn.cursor(db=self._log)
        while cursor.first() and bytes(cursor.key()) < bound:
            cursor.delete()
        txn.put(_COMPACTED_KEY, encode_int(revision), db=self._meta)
