"""Resident memory of this process, for measuring what objects cost including native memory."""

from __future__ import annotations

import os
from pathlib import Path

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
"""Bytes per page, the unit of /proc/self/statm."""


def rss_bytes(statm: Path = Path("/proc/self/statm")) -> int:
    """Resident set size now, in bytes (Python heap, native allocations and touched mappings)."""
    resident_pages = int(statm.read_text().split()[1])
    return resident_pages * PAGE_SIZE
