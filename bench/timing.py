"""Repeated timing with CPU clocks: per-operation costs of statements and per-call costs.

CPU time (of this thread or process) is preferred over wall time because the machines these run on
are shared: a descheduled benchmark does not accrue CPU time, so a busy neighbour inflates the
spread less than it inflates wall-clock numbers.
"""

from __future__ import annotations

import gc
import math
import time
import timeit
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from bench.stats import Stats

Clock = Callable[[], float]
"""A monotonic clock in seconds."""

THREAD_CPU: Clock = time.thread_time
"""CPU time of the calling thread: for single-threaded micro-benchmarks."""

PROCESS_CPU: Clock = time.process_time
"""CPU time of the whole process, all threads: for calls that may use helper threads."""

WALL: Clock = time.perf_counter
"""Wall-clock time: only where CPU time cannot express the quantity (e.g. parallel threads)."""


def calibrate(timer: timeit.Timer, seconds: float) -> int:
    """The loop count at which one repetition of timer takes about `seconds` on its clock."""
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= seconds / 10 or number >= 1 << 30:
            break
        number *= 10
    return max(1, round(number * seconds / max(elapsed, 1e-9)))


def per_op_ns(
    stmt: str,
    namespace: Mapping[str, Any],
    *,
    repeat: int,
    seconds_per_repeat: float,
    clock: Clock = THREAD_CPU,
) -> tuple[Stats, int]:
    """Nanoseconds per execution of stmt, timeit-style, over `repeat` tight-loop repetitions.

    The loop count is calibrated so each repetition takes about `seconds_per_repeat`. Nothing is
    subtracted: time the statement ``pass`` to see the loop's own cost. Returns the summary and
    the loop count used.
    """
    timer = timeit.Timer(stmt, globals=dict(namespace), timer=clock)
    number = calibrate(timer, seconds_per_repeat)
    samples = timer.repeat(repeat=repeat, number=number)
    return Stats.of([s / number * 1e9 for s in samples]), number


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disables the cyclic garbage collector for the block, as timeit does, then restores it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def per_call_seconds(
    func: Callable[[], object],
    *,
    repeat: int,
    min_sample_seconds: float = 0.0,
    warmup: int = 1,
    clock: Clock = PROCESS_CPU,
) -> tuple[Stats, int]:
    """Seconds per call of func, as `repeat` samples after `warmup` untimed calls.

    A sample times a batch of back-to-back calls, sized from one trial call so that it lasts
    at least `min_sample_seconds` (one call when 0): short calls are then not dominated by the
    clock's own cost. Returns the summary and the batch size.
    """
    for _ in range(warmup):
        func()
    batch = 1
    if min_sample_seconds > 0:
        began = clock()
        func()
        trial = clock() - began
        batch = max(1, math.ceil(min_sample_seconds / max(trial, 1e-9)))
    samples: list[float] = []
    with gc_paused():
        for _ in range(repeat):
            began = clock()
            for _ in range(batch):
                func()
            samples.append((clock() - began) / batch)
    return Stats.of(samples), batch
