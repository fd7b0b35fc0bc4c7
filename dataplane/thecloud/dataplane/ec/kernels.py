"""Which GF(2^8) kernel runs: chosen from the CPU, or forced (THECLOUD_EC_KERNEL, use_kernel)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from thecloud.core.errors import ConfigError, InvalidArgumentError
from thecloud.dataplane.ec._native import ffi, lib

KERNELS = ("gfni512", "gfni256", "avx2", "scalar")
"""Every kernel, fastest first; all produce identical bytes."""


def supported_kernels() -> tuple[str, ...]:
    """The kernels this CPU can run, fastest first."""
    return tuple(ffi.string(lib.tc_ec_supported_kernels()).decode().split(","))


def active_kernel() -> str:
    """The kernel encode and reconstruct use now."""
    return str(ffi.string(lib.tc_ec_active_kernel()).decode())


def _check(kernel: str) -> None:
    if kernel not in KERNELS:
        raise InvalidArgumentError(f"unknown erasure-coding kernel {kernel!r}: one of {KERNELS}")
    if kernel not in supported_kernels():
        raise InvalidArgumentError(
            f"this CPU cannot run the {kernel!r} kernel; it supports {supported_kernels()}"
        )


@contextmanager
def use_kernel(kernel: str) -> Iterator[None]:
    """Forces one kernel inside the block (tests, benchmarks); the previous choice comes back."""
    _check(kernel)
    previous = active_kernel()
    lib.tc_ec_select_kernel(kernel.encode())
    try:
        yield
    finally:
        lib.tc_ec_select_kernel(previous.encode())


@contextmanager
def stream_stores(min_bytes: int = 32 * 1024) -> Iterator[None]:
    """Writes outputs of at least `min_bytes` with non-temporal stores inside the block.

    For streaming work whose outputs are not read back soon (a bulk rebuild, ingesting data
    larger than the caches): the stores skip the cache, leaving memory bandwidth to the inputs.
    Wrong when the caller reads the parity next (it would come back from memory).
    """
    if min_bytes < 0:
        raise InvalidArgumentError(f"min_bytes must not be negative, got {min_bytes}")
    lib.tc_ec_stream_stores_from(min_bytes)
    try:
        yield
    finally:
        lib.tc_ec_stream_stores_from(ffi.cast("size_t", -1))


def _apply_environment() -> None:
    # The C library would abort on a kernel this CPU lacks; refuse it here with a clear message.
    forced = os.environ.get("THECLOUD_EC_KERNEL")
    if forced:
        try:
            _check(forced)
        except InvalidArgumentError as exc:
            raise ConfigError(f"THECLOUD_EC_KERNEL: {exc}") from None
        lib.tc_ec_select_kernel(forced.encode())


_apply_environment()
