"""The benchmark harness: summaries, targets and ratios, the table, the JSON document, the CLI."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench import cli, registry
from bench.affinity import pinned_to_last_cpu
from bench.context import RunContext
from bench.document import build_document, default_path, utc_now, write_document
from bench.gil import calls_to_fill, probe_gil, repeated
from bench.host import FLAGS_OF_INTEREST, cpu_info, host_facts
from bench.isolated import run_isolated
from bench.results import BenchResult, Case, Target, format_number
from bench.stats import Stats
from bench.table import RATIO_LEGEND, render_table
from bench.timing import per_call_seconds, per_op_ns
from bench.wrk import parse as parse_wrk

# bench/ is a top-level directory run with `python -m bench` from the project root, not an
# installed package; pytest's `pythonpath` setting makes it importable.
PROJECT_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.unit


def sample_result() -> BenchResult:
    """A result with a met, a missed, an anchorless and a higher-is-better case."""
    result = BenchResult("sample")
    result.add(Case("fast op", "ns", Stats.of([20, 21, 22]), Stats.of([200]), Target(25)))
    result.add(Case("slow op", "ns", Stats.of([120]), Stats.of([1200]), Target(100)))
    result.add(Case("loop", "ns", Stats.of([7.0]), note="context only"))
    result.add(
        Case(
            "share",
            "x idle",
            Stats.of([0.95]),
            Stats.of([0.5]),
            Target(0.9, "higher"),
            better="higher",
        )
    )
    return result


def test_stats_summarize_median_extremes_and_quartiles() -> None:
    stats = Stats.of([5.0, 1.0, 3.0, 2.0, 4.0])

    assert (stats.median, stats.minimum, stats.maximum) == (3.0, 1.0, 5.0)
    assert (stats.q1, stats.q3) == (2.0, 4.0)
    assert stats.samples == (5.0, 1.0, 3.0, 2.0, 4.0)
    assert stats.relative_spread == pytest.approx(4 / 3)


def test_stats_of_an_even_count_take_the_middle_pair_mean() -> None:
    assert Stats.of([1, 2, 3, 10]).median == 2.5


def test_stats_of_one_sample_have_no_spread() -> None:
    stats = Stats.of([7])

    assert (stats.median, stats.q1, stats.q3, stats.relative_spread) == (7, 7, 7, 0)


def test_stats_need_a_sample() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Stats.of([])


def test_scaling_stats_changes_the_unit_of_every_value() -> None:
    ms = Stats.of([0.001, 0.003]).scaled(1e3)

    assert ms.median == pytest.approx(2.0)
    assert ms.samples == pytest.approx((1.0, 3.0))
    assert ms.to_json()["iqr"] == pytest.approx(ms.q3 - ms.q1)


def test_targets_are_met_on_the_right_side_of_the_bound_inclusive() -> None:
    assert Target(25).met(25) and Target(25).met(3) and not Target(25).met(25.1)
    assert Target(0.9, "higher").met(0.95) and not Target(0.9, "higher").met(0.5)
    assert Target(25).describe("ns") == "<= 25 ns"
    assert Target(0.3).describe("ms") == "<= 0.3 ms"
    assert Target(0.9, "higher").describe("x") == ">= 0.9 x"


def test_ratio_is_above_one_when_ours_is_better_in_either_direction() -> None:
    fast, _slow, loop, share = sample_result().cases

    assert fast.ratio == pytest.approx(200 / 21)
    assert share.ratio == pytest.approx(0.95 / 0.5)
    assert loop.ratio is None and loop.met is None


def test_numbers_are_rendered_compactly() -> None:
    assert [format_number(v) for v in (0, 0.0192, 3.29, 23.5, 1213, 5e7)] == [
        "0",
        "0.019",
        "3.29",
        "23.5",
        "1,213",
        "5e+07",
    ]


def test_table_aligns_columns_and_marks_missing_values() -> None:
    text = render_table(sample_result())
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("case"))
    rows = {
        name: line
        for line in lines
        for name in ("fast op", "slow op", "share", "loop")
        if line.startswith(name + " ")
    }

    assert RATIO_LEGEND in lines
    assert header.split() == [
        *("case", "unit", "ours", "ours", "min..max"),
        *("anchor", "ratio", "target", "met?"),
    ]
    assert "9.52x" in rows["fast op"] and rows["fast op"].endswith("yes")
    assert rows["slow op"].endswith("NO")
    assert rows["share"].endswith("yes")
    assert rows["loop"].split()[-4:] == ["-", "-", "-", "-"]
    assert "loop: context only" in text
    # Every table line has the same layout: the right-aligned "met?" column ends on one edge.
    assert len({len(line) for line in (header, *rows.values())}) == 1


def test_json_document_records_host_versions_and_every_case(tmp_path: Path) -> None:
    started = utc_now()
    document = build_document(
        sample_result(), anchors=["prometheus-client"], quick=True, started=started, duration_s=1.5
    )
    path = write_document(document, tmp_path / "deep" / "sample.json")
    loaded = json.loads(path.read_text())

    assert loaded["benchmark"] == "sample" and loaded["quick"] is True
    assert loaded["timestamp"] == started.isoformat() and loaded["timestamp"].endswith("+00:00")
    host = loaded["host"]
    assert {"python", "platform", "cpu_model", "cpu_flags", "nproc"} <= set(host)
    assert set(host["cpu_flags"]) == set(FLAGS_OF_INTEREST)
    assert set(loaded["versions"]) == {"thecloud", "thecloud-native", "prometheus-client"}
    fast, slow, loop, share = loaded["cases"]
    assert fast["ours"]["median"] == 21 and fast["anchor"]["median"] == 200
    assert {"min", "max", "q1", "q3", "iqr", "n", "samples"} <= set(fast["ours"])
    assert (fast["met"], slow["met"], loop["met"], share["met"]) == (True, False, None, True)
    assert fast["target"] == {"bound": 25, "better": "lower", "text": "<= 25 ns"}
    assert loop["anchor"] is None and loop["ratio"] is None
    assert share["ratio_direction"].startswith("ours/anchor")


def test_default_result_path_is_named_after_benchmark_and_utc_time() -> None:
    started = utc_now()
    path = default_path("metrics", started)

    assert path.parent == PROJECT_ROOT / "bench" / "results"
    assert path.name == f"metrics-{started:%Y%m%dT%H%M%S}Z.json"


def test_cpu_info_reads_model_and_flags(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu sse4_2 avx2 gfni\n\n"
        "processor\t: 1\nmodel name\t: Test CPU 9000\nflags\t\t: fpu\n"
    )

    model, flags = cpu_info(cpuinfo)

    assert model == "Test CPU 9000"
    assert flags == {
        "avx2": True,
        "avx512f": False,
        "avx512bw": False,
        "gfni": True,
        "vpclmulqdq": False,
        "sse4_2": True,
    }


def test_list_names_every_registered_benchmark() -> None:
    out = io.StringIO()

    assert cli.main(["--list"], out=out) == 0
    listed = [line.split()[0] for line in out.getvalue().splitlines()]
    assert listed == registry.names() and "metrics" in listed


def test_all_selects_every_benchmark_once_and_unknown_names_are_usage_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.selected(["metrics", "all"], cli.parser()) == registry.names()
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["no-such-bench"])
    assert exit_info.value.code == 2
    assert "unknown benchmark" in capsys.readouterr().err


def test_every_registered_module_names_itself_and_can_run() -> None:
    for name in registry.names():
        module = registry.load(name)
        assert name == module.NAME and callable(module.run)
        assert registry.summary(name)


def fake_benchmark(*, fails: bool) -> SimpleNamespace:
    def run(ctx: RunContext) -> BenchResult:
        if fails:
            raise RuntimeError("engine missing")
        return sample_result()

    return SimpleNamespace(NAME="sample", ANCHORS=(), run=run)


def test_a_missed_target_still_exits_zero_and_writes_the_document(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(registry.BENCHMARKS, "sample", "unused")
    monkeypatch.setattr(registry, "load", lambda name: fake_benchmark(fails=False))
    out = io.StringIO()

    status = cli.main(["sample", "--json", str(tmp_path / "r.json")], out=out)

    assert status == 0
    assert "slow op" in out.getvalue() and "NO" in out.getvalue()
    assert json.loads((tmp_path / "r.json").read_text())["benchmark"] == "sample"


def test_a_failing_benchmark_exits_nonzero(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(registry.BENCHMARKS, "sample", "unused")
    monkeypatch.setattr(registry, "load", lambda name: fake_benchmark(fails=True))

    assert cli.main(["sample", "--json", str(tmp_path / "r.json")], out=io.StringIO()) == 1
    assert "engine missing" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_pinning_uses_one_cpu_and_restores_the_previous_set() -> None:
    before = os.sched_getaffinity(0)

    with pinned_to_last_cpu() as cpu:
        assert os.sched_getaffinity(0) == {cpu} and cpu == max(before)

    assert os.sched_getaffinity(0) == before


def test_per_op_timing_reports_positive_nanoseconds_over_each_repetition() -> None:
    stats, loops = per_op_ns("x + 1", {"x": 1}, repeat=5, seconds_per_repeat=0.002)

    assert len(stats.samples) == 5 and loops >= 1
    assert 0 < stats.minimum <= stats.median <= stats.maximum < 1e6


def test_per_call_timing_batches_short_calls() -> None:
    stats, batch = per_call_seconds(lambda: None, repeat=3, min_sample_seconds=0.001)

    assert batch > 1 and len(stats.samples) == 3 and stats.median < 1e-3


def test_gil_probe_compares_progress_during_work_with_idle_time() -> None:
    probe = probe_gil(lambda: time.sleep(0.02))

    assert probe.seconds >= 0.02
    assert probe.during > 0 and probe.idle > 0
    assert math.isfinite(probe.ratio)
    assert 0 < probe.longest_stall < 10 and 0 < probe.longest_stall_idle < 10


def test_probe_windows_repeat_short_calls_but_run_long_ones_once() -> None:
    assert calls_to_fill(0.5, 0.125) == 4
    assert calls_to_fill(0.3, 0.7) == 1
    calls: list[int] = []
    repeated(lambda: calls.append(1), 3)()
    assert len(calls) == 3


def test_isolated_runs_call_a_function_in_a_fresh_interpreter() -> None:
    facts = run_isolated(host_facts)

    assert facts["python"] == host_facts()["python"]
    with pytest.raises(ValueError, match="cannot be imported"):
        run_isolated(lambda: {})


@pytest.mark.slow
def test_quick_metrics_run_reports_every_case_with_numbers(tmp_path: Path) -> None:
    out = tmp_path / "metrics.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "metrics", "--quick", "--json", str(out)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text())
    cases = {case["name"]: case for case in document["cases"]}
    expected = {
        "Counter.inc()": True,
        "Histogram.observe() default buckets": True,
        '.labels("x","y").inc()': True,
        "empty timeit loop (pass)": False,
        "exposition 10k counter series": True,
        "exposition 1k counter series": True,
        "render 10k GIL check (unpinned)": True,
        "memory per counter series (10k labeled)": True,
        "memory per histogram series (10k labeled)": True,
        "Rust inc, 1 thread on one series": False,
        "Rust inc, 2 threads on one series": False,
        "Rust inc, 2-thread / 1-thread per-op time": False,
    }
    assert set(cases) == set(expected)
    for name, has_anchor in expected.items():
        case = cases[name]
        assert math.isfinite(case["ours"]["median"]) and case["ours"]["median"] > 0, name
        assert (case["anchor"] is not None) == has_anchor, name
        if has_anchor:
            assert case["anchor"]["median"] > 0 and case["ratio"] > 0, name
        if name != "empty timeit loop (pass)":
            assert isinstance(case["met"], bool), name
    assert cases["exposition 10k counter series"]["details"]["same_text_as_anchor"] is True
    assert document["versions"]["prometheus-client"] == "0.26.0"
    for name in expected:
        assert name in done.stdout


# A real `wrk -t1 -c4 -d1s --latency` report against a server answering 404, its 50% and 99%
# lines changed to microseconds and seconds to check the unit conversion.
WRK_REPORT = """Running 1s test @ http://127.0.0.1:18777/nonexistent
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.94ms   14.99ms  98.22ms   93.80%
    Req/Sec     1.82k   718.44     2.62k    70.00%
  Latency Distribution
     50%  621.00us
     75%    3.21ms
     90%    7.99ms
     99%    1.20s
  1812 requests in 1.00s, 0.90MB read
  Non-2xx or 3xx responses: 1812
Requests/sec:   1803.29
Transfer/sec:      0.89MB
"""


def test_wrk_report_is_read_into_numbers_in_ms() -> None:
    run = parse_wrk(WRK_REPORT)
    assert (run.rps, run.requests, run.non_2xx, run.socket_errors) == (1803.29, 1812, 1812, 0)
    assert run.p50_ms == pytest.approx(0.621)
    assert run.p99_ms == pytest.approx(1200.0)
    assert run.failures == 1812


def test_wrk_socket_errors_are_summed() -> None:
    errors = "  Socket errors: connect 1, read 2, write 3, timeout 4\n"
    run = parse_wrk(WRK_REPORT.replace("  Non-2xx or 3xx responses: 1812\n", errors))
    assert (run.non_2xx, run.socket_errors, run.failures) == (0, 10, 10)


def test_a_wrk_report_without_numbers_is_refused() -> None:
    with pytest.raises(RuntimeError, match="cannot parse wrk output"):
        parse_wrk("Running 1s test @ http://127.0.0.1:1/\n")
    with pytest.raises(RuntimeError, match="no 99% latency"):
        parse_wrk(WRK_REPORT.replace("     99%    1.20s\n", ""))
