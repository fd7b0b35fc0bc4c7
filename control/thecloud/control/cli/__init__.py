"""The `thecloud` command line: `thecloud <noun> <verb>` over the SDK, plus the local commands.

Global options come before the noun (`thecloud -o json key list`); settings not given there come
from THECLOUD_API_URL, THECLOUD_API_KEY, THECLOUD_TENANT, THECLOUD_OUTPUT and the client config
file. Exit codes: 0 on success (including a server stopped by SIGINT or SIGTERM), 1 when the API
or the machine refused, 2 for invalid usage or configuration. Failures print what went wrong and
what to do on stderr, never a traceback: they describe the user's setup, not a bug.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from thecloud.control.cli import (
    audit,
    directory,
    keys,
    load_balancers,
    local,
    operations,
    roles,
    secrets,
    tenants,
)
from thecloud.control.cli.session import Session

__all__ = ["app", "main"]

app = typer.Typer(
    name="thecloud",
    help="The Cloud: a self-hostable cloud platform.",
    no_args_is_help=True,
    # Locals in a traceback can hold credentials; secrets must never reach a terminal or a log.
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _global_options(
    ctx: typer.Context,
    *,
    api_url: Annotated[
        str | None, typer.Option(help="API base URL (env: THECLOUD_API_URL).", show_default=False)
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            help="API key; prefer THECLOUD_API_KEY, since other users can read arguments.",
            show_default=False,
        ),
    ] = None,
    tenant: Annotated[
        str | None, typer.Option(help="Tenant id (env: THECLOUD_TENANT).", show_default=False)
    ] = None,
    project: Annotated[
        str | None, typer.Option(help="Project id (env: THECLOUD_PROJECT).", show_default=False)
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="table, json, yaml, or id (ids only) (env: THECLOUD_OUTPUT).",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="Client config file (env: THECLOUD_CLIENT_CONFIG; "
            "default: ~/.config/thecloud/config.toml).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """The Cloud: a self-hostable cloud platform."""
    ctx.obj = Session(
        api_url=api_url,
        api_key=api_key,
        tenant=tenant,
        project=project,
        output=output,
        config_file=config,
    )


app.command()(local.serve)
app.command()(local.version)
app.add_typer(local.admin, name="admin")
app.add_typer(tenants.tenants, name="tenant")
app.add_typer(tenants.quotas, name="quota")
app.add_typer(keys.app, name="key")
app.add_typer(directory.projects, name="project")
app.add_typer(directory.users, name="user")
app.add_typer(directory.service_accounts, name="service-account")
app.add_typer(roles.roles, name="role")
app.add_typer(roles.bindings, name="role-binding")
app.add_typer(secrets.app, name="secret")
app.add_typer(audit.app, name="audit")
app.add_typer(load_balancers.app, name="lb")
app.add_typer(operations.app, name="operation")


def main() -> None:
    """Entry point of the `thecloud` console script."""
    app()
