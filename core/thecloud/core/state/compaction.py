"""Deciding how much change history a store keeps, and compacting it periodically.

Works on any StateStore: it only reads `revision()` and calls `compact()`. The age rule samples
(time, revision) pairs as it runs, the way etcd's own periodic auto-compaction does, because
neither backend records when a revision was written.

Invariants:
1. A revision is compacted only if every configured rule allows it: it is more than
   `keep_revisions` behind the current revision and it was already current more than
   `keep_seconds` ago.
2. The compaction point never moves backwards.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from thecloud.core.errors import InvalidArgumentError
from thecloud.core.state.protocol import StateStore

__all__ = ["CompactionPolicy", "Compactor"]


@dataclass(frozen=True, slots=True)
class CompactionPolicy:
    """How much history to keep: the last `keep_revisions`, and anything newer than `keep_seconds`.

    A rule left as None does not hold history back; at least one rule must be set.
    """

    keep_revisions: int | None = 10_000
    keep_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.keep_revisions is None and self.keep_seconds is None:
            raise InvalidArgumentError("a compaction policy needs keep_revisions or keep_seconds")
        if self.keep_revisions is not None and self.keep_revisions < 0:
            raise InvalidArgumentError(f"keep_revisions must be >= 0, not {self.keep_revisions}")
        if self.keep_seconds is not None and self.keep_seconds < 0:
            raise InvalidArgumentError(f"keep_seconds must be >= 0, not {self.keep_seconds}")


class Compactor:
    """Applies a CompactionPolicy to one store, on demand (`run_once`) or forever (`run`)."""

    def __init__(
        self,
        store: StateStore,
        policy: CompactionPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        # (time, revision current at that time), oldest first; only used by the age rule.
        self._samples: deque[tuple[float, int]] = deque()
        self._compacted = 0

    async def run_once(self) -> int:
        """Compact as far as the policy allows now; return the compaction point (0 if none)."""
        current = await self._store.revision()
        now = self._clock()
        # Revisions below this bound may go; revision `current` itself is always kept.
        bound = current
        if self._policy.keep_revisions is not None:
            bound = min(bound, current - self._policy.keep_revisions)
        if self._policy.keep_seconds is not None:
            self._samples.append((now, current))
            cutoff = now - self._policy.keep_seconds
            aged = 0
            # Keep the newest sample older than the cutoff: it bounds what is old enough.
            while self._samples and self._samples[0][0] <= cutoff:
                aged = self._samples.popleft()[1]
            if aged:
                self._samples.appendleft((cutoff, aged))
            bound = min(bound, aged + 1 if aged else 0)
        if bound > self._compacted and bound > 1:
            await self._store.compact(bound)
            self._compacted = bound
        return self._compacted

    async def run(self, interval: float) -> None:
        """Call `run_once` every `interval` seconds until cancelled."""
        while True:
            await self.run_once()
            await asyncio.sleep(interval)
