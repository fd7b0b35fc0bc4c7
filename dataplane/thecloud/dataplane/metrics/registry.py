"""Registries: where metrics live, process-local or shared between processes through a file.

`REGISTRY` is the default, like prometheus-client's. Set `THECLOUD_METRICS_SHM` to a file path
(e.g. under /dev/shm) before the first import to make it shared: every process opening the same
file reports into one catalog and one scrape, without a file per process.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path
from typing import Any

from thecloud.core.native import load_native

load_native("thecloud._native", "the native metrics engine")
load_native("thecloud.dataplane.metrics._hot", "the Cython metrics hot path")

from thecloud._native import MetricsRegistry  # noqa: E402 - after the loud checks above
from thecloud.dataplane.metrics._hot import Shards  # noqa: E402

_SHARED: weakref.WeakSet[Registry] = weakref.WeakSet()


class Registry:
    """A metrics registry: the native store plus the shard addresses Python code writes to."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        cardinality_limit: int = 10_000,
        **sizes: int,
    ) -> None:
        self.native = MetricsRegistry(
            None if path is None else Path(path), cardinality_limit=cardinality_limit, **sizes
        )
        self.shards = Shards(
            self.native.python_shard_address(), self.native.atomic_shard_address(), self.native
        )
        self.extra_collectors: list[Any] = []
        if path is not None:
            _SHARED.add(self)

    @property
    def path(self) -> Path | None:
        """The shared file, or None for a process-local registry."""
        return self.native.path

    def render(self, *, openmetrics: bool = False) -> bytes:
        """The exposition text of this registry's own metrics (GIL released while rendering)."""
        return self.native.render(openmetrics)

    def include_collectors(self, *collectors: Any) -> None:
        """Adds prometheus-client collectors (process, platform, GC) to this registry's scrape."""
        self.extra_collectors.extend(collectors)

    def stats(self) -> dict[str, int]:
        """Families, series, cells and shards in use."""
        return self.native.stats()

    def __repr__(self) -> str:
        where = self.path or "process-local"
        return f"Registry({where})"


def _after_fork_in_child() -> None:
    # A child must not write its parent's Python shard of a shared file: claim a fresh one.
    # Process-local registries are private mappings, so the child already has its own copy.
    for registry in list(_SHARED):
        registry.shards.move_python_shard(registry.native.reclaim_python_shard())


os.register_at_fork(after_in_child=_after_fork_in_child)

REGISTRY = Registry(os.environ.get("THECLOUD_METRICS_SHM") or None)
"""The default registry that metrics register into when no registry is given."""
