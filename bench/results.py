"""What a benchmark reports: cases with our and the anchor's numbers, targets and ratios."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bench.stats import Stats

Better = Literal["lower", "higher"]
"""Which direction of a case's value is an improvement."""

Detail = float | int | str | bool
"""A scalar fact recorded next to a case (raw counts, sizes, cross-checks)."""


@dataclass(frozen=True)
class Target:
    """The bound a case's median must meet, taken from the issue that asked for the benchmark."""

    bound: float
    better: Better = "lower"

    def met(self, value: float) -> bool:
        """Whether value is on the right side of the bound (the bound itself counts as met)."""
        return value <= self.bound if self.better == "lower" else value >= self.bound

    def describe(self, unit: str) -> str:
        """The target as people write it, e.g. ``<= 25 ns``."""
        operator = "<=" if self.better == "lower" else ">="
        return f"{operator} {self.bound:g} {unit}".rstrip()


@dataclass(frozen=True)
class Case:
    """One measured quantity: ours, optionally the anchor's, and optionally a target."""

    name: str
    unit: str
    ours: Stats
    anchor: Stats | None = None
    target: Target | None = None
    better: Better = "lower"
    note: str = ""
    details: dict[str, Detail] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """How many times better ours is than the anchor (> 1: ours better), or None.

        anchor / ours when lower is better (times, sizes); ours / anchor when higher is better.
        """
        if self.anchor is None:
            return None
        numerator, denominator = (
            (self.anchor.median, self.ours.median)
            if self.better == "lower"
            else (self.ours.median, self.anchor.median)
        )
        if denominator == 0:
            return None
        return numerator / denominator

    @property
    def met(self) -> bool | None:
        """Whether our median meets the target, or None when the case has no target."""
        return None if self.target is None else self.target.met(self.ours.median)

    def to_json(self) -> dict[str, object]:
        """The case as a JSON-ready mapping."""
        return {
            "name": self.name,
            "unit": self.unit,
            "better": self.better,
            "ours": self.ours.to_json(),
            "anchor": None if self.anchor is None else self.anchor.to_json(),
            "ratio": self.ratio,
            "ratio_direction": (
                "anchor/ours (>1: ours faster or smaller)"
                if self.better == "lower"
                else "ours/anchor (>1: ours higher)"
            ),
            "target": None
            if self.target is None
            else {
                "bound": self.target.bound,
                "better": self.target.better,
                "text": self.target.describe(self.unit),
            },
            "met": self.met,
            "note": self.note,
            "details": dict(self.details),
        }


@dataclass
class BenchResult:
    """Everything one benchmark run measured."""

    name: str
    cases: list[Case] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, case: Case) -> Case:
        """Appends a case and returns it."""
        self.cases.append(case)
        return case


def format_number(value: float) -> str:
    """A compact human rendering: 3 significant digits, no exponent for everyday magnitudes."""
    magnitude = abs(value)
    if value == 0:
        return "0"
    if magnitude >= 1e7 or magnitude < 1e-3:
        return f"{value:.3g}"
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"
