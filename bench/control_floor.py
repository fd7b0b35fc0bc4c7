"""The floor for ``python -m bench control``: raw ASGI over the same LMDB state store.

Run by uvicorn on the same stack as ``thecloud serve`` (uvloop, httptools)::

    CONTROL_FLOOR_STORE=/tmp/x python -m uvicorn bench.control_floor:app --loop uvloop ...

No framework, no authentication, no audit: ``GET /get`` reads one key, ``POST /put`` writes the
request body under a new key, ``GET /list?after=KEY`` reads a page of 100 keys under the seeded
prefix. ``CONTROL_FLOOR_SEED`` (default 0) entries are written at startup for the listing.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs

from thecloud.core.state import LmdbStateStore

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

STORE_ENV: Final = "CONTROL_FLOOR_STORE"
SEED_ENV: Final = "CONTROL_FLOOR_SEED"
ONE_KEY: Final = "floor/one"
LIST_PREFIX: Final = "floor/list/"
PAGE: Final = 100

_JSON: Final = [(b"content-type", b"application/json")]


class FloorApp:
    """The minimal application: one store, three routes."""

    def __init__(self) -> None:
        self._store: LmdbStateStore | None = None
        self._counter = itertools.count()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI scope."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        store = self._store
        assert store is not None
        path: str = scope["path"]
        status, body = 404, b"{}"
        if path == "/get":
            entry = await store.get(ONE_KEY)
            status, body = 200, b"{}" if entry is None else entry.value
        elif path == "/put":
            chunks = []
            more = True
            while more:
                message = await receive()
                chunks.append(message.get("body", b""))
                more = message.get("more_body", False)
            key = f"floor/put/{os.getpid()}-{next(self._counter)}"
            entry = await store.put(key, b"".join(chunks))
            status, body = 201, json.dumps({"key": key, "version": entry.version}).encode()
        elif path == "/list":
            query = parse_qs(scope["query_string"].decode("latin-1"))
            after = query.get("after", [None])[0]
            page = await store.list(LIST_PREFIX, limit=PAGE, start_after=after)
            items = [json.loads(e.value) for e in page.entries]
            document = {"items": items, "next": page.next_key}
            status, body = 200, json.dumps(document).encode()
        elif path == "/healthz":
            status = 200
        headers = [*_JSON, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                store = await LmdbStateStore.open(Path(os.environ[STORE_ENV]))
                await store.put(ONE_KEY, json.dumps({"id": "floor", "name": "one"}).encode())
                seed = int(os.environ.get(SEED_ENV, "0"))
                for start in range(0, seed, 500):
                    await asyncio.gather(
                        *(
                            store.put(f"{LIST_PREFIX}{i:08d}", b'{"name":"floor-account"}')
                            for i in range(start, min(seed, start + 500))
                        )
                    )
                self._store = store
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._store is not None:
                    await self._store.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


app = FloorApp()
