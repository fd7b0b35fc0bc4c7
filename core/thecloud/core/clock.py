"""Wall-clock timestamps in the one text form The Cloud writes: ISO 8601, UTC, milliseconds, `Z`.

One form everywhere (logs, stored records, API responses) keeps timestamps comparable as strings
and unambiguous across machines in different time zones.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["format_utc", "utc_now"]


def format_utc(epoch_seconds: float) -> str:
    """Return `epoch_seconds` (as from `time.time()`) as `YYYY-MM-DDTHH:MM:SS.mmmZ`."""
    moment = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_now() -> str:
    """Return the current time as `YYYY-MM-DDTHH:MM:SS.mmmZ`."""
    return format_utc(time.time())
