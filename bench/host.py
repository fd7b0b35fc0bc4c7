"""Facts about the machine and the installed engines, recorded with every result."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from collections.abc import Iterable
from pathlib import Path

FLAGS_OF_INTEREST = ("avx2", "avx512f", "avx512bw", "gfni", "vpclmulqdq", "sse4_2")
"""CPU features that decide which native code paths (hashing, erasure coding, CRC) can run."""

ALWAYS_RECORDED = ("thecloud", "thecloud-native")
"""Distributions whose versions every result records: ours."""


def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, dict[str, bool]]:
    """The CPU model name and which flags of interest it has (unknown model off Linux)."""
    model = platform.processor() or "unknown"
    flags: set[str] = set()
    try:
        text = cpuinfo.read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model in ("unknown", platform.machine()):
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return model, {flag: flag in flags for flag in FLAGS_OF_INTEREST}


def host_facts() -> dict[str, object]:
    """Python, platform, CPU model, CPU flags of interest, CPU counts and load at the time."""
    model, flags = cpu_info()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": model,
        "cpu_flags": flags,
        "nproc": os.cpu_count(),
        "usable_cpus": usable,
        "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def versions(distributions: Iterable[str]) -> dict[str, str | None]:
    """Installed versions of ours and the given anchor distributions (None when not installed)."""
    found: dict[str, str | None] = {}
    for name in (*ALWAYS_RECORDED, *distributions):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found
