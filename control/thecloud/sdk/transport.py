"""The one place the SDK speaks HTTP: JSON in, JSON out, problem documents raised as errors.

Every request carries the API key as `Authorization: Bearer`; the key never appears in reprs,
messages or exceptions. Every POST carries a fresh `Idempotency-Key`, so a request whose
connection broke is sent once more (GET and POST only; see `_safe_to_resend`). List routes are
walked page by page with their opaque page tokens.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final

import httpx

from thecloud.core.errors import TheCloudError
from thecloud.core.version import version
from thecloud.sdk.errors import (
    NotConfiguredError,
    Problem,
    TransportError,
    UnexpectedAnswerError,
    error_for,
)

__all__ = ["DEFAULT_TIMEOUT", "Transport"]

#: Seconds to wait for a connection or an answer.
DEFAULT_TIMEOUT: Final = 30.0
#: Sends per request: one resend after a lost connection, when that is safe.
_ATTEMPTS: Final = 2
_NO_KEY: Final = "no API key: set THECLOUD_API_KEY or run `thecloud admin bootstrap`"


def _user_agent() -> str:
    try:
        return f"thecloud-sdk/{version()}"
    except TheCloudError:
        # An uninstalled source tree (no distribution metadata) still talks to servers.
        return "thecloud-sdk"


def _safe_to_resend(method: str, error: httpx.TransportError) -> bool:
    """Whether resending cannot act twice: nothing was sent, or the request is idempotent.

    PUT and DELETE are not resent: a lost answer to a secret's PUT may hide a stored version,
    and a second DELETE would fail on what the first one removed.
    """
    return isinstance(error, httpx.ConnectError) or method in ("GET", "POST")


class Transport:
    """JSON requests against one API with one key, over an httpx client it owns."""

    def __init__(
        self,
        api_url: str,
        api_key: str | None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._api_key = api_key
        self._http = httpx.AsyncClient(
            base_url=api_url,
            timeout=timeout,
            transport=http_transport,
            headers={"user-agent": _user_agent(), "accept": "application/json"},
        )

    def __repr__(self) -> str:
        return f"Transport({str(self._http.base_url)!r}, <key redacted>)"

    @property
    def api_url(self) -> str:
        """The base URL requests go to."""
        return str(self._http.base_url)

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request; return the decoded JSON body or raise the ApiError it earned."""
        if self._api_key is None:
            raise NotConfiguredError(_NO_KEY)
        sent = {"authorization": f"Bearer {self._api_key}", **(headers or {})}
        if method == "POST":
            # The server replays a POST it already applied under the same key, so a POST
            # whose answer was lost can be sent again without acting twice.
            sent.setdefault("idempotency-key", uuid.uuid4().hex)
        query = {name: value for name, value in (params or {}).items() if value is not None}
        attempt = 1
        while True:
            try:
                response = await self._http.request(
                    method, path, json=body, params=query, headers=sent
                )
            except httpx.TransportError as error:
                if attempt == _ATTEMPTS or not _safe_to_resend(method, error):
                    # The message names the URL and the cause; httpx never puts headers in it.
                    raise TransportError(f"cannot reach {self.api_url}: {error}") from None
                attempt += 1
                continue
            return self._decode(response)

    @staticmethod
    def _decode(response: httpx.Response) -> Any:
        try:
            document = response.json() if response.content else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            document = None
            if response.is_success:
                raise UnexpectedAnswerError(
                    f"the server answered {response.status_code} with a body that is not JSON"
                ) from None
        if response.is_success:
            return document
        request_id = response.headers.get("x-request-id")
        raise error_for(Problem.from_document(response.status_code, document, request_id))

    async def pages(
        self, path: str, params: Mapping[str, str | int] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield every item of a list route, following `next_page_token` until the end."""
        query: dict[str, str | int] = dict(params or {})
        while True:
            page = await self.request("GET", path, params=query)
            if not isinstance(page, dict) or not isinstance(page.get("items"), list):
                raise UnexpectedAnswerError(f"the answer to GET {path} is not a page of items")
            for item in page["items"]:
                yield item
            token = page.get("next_page_token")
            if not token:
                return
            query["page_token"] = token
