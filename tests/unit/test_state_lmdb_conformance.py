"""The state-store conformance suite against the embedded LMDB backend, on real files."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.state_conformance import *  # noqa: F403
from tests.state_conformance import StoreOpener
from thecloud.core.state import LmdbStateStore, StateStore

pytestmark = [pytest.mark.unit, pytest.mark.anyio]


@pytest.fixture
def open_store(tmp_path: Path) -> StoreOpener:
    """Open an LMDB store in this test's directory; every call reopens the same files."""

    @contextlib.asynccontextmanager
    async def opener(**options: Any) -> AsyncIterator[StateStore]:
        async with await LmdbStateStore.open(tmp_path / "state", **options) as store:
            yield store

    return opener
