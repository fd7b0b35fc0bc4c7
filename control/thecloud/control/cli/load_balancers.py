"""`thecloud lb ...`: load balancers of a project, by id or by name.

Changes return an operation at once; `--wait` follows it with a live status line and then
prints the load balancer. A configuration comes from a YAML or JSON file (`-f`, the `config`
document of the API) or, for the simple case, from `--listen` and `--backend` flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final

import typer
import yaml

from thecloud.control.cli.operations import TIMEOUT
from thecloud.control.cli.output import print_fields, print_list, print_record
from thecloud.control.cli.progress import wait_for
from thecloud.control.cli.session import IfMatchOption, Session, reported_errors, session_of
from thecloud.core.errors import ConfigError
from thecloud.sdk import Client
from thecloud.sdk.models import Operation

__all__ = ["app", "flag_config"]

_COLUMNS: Final = ("id", "name", "state", "addresses", "version")

app = typer.Typer(
    help="Load balancers (listeners, routes, pools of backends).", no_args_is_help=True
)

_LB = typer.Argument(metavar="LB", help="Id (lb-...) or name.")
_PROJECT = typer.Option(help="Project id (default: --project, THECLOUD_PROJECT, config).")
_FILE = typer.Option("--file", "-f", help="YAML or JSON file holding the configuration.")
_WAIT = typer.Option(help="Wait for the change to finish, showing its progress.")


def flag_config(listen: str, backends: list[str]) -> dict[str, Any]:
    """The configuration of one listener forwarding round-robin to `backends`."""
    return {
        "listeners": [{"name": "web", "bind": listen, "default_pool": "app", "routes": []}],
        "pools": [
            {
                "name": "app",
                "backends": [{"address": address, "weight": 1} for address in backends],
                "algorithm": {"kind": "round_robin"},
            }
        ],
    }


def _file_config(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML or JSON: {error}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path} must hold a mapping (listeners, pools, ...)")
    return document


def _config(file: Path | None, listen: str | None, backends: list[str] | None) -> dict[str, Any]:
    if file is not None:
        if listen or backends:
            raise ConfigError("give either --file or --listen with --backend, not both")
        return _file_config(file)
    if not listen or not backends:
        raise ConfigError("give --file, or --listen ADDRESS:PORT with at least one --backend")
    return flag_config(listen, backends)


def _project(session: Session, project: str | None) -> str | None:
    return project or session.config.project


def _resolve(client: Client, lb: str, project: str | None) -> str:
    if lb.startswith("lb-"):
        return lb
    for found in client.load_balancers.list(project=project):
        if found.name == lb:
            return found.id
    raise ConfigError(f"no load balancer is named {lb!r} in this project")


@dataclass(frozen=True, slots=True)
class _Row:
    """What the table of load balancers shows of each."""

    id: str
    name: str
    state: str
    addresses: dict[str, str]
    version: int


@dataclass(frozen=True, slots=True)
class _BackendRow:
    """One backend's line in the stats table."""

    pool: str
    address: str
    up: bool
    active: int
    requests: int
    failures: int
    ejected: bool


_BACKEND_COLUMNS: Final = ("pool", "address", "up", "active", "requests", "failures", "ejected")


def _backend_rows(stats: dict[str, Any]) -> list[_BackendRow]:
    """The per-backend counters (stats.pools.<pool>.backends[]) as table rows."""
    rows = []
    for pool, counters in sorted(stats.get("pools", {}).items()):
        for b in counters.get("backends", []):
            fields = (b.get(name) for name in _BACKEND_COLUMNS[1:])
            rows.append(_BackendRow(pool, *fields))
    return rows


def _finish(
    client: Client, session: Session, operation: Operation, wait: bool, timeout: float
) -> None:
    if not wait:
        print_record(operation, session.output_format, session.console)
        return
    done = wait_for(client, operation.id, timeout)
    if done.kind.endswith(".delete"):
        print_record(done, session.output_format, session.console)
        return
    # The target is the load balancer's path: tenants/<t>/projects/<p>/load-balancers/<id>.
    *_, project, _, lb_id = done.target.split("/")
    lb = client.load_balancers.get(lb_id, project=project)
    print_record(lb, session.output_format, session.console)


