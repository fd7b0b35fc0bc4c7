"""Long-running operations: a record a client polls or waits on while a reconciler does the work.

Layout: `operations/<id>` holds one operation as JSON, its tenant included. A request that starts
background work creates the operation in the same transaction as the desired state it wrote
(`begin` returns that step), and the reconciler finishes it in the same transaction as the status
it writes (`finish` returns that step), so an operation is never reported done for work that did
not land, nor left pending for work that did.

Statuses: pending (recorded, not picked up) -> running -> succeeded | failed. Terminal statuses
never change again. A reconciler marks an operation running (`mark_running`, one write of its
own) when it starts acting on it, so pollers and `?wait=` callers that time out see the work
under way; the end still lands with the status it reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Final

from thecloud.core.clock import utc_now
from thecloud.core.errors import ConflictError, NotFoundError, StateError
from thecloud.core.ids import new_id, parse_id
from thecloud.core.state import Put, StateStore

__all__ = [
    "MAX_WAIT_SECONDS",
    "OPERATION_ID_PREFIX",
    "Operation",
    "OperationStatus",
    "OperationStore",
]

#: Id type prefix of operations (`op-...`).
OPERATION_ID_PREFIX: Final = "op"
#: Longest `?wait=` a client may ask for, so a request never outlives proxies' idle timeouts.
MAX_WAIT_SECONDS: Final = 60.0
_PREFIX: Final = "operations/"


class OperationStatus(enum.StrEnum):
    """Where an operation is in its life."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def done(self) -> bool:
        """Whether the operation has ended (it never changes after that)."""
        return self in (OperationStatus.SUCCEEDED, OperationStatus.FAILED)


@dataclass(frozen=True, slots=True)
class Operation:
    """A long-running change to `target` (a resource path), of some `kind` (`lb.create`...)."""

    id: str
    tenant_id: str
    kind: str
    target: str
    status: OperationStatus
    error: str | None
    result: dict[str, Any] | None
    created_at: str
    updated_at: str

    def encode(self) -> bytes:
        """Return the stored form."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Operation:
        """Rebuild an operation from its stored form; StateError if unreadable."""
        try:
            fields: dict[str, Any] = json.loads(raw)
            operation = cls(**fields)
            return replace(operation, status=OperationStatus(operation.status))
        except (ValueError, TypeError) as error:
            raise StateError("a stored operation is unreadable") from error


def _key(operation_id: str) -> str:
    return _PREFIX + parse_id(operation_id, OPERATION_ID_PREFIX)


class OperationStore:
    """Creates, advances, reads and waits on operations."""

    def __init__(self, store: StateStore, clock: Callable[[], str] = utc_now) -> None:
        self._store = store
        self._clock = clock

    def begin(self, tenant_id: str, kind: str, target: str) -> tuple[Operation, Put]:
        """Return a new pending operation and the step that records it (commit it with the work)."""
        now = self._clock()
        operation = Operation(
            id=new_id(OPERATION_ID_PREFIX),
            tenant_id=tenant_id,
            kind=kind,
            target=target,
            status=OperationStatus.PENDING,
            error=None,
            result=None,
            created_at=now,
            updated_at=now,
        )
        return operation, Put(_key(operation.id), operation.encode(), expect_version=0)

    async def advance(
        self,
        operation_id: str,
        status: OperationStatus,
        *,
        error: str | None = None,
        result: Mapping[str, Any] | None = None,
    ) -> Put | None:
        """Return the step moving the operation to `status` (commit it with the status it
        reports), or None if the operation is gone or already ended."""
        entry = await self._store.get(_key(operation_id))
        if entry is None:
            return None
        current = Operation.decode(entry.value)
        if current.status.done:
            return None
        moved = replace(
            current,
            status=status,
            error=error,
            result=None if result is None else dict(result),
            updated_at=self._clock(),
        )
        return Put(_key(operation_id), moved.encode(), expect_version=entry.version)

    async def mark_running(self, operation_id: str) -> None:
        """Record that work on a pending operation has started; one ended, already running,
        gone or changing meanwhile is left as it is."""
        entry = await self._store.get(_key(operation_id))
        if entry is None:
            return
        current = Operation.decode(entry.value)
        if current.status is not OperationStatus.PENDING:
            return
        moved = replace(current, status=OperationStatus.RUNNING, updated_at=self._clock())
        # A conflict means someone moved it first (it ended, or another reconciler took it).
        with contextlib.suppress(ConflictError):
            await self._store.put(_key(operation_id), moved.encode(), expect_version=entry.version)

    async def get(self, tenant_id: str, operation_id: str) -> tuple[Operation, int]:
        """Return the tenant's operation and the store revision it was read at.

        NotFoundError if it does not exist or belongs to another tenant (the same answer).
        """
        entry = await self._store.get(_key(operation_id))
        operation = None if entry is None else Operation.decode(entry.value)
        if entry is None or operation is None or operation.tenant_id != tenant_id:
            raise NotFoundError(f"operation {operation_id!r} does not exist")
        return operation, entry.mod_revision

    async def wait(self, tenant_id: str, operation_id: str, timeout: float) -> Operation:
        """Return the operation once it has ended, or as it is after `timeout` seconds."""
        operation, revision = await self.get(tenant_id, operation_id)
        if operation.status.done or timeout <= 0:
            return operation
        key = _key(operation_id)
        # Watch from just after the read, so a change landing in between is not missed.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(timeout, MAX_WAIT_SECONDS)):
                watch = self._store.watch(key, start_revision=revision + 1)
                async with contextlib.aclosing(watch) as events:
                    async for event in events:
                        if event.key != key or not event.value:
                            continue
                        operation = Operation.decode(event.value)
                        if operation.status.done:
                            return operation
        return operation

    async def finish_now(
        self,
        operation_id: str,
        status: OperationStatus,
        *,
        error: str | None = None,
        result: Mapping[str, Any] | None = None,
    ) -> None:
        """Move the operation to `status` on its own (when there is no status to write with it)."""
        step = await self.advance(operation_id, status, error=error, result=result)
        if step is None:
            return
        with contextlib.suppress(ConflictError):
            await self._store.put(step.key, step.value, expect_version=step.expect_version)
