"""A picture of one benchmark run: every case's advantage over its anchor, repetition by repetition.

Cases differ in units (req/s, ms, ns/packet), so each row is normalised: an anchored case shows
our samples and the anchor's as "times better than the anchor's median" (1 = parity, right =
ours better); a case with only a target shows our samples against the target's bound (1 = just
met). Spread matters on a noisy machine, which is why every repetition is a dot and the median a
bar. Drawn from the JSON document, so any saved run can be re-plotted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROW_HEIGHT_IN = 0.32
"""Vertical space per case, so long benchmarks (lb has ~50 cases) stay readable."""

COARSE_TICKS = (0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 1000)
FINE_TICKS = (0.5, 0.75, 1, 1.25, 1.5, 2, 3)
"""Round ratios to label on the log axis: fine ones when every value is within 0.5x..3x."""

OURS_COLOUR, ANCHOR_COLOUR, TARGET_COLOUR = "tab:blue", "grey", "tab:orange"


@dataclass(frozen=True)
class Row:
    """One case, normalised so that > 1 means ours is better than the reference."""

    label: str
    group_start: bool
    """Whether the case opens a group (benchmarks indent the names of a group's other cases)."""
    ours: tuple[float, ...]
    reference: tuple[float, ...]
    """The anchor's own samples on the same scale (empty for a target-only case)."""
    against_target: bool


def advantage(values: Sequence[float], reference: float, better: str) -> tuple[float, ...]:
    """How many times better each value is than the reference (positive values only)."""
    if better == "lower":
        return tuple(reference / v for v in values if v > 0)
    return tuple(v / reference for v in values if v > 0)


def row_of(case: Mapping[str, Any]) -> Row | None:
    """The plot row of a case from the JSON document, or None when it has no reference to face."""
    better = str(case["better"])
    name = str(case["name"])
    group_start = not name.startswith(" ")
    ours = [float(s) for s in case["ours"]["samples"]]
    anchor = case.get("anchor")
    if anchor is not None and float(anchor["median"]) > 0:
        median = float(anchor["median"])
        samples = [float(s) for s in anchor["samples"]]
        return Row(
            label=name.strip(),
            group_start=group_start,
            ours=advantage(ours, median, better),
            reference=advantage(samples, median, better),
            against_target=False,
        )
    target = case.get("target")
    if target is not None and float(target["bound"]) > 0:
        return Row(
            label=f"{name.strip()} (vs target {target['text']})",
            group_start=group_start,
            ours=advantage(ours, float(target["bound"]), str(target["better"])),
            reference=(),
            against_target=True,
        )
    return None


def plot_document(document: Mapping[str, Any], path: Path) -> Path | None:
    """Draws the run's rows into a PNG at path; None (and no file) when no case has a reference."""
    rows = [r for r in (row_of(c) for c in document["cases"]) if r is not None and r.ours]
    if not rows:
        return None
    import matplotlib  # deferred: only plotting needs it, and importing it costs ~0.3 s

    matplotlib.use("Agg")  # headless: benchmarks run on servers without a display
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(10, 1.6 + ROW_HEIGHT_IN * len(rows)))
    try:
        _draw(axes, rows)
        quick = " (quick)" if document.get("quick") else ""
        axes.set_title(f"{document['benchmark']}{quick}: {document['timestamp']}", loc="left")
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=110, bbox_inches="tight")
    finally:
        pyplot.close(figure)
    return path


def _draw(axes: Any, rows: Sequence[Row]) -> None:
    """Dots per repetition, a bar at each median, parity at 1, on a log scale (2x = 0.5x apart)."""
    import statistics

    from matplotlib.lines import Line2D
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    values: list[float] = []
    for y, row in enumerate(rows):
        colour = TARGET_COLOUR if row.against_target else OURS_COLOUR
        if row.group_start and y > 0:
            axes.axhline(y - 0.5, color="grey", linewidth=0.5, alpha=0.5)
        if row.reference:
            axes.scatter(row.reference, [y + 0.2] * len(row.reference), s=8, color=ANCHOR_COLOUR)
        axes.scatter(row.ours, [y] * len(row.ours), s=14, color=colour, zorder=3)
        median = statistics.median(row.ours)
        axes.plot([median, median], [y - 0.3, y + 0.3], color=colour, linewidth=2.5, zorder=4)
        axes.annotate(
            f"{median:.2f}x", (median, y), xytext=(6, -3), textcoords="offset points", fontsize=7
        )
        values += [*row.ours, *row.reference]
    axes.axvline(1.0, color="black", linewidth=0.8, linestyle="--")
    axes.set_xscale("log")
    low, high = min(*values, 0.9) / 1.15, max(*values, 1.1) * 1.25
    axes.set_xlim(low, high)
    ticks = (
        FINE_TICKS if low >= FINE_TICKS[0] / 1.2 and high <= FINE_TICKS[-1] * 1.2 else COARSE_TICKS
    )
    axes.xaxis.set_major_locator(FixedLocator([t for t in ticks if low <= t <= high]))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}x"))
    axes.xaxis.set_minor_locator(NullLocator())
    axes.set_yticks(range(len(rows)), [row.label for row in rows], fontsize=7)
    axes.set_ylim(len(rows) - 0.5, -0.5)
    axes.set_xlabel("times better than the reference (> 1: ours better), log scale")
    axes.grid(axis="x", alpha=0.3)
    axes.legend(
        handles=[
            Line2D([], [], marker="o", linestyle="", color=OURS_COLOUR, label="ours / anchor"),
            Line2D([], [], marker="o", linestyle="", color=ANCHOR_COLOUR, label="anchor runs"),
            Line2D([], [], marker="o", linestyle="", color=TARGET_COLOUR, label="ours / target"),
        ],
        loc="lower right",
        fontsize=7,
    )
