"""Pinning the benchmark to one CPU, so single-threaded timings do not migrate between cores."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def pinned_to_last_cpu() -> Iterator[int | None]:
    """Pins this process to the highest-numbered CPU it may use, restoring the old set after.

    Yields the CPU, or None where affinity cannot be set (then nothing is pinned). Threads
    started inside the block inherit the pin: run multi-threaded measurements outside it.
    """
    if not hasattr(os, "sched_setaffinity"):
        yield None
        return
    original = os.sched_getaffinity(0)
    cpu = max(original)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, original)
