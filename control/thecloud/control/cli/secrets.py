"""`thecloud secret ...`: values go in from a file or stdin and out to a file, never to the screen.

A value never travels on the command line (other users can read it in `ps`) and is never
printed: `get` writes it to a file created 0600.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Final

import typer

from thecloud.control.cli.output import print_list, print_record
from thecloud.control.cli.session import IfMatchOption, reported_errors, session_of
from thecloud.core.errors import ConfigError

__all__ = ["app"]

_COLUMNS: Final = ("name", "version", "created_at", "updated_at")
_STDIN: Final = Path("-")

app = typer.Typer(help="Secrets (values are never printed).", no_args_is_help=True)


def _read_value(source: Path) -> bytes:
    if source == _STDIN:
        return sys.stdin.buffer.read()
    try:
        return source.read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read {source}: {error.strerror}") from None


def _write_private(target: Path, value: bytes) -> None:
    try:
        # O_EXCL: never follow a link or overwrite a file someone else prepared.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        raise ConfigError(f"cannot create {target}: {error.strerror}") from None
    with os.fdopen(fd, "wb") as sink:
        sink.write(value)


@app.command()
def put(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the secret.")],
    from_file: Annotated[Path, typer.Option(help="File holding the value; - reads stdin.")],
    if_match: IfMatchOption = None,
) -> None:
    """Store a new version of a secret."""
    session = session_of(ctx)
    with reported_errors():
        value = _read_value(from_file)
        with session.client() as client:
            stored = client.secrets.put(name, value, if_match=if_match)
            print_record(stored, session.output_format, session.console)


@app.command()
def get(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the secret.")],
    to_file: Annotated[Path, typer.Option(help="New file (0600) to write the value to.")],
) -> None:
    """Write a secret's latest value to a new file; prints its version."""
    session = session_of(ctx)
    with reported_errors(), session.client() as client:
        secret = client.secrets.get(name)
        _write_private(to_file, secret.value)
        print_record(secret.secret, session.output_format, session.console)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List secrets: names and versions only."""
    session = session_of(ctx)
    with reported_errors(), session.client() as client:
        print_list(client.secrets.list(), _COLUMNS, session.output_format, session.console)


@app.command()
def versions(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Name of the secret.")]
) -> None:
    """List the stored versions of a secret (numbers and times)."""
    session = session_of(ctx)
    with reported_errors(), session.client() as client:
        found = client.secrets.versions(name)
        print_list(found, ("version", "created_at"), session.output_format, session.console)


@app.command()
def delete(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the secret.")],
    if_match: IfMatchOption = None,
) -> None:
    """Delete a secret and all its versions."""
    session = session_of(ctx)
    with reported_errors(), session.client() as client:
        deleted = client.secrets.delete(name, if_match=if_match)
        print_record(deleted, session.output_format, session.console)
