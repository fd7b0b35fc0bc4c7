"""The control plane of one state directory, running in this process: store, services, reconciler.

`thecloud serve` (api/mount.py) and embedded mode (`thecloud.Cloud`) start and stop it the same
way through `ControlRuntime`, so the two never drift apart. It opens the state store (the LMDB
store at `<state_dir>/store.lmdb`, or etcd when `etcd_endpoint` is set) with the key files under
`<state_dir>/keys/`, builds the services, and
runs the load balancer reconciler and the IAM generation follower as tasks of the current loop
(the store's writer and watches belong to the loop that opened it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thecloud.control.api.services import (
    IamServices,
    build_iam_services,
    load_keys,
    open_state_store,
)
from thecloud.control.lb import LoadBalancerReconciler, native_config_parser, native_engine

__all__ = ["ControlRuntime"]

_log = logging.getLogger(__name__)


def _report_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        _log.error("background task %s stopped", task.get_name(), exc_info=task.exception())


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@dataclass(frozen=True, slots=True)
class ControlRuntime:
    """The services of a state directory and the background work that drives them."""

    services: IamServices
    reconciler: LoadBalancerReconciler
    _resources: AsyncExitStack

    @classmethod
    async def start(cls, state_dir: Path, etcd_endpoint: str | None = None) -> ControlRuntime:
        """Open the store, load (or create) the keys, build the services, start the tasks."""
        async with AsyncExitStack() as stack:
            server_key, master_key = load_keys(state_dir)
            store = await open_state_store(state_dir, etcd_endpoint)
            stack.push_async_callback(store.close)
            services = build_iam_services(store, server_key, master_key)
            reconciler = LoadBalancerReconciler(
                store, services.operations, services.quotas, native_engine, native_config_parser
            )
            services.load_balancers.stats_source = reconciler
            stack.push_async_callback(reconciler.close)
            background: dict[str, Coroutine[Any, Any, None]] = {
                "lb-reconciler": reconciler.run(),
                # Other processes' IAM writes (bootstrap, an etcd cluster) must clear cached
                # auth results too.
                "iam-generation": services.generation.follow(store),
            }
            for name, work in background.items():
                task = asyncio.create_task(work, name=name)
                task.add_done_callback(_report_end)
                # Callbacks run last-in first-out: tasks stop before the reconciler and store.
                stack.push_async_callback(_stop, task)
            # Everything opened so far is released by `close` from here on.
            return cls(services, reconciler, stack.pop_all())

    async def close(self) -> None:
        """Stop the tasks, the reconciler and its engines, and close the store."""
        await self._resources.aclose()
