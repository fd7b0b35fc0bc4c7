"""Short-lived caches of authentication and authorization results, cleared by any IAM change.

Checking a key and a permission reads several records per request; they change rarely. Results
are cached for `TTL_SECONDS`, tagged with the IAM generation current when the check began. The
generation moves on every IAM write that can change a result (`changes_results`): synchronously
after a commit made by this process (so a revocation answered to its caller already applies to
the very next request), and from a watch on the store for writes by other processes (etcd
clusters). An entry whose generation is not the current one is never used.

Invariants:
1. An entry filled by a check that began before a change is tagged with the older generation,
   so it is dead on arrival if the change committed meanwhile.
2. The cache holds at most `MAX_ENTRIES`; when full it is emptied, never grown.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Hashable
from typing import Final, Generic, TypeVar

from thecloud.core.state import EventKind, StateStore

__all__ = [
    "IAM_PREFIX",
    "MAX_ENTRIES",
    "TTL_SECONDS",
    "DecisionCache",
    "IamGeneration",
    "changes_results",
]

#: Keys under this prefix decide who is who and who may do what.
IAM_PREFIX: Final = "iam/"
#: How long a cached result is trusted without any IAM change seen.
TTL_SECONDS: Final = 5.0
#: Entries one cache holds before it is emptied.
MAX_ENTRIES: Final = 50_000

#: Quota limits and counters and secrets are read afresh wherever they are used, never cached.
_NOT_CACHED: Final = ("iam/quotas/", "iam/quota-usage/", "iam/secrets/", "iam/secret-versions/")
#: Directory records and their names: a new one (a tenant, project, user or service account)
#: grants nothing and takes nothing away, since results read keys, roles, bindings and whether a
#: principal still exists. Their updates and deletes do count (a principal deleted or disabled).
_DIRECTORY: Final = (
    "iam/tenants/",
    "iam/projects/",
    "iam/users/",
    "iam/service-accounts/",
    "iam/names/",
    "iam/system/",
)

V = TypeVar("V")


def changes_results(key: str, *, created: bool) -> bool:
    """Whether a write to `key` (`created`: the key did not exist before) can change a cached
    authentication or authorization result. Anything under `iam/` not named above counts."""
    if not key.startswith(IAM_PREFIX) or key.startswith(_NOT_CACHED):
        return False
    return not (created and key.startswith(_DIRECTORY))


class IamGeneration:
    """A counter that moves whenever anything under `iam/` changes."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def bump(self) -> None:
        """Invalidate every cached result."""
        self.value += 1

    async def follow(self, store: StateStore) -> None:
        """Bump on every IAM change the store reports that can change a result, until cancelled
        (other processes' writes)."""
        watch = store.watch(IAM_PREFIX)
        async with contextlib.aclosing(watch) as events:
            async for event in events:
                created = event.kind is EventKind.PUT and event.version == 1
                if changes_results(event.key, created=created):
                    self.bump()


class DecisionCache(Generic[V]):
    """Results by key, valid while the IAM generation they were computed at is current."""

    def __init__(
        self, generation: IamGeneration, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._generation = generation
        self._clock = clock
        self._entries: dict[Hashable, tuple[int, float, V]] = {}

    def get(self, key: Hashable) -> V | None:
        """Return the cached result for `key`, None if there is none still valid."""
        found = self._entries.get(key)
        if found is None:
            return None
        generation, expires, value = found
        if generation != self._generation.value or expires < self._clock():
            return None
        return value

    def start(self) -> int:
        """Return the generation to tag a result with; call before reading what it depends on."""
        return self._generation.value

    def put(self, key: Hashable, started: int, value: V) -> None:
        """Remember `value` for `key`, tagged with the generation `start` returned."""
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (started, self._clock() + TTL_SECONDS, value)
