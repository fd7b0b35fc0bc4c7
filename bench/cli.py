"""The ``python -m bench`` command line: pick benchmarks, run them, print and save the results."""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from bench import registry
from bench.context import RunContext
from bench.document import build_document, default_path, utc_now, write_document
from bench.plot import plot_document
from bench.table import render_table

ALL = "all"
"""The name that selects every registered benchmark."""


def parser() -> argparse.ArgumentParser:
    """The argument parser (separate so tests can inspect it)."""
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure The Cloud against its anchors; print a table, save JSON and a plot.",
        epilog="Exit status is 0 even when a target is missed (a benchmark is a measurement); "
        "it is nonzero when a benchmark fails to run.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run, or '{ALL}'")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    p.add_argument(
        "--quick", action="store_true", help="smoke run: under 30 s per benchmark, smaller sizes"
    )
    p.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="where to write the JSON document (a directory when several benchmarks run); "
        "default bench/results/<name>-<timestamp>.json",
    )
    p.add_argument(
        "--replot",
        type=Path,
        nargs="+",
        metavar="JSON",
        help="redraw the plots of saved JSON documents (next to each, as .png) and exit",
    )
    return p


def selected(names: Sequence[str], p: argparse.ArgumentParser) -> list[str]:
    """The benchmarks to run, in the order given, with ``all`` expanded and duplicates dropped."""
    chosen: list[str] = []
    for name in names:
        expanded = registry.names() if name == ALL else [name]
        for each in expanded:
            if each not in registry.BENCHMARKS:
                p.error(f"unknown benchmark {each!r}; known: {', '.join(registry.names())}")
            if each not in chosen:
                chosen.append(each)
    return chosen


def list_benchmarks(out: TextIO) -> None:
    """Prints each registered benchmark with the first line of its description."""
    width = max(len(name) for name in registry.names())
    for name in registry.names():
        print(f"{name.ljust(width)}  {registry.summary(name)}", file=out)


def run_one(name: str, *, quick: bool, json_path: Path | None, out: TextIO) -> Path:
    """Runs one benchmark, prints its table and writes its JSON document; returns the path."""
    benchmark = registry.load(name)
    ctx = RunContext(quick=quick)
    started = utc_now()
    print(f"running {name}{' (quick)' if quick else ''} ...", file=ctx.log, flush=True)
    began = time.perf_counter()
    result = benchmark.run(ctx)
    duration = time.perf_counter() - began
    document = build_document(
        result, anchors=benchmark.ANCHORS, quick=quick, started=started, duration_s=duration
    )
    path = write_document(document, json_path or default_path(name, started))
    out.write(render_table(result, quick=quick))
    picture = plot_document(document, path.with_suffix(".png"))
    drawn = "" if picture is None else f"; plot: {picture}"
    print(f"took {duration:.1f} s; JSON: {path}{drawn}\n", file=out, flush=True)
    return path


def replot(paths: Sequence[Path], out: TextIO) -> int:
    """Redraws the plot of each saved document; nonzero when one cannot be read."""
    status = 0
    for path in paths:
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            print(f"{path}: cannot read a benchmark document: {error}", file=sys.stderr)
            status = 1
            continue
        picture = plot_document(document, path.with_suffix(".png"))
        print(
            f"{path}: {'no case with an anchor or target' if picture is None else picture}",
            file=out,
        )
    return status


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point; returns the exit status."""
    out = out or sys.stdout
    p = parser()
    args = p.parse_args(argv)
    if args.list:
        list_benchmarks(out)
        return 0
    if args.replot:
        return replot(args.replot, out)
    if not args.names:
        p.error("name at least one benchmark, 'all', or use --list")
    names = selected(args.names, p)
    status = 0
    for name in names:
        json_path: Path | None = args.json
        if json_path is not None and len(names) > 1:
            json_path = json_path / default_path(name, utc_now()).name
        try:
            run_one(name, quick=args.quick, json_path=json_path, out=out)
        except Exception:  # one failing benchmark must not hide the others' results
            traceback.print_exc()
            print(f"benchmark {name} failed", file=sys.stderr)
            status = 1
    return status
