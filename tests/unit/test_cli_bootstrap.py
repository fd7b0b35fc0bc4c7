"""`thecloud admin bootstrap --save-config`: the key lands in a private client config file."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from thecloud.control import cli

pytestmark = pytest.mark.unit


@pytest.fixture
def client_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    path = tmp_path / "conf" / "client.toml"
    for name in ("THECLOUD_CONFIG", "THECLOUD_PORT", "THECLOUD_HOST", "THECLOUD_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("THECLOUD_CLIENT_CONFIG", str(path))
    return path


def test_save_config_writes_url_key_and_tenant_0600(client_file: Path, tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    result = CliRunner().invoke(
        cli.app, ["admin", "bootstrap", "--state-dir", state, "--tenant", "acme", "--save-config"]
    )

    assert result.exit_code == 0, result.output
    saved = tomllib.loads(client_file.read_text())
    assert saved["api_key"] == result.stdout.strip()
    assert saved["tenant"].startswith("tnt-")
    assert saved["api_url"] == "http://127.0.0.1:8470"
    assert stat.S_IMODE(client_file.stat().st_mode) == 0o600


def test_an_existing_config_is_kept_and_no_tenant_is_made(
    client_file: Path, tmp_path: Path
) -> None:
    client_file.parent.mkdir()
    client_file.write_text('api_key = "an older key"\n')
    state = str(tmp_path / "state")
    command = ["admin", "bootstrap", "--state-dir", state, "--tenant", "acme"]

    refused = CliRunner().invoke(cli.app, [*command, "--save-config"])
    made = CliRunner().invoke(cli.app, command)

    assert refused.exit_code == 2
    assert "exists already" in refused.stderr
    assert refused.stdout == ""
    assert client_file.read_text() == 'api_key = "an older key"\n'
    # The tenant was not created by the refused run, so bootstrapping it now works.
    assert made.exit_code == 0, made.output
