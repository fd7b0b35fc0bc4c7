"""Per-tenant quotas: limits set by a system admin, usage kept next to them, admission checks.

Layout: `iam/quotas/<tenant>` holds the limits (absent: `DEFAULT_LIMITS`); `iam/quota-usage/
<tenant>` holds what is in use, as one JSON object. `admit` returns transaction steps that raise
the usage, conditioned on both keys' versions: the caller commits them with the resource it
creates, so a resource and the usage it counts for land together, and two creates racing for
the last unit cannot both commit (the loser sees ConflictError and tries again).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

from thecloud.control.iam.errors import PreconditionFailedError, QuotaExceededError
from thecloud.control.iam.records import TENANT_ID_PREFIX
from thecloud.core.errors import ConflictError, InvalidArgumentError, StateError
from thecloud.core.ids import parse_id
from thecloud.core.state import Check, Operation, Put, StateStore

__all__ = ["DEFAULT_LIMITS", "QUOTA_NAMES", "QuotaLimits", "QuotaService"]

_LIMITS: Final = "iam/quotas/"
_USAGE: Final = "iam/quota-usage/"


@dataclass(frozen=True, slots=True)
class QuotaLimits:
    """How much of each kind of resource a tenant may hold at once."""

    instances: int
    vcpus: int
    memory_mib: int
    volume_gib: int
    load_balancers: int

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidArgumentError(f"quota {name!r} must be an integer >= 0")


#: The quotas a tenant has until a system admin sets others.
DEFAULT_LIMITS: Final = QuotaLimits(
    instances=20, vcpus=64, memory_mib=131072, volume_gib=2000, load_balancers=10
)
#: Every quota's name.
QUOTA_NAMES: Final = tuple(asdict(DEFAULT_LIMITS))


def _decode(raw: bytes, what: str) -> dict[str, Any]:
    try:
        fields: dict[str, Any] = json.loads(raw)
    except ValueError as error:
        raise StateError(f"stored quota {what} is unreadable") from error
    return fields


class QuotaService:
    """Reads and sets limits, reports usage, and admits or releases resources against them."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    async def limits(self, tenant_id: str) -> tuple[QuotaLimits, int]:
        """Return the tenant's limits and their version (0 while the defaults apply)."""
        entry = await self._store.get(_LIMITS + parse_id(tenant_id, TENANT_ID_PREFIX))
        if entry is None:
            return DEFAULT_LIMITS, 0
        try:
            return QuotaLimits(**_decode(entry.value, "limits")), entry.version
        except (TypeError, InvalidArgumentError) as error:
            raise StateError("stored quota limits are unreadable") from error

    async def set_limits(
        self, tenant_id: str, limits: QuotaLimits, *, expect_version: int | None = None
    ) -> int:
        """Replace the tenant's limits; return their new version.

        Lowering a limit below current usage is allowed: it only stops further creates.
        PreconditionFailedError if `expect_version` is given and differs.
        """
        key = _LIMITS + parse_id(tenant_id, TENANT_ID_PREFIX)
        raw = json.dumps(asdict(limits), sort_keys=True).encode()
        try:
            entry = await self._store.put(key, raw, expect_version=expect_version)
        except ConflictError:
            raise PreconditionFailedError(
                f"the quotas are not at version {expect_version}"
            ) from None
        return entry.version

    async def usage(self, tenant_id: str) -> dict[str, int]:
        """Return what the tenant holds against each quota."""
        found, _ = await self._usage(parse_id(tenant_id, TENANT_ID_PREFIX))
        return found

    async def _usage(self, tenant_id: str) -> tuple[dict[str, int], int]:
        entry = await self._store.get(_USAGE + tenant_id)
        counts = dict.fromkeys(QUOTA_NAMES, 0)
        if entry is None:
            return counts, 0
        stored = _decode(entry.value, "usage")
        counts.update({k: int(v) for k, v in stored.items() if k in counts})
        return counts, entry.version

    async def admit(self, tenant_id: str, wanted: Mapping[str, int]) -> tuple[Operation, ...]:
        """Return the steps that count `wanted` against the tenant's quotas, to commit with the
        resource; QuotaExceededError (naming the quota) if any would go over its limit."""
        return await self._change(tenant_id, wanted, check=True)

    async def release(self, tenant_id: str, freed: Mapping[str, int]) -> tuple[Operation, ...]:
        """Return the steps that give `freed` back, to commit with the resource's removal."""
        return await self._change(tenant_id, {k: -v for k, v in freed.items()}, check=False)

    async def _change(
        self, tenant_id: str, delta: Mapping[str, int], *, check: bool
    ) -> tuple[Operation, ...]:
        tenant_id = parse_id(tenant_id, TENANT_ID_PREFIX)
        unknown = set(delta) - set(QUOTA_NAMES)
        if unknown:
            raise InvalidArgumentError(f"unknown quotas: {', '.join(sorted(unknown))}")
        limits, limits_version = await self.limits(tenant_id)
        counts, usage_version = await self._usage(tenant_id)
        allowed = asdict(limits)
        for name, amount in delta.items():
            if check and amount > 0 and counts[name] + amount > allowed[name]:
                raise QuotaExceededError(name, allowed[name], counts[name], amount)
            counts[name] = max(0, counts[name] + amount)
        raw = json.dumps(counts, sort_keys=True).encode()
        return (
            Put(_USAGE + tenant_id, raw, expect_version=usage_version),
            Check(_LIMITS + tenant_id, expect_version=limits_version),
        )
