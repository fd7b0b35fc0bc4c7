"""The `thecloud` command line: settings from flags, and errors as messages with exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from thecloud.control import cli, server
from thecloud.control.cli import local
from thecloud.core.config import Settings
from thecloud.core.errors import StateError

pytestmark = pytest.mark.unit


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Settings]:
    """Replace the real server with a recorder; return the Settings it was called with."""
    calls: list[Settings] = []
    monkeypatch.setattr(server, "serve", calls.append)
    monkeypatch.chdir(tmp_path)
    for name in ("THECLOUD_CONFIG", "THECLOUD_PORT", "THECLOUD_HOST", "THECLOUD_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    return calls


def test_serve_flags_become_settings(served: list[Settings], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli.app, ["serve", "--host", "0.0.0.0", "--port", "9123", "--state-dir", str(tmp_path)]
    )

    assert result.exit_code == 0, result.output
    (settings,) = served
    assert (settings.host, settings.port, settings.state_dir) == ("0.0.0.0", 9123, tmp_path)


def test_flags_not_given_leave_the_config_file_in_charge(
    served: list[Settings], tmp_path: Path
) -> None:
    config = tmp_path / "c.toml"
    config.write_text('port = 9200\nhost = "10.1.1.1"\n')

    result = CliRunner().invoke(cli.app, ["serve", "--config", str(config), "--port", "9201"])

    assert result.exit_code == 0, result.output
    (settings,) = served
    assert (settings.host, settings.port) == ("10.1.1.1", 9201)


def test_configuration_errors_exit_2_with_a_message_and_no_traceback(
    served: list[Settings],
) -> None:
    result = CliRunner().invoke(cli.app, ["serve", "--port", "0"])

    assert result.exit_code == 2
    assert "invalid port" in result.stderr
    assert "Traceback" not in result.output
    assert served == []


def test_other_failures_exit_1_with_a_message(
    served: list[Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(settings: Settings) -> None:
        raise StateError("state store is broken")

    monkeypatch.setattr(server, "serve", broken)

    result = CliRunner().invoke(cli.app, ["serve"])

    assert result.exit_code == 1
    assert "state store is broken" in result.stderr
    assert "Traceback" not in result.output


def test_version_prints_the_installed_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "installed_version", lambda: "7.8.9")

    result = CliRunner().invoke(cli.app, ["version"])

    assert result.exit_code == 0
    assert result.stdout.strip() == "7.8.9"
