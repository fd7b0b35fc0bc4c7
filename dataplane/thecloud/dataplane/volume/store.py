"""VolumeStore: named, thin-provisioned, erasure-coded volumes over a set of failure domains.

Invariants:

1. One open store per path, in one process (an exclusive flock): unflushed writes and the
   version counter live in memory.
2. At most one Volume handle per name is open; `open_volume` returns the open one.
3. Every call on the store, its volumes and its maintenance passes runs under the store lock,
   so a domain is only ever driven by one caller (plus, during a flush or repair, one worker
   thread per domain while the caller waits).
4. The store is marked clean only by a close that flushed every volume, synced every domain
   and left no undeletable blob behind; any other ending makes the next open sweep orphans.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from thecloud.core.errors import ConflictError, InvalidArgumentError, NotFoundError, TheCloudError
from thecloud.core.lmdb_env import DEFAULT_MAP_SIZE
from thecloud.dataplane.metrics import REGISTRY, Registry
from thecloud.dataplane.volume.layout import StripeLayout
from thecloud.dataplane.volume.opening import DomainSpec, OpenedStore, open_store
from thecloud.dataplane.volume.rebuild import RebuildProgress, RebuildReport, rebuild
from thecloud.dataplane.volume.records import VolumeRecord
from thecloud.dataplane.volume.scrub import ScrubReport, scrub
from thecloud.dataplane.volume.volume import Volume

__all__ = ["DEFAULT_WRITE_BACK", "MAX_VOLUME_SIZE", "StoreStats", "VolumeInfo", "VolumeStore"]

#: Unflushed bytes a volume buffers before a write flushes them first.
DEFAULT_WRITE_BACK: Final = 64 << 20
#: Largest volume: 1 EiB, far beyond any disk set, well inside 64-bit stripe arithmetic.
MAX_VOLUME_SIZE: Final = 1 << 60
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True, slots=True)
class VolumeInfo:
    """A volume as `VolumeStore.list` shows it."""

    name: str
    size: int
    allocated_bytes: int
    """Data bytes of the committed stripes (thin provisioning: the rest costs nothing)."""
    created: float


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Capacity and geometry of a store."""

    volumes: int
    open_volumes: int
    provisioned_bytes: int
    """Sum of the volumes' sizes."""
    allocated_bytes: int
    """Data bytes of committed stripes."""
    stored_bytes: int
    """Bytes of shard blobs on the domains (allocated data plus parity and padding)."""
    dirty_bytes: int
    """Unflushed stripe buffers of open volumes."""
    k: int
    m: int
    stripe_size: int
    domains: tuple[str, ...]


