"""Helpers shared by the store backends and the repositories built on them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from thecloud.core.state.model import Page
from thecloud.core.state.protocol import StateStore


async def list_scoped(
    store: StateStore, prefix: str, *, limit: int, start_after: str | None = None
) -> Page:
    """A page under `prefix`, continuing after `start_after` given relative to the prefix.

    Repositories page by name or id; this keeps the store's key layout out of their callers.
    """
    return await store.list(
        prefix, limit=limit, start_after=None if start_after is None else prefix + start_after
    )


class ClosingOnExit(ABC):
    """`async with store:` returns the store and closes it on exit (backends define close)."""

    @abstractmethod
    async def close(self) -> None:
        """Release the store's resources; idempotent."""

    async def __aenter__(self) -> Self:
        """Return the store itself, for `async with`."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the store."""
        await self.close()
