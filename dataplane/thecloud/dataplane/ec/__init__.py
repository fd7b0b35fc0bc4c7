"""Erasure coding: Reed-Solomon over GF(2^8) (native, CPU-dispatched) and CRC32C.

    from thecloud.dataplane.ec import ReedSolomon, aligned

    code = ReedSolomon(8, 3)
    data = [aligned(1 << 20) for _ in range(8)]      # fill these
    parity = [aligned(1 << 20) for _ in range(3)]
    code.encode(data, parity)
    rebuilt = code.reconstruct([None, *data[1:], *parity])   # {0: shard 0}

Buffers cross without copies (numpy arrays, bytearray, memoryview, mmap); outputs are the
caller's; the GIL is released while the kernels run.
"""

from thecloud.dataplane.ec.buffers import aligned
from thecloud.dataplane.ec.checksum import crc32c
from thecloud.dataplane.ec.codec import ReedSolomon
from thecloud.dataplane.ec.kernels import (
    active_kernel,
    stream_stores,
    supported_kernels,
    use_kernel,
)

__all__ = [
    "ReedSolomon",
    "active_kernel",
    "aligned",
    "crc32c",
    "stream_stores",
    "supported_kernels",
    "use_kernel",
]
