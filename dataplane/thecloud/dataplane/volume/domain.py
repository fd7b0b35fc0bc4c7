"""The transport to one failure domain: where the shard blobs of a store live.

A domain stands for a disk or a node. The store talks to it only through `Domain`, so a remote
node (an RPC client implementing the same calls) can replace a local directory later.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple, Protocol, runtime_checkable

from typing_extensions import Buffer

__all__ = ["Domain", "ShardKey"]


class ShardKey(NamedTuple):
    """Names one immutable shard blob: shard `shard` of version `version` of a stripe."""

    volume: int
    """The volume's numeric id (never reused, unlike its name)."""
    stripe: int
    """Stripe index within the volume."""
    version: int
    """The stripe version the blob belongs to; a new write of the stripe gets a new version."""
    shard: int
    """Shard index within the stripe: 0..k-1 data, k..k+m-1 parity."""


@runtime_checkable
class Domain(Protocol):
    """Reads, writes, syncs and deletes shard blobs on one failure domain.

    Calls for one domain come from one thread at a time. Failures raise StateError (the domain
    or the medium failed) or NotFoundError (a blob that does not exist); implementations never
    let an OSError or a transport error escape unmapped.
    """

    @property
    def label(self) -> str:
        """A stable name of the domain (a directory path, a node address), kept in metadata."""
        ...

    def write(self, key: ShardKey, data: Buffer) -> None:
        """Stores a blob, replacing any blob of the same key; durable only after `sync()`."""
        ...

    def sync(self) -> None:
        """Makes every blob written and every deletion done since the last sync durable.

        If it fails, the durability of those blobs is unknown: the caller must not rely on them,
        and must not retry the sync expecting them to be saved (their pages may be gone).
        """
        ...

    def read_into(self, key: ShardKey, out: memoryview) -> int:
        """Reads a blob into `out` (at most `out.nbytes` bytes); returns the bytes read."""
        ...

    def delete(self, key: ShardKey) -> None:
        """Removes a blob; removing a missing blob is not an error. Durable after `sync()`."""
        ...

    def drop_volume(self, volume: int) -> None:
        """Removes every blob of a volume at once (after the volume itself was deleted)."""
        ...

    def list_blobs(self) -> Iterator[ShardKey]:
        """Every blob the domain holds, in no particular order (for scrubbing and sweeping)."""
        ...
