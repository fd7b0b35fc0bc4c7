"""The audit log: the tenant's entries, filtered by who and when, and a check of the chain."""

from __future__ import annotations

from collections.abc import AsyncIterator

from thecloud.sdk.models import AuditEntry, AuditVerdict, read
from thecloud.sdk.resources.base import Resource

__all__ = ["Audit"]


class Audit(Resource):
    """The tenant's audit log."""

    async def list(
        self,
        *,
        principal_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[AuditEntry]:
        """Yield entries oldest first; `since`/`until` look like 2026-01-31T12:00:00.000Z."""
        filters = {"principal_id": principal_id, "since": since, "until": until}
        params: dict[str, str | int] = {k: v for k, v in filters.items() if v is not None}
        if page_size is not None:
            params["limit"] = page_size
        async for item in self._transport.pages(await self._path("audit"), params):
            yield read(AuditEntry, item)

    async def verify(self) -> AuditVerdict:
        """Check the hash chain; the verdict names the first entry that fails, if any."""
        document = await self._transport.request("GET", await self._path("audit", "verify"))
        return read(AuditVerdict, document)
