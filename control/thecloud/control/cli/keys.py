"""`thecloud key ...`: create and rotate print the token once; list and revoke never do.

In table output the token goes to stdout alone (so `KEY=$(thecloud key create ...)` works) and
the key's details go to stderr; JSON and YAML print both together on stdout.
"""

from __future__ import annotations

from typing import Annotated, Final

import typer

from thecloud.control.cli.output import print_list, print_record
from thecloud.control.cli.roles import principal_kind
from thecloud.control.cli.session import Session, reported_errors, session_of
from thecloud.sdk.models import IssuedKey

__all__ = ["app"]

_COLUMNS: Final = ("id", "name", "principal_id", "created_at", "rotated_at", "revoked_at")

app = typer.Typer(
    help="API keys (the token is shown once, on create and rotate).", no_args_is_help=True
)


def _print_issued(issued: IssuedKey, session: Session) -> None:
    if session.output_format != "table":
        print_record(issued, session.output_format, session.console)
        return
    typer.echo(f"key {issued.key.id} ({issued.key.name}) for {issued.key.principal_id}", err=True)
    typer.echo("the token below is shown once; store it now", err=True)
    typer.echo(issued.token)


@app.command()
def create(
    ctx: typer.Context,
    principal: Annotated[
        str, typer.Option(help="Id of the account the key acts as (sva-... or usr-...).")
    ],
    name: Annotated[str, typer.Option(help="A name to tell the key by.")],
) -> None:
    """Issue a key for an account; prints its token once."""
    session = session_of(ctx)
    with reported_errors(), session.client() as client:
        kind = principal_kind(principal)
        _print_issued(client.keys.create(principal, name, principal_kind=kind), session)


@app.command("list")
def list_(
    ctx: typer.Context,
    principal: Annotated[str | None, typer.Option(help="Only this account's keys.")] = None,
) -> None:
    """List keys (never their tokens)."""
    session = session_of(ctx)
    with reported_errors(), session.client() as client:
        keys = client.keys.list(principal_id=principal)
        print_list(keys, _COLUMNS, session.output_format, session.console)


@app.command()
def rotate(ctx: typer.Context, key_id: Annotated[str, typer.Argument(metavar="KEY_ID")]) -> None:
    """Give a key a new token (printed once); the old one stops working at once."""
    session = session_of(ctx)
    with reported_errors(), session.client() as client:
        _print_issued(client.keys.rotate(key_id), session)


@app.command()
def revoke(ctx: typer.Context, key_id: Annotated[str, typer.Argument(metavar="KEY_ID")]) -> None:
    """Revoke a key; it is refused from the next request on."""
    session = session_of(ctx)
    with reported_errors(), session.client() as client:
        print_record(client.keys.revoke(key_id), session.output_format, session.console)
