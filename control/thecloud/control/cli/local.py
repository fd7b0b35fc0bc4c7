"""Commands that work on this machine's state directory, not through the API: `serve`,
`admin bootstrap` and `version`."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer

from thecloud.control.cli.client_config import (
    api_url_of,
    refuse_existing,
    save_client_config,
)
from thecloud.control.cli.session import reported_errors
from thecloud.core.config import load_settings
from thecloud.core.version import version as installed_version
from thecloud.sdk.config import default_config_path

__all__ = ["admin", "bootstrap", "serve", "version"]

# Defaults are shown in the help text, not by typer: None must reach load_settings so that a
# flag the user did not give cannot override the config file or the environment.
_HOST = typer.Option(help="Address to listen on (default: 127.0.0.1).", show_default=False)
_PORT = typer.Option(help="TCP port to listen on (default: 8470).", show_default=False)
_STATE_DIR = typer.Option(
    help="Directory of the server's state (default: .thecloud).", show_default=False
)
_TENANT = typer.Option(help="Name of the first tenant.")
_CONFIG = typer.Option(
    help="TOML settings file (default: $THECLOUD_CONFIG, else <state-dir>/config.toml).",
    show_default=False,
)
_SAVE_CONFIG = typer.Option(
    help="Also write the key and tenant to the client config file "
    "($THECLOUD_CLIENT_CONFIG, else ~/.config/thecloud/config.toml), created 0600.",
)


def serve(
    host: Annotated[str | None, _HOST] = None,
    port: Annotated[int | None, _PORT] = None,
    state_dir: Annotated[Path | None, _STATE_DIR] = None,
    config: Annotated[Path | None, _CONFIG] = None,
) -> None:
    """Run the control plane API server in the foreground until Ctrl-C or SIGTERM."""
    with reported_errors():
        settings = load_settings(config, host=host, port=port, state_dir=state_dir)
        # Imported on use: it pulls in uvicorn and, when serving, the native engines.
        from thecloud.control import server

        server.serve(settings)


admin = typer.Typer(help="Administration of the state directory.", no_args_is_help=True)


@admin.command()
def bootstrap(
    state_dir: Annotated[Path | None, _STATE_DIR] = None,
    tenant: Annotated[str, _TENANT] = "default",
    config: Annotated[Path | None, _CONFIG] = None,
    save_config: Annotated[bool, _SAVE_CONFIG] = False,
) -> None:
    """Create the first tenant and its admin service account; print the admin API key once.

    Works on the state directory directly, with or without `thecloud serve` running on it.
    Refuses if the tenant exists.
    """
    with reported_errors():
        settings = load_settings(config, state_dir=state_dir)
        client_file = default_config_path(os.environ) if save_config else None
        if client_file is not None:
            # Checked first, so a refusal leaves no tenant behind whose key nobody saw.
            refuse_existing(client_file)
        # Imported on use, like serve's dependencies.
        from thecloud.control.bootstrap import bootstrap as run_bootstrap

        made = asyncio.run(run_bootstrap(settings.state_dir, tenant, settings.etcd_endpoint))
        typer.echo(
            f"tenant {made.tenant_id}, admin service account {made.service_account_id}", err=True
        )
        if client_file is not None:
            save_client_config(
                client_file, api_url=api_url_of(settings), api_key=made.token, tenant=made.tenant_id
            )
            typer.echo(f"key and tenant saved in {client_file}", err=True)
        typer.echo("the API key below is shown once; store it now", err=True)
        # stdout carries the token alone, so `TOKEN=$(thecloud admin bootstrap)` works.
        typer.echo(made.token)


def version() -> None:
    """Print the installed version of The Cloud."""
    with reported_errors():
        typer.echo(installed_version())
