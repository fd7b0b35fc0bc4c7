"""Buffers for the codec: 64-byte aligned allocation and zero-copy views of caller buffers."""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
from typing_extensions import Buffer

from thecloud.core.errors import InvalidArgumentError
from thecloud.dataplane.ec._native import ffi

ALIGNMENT = 64

BufferLike: TypeAlias = Buffer | npt.NDArray[Any]
"""Anything exposing the buffer protocol: bytes, bytearray, memoryview, mmap, numpy arrays."""


def aligned(size: int) -> npt.NDArray[np.uint8]:
    """A zero-filled uint8 array of `size` bytes whose data starts on a 64-byte boundary."""
    if size < 0:
        raise InvalidArgumentError(f"buffer size must not be negative, got {size}")
    raw = np.zeros(size + ALIGNMENT, dtype=np.uint8)
    offset = -raw.ctypes.data % ALIGNMENT
    return raw[offset : offset + size]


def view(buffer: BufferLike) -> memoryview:
    """A memoryview of any buffer (numpy's stubs do not declare the buffer protocol)."""
    return memoryview(buffer)  # type: ignore[arg-type]


def pointers(buffers: list[BufferLike], *, writable: bool, what: str) -> tuple[Any, int]:
    """A C array of pointers into `buffers` (no copies) and their common length."""
    if not buffers:
        raise InvalidArgumentError(f"no {what} given")
    views = [view(b) for b in buffers]
    length = views[0].nbytes
    for index, shard in enumerate(views):
        if shard.nbytes != length:
            raise InvalidArgumentError(
                f"{what} {index} has {shard.nbytes} bytes, {what} 0 has {length}: "
                "shards must be the same size"
            )
        if not shard.c_contiguous:
            raise InvalidArgumentError(f"{what} {index} is not contiguous")
        if writable and shard.readonly:
            raise InvalidArgumentError(f"{what} {index} is read-only; outputs must be writable")
    array = ffi.new("uint8_t *[]", len(views))
    for index, buffer in enumerate(buffers):
        array[index] = ffi.from_buffer("uint8_t[]", buffer, require_writable=writable)
    return array, length
