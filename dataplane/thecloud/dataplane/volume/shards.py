"""ShardIO: moving a stripe's shards between a stripe buffer and the failure domains.

Reads verify each shard's CRC32C against the committed record and rebuild missing or corrupt
shards from the others, into the same buffer, without the caller noticing (but the metrics do).
Writes go to all domains in parallel, one worker per domain, and return only when every blob is
durable; on failure the blobs written so far are removed again, so no half-written version is
ever left looking valid.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt

from thecloud.core.errors import NotFoundError, StateError, TheCloudError
from thecloud.dataplane.ec import ReedSolomon, crc32c
from thecloud.dataplane.volume.domain import Domain, ShardKey
from thecloud.dataplane.volume.layout import StripeLayout
from thecloud.dataplane.volume.metrics import VolumeMetrics
from thecloud.dataplane.volume.records import StripeRecord

__all__ = ["Blob", "ShardFaults", "ShardIO", "StripeLostError", "StripeBuffer"]

StripeBuffer = npt.NDArray[np.uint8]
"""An encoded stripe: `layout.buffer_size` bytes, 64-byte aligned, shards back to back."""
Blob = tuple[int, ShardKey, memoryview]
"""A blob to write: domain index, key, content."""
T = TypeVar("T")
_Fault = Literal["missing", "corrupt"]
_log = logging.getLogger(__name__)


class StripeLostError(StateError):
    """Fewer than k shards of a stripe are readable and intact: its data cannot be rebuilt."""

    retryable = False


@dataclass(frozen=True, slots=True)
class ShardFaults:
    """The shards of one stripe read that were missing (or unreadable) or failed their CRC."""

    missing: tuple[int, ...] = ()
    corrupt: tuple[int, ...] = ()

    @property
    def bad(self) -> tuple[int, ...]:
        """Every faulty shard, in index order."""
        return tuple(sorted(self.missing + self.corrupt))


class ShardIO:
    """Reads, writes and deletes shard blobs of stripes on the store's domains."""

    def __init__(
        self,
        layout: StripeLayout,
        domains: Sequence[Domain],
        metrics: VolumeMetrics,
        executor: Executor,
    ) -> None:
        self.layout = layout
        self.domains = tuple(domains)
        self.codec = ReedSolomon(layout.k, layout.m)
        self._metrics = metrics
        self._executor = executor

    def shard(self, buffer: StripeBuffer, index: int) -> memoryview:
        """The part of a stripe buffer that holds one shard."""
        size = self.layout.shard_size
        return buffer[index * size : (index + 1) * size].data

    def read(
        self,
        volume: int,
        stripe: int,
        record: StripeRecord,
        buffer: StripeBuffer,
        wanted: Iterable[int],
    ) -> ShardFaults:
        """Fills the `wanted` shards of `buffer` with verified content, rebuilding bad ones.

        Only the wanted shards are read unless one of them is bad; then others are read until k
        intact shards are at hand. StripeLostError if there are not k.
        """
        if record.shard_size != self.layout.shard_size:
            raise StateError(
                f"stripe {stripe} of volume {volume} has {record.shard_size}-byte shards, "
                f"the store {self.layout.shard_size}-byte ones"
            )
        wanted = list(wanted)
        good: list[int] = []
        faults: dict[int, _Fault] = {}

        def attempt(index: int) -> None:
            key = record.key(volume, stripe, index)
            fault = self._read_one(record, key, self.shard(buffer, index))
            if fault is None:
                good.append(index)
            else:
                faults[index] = fault

        for index in wanted:
            attempt(index)
        if not faults:
            return ShardFaults()
        for index in range(self.layout.width):
            if len(good) >= self.layout.k:
                break
            if index not in wanted:
                attempt(index)
        if len(good) < self.layout.k:
            raise StripeLostError(
                f"stripe {stripe} of volume {volume}: only {len(good)} of the {self.layout.k} "
                f"shards needed are intact (bad: {sorted(faults)})"
            )
        self._rebuild(volume, stripe, record, buffer, set(good))
        self._metrics.degraded_reads.inc()
        return ShardFaults(
            tuple(i for i, kind in sorted(faults.items()) if kind == "missing"),
            tuple(i for i, kind in sorted(faults.items()) if kind == "corrupt"),
        )

    def blobs(
        self,
        volume: int,
        stripe: int,
        record: StripeRecord,
        buffer: StripeBuffer,
        shards: Iterable[int] | None = None,
    ) -> list[Blob]:
        """The blobs of a stripe version (all shards, or the given ones) ready for `write`."""
        indices = range(self.layout.width) if shards is None else shards
        return [
            (record.domains[i], record.key(volume, stripe, i), self.shard(buffer, i))
            for i in indices
        ]

    def write(self, blobs: Sequence[Blob]) -> None:
        """Writes blobs and syncs every domain touched; StateError (after removing whatever
        was written) if any domain fails."""
        jobs: dict[int, list[Blob]] = defaultdict(list)
        for blob in blobs:
            jobs[blob[0]].append(blob)
        try:
            self._per_domain(jobs, self._write_and_sync, "write shards to")
        except StateError:
            self.discard((domain, key) for domain, key, _ in blobs)
            raise

    def discard(self, keys: Iterable[tuple[int, ShardKey]]) -> int:
        """Deletes blobs (not synced: see `sync`), best effort; returns how many failed."""
        jobs: dict[int, list[ShardKey]] = defaultdict(list)
        for domain, key in keys:
            jobs[domain].append(key)
        return sum(self._per_domain(jobs, self._delete_quietly, "delete shards on").values())

    def drop_volume(self, volume: int) -> int:
        """Removes a deleted volume's blobs from every domain, best effort; returns failures."""
        jobs = {d: [volume] for d in range(len(self.domains))}
        return sum(self._per_domain(jobs, self._drop_quietly, "drop a volume on").values())

    def sync(self) -> None:
        """Makes every domain's deletions durable."""
        self._per_domain({d: [] for d in range(len(self.domains))}, self._sync, "sync")

    def _read_one(self, record: StripeRecord, key: ShardKey, view: memoryview) -> _Fault | None:
        try:
            count = self.domains[record.domains[key.shard]].read_into(key, view)
        except NotFoundError:
            self._metrics.missing_shards.inc()
            return "missing"
        except StateError as exc:
            # An unreadable shard is as good as a missing one; the medium error goes to the log.
            _log.warning("shard unreadable, rebuilding from parity", extra={"error": str(exc)})
            self._metrics.missing_shards.inc()
            return "missing"
        if count != view.nbytes or crc32c(view) != record.crcs[key.shard]:
            self._metrics.corrupt_shards.inc()
            return "corrupt"
        return None

    def _rebuild(
        self, volume: int, stripe: int, record: StripeRecord, buffer: StripeBuffer, good: set[int]
    ) -> None:
        views = [self.shard(buffer, i) for i in range(self.layout.width)]
        lost = [i for i in range(self.layout.width) if i not in good]
        # The rebuilt shards land in their places in the stripe buffer: no copies.
        self.codec.reconstruct(
            [None if i in lost else view for i, view in enumerate(views)],
            out={i: views[i] for i in lost},
        )
        for index in lost:
            view = views[index]
            # Every input passed its CRC; a mismatch here means the record and blobs disagree.
            if crc32c(view) != record.crcs[index]:
                raise StripeLostError(
                    f"stripe {stripe} of volume {volume}: shard {index} rebuilt from intact "
                    "shards does not match its recorded CRC32C"
                )

    def _per_domain(
        self, jobs: dict[int, list[T]], work: Callable[[Domain, list[T]], int], action: str
    ) -> dict[int, int]:
        futures = {
            d: self._executor.submit(work, self.domains[d], items) for d, items in jobs.items()
        }
        results: dict[int, int] = {}
        first: tuple[int, BaseException] | None = None
        for domain, future in futures.items():
            error = future.exception()
            if error is None:
                results[domain] = future.result()
            elif first is None:
                first = (domain, error)
        if first is not None:
            domain, error = first
            if not isinstance(error, TheCloudError):
                raise error
            raise StateError(
                f"cannot {action} domain {self.domains[domain].label}: {error}"
            ) from error
        return results

    @staticmethod
    def _write_and_sync(domain: Domain, blobs: list[Blob]) -> int:
        for _, key, data in blobs:
            domain.write(key, data)
        domain.sync()
        return len(blobs)

    @staticmethod
    def _delete_quietly(domain: Domain, keys: list[ShardKey]) -> int:
        failures = 0
        for key in keys:
            try:
                domain.delete(key)
            except TheCloudError as exc:
                # The blob stays as an orphan; the store is then not marked clean at close and
                # the next open sweeps it.
                _log.warning("cannot delete shard blob", extra={"error": str(exc)})
                failures += 1
        return failures

    @staticmethod
    def _drop_quietly(domain: Domain, volumes: list[int]) -> int:
        failures = 0
        for volume in volumes:
            try:
                domain.drop_volume(volume)
            except TheCloudError as exc:
                _log.warning("cannot remove a deleted volume's blobs", extra={"error": str(exc)})
                failures += 1
        return failures

    @staticmethod
    def _sync(domain: Domain, _: list[object]) -> int:
        domain.sync()
        return 0
