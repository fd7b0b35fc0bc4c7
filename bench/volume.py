"""Volume store: sequential and 4 KiB random I/O on an EC 4+2 volume vs one plain file.

Both sides write the same bytes at the same offsets in the same run, on the same filesystem
(six directories standing for six disks, and one file next to them), and make them durable at
the same points: `flush()` for the volume, `fsync()` for the file. Times are wall clock, as the
work is I/O; process CPU time is recorded in the details. The volume writes 1.5x the bytes
(parity) into one file per shard and, being copy-on-write, a small write rewrites its whole
stripe: the ratios show what that costs against the simplest possible store.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Final

from bench.context import RunContext
from bench.results import BenchResult, Case
from bench.stats import Stats
from thecloud.dataplane.metrics import Registry
from thecloud.dataplane.volume import Volume, VolumeStore

NAME = "volume"
ANCHORS: tuple[str, ...] = ()
"""The anchor is a plain file on the same filesystem: no distribution to record."""

CHUNK: Final = 1 << 20
BLOCK: Final = 4096
DOMAINS: Final = 6
FLUSH_EVERY: Final = 32


@dataclass(frozen=True)
class Sample:
    """One timed run of one side: wall seconds and process CPU seconds."""

    wall: float
    cpu: float


def timed(work: Callable[[], object]) -> Sample:
    """Runs `work` once and times it."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return Sample(time.perf_counter() - wall, time.process_time() - cpu)


class Sides:
    """The volume and the plain file, written and read with the same bytes."""

    def __init__(self, root: Path, size: int) -> None:
        self.size = size
        self.store = VolumeStore.open(
            root / "meta", [root / f"disk{i}" for i in range(DOMAINS)], registry=Registry()
        )
        self.path = root / "plain.img"
        self.volume: Volume | None = None
        self.chunk = bytearray(random.Random(1).randbytes(CHUNK))

    def close(self) -> None:
        """Closes the store (flushing nothing: every case flushed already)."""
        self.store.close()

    def piece(self, offset: int) -> bytearray:
        """The 1 MiB written at `offset`: random, and different for every offset."""
        self.chunk[:8] = offset.to_bytes(8, "little")
        return self.chunk

    def fresh_volume(self) -> Volume:
        """A new, empty volume (the previous one is deleted first, untimed)."""
        if self.volume is not None:
            self.volume.close()
            self.store.delete("bench")
        self.volume = self.store.create("bench", self.size)
        return self.volume

    def write_volume(self, volume: Volume) -> None:
        """Sequential 1 MiB writes, one flush at the end."""
        for offset in range(0, self.size, CHUNK):
            volume.pwrite(self.piece(offset), offset)
        volume.flush()

    def write_file(self, *, truncate: bool) -> None:
        """The same writes to the plain file, one fsync at the end."""
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if truncate else 0)
        fd = os.open(self.path, flags, 0o600)
        try:
            for offset in range(0, self.size, CHUNK):
                os.pwrite(fd, self.piece(offset), offset)
            os.fsync(fd)
        finally:
            os.close(fd)

    def read_volume(self, volume: Volume) -> None:
        """Sequential 1 MiB reads of the whole volume."""
        for offset in range(0, self.size, CHUNK):
            volume.pread(CHUNK, offset)

    def read_file(self) -> None:
        """The same reads of the plain file."""
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for offset in range(0, self.size, CHUNK):
                os.pread(fd, CHUNK, offset)
        finally:
            os.close(fd)

    def random_volume(self, volume: Volume, offsets: list[int], block: bytes) -> None:
        """4 KiB writes at `offsets`, a flush every FLUSH_EVERY writes and at the end."""
        for count, offset in enumerate(offsets, 1):
            volume.pwrite(block, offset)
            if count % FLUSH_EVERY == 0:
                volume.flush()
        volume.flush()

    def random_file(self, offsets: list[int], block: bytes) -> None:
        """The same writes to the plain file, with fsyncs at the same points."""
        fd = os.open(self.path, os.O_WRONLY)
        try:
            for count, offset in enumerate(offsets, 1):
                os.pwrite(fd, block, offset)
                if count % FLUSH_EVERY == 0:
                    os.fsync(fd)
            os.fsync(fd)
        finally:
            os.close(fd)


