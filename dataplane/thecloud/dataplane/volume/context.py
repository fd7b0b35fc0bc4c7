"""StoreContext: the parts of an open volume store that its volumes and maintenance passes share."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from thecloud.core.errors import StateError
from thecloud.dataplane.ec import aligned
from thecloud.dataplane.volume.catalog import Catalog
from thecloud.dataplane.volume.layout import StripeLayout
from thecloud.dataplane.volume.metrics import VolumeMetrics
from thecloud.dataplane.volume.shards import ShardIO, StripeBuffer

__all__ = ["StoreContext"]


@dataclass(eq=False)
class StoreContext:
    """Shared state of one open store; every field is read and written under `lock`."""

    layout: StripeLayout
    catalog: Catalog
    shards: ShardIO
    metrics: VolumeMetrics
    write_back: int
    """Bytes of dirty stripes a volume buffers before a write flushes them first."""
    next_version: int
    """The next stripe version to hand out; above every version any blob was written with."""
    lock: threading.RLock = field(default_factory=threading.RLock)
    failure: str | None = None
    """Why the store stopped accepting work (a metadata commit of unknown outcome), or None."""
    leaked: bool = False
    """Some unreferenced blob could not be deleted: do not mark the store clean at close."""
    closed: bool = False

    def check_usable(self) -> None:
        """StateError if the store is closed or failed."""
        if self.closed:
            raise StateError("the volume store is closed")
        if self.failure is not None:
            raise StateError(f"the volume store must be reopened: {self.failure}")

    def fail(self, reason: str) -> None:
        """Stops all further work until the store is reopened (which recovers from LMDB)."""
        self.failure = reason

    def allocate_version(self) -> int:
        """A stripe version no blob has ever been written with."""
        version = self.next_version
        self.next_version += 1
        return version

    def new_buffer(self) -> StripeBuffer:
        """A zeroed, aligned stripe buffer."""
        return aligned(self.layout.buffer_size)
