"""What every API command shares: the global options, the client, and how failures print.

Failures print one line saying what went wrong and one saying what to do, never a traceback:
exit status 1 for an API or network failure, 2 for a usage or configuration problem.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Final, TypeAlias

import typer
from rich.console import Console

from thecloud.core.errors import ConfigError, TheCloudError
from thecloud.sdk import ApiError, Client, ClientConfig, TransportError, load_client_config
from thecloud.sdk.config import OutputFormat

__all__ = [
    "EXIT_FAILURE",
    "EXIT_USAGE",
    "IfMatchOption",
    "Session",
    "reported_errors",
    "session_of",
]

#: `--if-match`, on every command changing a versioned resource: the change is refused (412) if
#: the resource is no longer at this version (the `version` that `show` prints, or its ETag).
IfMatchOption: TypeAlias = Annotated[
    str | None,
    typer.Option(
        "--if-match",
        help="Only if the resource is still at this version (its `version`, as show prints).",
        show_default=False,
    ),
]

EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2
_PIPE_WIDTH: Final = 1000
_UNREACHABLE_HINT: Final = (
    "is the server running (`make run`)? check --api-url, THECLOUD_API_URL or api_url in the config"
)


def _fail(message: str, hint: str | None, code: int) -> typer.Exit:
    typer.echo(f"thecloud: {message}", err=True)
    if hint:
        typer.echo(f"hint: {hint}", err=True)
    return typer.Exit(code)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn The Cloud's failures into a message, a hint and an exit status."""
    try:
        yield
    except ApiError as error:
        problem = error.problem
        where = f"HTTP {problem.status}" + (
            f", request {problem.request_id}" if problem.request_id else ""
        )
        raise _fail(f"{error} ({where})", error.hint, EXIT_FAILURE) from None
    except TransportError as error:
        raise _fail(str(error), _UNREACHABLE_HINT, EXIT_FAILURE) from None
    except ConfigError as error:
        raise _fail(f"configuration error: {error}", None, EXIT_USAGE) from None
    except TheCloudError as error:
        raise _fail(str(error), None, EXIT_FAILURE) from None


def _console() -> Console:
    console = Console()
    # Piped output is for other programs: wide enough that no table cell is cut or wrapped.
    return console if console.is_terminal else Console(width=_PIPE_WIDTH)


@dataclass(slots=True)
class Session:
    """The global options of one invocation; the client is built on first use."""

    api_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    tenant: str | None = None
    project: str | None = None
    output: str | None = None
    config_file: Path | None = None
    console: Console = field(default_factory=_console)
    _config: ClientConfig | None = None

    @property
    def config(self) -> ClientConfig:
        """The resolved settings: flags, then environment, then the config file."""
        if self._config is None:
            self._config = load_client_config(
                self.config_file,
                api_url=self.api_url,
                api_key=self.api_key,
                tenant=self.tenant,
                project=self.project,
                output=self.output,
            )
        return self._config

    @property
    def output_format(self) -> OutputFormat:
        """How results print."""
        return self.config.output

    def client(self) -> Client:
        """A client for these settings; use it in a `with` block."""
        return Client(config=self.config)


def session_of(ctx: typer.Context) -> Session:
    """Return the Session the root callback stored on the context."""
    session = ctx.find_root().obj
    if not isinstance(session, Session):
        raise ConfigError("API commands need the `thecloud` root command's options")
    return session
