"""Whether a call releases the GIL: how much a spinning Python thread progresses meanwhile.

The main thread increments a Python int in a tight loop while another thread runs the work, then
again while another thread merely sleeps for as long as the work took. If the work releases the
GIL (and a second core is free) both counts are about equal; work that holds the GIL lets the main
thread run only between switch intervals, so its count drops to a half or less. The longest
stall of the main thread is recorded too: it is the longest the work held the GIL at a stretch.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class GilProbe:
    """Main-thread progress while the work ran, and while idle for the same time."""

    seconds: float
    """Wall time the work took."""
    during: int
    """Increments the main thread made while the work ran."""
    idle: int
    """Increments made in the same loop while another thread slept for `seconds`."""
    longest_stall: float = 0.0
    """Longest time in seconds between two progress checks of the main thread during the work."""
    longest_stall_idle: float = 0.0
    """The same while idle: the baseline (scheduler noise, the sleeper's wake-up)."""

    @property
    def ratio(self) -> float:
        """during / idle: near 1 when the work releases the GIL."""
        return self.during / self.idle if self.idle else math.nan


CHECK_EVERY = 1024
"""Increments between two clock reads of the main thread (about 30 us): the stall resolution."""


def _spin(stop: list[bool]) -> tuple[int, float]:
    count = 0
    longest = 0.0
    last = time.perf_counter()
    while not stop[0]:
        count += 1
        if not count % CHECK_EVERY:
            now = time.perf_counter()
            longest = max(longest, now - last)
            last = now
    return count, longest


def _spin_while(work: Callable[[], object]) -> tuple[int, float, float]:
    stop = [False]
    window = [0.0]
    failure: list[BaseException] = []

    def worker() -> None:
        began = time.perf_counter()
        try:
            work()
        except BaseException as exc:  # re-raised in the calling thread below
            failure.append(exc)
        finally:
            window[0] = time.perf_counter() - began
            stop[0] = True

    thread = threading.Thread(target=worker, name="gil-probe", daemon=True)
    thread.start()
    count, longest = _spin(stop)
    thread.join()
    if failure:
        raise failure[0]
    return count, window[0], longest


def probe_gil(work: Callable[[], object]) -> GilProbe:
    """Runs work in a thread while this thread spins, then spins alone for as long."""
    during, seconds, stall = _spin_while(work)
    idle, _, idle_stall = _spin_while(lambda: time.sleep(seconds))
    return GilProbe(
        seconds=seconds,
        during=during,
        idle=idle,
        longest_stall=stall,
        longest_stall_idle=idle_stall,
    )


def calls_to_fill(seconds: float, seconds_per_call: float) -> int:
    """How many back-to-back calls make a probe window of about `seconds` (at least one).

    A window of a few milliseconds would be dominated by thread start-up and the switch
    interval, so short calls are repeated. Each call that returns to Python must win the GIL
    back from the spinning thread, which takes up to one switch interval: that is counted in.
    """
    per_call = seconds_per_call + sys.getswitchinterval()
    return max(1, math.ceil(seconds / per_call))


def repeated(func: Callable[[], object], calls: int) -> Callable[[], None]:
    """A callable that calls func `calls` times back to back."""

    def run() -> None:
        for _ in range(calls):
            func()

    return run
