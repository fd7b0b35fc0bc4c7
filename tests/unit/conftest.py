"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from thecloud.control.api import IamServices, build_iam_services, load_keys
from thecloud.core.state import LmdbStateStore
from thecloud.dataplane.metrics import Registry


@pytest.fixture
def disks(tmp_path: Path) -> list[Path]:
    """Six empty failure-domain directories (4+2 needs six)."""
    return [tmp_path / f"disk{i}" for i in range(6)]


@pytest.fixture
def registry() -> Registry:
    """A private metrics registry, so tests do not see each other's counts."""
    return Registry()


@pytest.fixture
async def iam(tmp_path: Path) -> AsyncIterator[IamServices]:
    """The IAM services over a fresh LMDB store (needs an `anyio_backend`)."""
    server_key, master_key = load_keys(tmp_path)
    async with await LmdbStateStore.open(tmp_path / "store.lmdb") as store:
        yield build_iam_services(store, server_key, master_key)
