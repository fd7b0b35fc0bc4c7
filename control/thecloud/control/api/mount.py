"""The `/v1` API as the server runs it: starts the control runtime at startup, stops it at stop.

Starting happens in the ASGI lifespan, on the server's event loop, because the store's writer
and watches belong to the loop that opened it; see `thecloud.control.runtime`.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any

from thecloud.control.api.documents import api_documents
from thecloud.control.api.resources import all_routes
from thecloud.control.api.v1 import V1Api
from thecloud.control.app import Receive, Response, Scope, problem
from thecloud.control.runtime import ControlRuntime

__all__ = ["StoreBackedApi"]


class StoreBackedApi:
    """A V1Api over the store of one state directory (or etcd), with its own lifecycle."""

    def __init__(self, state_dir: Path, etcd_endpoint: str | None = None) -> None:
        self._state_dir = state_dir
        self._etcd_endpoint = etcd_endpoint
        self._runtime: ControlRuntime | None = None
        self._api: V1Api | None = None
        # Fixed documents do not need the store, so they are ready before startup.
        self._documents = api_documents(all_routes())

    def documents(self) -> Mapping[str, Response]:
        """The OpenAPI document and its HTML rendering, by path."""
        return self._documents

    def load_balancer_stats(self) -> dict[str, dict[str, Any]]:
        """Counters of every load balancer this server runs, by id (empty while stopped)."""
        return {} if self._runtime is None else self._runtime.reconciler.all_stats()

    async def startup(self) -> None:
        """Start the control runtime of the state directory and build the API over it."""
        self._runtime = await ControlRuntime.start(self._state_dir, self._etcd_endpoint)
        self._api = V1Api(self._runtime.services)

    async def shutdown(self) -> None:
        """Stop answering, then stop the runtime (reconciler, engines, store)."""
        self._api = None
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            await runtime.close()

    async def handle(self, scope: Scope, receive: Receive) -> Response:
        """Answer one `/v1` request, or 503 outside the lifespan."""
        if self._api is None:
            return problem(HTTPStatus.SERVICE_UNAVAILABLE, "the API is starting or stopping")
        return await self._api.handle(scope, receive)
