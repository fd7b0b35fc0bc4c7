"""What the harness hands a benchmark: the mode it runs in and a place to say what it is doing."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO, TypeVar

T = TypeVar("T")


@dataclass
class RunContext:
    """How thoroughly to measure.

    ``quick`` is a smoke check that must finish each benchmark in under 30 s: fewer
    repetitions and smaller sizes, labelled as such in the case names.
    """

    quick: bool = False
    log: TextIO = field(default=sys.stderr)
    started: float = field(default_factory=time.perf_counter)

    def pick(self, full: T, quick: T) -> T:
        """The full-mode value, or the quick-mode one."""
        return quick if self.quick else full

    @property
    def repeat(self) -> int:
        """Repetitions of a timed loop (at least 5 in both modes, per the measuring rules)."""
        return self.pick(7, 5)

    def progress(self, message: str) -> None:
        """Says what is being measured now, and since when (on stderr: stdout is the table)."""
        elapsed = time.perf_counter() - self.started
        print(f"  [{elapsed:6.1f} s] {message}", file=self.log, flush=True)
