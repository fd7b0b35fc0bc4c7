"""The benchmarks ``python -m bench`` knows, by name.

Adding a benchmark is one module ``bench/<name>.py`` exposing ``NAME``, ``ANCHORS`` and
``run(ctx) -> BenchResult``, plus one line here.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path
from typing import Protocol, cast

from bench.context import RunContext
from bench.results import BenchResult

BENCHMARKS: dict[str, str] = {
    "metrics": "bench.metrics",
    "ec": "bench.ec",
    "volume": "bench.volume",
    "control": "bench.control",
    "filter": "bench.filter",
    "lb": "bench.lb",
}
"""Benchmark name -> module; modules are imported only when their benchmark runs."""


class Benchmark(Protocol):
    """What a benchmark module provides."""

    NAME: str
    ANCHORS: tuple[str, ...]
    """Distributions of the anchors it compares against, whose versions are recorded."""

    def run(self, ctx: RunContext) -> BenchResult:
        """Measures every case."""
        ...


class UnknownBenchmarkError(LookupError):
    """A name that is not in `BENCHMARKS`."""


def names() -> list[str]:
    """Every registered benchmark name, in registration order."""
    return list(BENCHMARKS)


def load(name: str) -> Benchmark:
    """Imports the module of a registered benchmark."""
    try:
        module_name = BENCHMARKS[name]
    except KeyError:
        known = ", ".join(names())
        raise UnknownBenchmarkError(f"no benchmark named {name!r} (known: {known})") from None
    module = importlib.import_module(module_name)
    if getattr(module, "NAME", None) != name or not callable(getattr(module, "run", None)):
        raise TypeError(f"{module_name} must define NAME = {name!r} and run(ctx)")
    return cast(Benchmark, module)


def summary(name: str) -> str:
    """The first line of a benchmark module's docstring, without importing its engines."""
    spec = importlib.util.find_spec(BENCHMARKS[name])
    if spec is None or spec.origin is None:
        return ""
    doc = ast.get_docstring(ast.parse(Path(spec.origin).read_text()))
    return doc.strip().splitlines()[0] if doc else ""
