"""The `thecloud` command line: `serve` runs the control plane, `admin bootstrap`, `version`.

Exit codes: 0 on success (including a server stopped by SIGINT or SIGTERM), 2 for invalid
configuration or usage, 1 for other failures The Cloud reports on purpose. Those failures print a
one-line message on stderr, not a traceback: they describe the user's setup, not a bug.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Final

import typer

from thecloud.core.config import load_settings
from thecloud.core.errors import ConfigError, TheCloudError
from thecloud.core.version import version as installed_version

__all__ = ["app", "main"]

_EXIT_FAILURE: Final = 1
_EXIT_USAGE: Final = 2

app = typer.Typer(
    name="thecloud",
    help="The Cloud: a self-hostable cloud platform.",
    no_args_is_help=True,
    add_completion=False,
    # Locals in a traceback can hold credentials; secrets must never reach a terminal or a log.
    pretty_exceptions_show_locals=False,
)


@contextmanager
def _reported_errors() -> Iterator[None]:
    try:
        yield
    except ConfigError as exc:
        typer.echo(f"thecloud: configuration error: {exc}", err=True)
        raise typer.Exit(_EXIT_USAGE) from None
    except TheCloudError as exc:
        typer.echo(f"thecloud: {exc}", err=True)
        raise typer.Exit(_EXIT_FAILURE) from None


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


@app.command()
def serve(
    host: Annotated[str | None, _HOST] = None,
    port: Annotated[int | None, _PORT] = None,
    state_dir: Annotated[Path | None, _STATE_DIR] = None,
    config: Annotated[Path | None, _CONFIG] = None,
) -> None:
    """Run the control plane API server in the foreground until Ctrl-C or SIGTERM."""
    with _reported_errors():
        settings = load_settings(config, host=host, port=port, state_dir=state_dir)
        # Imported on use: it pulls in uvicorn and, when serving, the native engines.
        from thecloud.control.server import serve as run_server

        run_server(settings)


admin = typer.Typer(help="Administration of the state directory.", no_args_is_help=True)
app.add_typer(admin, name="admin")


@admin.command()
def bootstrap(
    state_dir: Annotated[Path | None, _STATE_DIR] = None,
    tenant: Annotated[str, _TENANT] = "default",
    config: Annotated[Path | None, _CONFIG] = None,
) -> None:
    """Create the first tenant and its admin service account; print the admin API key once.

    Run it before `thecloud serve` (or while the server is stopped). Refuses if the tenant exists.
    """
    with _reported_errors():
        settings = load_settings(config, state_dir=state_dir)
        # Imported on use, like serve's dependencies.
        from thecloud.control.bootstrap import bootstrap as run_bootstrap

        made = asyncio.run(run_bootstrap(settings.state_dir, tenant))
        typer.echo(
            f"tenant {made.tenant_id}, admin service account {made.service_account_id}", err=True
        )
        typer.echo("the API key below is shown once; store it now", err=True)
        # stdout carries the token alone, so `TOKEN=$(thecloud admin bootstrap)` works.
        typer.echo(made.token)


@app.command()
def version() -> None:
    """Print the installed version of The Cloud."""
    with _reported_errors():
        typer.echo(installed_version())


def main() -> None:
    """Entry point of the `thecloud` console script."""
    app()


if __name__ == "__main__":
    main()
