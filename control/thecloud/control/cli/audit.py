"""`thecloud audit ...`: read the tenant's audit log and check its hash chain."""

from __future__ import annotations

from typing import Annotated, Final

import typer

from thecloud.control.cli.output import print_list, print_record
from thecloud.control.cli.session import EXIT_FAILURE, reported_errors, session_of

__all__ = ["app"]

_COLUMNS: Final = ("sequence", "time", "principal_id", "action", "resource", "result", "request_id")

app = typer.Typer(help="The audit log: every mutation, hash-chained.", no_args_is_help=True)


@app.command("list")
def list_(
    ctx: typer.Context,
    principal: Annotated[str | None, typer.Option(help="Only this account's requests.")] = None,
    since: Annotated[
        str | None, typer.Option(help="From this time (2026-01-31T12:00:00.000Z).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Up to this time.")] = None,
) -> None:
    """List entries, oldest first."""
    session = session_of(ctx)
    with reported_errors(), session.client() as client:
        entries = client.audit.list(principal_id=principal, since=since, until=until)
        print_list(entries, _COLUMNS, session.output_format, session.console)


@app.command()
def verify(ctx: typer.Context) -> None:
    """Check the hash chain; exits 1 if an entry was altered."""
    session = session_of(ctx)
    with reported_errors(), session.client() as client:
        verdict = client.audit.verify()
    print_record(verdict, session.output_format, session.console)
    if not verdict.intact:
        typer.echo(
            f"thecloud: the audit chain breaks at entry {verdict.first_bad_sequence}", err=True
        )
        raise typer.Exit(EXIT_FAILURE)
