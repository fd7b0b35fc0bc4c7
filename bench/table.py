"""The plain-text table printed after a benchmark: one row per case, columns aligned."""

from __future__ import annotations

from collections.abc import Sequence

from bench.results import BenchResult, Case, format_number

HEADERS = ("case", "unit", "ours", "ours min..max", "anchor", "ratio", "target", "met?")
"""Column titles; `RATIO_LEGEND` explains the ratio column."""

RATIO_LEGEND = (
    "ratio > 1 means ours is better: anchor/ours for times and sizes (lower is better), "
    "ours/anchor where higher is better"
)

MISSING = "-"


def case_row(case: Case) -> tuple[str, ...]:
    """The cells of one case's row."""
    ratio = case.ratio
    met = case.met
    return (
        case.name,
        case.unit,
        format_number(case.ours.median),
        f"{format_number(case.ours.minimum)}..{format_number(case.ours.maximum)}",
        MISSING if case.anchor is None else format_number(case.anchor.median),
        MISSING if ratio is None else f"{ratio:.2f}x",
        MISSING if case.target is None else case.target.describe(case.unit),
        MISSING if met is None else ("yes" if met else "NO"),
    )


def align(rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligns the first column and right-aligns the others, two spaces apart."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def render_table(result: BenchResult, *, quick: bool = False) -> str:
    """The whole report of one benchmark: title, legend, rows, then notes."""
    mode = " (quick smoke run: sizes and repetitions reduced)" if quick else ""
    rows = [HEADERS, *(case_row(case) for case in result.cases)]
    lines = align(rows)
    rule = "-" * max(len(line) for line in lines)
    out = [f"== {result.name}{mode}", RATIO_LEGEND, rule, lines[0], rule, *lines[1:], rule]
    notes = [f"  {case.name}: {case.note}" for case in result.cases if case.note]
    notes += [f"  {note}" for note in result.notes]
    if notes:
        out += ["notes:", *notes]
    return "\n".join(out) + "\n"
