"""`thecloud tenant ...` and `thecloud quota ...`: tenants, and the limits each may use."""

from __future__ import annotations

from typing import Annotated, Final

import typer

from thecloud.control.cli.output import print_list, print_record
from thecloud.control.cli.session import IfMatchOption, reported_errors, session_of
from thecloud.sdk.models import QuotaLimits

__all__ = ["quotas", "tenants"]

_COLUMNS: Final = ("id", "name", "created_at")

tenants = typer.Typer(help="Tenants (system admins see and create them all).", no_args_is_help=True)
quotas = typer.Typer(help="A tenant's quotas and what is in use.", no_args_is_help=True)

_TENANT_ID = typer.Argument(metavar="[TENANT_ID]", help="Default: the tenant of the key.")


@tenants.command("list")
def list_tenants(ctx: typer.Context) -> None:
    """List the tenants this key may see."""
    session = session_of(ctx)
    with reported_errors(), session.client() as client:
        print_list(client.tenants.list(), _COLUMNS, session.output_format, session.console)


@tenants.command("show")
def show_tenant(ctx: typer.Context, tenant_id: Annotated[str | None, _TENANT_ID] = None) -> None:
    """Show a tenant."""
    session = session_of(ctx)
    with reported_errors(), session.client() as client:
        print_record(client.tenants.get(tenant_id), session.output_format, session.console)


@tenants.command("create")
def create_tenant(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Name of the tenant.")]
) -> None:
    """Create a tenant and its admin (system admins); prints the admin's key once."""
    session = session_of(ctx)
    with reported_errors(), session.client() as client:
        made = client.tenants.create(name)
    if session.output_format != "table":
        print_record(made, session.output_format, session.console)
        return
    typer.echo(
        f"tenant {made.tenant.id}, admin service account {made.admin_service_account_id}",
        err=True,
    )
    typer.echo("the admin's API key below is shown once; store it now", err=True)
    typer.echo(made.admin_key.token)


@quotas.command("show")
def show_quotas(ctx: typer.Context, tenant_id: Annotated[str | None, _TENANT_ID] = None) -> None:
    """Show a tenant's limits and usage."""
    session = session_of(ctx)
    with reported_errors(), session.client() as client:
        print_record(client.tenants.quotas(tenant_id), session.output_format, session.console)


@quotas.command("set")
def set_quotas(
    ctx: typer.Context,
    *,
    instances: Annotated[int, typer.Option(help="Instances.")],
    vcpus: Annotated[int, typer.Option(help="Virtual CPUs.")],
    memory_mib: Annotated[int, typer.Option(help="Memory, MiB.")],
    volume_gib: Annotated[int, typer.Option(help="Volume space, GiB.")],
    load_balancers: Annotated[int, typer.Option(help="Load balancers.")],
    tenant_id: Annotated[str | None, _TENANT_ID] = None,
    if_match: IfMatchOption = None,
) -> None:
    """Replace every limit of a tenant (system admins)."""
    session = session_of(ctx)
    limits = QuotaLimits(instances, vcpus, memory_mib, volume_gib, load_balancers)
    with reported_errors(), session.client() as client:
        stored = client.tenants.set_quotas(limits, tenant_id, if_match=if_match)
        print_record(stored, session.output_format, session.console)
