"""A StateStore view that writes the current request's audit entry in its first transaction.

The API dispatcher opens an `AuditScope` around each mutation; the repositories below it write
through `AuditedStore` as through any store. The first transaction committed inside the scope
carries the scope's audit entry (result `success`), so the change and its record land in one
commit. A scope whose request ended without committing (denied, invalid, conflicting) is
recorded afterwards, alone, by `AuditScope.finish`.

Invariants:
1. A scope records exactly one entry: the first commit inside it, or `finish`, whichever first.
2. Commits outside any scope, or inside `AuditScope.unaudited()`, pass through unchanged.
3. The scope lives in a ContextVar, so concurrent requests (tasks) never share one.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Final, Self, cast

from thecloud.control.iam.audit_chain import AuditEntry, AuditResult
from thecloud.control.iam.audit_log import AuditLog
from thecloud.control.iam.auth_cache import IAM_PREFIX, IamGeneration, changes_results
from thecloud.core.state import (
    Applied,
    Delete,
    Entry,
    Event,
    Page,
    Put,
    StateStore,
    Txn,
)
from thecloud.core.state.scoped import ClosingOnExit

__all__ = ["AuditScope", "AuditedStore"]

_SCOPE: Final[ContextVar[AuditScope | None]] = ContextVar("thecloud_audit_scope", default=None)


@dataclass(slots=True)
class AuditScope:
    """Who is doing what in one request; `resource` and `tenant` (whose log the entry belongs
    to) are read at commit time, so the handler can refine them."""

    principal_id: str
    action: str
    resource: Callable[[], str]
    request_id: str
    tenant: Callable[[], str | None]
    recorded: AuditEntry | None = field(default=None)
    _suspended: bool = field(default=False)

    @contextlib.contextmanager
    def active(self) -> Iterator[Self]:
        """Make this the scope of the current task until the block ends."""
        token = _SCOPE.set(self)
        try:
            yield self
        finally:
            _SCOPE.reset(token)

    @staticmethod
    @contextlib.contextmanager
    def unaudited() -> Iterator[None]:
        """Commits in this block do not carry the entry (preparatory steps of a mutation)."""
        scope = _SCOPE.get()
        if scope is None:
            yield
            return
        scope._suspended = True
        try:
            yield
        finally:
            scope._suspended = False

    async def finish(self, audit: AuditLog, result: AuditResult) -> None:
        """Record the request with `result` unless a commit already recorded it."""
        if self.recorded is not None:
            return
        self.recorded = await audit.append(
            principal_id=self.principal_id,
            action=self.action,
            resource=self.resource(),
            result=result,
            request_id=self.request_id,
            tenant_id=self.tenant(),
        )


class AuditedStore(ClosingOnExit):
    """Delegates to a StateStore; a write inside an open AuditScope also appends its entry."""

    def __init__(
        self, store: StateStore, audit: AuditLog, generation: IamGeneration | None = None
    ) -> None:
        """`generation`, if given, is bumped after every commit touching IAM state, so cached
        authentication and authorization results die with the change."""
        self._store = store
        self._audit = audit
        self._generation = generation

    async def apply(self, txn: Txn) -> Applied:
        """Commit `txn`, with the current scope's audit entry if it still needs one."""
        applied: Applied | None = None
        try:
            applied = await self._apply(txn)
            return applied
        finally:
            # Also on failure: a commit interrupted after it landed must not leave stale caches.
            if self._generation is not None and _changes_results(txn, applied):
                self._generation.bump()

    async def _apply(self, txn: Txn) -> Applied:
        scope = _SCOPE.get()
        if scope is None or scope.recorded is not None or scope._suspended:
            return await self._store.apply(txn)
        entry, applied = await self._audit.append_with(
            txn,
            principal_id=scope.principal_id,
            action=scope.action,
            resource=scope.resource(),
            result=AuditResult.SUCCESS,
            request_id=scope.request_id,
            tenant_id=scope.tenant(),
        )
        scope.recorded = entry
        # append_with returns results whenever it is given a transaction.
        return cast(Applied, applied)

    async def commit(self, txn: Txn) -> int:
        """Commit `txn` (see `apply`) and return the revision after it."""
        return (await self.apply(txn)).revision

    async def put(self, key: str, value: bytes, *, expect_version: int | None = None) -> Entry:
        """Write one key (see `apply`)."""
        # A Put step always yields its new entry.
        return cast(Entry, (await self.apply(Txn((Put(key, value, expect_version),)))).results[0])

    async def delete(self, key: str, *, expect_version: int | None = None) -> bool:
        """Remove one key (see `apply`); return whether it existed."""
        return bool((await self.apply(Txn((Delete(key, expect_version),)))).results[0])

    async def get(self, key: str) -> Entry | None:
        """Read one key."""
        return await self._store.get(key)

    async def list(self, prefix: str, *, limit: int, start_after: str | None = None) -> Page:
        """List keys under `prefix`."""
        return await self._store.list(prefix, limit=limit, start_after=start_after)

    def watch(
        self, prefix: str, *, start_revision: int | None = None
    ) -> AsyncGenerator[Event, None]:
        """Watch the underlying store."""
        return self._store.watch(prefix, start_revision=start_revision)

    async def revision(self) -> int:
        """The underlying store's revision."""
        return await self._store.revision()

    async def compact(self, revision: int) -> None:
        """Compact the underlying store."""
        await self._store.compact(revision)

    async def schema_version(self) -> int:
        """The underlying store's schema version."""
        return await self._store.schema_version()

    async def close(self) -> None:
        """Nothing to close: whoever opened the underlying store closes it."""


def _changes_results(txn: Txn, applied: Applied | None) -> bool:
    """Whether committing `txn` can change cached auth results; without the results (the commit
    failed or was interrupted) any IAM step counts as a change."""
    for index, op in enumerate(txn.ops):
        if not op.key.startswith(IAM_PREFIX):
            continue
        result = None if applied is None else applied.results[index]
        created = isinstance(op, Put) and isinstance(result, Entry) and result.version == 1
        if changes_results(op.key, created=created):
            return True
    return False
