"""Scrub: read every shard of every committed stripe, verify it, and rewrite the bad ones.

Bitrot and lost blobs are found while the other shards can still rebuild them, instead of when
a client's read finds too many gone at once. The pass takes the store lock one stripe at a time,
so clients keep reading and writing while it runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Final, Literal

from thecloud.core.errors import StateError
from thecloud.dataplane.volume.context import StoreContext
from thecloud.dataplane.volume.records import StripeRecord
from thecloud.dataplane.volume.shards import ShardFaults, StripeBuffer, StripeLostError
from thecloud.dataplane.volume.sweep import sweep_orphans

__all__ = ["ScrubReport", "ShardProblem", "scrub"]

_SCAN_BATCH: Final = 256


@dataclass(frozen=True, slots=True)
class ShardProblem:
    """One bad shard blob that a scrub found."""

    volume: str
    stripe: int
    shard: int
    domain: str
    """Label of the domain holding the blob."""
    kind: Literal["missing", "corrupt"]
    repaired: bool
    """Whether the rebuilt blob was written back and synced."""


@dataclass(slots=True)
class ScrubReport:
    """What a scrub pass checked, found and fixed."""

    stripes_checked: int = 0
    shards_checked: int = 0
    problems: list[ShardProblem] = field(default_factory=list)
    lost_stripes: list[tuple[str, int]] = field(default_factory=list)
    """(volume, stripe) of stripes with more than m bad shards: their data is gone."""
    orphans_removed: int = 0
    """Unreferenced blobs deleted (left by crashes or failed deletions)."""
    seconds: float = 0.0

    @property
    def repaired(self) -> int:
        """Bad shards rewritten."""
        return sum(problem.repaired for problem in self.problems)

    @property
    def healthy(self) -> bool:
        """True when nothing was wrong, or everything wrong was repaired."""
        return not self.lost_stripes and all(problem.repaired for problem in self.problems)


def scrub(ctx: StoreContext) -> ScrubReport:
    """Checks and repairs every committed stripe, then sweeps orphaned blobs."""
    began = time.perf_counter()
    report = ScrubReport()
    buffer = ctx.new_buffer()
    after: tuple[int, int] | None = None
    while True:
        with ctx.lock:
            ctx.check_usable()
            batch = ctx.catalog.scan(after, _SCAN_BATCH)
            names = {record.id: name for name, record in ctx.catalog.volumes()}
        if not batch:
            break
        for volume, stripe, _ in batch:
            with ctx.lock:
                ctx.check_usable()
                # Re-read under the lock: a flush may have replaced or freed the stripe.
                record = ctx.catalog.stripe(volume, stripe)
                if record is not None:
                    name = names.get(volume, f"#{volume}")
                    _scrub_stripe(
                        ctx, report, record, buffer, name=name, volume=volume, stripe=stripe
                    )
        after = batch[-1][:2]
    report.orphans_removed = sweep_orphans(ctx)
    report.seconds = time.perf_counter() - began
    return report


def _scrub_stripe(
    ctx: StoreContext,
    report: ScrubReport,
    record: StripeRecord,
    buffer: StripeBuffer,
    *,
    name: str,
    volume: int,
    stripe: int,
) -> None:
    width = ctx.layout.width
    report.stripes_checked += 1
    report.shards_checked += width
    try:
        faults = ctx.shards.read(volume, stripe, record, buffer, range(width))
    except StripeLostError:
        report.lost_stripes.append((name, stripe))
        return
    if not faults.bad:
        return
    repaired = True
    try:
        ctx.shards.write(ctx.shards.blobs(volume, stripe, record, buffer, faults.bad))
    except StateError:
        repaired = False
    else:
        ctx.metrics.repaired_shards.inc(len(faults.bad))
    report.problems.extend(_problems(ctx, faults, name, stripe, record, repaired=repaired))


def _problems(
    ctx: StoreContext,
    faults: ShardFaults,
    name: str,
    stripe: int,
    record: StripeRecord,
    *,
    repaired: bool,
) -> list[ShardProblem]:
    found: list[tuple[int, Literal["missing", "corrupt"]]] = [
        *((shard, "missing") for shard in faults.missing),
        *((shard, "corrupt") for shard in faults.corrupt),
    ]
    return [
        ShardProblem(
            name, stripe, shard, ctx.shards.domains[record.domains[shard]].label, kind, repaired
        )
        for shard, kind in sorted(found)
    ]
