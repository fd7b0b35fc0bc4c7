"""The benchmark plot: rows normalised against the anchor or target, a PNG per run, re-plotting."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bench import cli
from bench.plot import plot_document, row_of
from bench.results import BenchResult, Case, Target
from bench.stats import Stats

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def document_of(result: BenchResult) -> dict[str, object]:
    return {
        "benchmark": result.name,
        "timestamp": "2026-11-27T00:00:00+00:00",
        "quick": True,
        "cases": [case.to_json() for case in result.cases],
    }


def test_a_lower_is_better_case_faces_the_anchors_median() -> None:
    case = Case("op", "ns", Stats.of([50, 100]), Stats.of([100, 200, 300])).to_json()

    row = row_of(case)

    assert row is not None and not row.against_target and row.group_start
    assert row.ours == (4.0, 2.0)  # 200 ns anchor median / our samples
    assert row.reference == (2.0, 1.0, 200 / 300)


def test_a_higher_is_better_case_and_an_indented_one() -> None:
    case = Case("  rps", "req/s", Stats.of([150]), Stats.of([100]), better="higher").to_json()

    row = row_of(case)

    assert row is not None and row.ours == (1.5,) and row.label == "rps" and not row.group_start


def test_a_target_only_case_faces_its_bound_and_a_bare_case_is_left_out() -> None:
    with_target = Case(
        "ratio", "x", Stats.of([0.55]), target=Target(0.5, "higher"), better="higher"
    )
    row = row_of(with_target.to_json())
    assert row is not None and row.against_target and row.ours == pytest.approx((1.1,))
    assert "vs target >= 0.5 x" in row.label

    assert row_of(Case("context", "ns", Stats.of([7.0])).to_json()) is None
    assert row_of(Case("errors", "count", Stats.of([0]), target=Target(0)).to_json()) is None


def test_a_run_becomes_a_png_and_a_run_with_nothing_to_compare_draws_nothing(
    tmp_path: Path,
) -> None:
    result = BenchResult("sample")
    result.add(Case("op", "ns", Stats.of([20, 21, 22]), Stats.of([200, 210]), Target(25)))
    result.add(
        Case("  share", "x", Stats.of([0.95]), target=Target(0.9, "higher"), better="higher")
    )

    picture = plot_document(document_of(result), tmp_path / "sample.png")

    assert picture == tmp_path / "sample.png"
    assert picture.read_bytes().startswith(PNG_SIGNATURE)
    bare = BenchResult("bare", [Case("context", "ns", Stats.of([7.0]))])
    assert plot_document(document_of(bare), tmp_path / "bare.png") is None
    assert not (tmp_path / "bare.png").exists()


def test_replot_redraws_saved_documents_and_reports_unreadable_ones(tmp_path: Path) -> None:
    result = BenchResult("sample", [Case("op", "ns", Stats.of([20]), Stats.of([200]))])
    saved = tmp_path / "sample-1.json"
    saved.write_text(json.dumps(document_of(result)))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    out = io.StringIO()

    assert cli.main(["--replot", str(saved)], out=out) == 0
    assert (tmp_path / "sample-1.png").read_bytes().startswith(PNG_SIGNATURE)
    assert cli.main(["--replot", str(broken)], out=out) == 1
