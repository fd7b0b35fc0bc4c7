"""Long-running operations: read one, or wait for it to end with a progress callback.

Waiting uses the server's long poll (`GET /v1/operations/<id>?wait=SECONDS`), so a wait costs
one request per `_POLL_SECONDS` at most, not a busy loop, and ends as soon as the status does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from thecloud.control.operations import OperationStatus
from thecloud.core.errors import TheCloudError
from thecloud.sdk.models import Operation, read
from thecloud.sdk.resources.base import Resource, segment

__all__ = ["OperationFailedError", "OperationTimeoutError", "Operations", "Progress"]

#: Called with the operation each time its status is read during a wait.
Progress = Callable[[Operation], None]
# The server caps one long poll at 60 s; shorter keeps progress callbacks coming.
_POLL_SECONDS: Final = 10.0


class OperationFailedError(TheCloudError):
    """The operation ended in `failed`; `operation.error` says why."""

    def __init__(self, operation: Operation) -> None:
        super().__init__(f"operation {operation.id} ({operation.kind}) failed: {operation.error}")
        self.operation = operation


class OperationTimeoutError(TheCloudError):
    """The wait ended before the operation did; it may still finish later."""

    def __init__(self, operation: Operation, timeout: float) -> None:
        super().__init__(
            f"operation {operation.id} ({operation.kind}) is still {operation.status} "
            f"after {timeout:g} s; `thecloud operation wait {operation.id}` waits again"
        )
        self.operation = operation


class Operations(Resource):
    """The caller's long-running operations."""

    async def get(self, operation_id: str, *, wait: float | None = None) -> Operation:
        """Return an operation; with `wait`, the server holds the answer up to that many seconds
        for the operation to end."""
        params: dict[str, str | int] = {} if wait is None else {"wait": f"{wait:g}"}
        path = f"/v1/operations/{segment(operation_id)}"
        return read(Operation, await self._transport.request("GET", path, params=params))

    async def wait(
        self,
        operation_id: str,
        *,
        timeout: float = 300.0,
        progress: Progress | None = None,
    ) -> Operation:
        """Wait until the operation ends and return it.

        OperationFailedError if it failed; OperationTimeoutError if `timeout` seconds pass first.
        """
        deadline = time.monotonic() + timeout
        operation = await self.get(operation_id)
        while True:
            if progress is not None:
                progress(operation)
            if operation.status.done:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise OperationTimeoutError(operation, timeout)
            operation = await self.get(operation_id, wait=min(remaining, _POLL_SECONDS))
        if operation.status is OperationStatus.FAILED:
            raise OperationFailedError(operation)
        return operation
