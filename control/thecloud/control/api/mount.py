"""The `/v1` API as the server runs it: opens its own state store at startup, closes it at stop.

The store lives at `<state_dir>/store.lmdb` and the key files under `<state_dir>/keys/`. Opening
happens in the ASGI lifespan, on the server's event loop, because the store's writer and watches
belong to the loop that opened it.
"""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path

from thecloud.control.api.services import STORE_DIR, build_iam_services, load_keys
from thecloud.control.api.v1 import V1Api
from thecloud.control.app import Receive, Response, Scope, problem
from thecloud.core.state import LmdbStateStore

__all__ = ["StoreBackedApi"]


class StoreBackedApi:
    """A V1Api over the LMDB store of one state directory, with its own lifecycle."""

    def __init__(self, state_dir: Path) -> None:
        self._state_dir = state_dir
        self._store: LmdbStateStore | None = None
        self._api: V1Api | None = None

    async def startup(self) -> None:
        """Open the store, load (or create) the keys and build the API."""
        server_key, master_key = load_keys(self._state_dir)
        self._store = await LmdbStateStore.open(self._state_dir / STORE_DIR)
        self._api = V1Api(build_iam_services(self._store, server_key, master_key))

    async def shutdown(self) -> None:
        """Stop answering and close the store."""
        self._api = None
        if self._store is not None:
            await self._store.close()
            self._store = None

    async def handle(self, scope: Scope, receive: Receive) -> Response:
        """Answer one `/v1` request, or 503 outside the lifespan."""
        if self._api is None:
            return problem(HTTPStatus.SERVICE_UNAVAILABLE, "the API is starting or stopping")
        return await self._api.handle(scope, receive)
