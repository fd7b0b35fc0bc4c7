"""The JSON document a benchmark run leaves behind, so later runs can be compared with it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from bench.host import host_facts, versions
from bench.results import BenchResult

SCHEMA_VERSION = 1
"""Bumped when the document's shape changes incompatibly."""

RESULTS_DIR = Path(__file__).resolve().parent / "results"
"""Where documents go when no path is given (gitignored)."""


def utc_now() -> datetime:
    """The current time in UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0)


def build_document(
    result: BenchResult,
    *,
    anchors: Iterable[str],
    quick: bool,
    started: datetime,
    duration_s: float,
) -> dict[str, object]:
    """The document for one benchmark run: what ran where, with which versions, and the cases."""
    return {
        "schema": SCHEMA_VERSION,
        "benchmark": result.name,
        "timestamp": started.isoformat(),
        "quick": quick,
        "duration_s": round(duration_s, 3),
        "host": host_facts(),
        "versions": versions(anchors),
        "cases": [case.to_json() for case in result.cases],
        "notes": list(result.notes),
    }


def default_path(name: str, started: datetime) -> Path:
    """``bench/results/<name>-<timestamp>.json`` with a filename-safe UTC timestamp."""
    return RESULTS_DIR / f"{name}-{started.strftime('%Y%m%dT%H%M%SZ')}.json"


def write_document(document: dict[str, object], path: Path) -> Path:
    """Writes the document as indented JSON, creating parent directories; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    return path
