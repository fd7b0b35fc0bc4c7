"""Fixtures shared by the unit tests of the volume store."""

from __future__ import annotations

from pathlib import Path

import pytest

from thecloud.dataplane.metrics import Registry


@pytest.fixture
def disks(tmp_path: Path) -> list[Path]:
    """Six empty failure-domain directories (4+2 needs six)."""
    return [tmp_path / f"disk{i}" for i in range(6)]


@pytest.fixture
def registry() -> Registry:
    """A private metrics registry, so tests do not see each other's counts."""
    return Registry()