@app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the load balancer.")],
    *,
    file: Annotated[Path | None, _FILE] = None,
    listen: Annotated[str | None, typer.Option(help="Listen address, say 127.0.0.1:8080.")] = None,
    backend: Annotated[list[str] | None, typer.Option(help="Backend address, repeatable.")] = None,
    project: Annotated[str | None, _PROJECT] = None,
    wait: Annotated[bool, _WAIT] = False,
    timeout: Annotated[float, TIMEOUT] = 300.0,
) -> None:
    """Create a load balancer from a file or from --listen/--backend."""
    session = session_of(ctx)
    with reported_errors():
        config = _config(file, listen, backend)
        with session.client() as client:
            operation = client.load_balancers.create(
                name, config, project=_project(session, project)
            )
            _finish(client, session, operation, wait, timeout)


@app.command("list")
def list_(ctx: typer.Context, project: Annotated[str | None, _PROJECT] = None) -> None:
    """List the project's load balancers and their state."""
    session = session_of(ctx)
    with reported_errors(), session.client() as client:
        found = list(client.load_balancers.list(project=_project(session, project)))
        if session.output_format != "table":
            print_list(found, (), session.output_format, session.console)
            return
        rows = [
            _Row(lb.id, lb.name, lb.status.state, lb.status.addresses, lb.version) for lb in found
        ]
        print_list(rows, _COLUMNS, "table", session.console)


@app.command()
def show(
    ctx: typer.Context, lb: Annotated[str, _LB], project: Annotated[str | None, _PROJECT] = None
) -> None:
    """Show a load balancer: configuration, status and version."""
    session = session_of(ctx)
    with reported_errors(), session.client() as client:
        chosen = _project(session, project)
        found = client.load_balancers.get(_resolve(client, lb, chosen), project=chosen)
        print_record(found, session.output_format, session.console)


@app.command()
def update(
    ctx: typer.Context,
    lb: Annotated[str, _LB],
    *,
    file: Annotated[Path, _FILE],
    project: Annotated[str | None, _PROJECT] = None,
    wait: Annotated[bool, _WAIT] = False,
    timeout: Annotated[float, TIMEOUT] = 300.0,
    if_match: IfMatchOption = None,
) -> None:
    """Replace a load balancer's configuration with the file's."""
    session = session_of(ctx)
    with reported_errors():
        config = _file_config(file)
        with session.client() as client:
            chosen = _project(session, project)
            operation = client.load_balancers.update(
                _resolve(client, lb, chosen), config, project=chosen, if_match=if_match
            )
            _finish(client, session, operation, wait, timeout)


@app.command()
def delete(
    ctx: typer.Context,
    lb: Annotated[str, _LB],
    *,
    project: Annotated[str | None, _PROJECT] = None,
    wait: Annotated[bool, _WAIT] = False,
    timeout: Annotated[float, TIMEOUT] = 300.0,
    if_match: IfMatchOption = None,
) -> None:
    """Delete a load balancer (its engine stops)."""
    session = session_of(ctx)
    with reported_errors(), session.client() as client:
        chosen = _project(session, project)
        target = _resolve(client, lb, chosen)
        operation = client.load_balancers.delete(target, project=chosen, if_match=if_match)
        _finish(client, session, operation, wait, timeout)


@app.command()
def stats(
    ctx: typer.Context, lb: Annotated[str, _LB], project: Annotated[str | None, _PROJECT] = None
) -> None:
    """Show the live counters of a running load balancer."""
    session = session_of(ctx)
    with reported_errors(), session.client() as client:
        chosen = _project(session, project)
        found = client.load_balancers.stats(_resolve(client, lb, chosen), project=chosen)
        if session.output_format != "table":
            print_record(found, session.output_format, session.console)
            return
        counters = {k: v for k, v in found.stats.items() if not isinstance(v, dict)}
        print_fields({"id": found.id, "state": found.state, **counters}, session.console)
        print_list(_backend_rows(found.stats), _BACKEND_COLUMNS, "table", session.console)
