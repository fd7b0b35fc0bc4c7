"""Client settings: arguments over environment over the config file, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from thecloud.core.errors import ConfigError
from thecloud.sdk import load_client_config
from thecloud.sdk.config import DEFAULT_API_URL, default_config_path

pytestmark = pytest.mark.unit


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "client.toml"
    path.write_text(text)
    return path


def test_arguments_beat_environment_beat_file(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        'api_url = "http://file:1"\napi_key = "from-file"\ntenant = "tnt-file"\noutput = "yaml"\n',
    )
    environ = {"THECLOUD_API_KEY": "from-env", "THECLOUD_TENANT": "tnt-env"}

    config = load_client_config(path, environ, tenant="tnt-arg")

    assert config.api_url == "http://file:1"
    assert config.api_key == "from-env"
    assert config.tenant == "tnt-arg"
    assert config.output == "yaml"


def test_the_default_file_is_optional_and_defaults_apply(tmp_path: Path) -> None:
    config = load_client_config(environ={"XDG_CONFIG_HOME": str(tmp_path)})

    assert (config.api_url, config.api_key, config.tenant, config.output) == (
        DEFAULT_API_URL,
        None,
        None,
        "table",
    )


def test_the_file_is_found_through_the_environment(tmp_path: Path) -> None:
    path = _file(tmp_path, 'tenant = "tnt-x"\n')

    assert default_config_path({"THECLOUD_CLIENT_CONFIG": str(path)}) == path
    assert load_client_config(environ={"THECLOUD_CLIENT_CONFIG": str(path)}).tenant == "tnt-x"
    xdg = default_config_path({"XDG_CONFIG_HOME": "/x"})
    assert xdg == Path("/x/thecloud/config.toml")


def test_a_named_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="does not exist"):
        load_client_config(environ={"THECLOUD_CLIENT_CONFIG": missing})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('api_ulr = "http://x"\n', "unknown setting.*api_ulr"),
        ("tenant = 3\n", "tenant .* must be a string"),
        ("tenant = \n", "cannot read"),
        ('output = "xml"\n', "output must be one of table, json, yaml"),
        ('api_url = "ftp://x"\n', "api_url must start with http"),
    ],
)
def test_bad_files_name_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_client_config(_file(tmp_path, text), {})


def test_the_key_never_shows_in_the_repr(tmp_path: Path) -> None:
    config = load_client_config(
        environ={"THECLOUD_API_KEY": "tck_secret", "XDG_CONFIG_HOME": str(tmp_path)}
    )

    assert config.api_key == "tck_secret"
    assert "tck_secret" not in repr(config)
