"""Group commit: concurrent write requests coalesced into one blocking, durable batch.

An fsync costs the same for one write as for a hundred, so writers that arrive while a commit is
in flight wait for the next one and share it. The blocking work runs on a dedicated executor so
the event loop keeps serving reads and watches during the fsync.

Invariants:
1. At most one batch is applied at a time, and batches are applied in submission order, so a
   single-threaded executor sees every write in the order callers issued them.
2. A request submitted while a batch is in flight goes into a later batch; a batch holds at most
   `max_batch` requests.
3. `submit` returns (or raises) only after `apply_batch` returned for its batch, that is after the
   batch is durable; a per-request failure raises only for that request.
4. If `apply_batch` raises, every request of that batch fails with StateError and nothing of it
   was written; later batches still run.
5. After `close()` begins, `submit` raises StateError; `close()` returns once queued batches
   are done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Generic, TypeVar

from thecloud.core.errors import StateError, TheCloudError

__all__ = ["GroupCommitter"]

RequestT = TypeVar("RequestT")
ResultT = TypeVar("ResultT")


class GroupCommitter(Generic[RequestT, ResultT]):
    """Queues requests and applies them in batches with `apply_batch` on `executor`.

    `apply_batch` gets the requests of one batch and returns one item per request, in order: the
    result, or the exception that request must raise. `on_committed` runs on the event loop after
    each successful batch (to wake watchers).
    """

    def __init__(
        self,
        apply_batch: Callable[[Sequence[RequestT]], Sequence[ResultT | TheCloudError]],
        executor: Executor,
        *,
        on_committed: Callable[[], None],
        max_batch: int = 1000,
    ) -> None:
        self._apply_batch = apply_batch
        self._executor = executor
        self._on_committed = on_committed
        self._max_batch = max_batch
        self._queue: list[tuple[RequestT, asyncio.Future[ResultT]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self._closing = False

    async def submit(self, request: RequestT) -> ResultT:
        """Queue `request`, and return its result once its batch is durable."""
        if self._closing:
            raise StateError("the state store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ResultT] = loop.create_future()
        self._queue.append((request, future))
        if self._drainer is None:
            self._drainer = loop.create_task(self._drain())
        # A cancelled caller cannot take its write back out of a running batch; it only stops
        # waiting, and the write may still land (callers re-read after a cancellation).
        return await future

    async def close(self) -> None:
        """Refuse new requests and wait for the queued ones to be applied."""
        self._closing = True
        if self._drainer is not None:
            await self._drainer

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                requests = [request for request, _ in batch]
                try:
                    results = await loop.run_in_executor(
                        self._executor, self._apply_batch, requests
                    )
                except Exception as exc:
                    # Any failure, a bug included, must reach the waiting callers, not hang them.
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(StateError(f"state commit failed: {exc}"))
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, TheCloudError):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
                self._on_committed()
        finally:
            # No await between the emptiness check above and this reset, so no request is missed.
            self._drainer = None
