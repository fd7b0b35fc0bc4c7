"""The state-store conformance suite against a real etcd server (Debian's etcd-server).

One etcd runs for the module on free loopback ports with a throw-away data directory; each test
gets its own namespace in it, so tests do not see each other's keys.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.integration.etcd_server import running_etcd
from tests.state_conformance import *  # noqa: F403
from tests.state_conformance import StoreOpener
from thecloud.core.state import EtcdStateStore, StateStore

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

_namespaces = itertools.count()


@pytest.fixture(scope="module")
def etcd_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Run etcd for this module and yield its client URL."""
    with running_etcd(tmp_path_factory.mktemp("etcd")) as client:
        yield client


@pytest.fixture
def open_store(etcd_endpoint: str) -> StoreOpener:
    """Open an etcd store in a namespace of its own; every call in one test reuses it."""
    namespace = f"test{next(_namespaces)}/"

    @contextlib.asynccontextmanager
    async def opener(**options: Any) -> AsyncIterator[StateStore]:
        store = await EtcdStateStore.open(etcd_endpoint, namespace=namespace, **options)
        async with store:
            yield store

    return opener
