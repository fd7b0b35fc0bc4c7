"""`thecloud role ...` and `thecloud role-binding ...`: who may do what."""

from __future__ import annotations

from typing import Annotated, Final

import typer

from thecloud.control.cli.output import print_list, print_record
from thecloud.control.cli.session import IfMatchOption, reported_errors, session_of
from thecloud.control.iam.records import PrincipalKind
from thecloud.core.errors import ConfigError
from thecloud.sdk.models import Permission

__all__ = ["bindings", "principal_kind", "roles"]

_BINDING_COLUMNS: Final = ("id", "principal_id", "role", "project_id")

roles = typer.Typer(
    help="Roles: built-in (admin, member, reader) and custom.", no_args_is_help=True
)
bindings = typer.Typer(
    help="Role bindings: a role for an account, tenant-wide or in one project.",
    no_args_is_help=True,
)


def _permission(text: str) -> Permission:
    parts = text.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "own"):
        raise typer.BadParameter(f"{text!r} is not ACTION:RESOURCE_TYPE[:own] (say, read:project)")
    return Permission(parts[0], parts[1], len(parts) == 3)


@roles.command("list")
def list_roles(ctx: typer.Context) -> None:
    """List the tenant's custom roles (the built-ins are admin, member and reader)."""
    session = session_of(ctx)
    with reported_errors(), session.client() as client:
        print_list(
            client.roles.list(),
            ("name", "builtin", "permissions"),
            session.output_format,
            session.console,
        )


@roles.command("create")
def create_role(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the new role.")],
    permission: Annotated[
        list[str],
        typer.Option("--permission", "-p", help="ACTION:RESOURCE_TYPE[:own], repeatable."),
    ],
) -> None:
    """Define a custom role."""
    session = session_of(ctx)
    permissions = [_permission(text) for text in permission]
    with reported_errors(), session.client() as client:
        print_record(client.roles.create(name, permissions), session.output_format, session.console)


@roles.command("show")
def show_role(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Role name.")]) -> None:
    """Show one role and what it grants."""
    session = session_of(ctx)
    with reported_errors(), session.client() as client:
        print_record(client.roles.get(name), session.output_format, session.console)


@roles.command("delete")
def delete_role(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Role name.")],
    if_match: IfMatchOption = None,
) -> None:
    """Delete a custom role."""
    session = session_of(ctx)
    with reported_errors(), session.client() as client:
        deleted = client.roles.delete(name, if_match=if_match)
        print_record(deleted, session.output_format, session.console)


def principal_kind(principal: str) -> PrincipalKind:
    """The kind of account an id names, from its prefix; ConfigError if it names none."""
    if principal.startswith("usr-"):
        return PrincipalKind.USER
    if principal.startswith("sva-"):
        return PrincipalKind.SERVICE_ACCOUNT
    raise ConfigError(
        f"--principal must be a user (usr-...) or service account (sva-...) id, not {principal!r}"
    )


@bindings.command("grant")
def grant(
    ctx: typer.Context,
    principal: Annotated[str, typer.Option(help="Id of the account (usr-... or sva-...).")],
    role: Annotated[str, typer.Option(help="Role to give.")],
    project: Annotated[str | None, typer.Option(help="Only in this project.")] = None,
) -> None:
    """Give an account a role."""
    session = session_of(ctx)
    with reported_errors(), session.client() as client:
        binding = client.role_bindings.grant(
            principal, role, principal_kind=principal_kind(principal), project_id=project
        )
        print_record(binding, session.output_format, session.console)


@bindings.command("list")
def list_bindings(
    ctx: typer.Context, principal: Annotated[str, typer.Option(help="Id of the account.")]
) -> None:
    """List one account's role bindings."""
    session = session_of(ctx)
    with reported_errors(), session.client() as client:
        found = client.role_bindings.list(principal)
        print_list(found, _BINDING_COLUMNS, session.output_format, session.console)


@bindings.command("revoke")
def revoke(
    ctx: typer.Context,
    binding_id: Annotated[str, typer.Argument(metavar="BINDING_ID")],
    principal: Annotated[str, typer.Option(help="Id of the account holding the binding.")],
) -> None:
    """Remove a role binding."""
    session = session_of(ctx)
    with reported_errors(), session.client() as client:
        print_record(
            client.role_bindings.revoke(principal, binding_id),
            session.output_format,
            session.console,
        )
