"""The orphan sweep: deleting blobs that no committed stripe record names.

Orphans are what a crash leaves behind: blobs of a flush that never committed, superseded
blobs whose deletion was cut short, the tree of a volume deleted just before the crash. They
are harmless (nothing reads them) but take space, so an unclean open and every scrub remove them.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Final

from thecloud.core.errors import TheCloudError
from thecloud.dataplane.volume.context import StoreContext
from thecloud.dataplane.volume.domain import ShardKey

__all__ = ["sweep_orphans"]

# Keys examined per hold of the store lock: long enough to amortize the lock, short enough that
# clients' reads and writes do not stall behind a big listing.
_BATCH: Final = 4096


def sweep_orphans(ctx: StoreContext) -> int:
    """Deletes every blob on every domain that no committed record names; returns the count."""
    removed = 0
    for index, domain in enumerate(ctx.shards.domains):
        keys: Iterator[ShardKey] = domain.list_blobs()
        dead: set[int] = set()
        while True:
            with ctx.lock:
                ctx.check_usable()
                # The listing advances only under the lock: calls to a domain never overlap.
                batch = list(islice(keys, _BATCH))
                if not batch:
                    break
                live = {record.id for _, record in ctx.catalog.volumes()}
                dead.update(key.volume for key in batch if key.volume not in live)
                orphans = [(index, key) for key in batch if not _referenced(ctx, index, key)]
                failed = ctx.shards.discard(orphans)
                ctx.leaked = ctx.leaked or failed > 0
                removed += len(orphans) - failed
        with ctx.lock:
            # Blobs of deleted volumes are gone now; this removes their empty directories.
            for volume in dead:
                try:
                    domain.drop_volume(volume)
                except TheCloudError:
                    ctx.leaked = True
    return removed


def _referenced(ctx: StoreContext, domain: int, key: ShardKey) -> bool:
    record = ctx.catalog.stripe(key.volume, key.stripe)
    return (
        record is not None
        and record.version == key.version
        and key.shard < len(record.domains)
        and record.domains[key.shard] == domain
    )
