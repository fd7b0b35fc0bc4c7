"""`thecloud project|user|service-account ...`: create, list, show, delete."""

# No `from __future__ import annotations`: typer evaluates the annotations, and the commands
# below are built in a function whose locals (the noun) those annotations name.

from collections.abc import Callable
from typing import Annotated, Final

import typer

from thecloud.control.cli.output import print_list, print_record
from thecloud.control.cli.session import IfMatchOption, reported_errors, session_of
from thecloud.sdk import Client
from thecloud.sdk.sync import SyncProjects, SyncServiceAccounts, SyncUsers

__all__ = ["projects", "service_accounts", "users"]

_COLUMNS: Final = ("id", "name", "created_at")


def _collection(
    noun: str, of: Callable[[Client], SyncProjects | SyncServiceAccounts | SyncUsers]
) -> typer.Typer:
    app = typer.Typer(help=f"The tenant's {noun}s.", no_args_is_help=True)

    @app.command()
    def create(
        ctx: typer.Context, name: Annotated[str, typer.Argument(help=f"Name of the {noun}.")]
    ) -> None:
        """Create one; prints it."""
        session = session_of(ctx)
        with reported_errors(), session.client() as client:
            print_record(of(client).create(name), session.output_format, session.console)

    @app.command("list")
    def list_(ctx: typer.Context) -> None:
        """List them all."""
        session = session_of(ctx)
        with reported_errors(), session.client() as client:
            print_list(of(client).list(), _COLUMNS, session.output_format, session.console)

    @app.command()
    def show(ctx: typer.Context, record_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
        """Show one by id."""
        session = session_of(ctx)
        with reported_errors(), session.client() as client:
            print_record(of(client).get(record_id), session.output_format, session.console)

    @app.command()
    def delete(
        ctx: typer.Context,
        record_id: Annotated[str, typer.Argument(metavar="ID")],
        if_match: IfMatchOption = None,
    ) -> None:
        """Delete one by id."""
        session = session_of(ctx)
        with reported_errors(), session.client() as client:
            deleted = of(client).delete(record_id, if_match=if_match)
            print_record(deleted, session.output_format, session.console)

    return app


#: `thecloud project ...`
projects = _collection("project", lambda client: client.projects)
#: `thecloud service-account ...`
service_accounts = _collection("service account", lambda client: client.service_accounts)
#: `thecloud user ...`
users = _collection("user", lambda client: client.users)
