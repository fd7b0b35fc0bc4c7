"""The `/v1` resource groups, one module each, and the full route table."""

from __future__ import annotations

from thecloud.control.api.resources import (
    audit,
    directory,
    keys,
    load_balancers,
    operations,
    role_bindings,
    roles,
    secrets,
    tenants,
)
from thecloud.control.api.router import Route

__all__ = ["all_routes"]


def all_routes() -> list[Route]:
    """Return every `/v1` route."""
    return [
        *tenants.ROUTES,
        *directory.ROUTES,
        *keys.ROUTES,
        *roles.ROUTES,
        *role_bindings.ROUTES,
        *audit.ROUTES,
        *secrets.ROUTES,
        *operations.ROUTES,
        *load_balancers.ROUTES,
    ]
