"""Rebuild: re-create every shard a failure domain should hold, after it was wiped or replaced.

Shards already present and intact are left alone, so a rebuild can be interrupted and run again.
Rebuilt shards are written in batches and synced before progress is reported: the progress a
caller sees is durable progress.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from thecloud.dataplane.volume.context import StoreContext
from thecloud.dataplane.volume.shards import Blob, StripeLostError

__all__ = ["RebuildProgress", "RebuildReport", "rebuild"]

_BATCH: Final = 64


@dataclass(frozen=True, slots=True)
class RebuildProgress:
    """How far a rebuild of one domain has come."""

    domain: str
    stripes_done: int
    """Stripes with a shard on the domain that were checked (and rebuilt if needed)."""
    stripes_total: int
    """Stripes with a shard on the domain when the rebuild started."""
    shards_rebuilt: int
    bytes_written: int

    @property
    def fraction(self) -> float:
        """Share of the work done, 0.0 to 1.0."""
        if self.stripes_total == 0:
            return 1.0
        return min(1.0, self.stripes_done / self.stripes_total)


@dataclass(slots=True)
class RebuildReport:
    """The outcome of a rebuild."""

    progress: RebuildProgress
    lost_stripes: list[tuple[str, int]] = field(default_factory=list)
    """(volume, stripe) whose shard could not be rebuilt: more than m shards were bad."""
    seconds: float = 0.0


def rebuild(
    ctx: StoreContext, index: int, progress: Callable[[RebuildProgress], None] | None = None
) -> RebuildReport:
    """Rebuilds the shards of domain `index`, calling `progress` after each synced batch."""
    began = time.perf_counter()
    label = ctx.shards.domains[index].label
    total = _stripes_on(ctx, index)
    done = rebuilt = written = 0
    lost: list[tuple[str, int]] = []
    buffer = ctx.new_buffer()
    after: tuple[int, int] | None = None
    if progress is not None:
        progress(RebuildProgress(label, 0, total, 0, 0))
    while True:
        with ctx.lock:
            ctx.check_usable()
            batch = ctx.catalog.scan(after, _BATCH)
            if not batch:
                break
            after = batch[-1][:2]
            blobs: list[Blob] = []
            for volume, stripe, _ in batch:
                record = ctx.catalog.stripe(volume, stripe)
                if record is None or index not in record.domains:
                    continue
                done += 1
                shard = record.domains.index(index)
                try:
                    faults = ctx.shards.read(volume, stripe, record, buffer, [shard])
                except StripeLostError:
                    names = {record.id: name for name, record in ctx.catalog.volumes()}
                    lost.append((names.get(volume, f"#{volume}"), stripe))
                    continue
                if faults.bad:
                    # The buffer is reused for the next stripe: the blob keeps its own copy.
                    content = memoryview(bytes(ctx.shards.shard(buffer, shard)))
                    blobs.append((index, record.key(volume, stripe, shard), content))
            ctx.shards.write(blobs)
            rebuilt += len(blobs)
            written += sum(blob[2].nbytes for blob in blobs)
            ctx.metrics.repaired_shards.inc(len(blobs))
        if progress is not None:
            progress(RebuildProgress(label, done, max(total, done), rebuilt, written))
    final = RebuildProgress(label, done, max(total, done), rebuilt, written)
    return RebuildReport(final, lost, time.perf_counter() - began)


def _stripes_on(ctx: StoreContext, index: int) -> int:
    count = 0
    after: tuple[int, int] | None = None
    while True:
        with ctx.lock:
            ctx.check_usable()
            batch = ctx.catalog.scan(after, 4096)
        if not batch:
            return count
        count += sum(index in record.domains for _, _, record in batch)
        after = batch[-1][:2]
