"""Timing helper behind `.time()`: a context manager and decorator reporting elapsed seconds."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class Timer:
    """Measures a with-block or each call of a decorated function and reports the seconds."""

    def __init__(self, report: Callable[[float], Any]) -> None:
        self._report = report
        self._started = 0.0

    def __enter__(self) -> Timer:
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._report(max(time.perf_counter() - self._started, 0.0))

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def timed(*args: P.args, **kwargs: P.kwargs) -> R:
            # A fresh timer per call keeps concurrent calls from sharing a start time.
            with Timer(self._report):
                return func(*args, **kwargs)

        return timed