def rate_case(
    name: str,
    unit: str,
    amount: float,
    *,
    ours: list[Sample],
    anchor: list[Sample],
    note: str,
) -> Case:
    """A higher-is-better case: `amount` (MB or operations) per wall second."""
    return Case(
        name,
        unit,
        Stats.of([amount / s.wall for s in ours]),
        Stats.of([amount / s.wall for s in anchor]),
        better="higher",
        note=note,
        details={
            "cpu_s_per_run": Stats.of([s.cpu for s in ours]).median,
            "anchor_cpu_s_per_run": Stats.of([s.cpu for s in anchor]).median,
            "amount_per_run": amount,
        },
    )


def sequential_cases(ctx: RunContext, result: BenchResult, sides: Sides) -> None:
    """New writes, overwrites and reads of the whole volume / file, 1 MiB at a time."""
    megabytes = sides.size / 1e6
    label = f"{sides.size >> 20} MiB"
    new: tuple[list[Sample], list[Sample]] = ([], [])
    over: tuple[list[Sample], list[Sample]] = ([], [])
    read: tuple[list[Sample], list[Sample]] = ([], [])
    ctx.progress(f"sequential write, overwrite and read of {label}, x{ctx.repeat}")
    for _ in range(ctx.repeat):
        volume = sides.fresh_volume()
        new[0].append(timed(partial(sides.write_volume, volume)))
        new[1].append(timed(partial(sides.write_file, truncate=True)))
        over[0].append(timed(partial(sides.write_volume, volume)))
        over[1].append(timed(partial(sides.write_file, truncate=False)))
        read[0].append(timed(partial(sides.read_volume, volume)))
        read[1].append(timed(sides.read_file))
    cases = [
        (
            f"sequential write {label} to a new volume / new file",
            new,
            "1 MiB writes, flushed/fsynced at the end",
        ),
        (
            f"sequential overwrite {label}",
            over,
            "copy-on-write: every stripe gets new blobs, the old ones are deleted",
        ),
        (
            f"sequential read {label}",
            read,
            "page cache warm for both; the volume verifies CRC32C per shard",
        ),
    ]
    for name, (ours, anchor), note in cases:
        result.add(rate_case(name, "MB/s", megabytes, ours=ours, anchor=anchor, note=note))


def random_cases(ctx: RunContext, result: BenchResult, sides: Sides) -> None:
    """4 KiB writes at random aligned offsets of the filled volume / file."""
    writes = ctx.pick(1024, 128)
    rng = random.Random(4096)
    block = rng.randbytes(BLOCK)
    volume = sides.volume
    assert volume is not None, "the sequential cases create the volume"
    ours: list[Sample] = []
    anchor: list[Sample] = []
    ctx.progress(f"{writes} random 4 KiB writes, flush every {FLUSH_EVERY}, x{ctx.repeat}")
    for _ in range(ctx.repeat):
        offsets = [rng.randrange(0, sides.size, BLOCK) for _ in range(writes)]
        ours.append(timed(partial(sides.random_volume, volume, offsets, block)))
        anchor.append(timed(partial(sides.random_file, offsets, block)))
    result.add(
        rate_case(
            f"4 KiB random writes, flush every {FLUSH_EVERY}",
            "IOPS",
            writes,
            ours=ours,
            anchor=anchor,
            note=f"{writes} writes over {sides.size >> 20} MiB; each dirty 1 MiB stripe is read, "
            "re-encoded and rewritten whole (k+m blobs) at the flush",
        )
    )


def run(ctx: RunContext) -> BenchResult:
    """Every volume case, in a temporary directory (TMPDIR decides the filesystem)."""
    result = BenchResult(NAME)
    size = ctx.pick(256, 32) << 20
    root = Path(tempfile.mkdtemp(prefix="thecloud-bench-volume-"))
    try:
        sides = Sides(root, size)
        try:
            sequential_cases(ctx, result, sides)
            random_cases(ctx, result, sides)
        finally:
            sides.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    layout = sides.store.layout
    result.notes.append(
        f"volume: EC {layout.k}+{layout.m}, {layout.stripe_size >> 10} KiB stripes, "
        f"{DOMAINS} directories on the filesystem of {root.parent}; anchor: one plain file "
        "there; wall-clock rates (I/O bound, unpinned: the store writes domains in parallel)"
    )
    return result
