"""CRC32C (Castagnoli) of a buffer, hardware-accelerated, without copying it."""

from __future__ import annotations

from thecloud.dataplane.ec._native import ffi, lib
from thecloud.dataplane.ec.buffers import BufferLike, view


def crc32c(data: BufferLike, crc: int = 0) -> int:
    """The CRC32C of `data`, continuing from `crc` (0 to start), as iSCSI and ext4 compute it."""
    return int(lib.tc_crc32c(crc, ffi.from_buffer("uint8_t[]", data), view(data).nbytes))
