"""Volume: a handle on one erasure-coded volume, buffering writes per stripe until `flush`.

Invariants:

1. The durable content of a stripe is its committed StripeRecord in LMDB, or zeros when it has
   none. A record is committed only after all k + m blobs it names are written and synced.
2. Blobs are immutable: new content gets a new version, and versions are never reused, so a
   commit never changes a blob that a committed record names.
3. `_dirty` holds this process's newer content: a stripe buffer, or None for a stripe being
   freed (trimmed, or written all-zero). Reads see `_dirty` first, then the committed record.
4. A flush commits every dirty stripe of the volume in one LMDB transaction, and implicit
   flushes (when the buffer is full) happen between calls, never inside one: after a crash
   each stripe, and each pwrite, is wholly old or wholly new, never torn.
5. Blobs a commit supersedes are deleted only after that commit. Deletes that fail or are cut
   short by a crash leave orphans, which the sweep at the next unclean open removes.
6. A failed flush leaves `_dirty` unchanged and removes the blobs it wrote, so it can be
   retried; if the commit itself failed, its outcome is unknown and the store stops (see
   StoreContext.fail) until reopened.
7. A call that raises InvalidArgumentError, or fails before its first change, changes nothing:
   writes and trims read everything they need before modifying any buffer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Final

import numpy as np
import numpy.typing as npt
from typing_extensions import Buffer

from thecloud.core.errors import CapacityError, InvalidArgumentError, StateError
from thecloud.dataplane.ec import crc32c
from thecloud.dataplane.volume.context import StoreContext
from thecloud.dataplane.volume.layout import Span
from thecloud.dataplane.volume.records import StripeRecord, VolumeRecord
from thecloud.dataplane.volume.shards import Blob, StripeBuffer

__all__ = ["MAX_READ", "Volume"]

#: Largest single pread: a bigger one should be split rather than allocate that much at once.
MAX_READ: Final = 1 << 30


class Volume:
    """Positional reads and writes of one volume; writes are durable once `flush` returns."""

    def __init__(
        self,
        ctx: StoreContext,
        name: str,
        record: VolumeRecord,
        detach: Callable[[Volume], None],
    ) -> None:
        self._ctx = ctx
        self.name = name
        self._record = record
        self._detach = detach
        self._dirty: dict[int, StripeBuffer | None] = {}
        self._buffered = 0  # stripe buffers (not None) in _dirty
        self._scratch = ctx.new_buffer()
        self._closed = False

    def __repr__(self) -> str:
        return f"Volume({self.name!r}, size={self.size})"

    def __enter__(self) -> Volume:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def size(self) -> int:
        """Bytes the volume presents."""
        return self._record.size

    @property
    def id(self) -> int:
        """The numeric id its blobs are filed under."""
        return self._record.id

    @property
    def allocated_stripes(self) -> int:
        """Stripes holding committed data (unflushed writes not counted)."""
        return self._record.allocated

    @property
    def dirty_bytes(self) -> int:
        """Bytes of stripe buffers waiting for a flush."""
        return self._buffered * self._ctx.layout.stripe_size

    def pread(self, length: int, offset: int) -> bytes:
        """`length` bytes at `offset` (unwritten and trimmed ranges read as zeros)."""
        _check_int("length", length)
        if not 0 <= length <= MAX_READ:
            raise InvalidArgumentError(f"read length must be 0..{MAX_READ}, got {length}")
        buffer = bytearray(length)
        self.preadinto(buffer, offset)
        return bytes(buffer)

    def preadinto(self, buffer: Buffer, offset: int) -> int:
        """Fills a writable buffer with the bytes at `offset`; returns its length."""
        out = _byte_array(buffer, writable=True)
        ctx = self._ctx
        with ctx.metrics.latency["read"].time(), ctx.lock:
            self._check_usable()
            self._check_range(offset, out.size)
            for span in ctx.layout.spans(offset, out.size):
                self._read_span(span, out[span.position : span.position + span.length])
        ctx.metrics.operations["read"].inc()
        ctx.metrics.read_bytes.inc(out.size)
        return int(out.size)

    def pwrite(self, data: Buffer, offset: int) -> int:
        """Writes `data` at `offset`; returns its length. Durable after the next `flush`."""
        source = _byte_array(data, writable=False)
        ctx = self._ctx
        with ctx.metrics.latency["write"].time(), ctx.lock:
            self._check_usable()
            self._check_range(offset, source.size)
            # Flush before changing anything, so a failing implicit flush leaves this write
            # unapplied rather than half-reported.
            if self.dirty_bytes >= ctx.write_back:
                self._flush_locked()
            spans = list(ctx.layout.spans(offset, source.size))
            staged = {span.stripe: self._writable(span) for span in spans}
            for span in spans:
                piece = source[span.position : span.position + span.length]
                staged[span.stripe][span.start : span.end] = piece
            self._adopt(staged)
        ctx.metrics.operations["write"].inc()
        ctx.metrics.written_bytes.inc(source.size)
        return int(source.size)

    def trim(self, offset: int, length: int) -> None:
        """Discards a range: it reads as zeros, and whole stripes in it are freed at `flush`."""
        ctx = self._ctx
        with ctx.metrics.latency["trim"].time(), ctx.lock:
            self._check_usable()
            self._check_range(offset, length)
            layout, end = ctx.layout, offset + length
            whole = layout.whole_stripes(offset, length, self.size)
            edges, freed = [(offset, length)], set[int]()
            if whole:
                head, tail = whole.start * layout.stripe_size, whole.stop * layout.stripe_size
                edges = [(offset, head - offset), (tail, end - tail)]
                freed.update(ctx.catalog.allocated(self.id, whole.start, whole.stop))
                freed.update(stripe for stripe in self._dirty if stripe in whole)
            spans = [s for start, size in edges if size > 0 for s in layout.spans(start, size)]
            staged = {s.stripe: self._writable(s) for s in spans if self._holds_data(s.stripe)}
            for span in spans:
                if span.stripe in staged:
                    staged[span.stripe][span.start : span.end] = 0
            self._adopt(staged)
            for stripe in freed:
                if self._dirty.get(stripe) is not None:
                    self._buffered -= 1
                self._dirty[stripe] = None
        ctx.metrics.operations["trim"].inc()

    def flush(self) -> None:
        """Makes every write and trim so far durable (all of them, atomically)."""
        with self._ctx.metrics.latency["flush"].time(), self._ctx.lock:
            self._check_usable()
            self._flush_locked()
        self._ctx.metrics.operations["flush"].inc()

    def close(self) -> None:
        """Flushes and releases the handle; if the flush fails, the handle stays open."""
        with self._ctx.lock:
            if self._closed:
                return
            if self._ctx.failure is None and not self._ctx.closed:
                self._flush_locked()
            self.release()

    def release(self) -> None:
        """Drops the handle and any unflushed writes (the store calls this when closing)."""
        with self._ctx.lock:
            self._closed = True
            self._dirty.clear()
            self._buffered = 0
            self._detach(self)

    def _check_usable(self) -> None:
        if self._closed:
            raise StateError(f"volume {self.name!r} is closed")
        self._ctx.check_usable()

    def _check_range(self, offset: int, length: int) -> None:
        _check_int("offset", offset)
        _check_int("length", length)
        if offset < 0 or length < 0 or offset + length > self.size:
            raise InvalidArgumentError(
                f"range of {length} bytes at offset {offset} is outside volume {self.name!r} "
                f"of {self.size} bytes"
            )

    def _holds_data(self, stripe: int) -> bool:
        if stripe in self._dirty:
            return self._dirty[stripe] is not None
        return self._ctx.catalog.stripe(self.id, stripe) is not None

    def _read_span(self, span: Span, target: npt.NDArray[np.uint8]) -> None:
        if span.stripe in self._dirty:
            dirty = self._dirty[span.stripe]
            target[:] = 0 if dirty is None else dirty[span.start : span.end]
            return
        record = self._ctx.catalog.stripe(self.id, span.stripe)
        if record is None:
            target[:] = 0
            return
        wanted = self._ctx.layout.data_shards(span.start, span.end)
        self._ctx.shards.read(self.id, span.stripe, record, self._scratch, wanted)
        target[:] = self._scratch[span.start : span.end]

    def _writable(self, span: Span) -> StripeBuffer:
        """The buffer to modify for a span: the dirty one, or a new one holding the current
        content (not read when the span overwrites all of the stripe's data)."""
        current = self._dirty.get(span.stripe)
        if current is not None:
            return current
        buffer = self._ctx.new_buffer()
        data_size = self._ctx.layout.stripe_data_size(span.stripe, self.size)
        if span.stripe in self._dirty or (span.start == 0 and span.end >= data_size):
            return buffer
        record = self._ctx.catalog.stripe(self.id, span.stripe)
        if record is not None:
            wanted = self._ctx.layout.data_shards(0, data_size)
            self._ctx.shards.read(self.id, span.stripe, record, buffer, wanted)
        return buffer

    def _adopt(self, staged: dict[int, StripeBuffer]) -> None:
        for stripe, buffer in staged.items():
            if self._dirty.get(stripe) is None:
                self._buffered += 1
            self._dirty[stripe] = buffer

    def _flush_locked(self) -> None:
        if not self._dirty:
            return
        ctx, layout = self._ctx, self._ctx.layout
        changes: dict[int, StripeRecord | None] = {}
        superseded: dict[int, StripeRecord] = {}
        blobs: list[Blob] = []
        for stripe, buffer in sorted(self._dirty.items()):
            previous = ctx.catalog.stripe(self.id, stripe)
            if previous is not None:
                superseded[stripe] = previous
            # All-zero content is stored as no stripe at all: thin provisioning stays thin.
            if buffer is None or not buffer[: layout.stripe_size].any():
                if previous is not None:
                    changes[stripe] = None
                continue
            ctx.shards.codec.encode_stripe(buffer)
            record = StripeRecord(
                ctx.allocate_version(),
                layout.shard_size,
                layout.placement(self.id, stripe),
                tuple(crc32c(ctx.shards.shard(buffer, i)) for i in range(layout.width)),
            )
            changes[stripe] = record
            blobs.extend(ctx.shards.blobs(self.id, stripe, record, buffer))
        try:
            ctx.shards.write(blobs)
        except StateError:
            ctx.metrics.flush_failures.inc()
            raise
        gained = sum(record is not None for record in changes.values())
        updated = replace(self._record, allocated=self._record.allocated + gained - len(superseded))
        try:
            ctx.catalog.commit(self.name, updated, changes, ctx.next_version)
        except CapacityError:
            ctx.metrics.flush_failures.inc()
            ctx.shards.discard((domain, key) for domain, key, _ in blobs)
            raise
        except StateError as exc:
            ctx.metrics.flush_failures.inc()
            ctx.fail(f"committing a flush of volume {self.name!r} failed: {exc}")
            raise
        self._record = updated
        self._dirty.clear()
        self._buffered = 0
        obsolete = [
            (domain, record.key(self.id, stripe, shard))
            for stripe, record in superseded.items()
            for shard, domain in enumerate(record.domains)
        ]
        if ctx.shards.discard(obsolete):
            ctx.leaked = True


def _check_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgumentError(f"{name} must be an integer, got {value!r}")


def _byte_array(data: Buffer, *, writable: bool) -> npt.NDArray[np.uint8]:
    """A flat uint8 view of a caller's buffer, without copying it."""
    try:
        view = memoryview(data).cast("B")
    except TypeError as exc:
        raise InvalidArgumentError(f"expected a contiguous bytes-like object: {exc}") from exc
    if writable and view.readonly:
        raise InvalidArgumentError("the buffer to read into is read-only")
    return np.frombuffer(view, dtype=np.uint8)
