"""Waiting for a long-running operation with a live status line (a spinner on terminals)."""

from __future__ import annotations

from rich.console import Console
from rich.status import Status

from thecloud.sdk import Client
from thecloud.sdk.models import Operation

__all__ = ["wait_for"]


def wait_for(client: Client, operation_id: str, timeout: float) -> Operation:
    """Wait for an operation to end, showing its status; raises if it fails or times out."""
    # On stderr: stdout carries the result, which scripts may parse.
    with Status(f"operation {operation_id}: waiting", console=Console(stderr=True)) as status:

        def show(operation: Operation) -> None:
            status.update(f"operation {operation.id} ({operation.kind}): {operation.status}")

        return client.operations.wait(operation_id, timeout=timeout, progress=show)
