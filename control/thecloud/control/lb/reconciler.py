"""Drives native load balancers toward the desired state in the store, and reports back.

One task watches `lb/items/` and handles each change in order (so a load balancer is never
touched by two steps at once): it marks the record's operation running, starts, updates or
stops the engine, then writes the observed status and finishes the operation in one
transaction. On startup it first reconciles every stored load balancer, so engines come back
after a restart.

Invariants:
1. Handling a key is idempotent: it reads the record's current state, so a duplicate or stale
   event does nothing wrong.
2. A record whose version the status already reports, with its engine running here, is left as
   it is.
3. A deleted load balancer's record, name, status and quota usage go in one transaction with
   its operation's completion, after its engine stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Final

from thecloud.control.iam.quotas import QuotaService
from thecloud.control.lb.engine import ConfigParser, Engine, EngineFactory
from thecloud.control.lb.records import (
    ITEMS_PREFIX,
    LoadBalancerRecord,
    LoadBalancerStatus,
    name_key,
    status_key,
)
from thecloud.control.operations import OperationStatus, OperationStore
from thecloud.core.errors import ConflictError, TheCloudError
from thecloud.core.state import Delete, Entry, Operation, Put, StateStore, Txn

__all__ = ["LoadBalancerReconciler"]

_log = logging.getLogger(__name__)
_LIST_PAGE: Final = 500
# Writing back a status conflicts only with a concurrent API write; the next event retries.
_WRITE_ATTEMPTS: Final = 3


class LoadBalancerReconciler:
    """Runs the engines of every stored load balancer; `run()` until cancelled, then `close()`."""

    def __init__(
        self,
        store: StateStore,
        operations: OperationStore,
        quotas: QuotaService,
        engine_factory: Callable[[], EngineFactory],
        parse_config: Callable[[], ConfigParser],
    ) -> None:
        self._store = store
        self._operations = operations
        self._quotas = quotas
        self._engine_factory = engine_factory
        self._parse_config = parse_config
        self._engines: dict[str, Engine] = {}
        #: Set once the initial pass over stored load balancers is done (tests wait on it).
        self.synced = asyncio.Event()

    def stats(self, lb_id: str) -> dict[str, Any] | None:
        """Live counters of a load balancer running here, None otherwise."""
        engine = self._engines.get(lb_id)
        return None if engine is None else engine.stats()

    def all_stats(self) -> dict[str, dict[str, Any]]:
        """Live counters of every load balancer running here, by id (for /metrics)."""
        return {lb_id: engine.stats() for lb_id, engine in list(self._engines.items())}

    async def run(self) -> None:
        """Reconcile everything stored, then every change, until cancelled."""
        revision = await self._store.revision()
        cursor: str | None = None
        while True:
            page = await self._store.list(ITEMS_PREFIX, limit=_LIST_PAGE, start_after=cursor)
            for entry in page.entries:
                await self._guarded(entry.key)
            if page.next_key is None:
                break
            cursor = page.next_key
        self.synced.set()
        watch = self._store.watch(ITEMS_PREFIX, start_revision=revision + 1)
        async with contextlib.aclosing(watch) as events:
            async for event in events:
                await self._guarded(event.key)

    async def close(self) -> None:
        """Stop every engine this reconciler started (the desired state stays stored)."""
        engines, self._engines = self._engines, {}
        for engine in engines.values():
            await asyncio.to_thread(engine.stop)

    async def _guarded(self, key: str) -> None:
        try:
            await self.reconcile(key)
        except (TheCloudError, OSError) as error:
            # One bad load balancer must not stop the others; the next change retries it.
            _log.error("reconciling %s failed: %s", key, error)

    async def reconcile(self, key: str) -> None:
        """Bring the load balancer stored at `key` to its desired state (see invariants)."""
        for _ in range(_WRITE_ATTEMPTS):
            entry = await self._store.get(key)
            if entry is None:
                return
            record = LoadBalancerRecord.decode(entry.value)
            try:
                if record.deleting:
                    await self._remove(key, entry, record)
                else:
                    await self._apply(entry, record)
            except ConflictError:
                continue
            return

    async def _started(self, record: LoadBalancerRecord) -> None:
        if record.operation_id is not None:
            await self._operations.mark_running(record.operation_id)

    async def _apply(self, entry: Entry, record: LoadBalancerRecord) -> None:
        status_entry = await self._store.get(status_key(record.id))
        status = LoadBalancerStatus.decode(None if status_entry is None else status_entry.value)
        engine = self._engines.get(record.id)
        if engine is not None and status.observed_version == entry.version:
            return
        await self._started(record)
        try:
            config = self._parse_config()(record.config)
            if engine is None:
                engine = self._engine_factory()(config)
                await asyncio.to_thread(engine.start)
                self._engines[record.id] = engine
            else:
                await asyncio.to_thread(engine.update, config)
            addresses = {
                name: f"{host}:{port}" for name, (host, port) in engine.addresses().items()
            }
            observed = LoadBalancerStatus("running", addresses, None, entry.version)
        except (TheCloudError, OSError, ValueError) as error:
            # A running engine keeps its last good configuration (update changes nothing on
            # error); one that never started has nothing to keep.
            running = record.id in self._engines
            observed = LoadBalancerStatus(
                "running" if running else "failed",
                status.addresses if running else {},
                str(error),
                entry.version,
            )
        steps: list[Operation] = [
            Put(
                status_key(record.id),
                observed.encode(),
                expect_version=0 if status_entry is None else status_entry.version,
            )
        ]
        if record.operation_id is not None:
            done = OperationStatus.FAILED if observed.last_error else OperationStatus.SUCCEEDED
            result = {"state": observed.state, "addresses": observed.addresses}
            finish = await self._operations.advance(
                record.operation_id, done, error=observed.last_error, result=result
            )
            if finish is not None:
                steps.append(finish)
        await self._store.commit(Txn(tuple(steps)))

    async def _remove(self, key: str, entry: Entry, record: LoadBalancerRecord) -> None:
        await self._started(record)
        engine = self._engines.pop(record.id, None)
        if engine is not None:
            await asyncio.to_thread(engine.stop)
        steps: list[Operation] = [
            Delete(key, expect_version=entry.version),
            Delete(name_key(record.tenant_id, record.project_id, record.name)),
            Delete(status_key(record.id)),
            *await self._quotas.release(record.tenant_id, {"load_balancers": 1}),
        ]
        if record.operation_id is not None:
            finish = await self._operations.advance(
                record.operation_id, OperationStatus.SUCCEEDED, result={"deleted": True}
            )
            if finish is not None:
                steps.append(finish)
        await self._store.commit(Txn(tuple(steps)))