class VolumeStore:
    """Creates, opens, deletes, scrubs and rebuilds volumes; use `VolumeStore.open`."""

    def __init__(self, path: Path, opened: OpenedStore) -> None:
        """Wraps what `open_store` opened; call `VolumeStore.open` instead."""
        self._path = path
        self._ctx = opened.ctx
        self._executor = opened.executor
        self._lock_fd = opened.lock_fd
        self._open: dict[str, Volume] = {}

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        domains: Sequence[DomainSpec],
        *,
        k: int | None = None,
        m: int | None = None,
        stripe_size: int | None = None,
        write_back: int = DEFAULT_WRITE_BACK,
        map_size: int = DEFAULT_MAP_SIZE,
        registry: Registry = REGISTRY,
    ) -> VolumeStore:
        """Opens the store whose metadata is in directory `path`, creating it if needed.

        A new store takes k, m and stripe_size (default 4, 2 and 1 MiB); an existing one keeps
        what it was created with, and refuses different values or a different domain list.
        """
        opened = open_store(
            Path(path),
            domains,
            {"k": k, "m": m, "stripe_size": stripe_size},
            write_back=write_back,
            map_size=map_size,
            registry=registry,
        )
        return cls(Path(path), opened)

    def __repr__(self) -> str:
        return f"VolumeStore({str(self._path)!r})"

    def __enter__(self) -> VolumeStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def layout(self) -> StripeLayout:
        """The store's geometry."""
        return self._ctx.layout

    def create(self, name: str, size: int) -> Volume:
        """Creates an empty volume (reading as zeros, using no space) and opens it."""
        _check_name(name)
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_VOLUME_SIZE:
            raise InvalidArgumentError(
                f"volume size must be 1..{MAX_VOLUME_SIZE} bytes, not {size!r}"
            )
        with self._ctx.lock:
            self._ctx.check_usable()
            record = self._ctx.catalog.create_volume(name, size, time.time())
            return self._handle(name, record)

    def open_volume(self, name: str) -> Volume:
        """The handle of an existing volume (the same object while it stays open)."""
        _check_name(name)
        with self._ctx.lock:
            self._ctx.check_usable()
            if name in self._open:
                return self._open[name]
            record = self._ctx.catalog.volume(name)
            if record is None:
                raise NotFoundError(f"no volume named {name!r}")
            return self._handle(name, record)

    def delete(self, name: str) -> None:
        """Deletes a volume and its data; ConflictError while a handle on it is open."""
        _check_name(name)
        with self._ctx.lock:
            self._ctx.check_usable()
            if name in self._open:
                raise ConflictError(f"volume {name!r} is open: close it before deleting it")
            record = self._ctx.catalog.drop_volume(name)
            if self._ctx.shards.drop_volume(record.id):
                self._ctx.leaked = True

    def list(self) -> list[VolumeInfo]:
        """Every volume, by name."""
        with self._ctx.lock:
            self._ctx.check_usable()
            stripe_size = self._ctx.layout.stripe_size
            return [
                VolumeInfo(name, record.size, record.allocated * stripe_size, record.created)
                for name, record in self._ctx.catalog.volumes()
            ]

    def scrub(self) -> ScrubReport:
        """Verifies every shard, repairs bad ones, removes orphaned blobs; returns a report."""
        metrics = self._ctx.metrics
        with metrics.latency["scrub"].time():
            report = scrub(self._ctx)
        metrics.operations["scrub"].inc()
        return report

    def rebuild(
        self,
        domain: int | str | os.PathLike[str],
        progress: Callable[[RebuildProgress], None] | None = None,
    ) -> RebuildReport:
        """Re-creates every shard a domain (by index or directory) should hold."""
        index = self._domain_index(domain)
        metrics = self._ctx.metrics
        with metrics.latency["rebuild"].time():
            report = rebuild(self._ctx, index, progress)
        metrics.operations["rebuild"].inc()
        return report

    def stats(self) -> StoreStats:
        """Volumes, space and geometry."""
        with self._ctx.lock:
            self._ctx.check_usable()
            layout = self._ctx.layout
            records = [record for _, record in self._ctx.catalog.volumes()]
            stripes = sum(record.allocated for record in records)
            return StoreStats(
                volumes=len(records),
                open_volumes=len(self._open),
                provisioned_bytes=sum(record.size for record in records),
                allocated_bytes=stripes * layout.stripe_size,
                stored_bytes=stripes * layout.buffer_size,
                dirty_bytes=sum(volume.dirty_bytes for volume in self._open.values()),
                k=layout.k,
                m=layout.m,
                stripe_size=layout.stripe_size,
                domains=tuple(domain.label for domain in self._ctx.shards.domains),
            )

    def close(self) -> None:
        """Flushes every open volume and closes the store; raises the first flush error."""
        ctx = self._ctx
        with ctx.lock:
            if ctx.closed:
                return
            errors: list[TheCloudError] = []
            for volume in list(self._open.values()):
                try:
                    volume.close()
                except TheCloudError as exc:
                    errors.append(exc)
                    volume.release()
            try:
                if ctx.failure is None and not errors and not ctx.leaked:
                    # Deletions must be durable before the state claims there are no orphans.
                    ctx.shards.sync()
                    ctx.catalog.set_state(replace(ctx.catalog.state(), clean=True))
            except TheCloudError as exc:
                errors.append(exc)
            finally:
                ctx.closed = True
                ctx.catalog.close()
                self._executor.shutdown()
                os.close(self._lock_fd)
            if errors:
                raise errors[0]

    def _handle(self, name: str, record: VolumeRecord) -> Volume:
        volume = Volume(self._ctx, name, record, self._forget)
        self._open[name] = volume
        return volume

    def _forget(self, volume: Volume) -> None:
        if self._open.get(volume.name) is volume:
            del self._open[volume.name]

    def _domain_index(self, domain: int | str | os.PathLike[str]) -> int:
        labels = [d.label for d in self._ctx.shards.domains]
        if isinstance(domain, int) and not isinstance(domain, bool):
            if 0 <= domain < len(labels):
                return domain
        elif isinstance(domain, (str, os.PathLike)):
            label = str(Path(domain).absolute())
            for candidate in (label, str(domain)):
                if candidate in labels:
                    return labels.index(candidate)
        raise InvalidArgumentError(f"{domain!r} is not one of the store's domains {labels}")


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidArgumentError(
            f"volume names are 1 to 128 letters, digits, '.', '_' or '-', starting with a "
            f"letter or digit; got {name!r}"
        )
