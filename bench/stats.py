"""Summaries of repeated measurements: the median and the spread around it."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Stats:
    """The median of repeated samples with their minimum, maximum and quartiles."""

    median: float
    minimum: float
    maximum: float
    q1: float
    q3: float
    samples: tuple[float, ...]

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        """Summarizes at least one sample."""
        if not samples:
            raise ValueError("Stats.of needs at least one sample")
        values = tuple(float(s) for s in samples)
        ordered = sorted(values)
        if len(ordered) == 1:
            q1 = q3 = ordered[0]
        else:
            q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
        return cls(
            median=statistics.median(ordered),
            minimum=ordered[0],
            maximum=ordered[-1],
            q1=q1,
            q3=q3,
            samples=values,
        )

    def scaled(self, factor: float) -> Stats:
        """The same summary in another unit (every value multiplied by factor > 0)."""
        if factor <= 0:
            raise ValueError("scale factor must be positive")
        return Stats(
            median=self.median * factor,
            minimum=self.minimum * factor,
            maximum=self.maximum * factor,
            q1=self.q1 * factor,
            q3=self.q3 * factor,
            samples=tuple(s * factor for s in self.samples),
        )

    @property
    def relative_spread(self) -> float:
        """(max - min) / median: how much the repetitions disagreed (0 for one sample)."""
        if self.median == 0:
            return 0.0
        return (self.maximum - self.minimum) / abs(self.median)

    def to_json(self) -> dict[str, object]:
        """The summary as a JSON-ready mapping."""
        return {
            "median": self.median,
            "min": self.minimum,
            "max": self.maximum,
            "q1": self.q1,
            "q3": self.q3,
            "iqr": self.q3 - self.q1,
            "n": len(self.samples),
            "samples": list(self.samples),
        }
