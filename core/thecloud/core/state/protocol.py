"""The one asynchronous interface every state-store backend implements.

Semantics both backends share (checked by the conformance suite in tests/state_conformance.py):

1. Every change gets a store-wide revision; revisions only grow. All steps of one transaction
   share one revision; a call that changes nothing does not advance it.
2. A key's version is 1 when created and grows by one on each write; deleting it resets it, so a
   re-created key starts at 1 again.
3. `expect_version` is checked and applied atomically: on mismatch ConflictError is raised and
   nothing is written. `expect_version=0` means "the key must not exist".
4. A watch yields every change under its prefix in revision order, exactly once, starting at
   `start_revision` (or after the current revision); revisions older than the last compaction
   raise CompactedError.
5. Awaiting a write returns only once the write is durable.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from types import TracebackType
from typing import Protocol, Self

from thecloud.core.state.model import Applied, Entry, Event, Page, Txn

__all__ = ["StateStore"]


class StateStore(Protocol):
    """Versioned key-value state with transactions and watches; see the module invariants."""

    async def get(self, key: str) -> Entry | None:
        """Return the entry at `key`, or None if it does not exist."""
        ...

    async def put(self, key: str, value: bytes, *, expect_version: int | None = None) -> Entry:
        """Write `value` at `key` (conditionally, see invariant 3) and return the new entry."""
        ...

    async def delete(self, key: str, *, expect_version: int | None = None) -> bool:
        """Remove `key`; return whether it existed. ConflictError if the version differs."""
        ...

    async def list(self, prefix: str, *, limit: int, start_after: str | None = None) -> Page:
        """Return up to `limit` entries under `prefix` with keys after `start_after`, in order."""
        ...

    async def commit(self, txn: Txn) -> int:
        """Apply every step of `txn` or none (ConflictError); return the revision after it."""
        ...

    async def apply(self, txn: Txn) -> Applied:
        """Like `commit`, but also return each step's result (new entries, deleted flags)."""
        ...

    def watch(
        self, prefix: str, *, start_revision: int | None = None
    ) -> AsyncGenerator[Event, None]:
        """Yield the changes under `prefix` in order (invariant 4); ends when the store closes.

        Close the generator (`contextlib.aclosing`) when done with it, to end the watch at once.
        """
        ...

    async def revision(self) -> int:
        """Return the store-wide revision of the latest change (0 for a new store)."""
        ...

    async def compact(self, revision: int) -> None:
        """Forget the history before `revision`; watches from older revisions then fail."""
        ...

    async def schema_version(self) -> int:
        """Return the schema version recorded in the store."""
        ...

    async def close(self) -> None:
        """Finish pending writes, end watches and release the backend's resources."""
        ...

    async def __aenter__(self) -> Self:
        """Return the store itself, for `async with`."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the store."""
        ...
