"""`thecloud operation show|wait`: long-running changes (a load balancer coming up, say)."""

from __future__ import annotations

from typing import Annotated

import typer

from thecloud.control.cli.output import print_record
from thecloud.control.cli.progress import wait_for
from thecloud.control.cli.session import reported_errors, session_of

__all__ = ["app"]

app = typer.Typer(help="Long-running operations.", no_args_is_help=True)

_ID = typer.Argument(metavar="OPERATION_ID")
#: Shared with the commands that take `--wait`.
TIMEOUT = typer.Option(help="Seconds to wait before giving up (the operation goes on).")


@app.command()
def show(ctx: typer.Context, operation_id: Annotated[str, _ID]) -> None:
    """Show an operation's status."""
    session = session_of(ctx)
    with reported_errors(), session.client() as client:
        print_record(client.operations.get(operation_id), session.output_format, session.console)


@app.command()
def wait(
    ctx: typer.Context,
    operation_id: Annotated[str, _ID],
    timeout: Annotated[float, TIMEOUT] = 300.0,
) -> None:
    """Wait for an operation to end; exits 1 if it failed or the wait timed out."""
    session = session_of(ctx)
    with reported_errors(), session.client() as client:
        done = wait_for(client, operation_id, timeout)
        print_record(done, session.output_format, session.console)
