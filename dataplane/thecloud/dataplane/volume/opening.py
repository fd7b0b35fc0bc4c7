"""Opening a volume store: argument checks, the process lock, and recovery after a crash.

Arguments are checked before anything on disk is created or changed. A store is open in one
place at a time (an exclusive flock on `<path>/volume.lock`), because each open store keeps
unflushed writes and version counters in memory. If the previous session did not close cleanly,
the open sweeps orphaned blobs before any new blob is written.
"""

from __future__ import annotations

import fcntl
import logging
import os
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from thecloud.core.errors import ConflictError, InvalidArgumentError, StateError
from thecloud.dataplane.metrics import Registry
from thecloud.dataplane.volume.catalog import Catalog
from thecloud.dataplane.volume.context import StoreContext
from thecloud.dataplane.volume.directory import DirectoryDomain
from thecloud.dataplane.volume.domain import Domain
from thecloud.dataplane.volume.layout import StripeLayout
from thecloud.dataplane.volume.metrics import VolumeMetrics
from thecloud.dataplane.volume.records import StoreConfig, StoreState
from thecloud.dataplane.volume.shards import ShardIO
from thecloud.dataplane.volume.sweep import sweep_orphans

__all__ = ["DEFAULTS", "DomainSpec", "OpenedStore", "open_store"]

DomainSpec = str | os.PathLike[str] | Domain
"""A failure domain as callers give it: a directory, or any Domain implementation."""
DEFAULTS: Final = {"k": 4, "m": 2, "stripe_size": 1 << 20}
"""Geometry of a new store when the caller leaves it out."""
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OpenedStore:
    """What `open_store` hands the VolumeStore."""

    ctx: StoreContext
    config: StoreConfig
    executor: ThreadPoolExecutor
    lock_fd: int


def open_store(
    path: Path,
    specs: Sequence[DomainSpec],
    geometry: dict[str, int | None],
    *,
    write_back: int,
    map_size: int,
    registry: Registry,
) -> OpenedStore:
    """Checks the arguments, locks and opens (or creates) the store, recovers if needed."""
    domains = _domains(specs)
    labels = tuple(domain.label for domain in domains)
    if not isinstance(write_back, int) or isinstance(write_back, bool) or write_back < 0:
        raise InvalidArgumentError(f"write_back must be a byte count >= 0, got {write_back!r}")
    if not (path / "data.mdb").exists():
        # A new store: check everything before the first directory is made.
        StripeLayout(**_chosen(geometry, DEFAULTS), domains=len(domains))
    lock_fd = _lock(path)
    try:
        catalog = Catalog(path, map_size=map_size)
    except BaseException:
        os.close(lock_fd)
        raise
    executor = ThreadPoolExecutor(max_workers=len(domains), thread_name_prefix="volume-io")
    try:
        config = _config(catalog, geometry, labels)
        layout = StripeLayout(config.k, config.m, config.stripe_size, len(domains))
        state = catalog.state()
        metrics = VolumeMetrics(registry)
        shards = ShardIO(layout, domains, metrics, executor)
        ctx = StoreContext(layout, catalog, shards, metrics, write_back, state.next_version)
        if not state.clean:
            removed = sweep_orphans(ctx)
            _log.info("volume store recovered", extra={"path": str(path), "orphans": removed})
        catalog.set_state(replace(state, clean=False))
    except BaseException:
        executor.shutdown()
        catalog.close()
        os.close(lock_fd)
        raise
    return OpenedStore(ctx, config, executor, lock_fd)


def _domains(specs: Sequence[DomainSpec]) -> list[Domain]:
    if isinstance(specs, (str, os.PathLike)) or not isinstance(specs, Sequence) or not specs:
        raise InvalidArgumentError("domains must be a non-empty list of directories")
    domains: list[Domain] = []
    for spec in specs:
        if isinstance(spec, (str, os.PathLike)):
            domains.append(DirectoryDomain(spec))
        elif isinstance(spec, Domain):
            domains.append(spec)
        else:
            raise InvalidArgumentError(f"a domain is a directory path or a Domain, not {spec!r}")
    labels = [domain.label for domain in domains]
    if len(set(labels)) != len(labels):
        raise InvalidArgumentError(f"failure domains must be distinct, got {labels}")
    return domains


def _chosen(geometry: dict[str, int | None], fallback: dict[str, int]) -> dict[str, int]:
    chosen: dict[str, int] = {}
    for name, default in fallback.items():
        value = geometry.get(name)
        chosen[name] = default if value is None else value
    return chosen


def _lock(path: Path) -> int:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path / "volume.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise StateError(f"cannot create the volume store at {path}: {exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConflictError(f"the volume store at {path} is already open") from None
    return fd


def _config(
    catalog: Catalog, geometry: dict[str, int | None], labels: tuple[str, ...]
) -> StoreConfig:
    config = catalog.config()
    if config is None:
        chosen = _chosen(geometry, DEFAULTS)
        StripeLayout(**chosen, domains=len(labels))
        config = StoreConfig(
            str(uuid.uuid4()), chosen["k"], chosen["m"], chosen["stripe_size"], labels
        )
        catalog.initialize(config, StoreState(next_version=1, next_volume_id=1, clean=True))
        return config
    recorded = {"k": config.k, "m": config.m, "stripe_size": config.stripe_size}
    for name, value in geometry.items():
        if value is not None and value != recorded[name]:
            raise InvalidArgumentError(
                f"the volume store at {catalog.path} has {name}={recorded[name]}, not {value}"
            )
    if labels != config.domains:
        raise InvalidArgumentError(
            f"the volume store at {catalog.path} uses domains {list(config.domains)}, "
            f"not {list(labels)}; give the same directories in the same order"
        )
    return config
