"""Load balancer records in the state store: desired state (written by the API) and status
(written by the reconciler), kept under separate keys so a status write never changes the
resource's version (its ETag).

Layout: `lb/items/<tenant>/<project>/<id>` the desired state; `lb/names/<tenant>/<project>/<name>`
its name (unique per project); `lb/status/<id>` what the reconciler last observed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from thecloud.core.errors import StateError

__all__ = [
    "ITEMS_PREFIX",
    "LB_ID_PREFIX",
    "LoadBalancerRecord",
    "LoadBalancerStatus",
    "item_key",
    "name_key",
    "status_key",
]

#: Id type prefix of load balancers (`lb-...`).
LB_ID_PREFIX: Final = "lb"
#: Prefix of every desired-state record; the reconciler watches it.
ITEMS_PREFIX: Final = "lb/items/"


def item_key(tenant_id: str, project_id: str, lb_id: str) -> str:
    """Return the key of a load balancer's desired state."""
    return f"{ITEMS_PREFIX}{tenant_id}/{project_id}/{lb_id}"


def name_key(tenant_id: str, project_id: str, name: str) -> str:
    """Return the key reserving a load balancer's name in its project."""
    return f"lb/names/{tenant_id}/{project_id}/{name}"


def status_key(lb_id: str) -> str:
    """Return the key of a load balancer's observed status."""
    return f"lb/status/{lb_id}"


@dataclass(frozen=True, slots=True)
class LoadBalancerRecord:
    """Desired state: the configuration to run, and whether the load balancer is going away.

    `operation_id` names the operation the reconciler completes once it has acted on this
    version of the record.
    """

    id: str
    tenant_id: str
    project_id: str
    name: str
    config: dict[str, Any]
    created_at: str
    updated_at: str
    operation_id: str | None = None
    deleting: bool = False

    def encode(self) -> bytes:
        """Return the stored form."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes) -> LoadBalancerRecord:
        """Rebuild a record; StateError if unreadable."""
        try:
            fields: dict[str, Any] = json.loads(raw)
            return cls(**fields)
        except (ValueError, TypeError) as error:
            raise StateError("a stored load balancer is unreadable") from error


@dataclass(frozen=True, slots=True)
class LoadBalancerStatus:
    """What the reconciler last saw: `state` (pending, running, failed), bound addresses by
    listener (`host:port`), the last error, and which record version it acted on."""

    state: str = "pending"
    addresses: dict[str, str] = field(default_factory=dict)
    last_error: str | None = None
    observed_version: int = 0

    def encode(self) -> bytes:
        """Return the stored form."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes | None) -> LoadBalancerStatus:
        """Rebuild a status (None: nothing observed yet); StateError if unreadable."""
        if raw is None:
            return cls()
        try:
            fields: dict[str, Any] = json.loads(raw)
            return cls(**fields)
        except (ValueError, TypeError) as error:
            raise StateError("a stored load balancer status is unreadable") from error
