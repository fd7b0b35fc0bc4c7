"""Settings: defaults, the file / environment / argument precedence, and errors naming sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from thecloud.core.config import Settings, load_settings
from thecloud.core.errors import ConfigError

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The implicit config file is <state_dir>/config.toml, relative to the working directory.
    monkeypatch.chdir(tmp_path)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_apply_when_nothing_is_configured() -> None:
    settings = load_settings(environ={})

    assert settings == Settings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 8470
    assert settings.state_dir == Path(".thecloud")
    assert settings.log_level == "info"
    assert settings.log_format == "text"
    assert settings.metrics_shm is None
    assert settings.metrics_cardinality_limit == 10000


def test_file_values_are_read_and_relative_paths_resolve_next_to_the_file(tmp_path: Path) -> None:
    config = _write(
        tmp_path / "etc" / "thecloud.toml",
        'host = "0.0.0.0"\nport = 9000\nstate_dir = "state"\nlog_level = "debug"\n'
        'log_format = "json"\nmetrics_shm = "/dev/shm/thecloud-metrics"\n'
        "metrics_cardinality_limit = 50\n",
    )

    settings = load_settings(config, environ={})

    assert settings == Settings(
        host="0.0.0.0",
        port=9000,
        state_dir=tmp_path / "etc" / "state",
        log_level="debug",
        log_format="json",
        metrics_shm=Path("/dev/shm/thecloud-metrics"),
        metrics_cardinality_limit=50,
    )


def test_environment_overrides_file_and_arguments_override_environment(tmp_path: Path) -> None:
    config = _write(tmp_path / "c.toml", 'port = 9000\nhost = "10.0.0.1"\nlog_level = "error"\n')
    environ = {"THECLOUD_PORT": "9001", "THECLOUD_HOST": "10.0.0.2"}

    settings = load_settings(config, environ=environ, port=9002, host=None)

    assert settings.port == 9002  # argument beats environment
    assert settings.host == "10.0.0.2"  # None argument is ignored, environment beats file
    assert settings.log_level == "error"  # file beats default


def test_config_file_is_found_through_the_environment_variable(tmp_path: Path) -> None:
    config = _write(tmp_path / "somewhere" / "x.toml", "port = 7000\n")

    assert load_settings(environ={"THECLOUD_CONFIG": str(config)}).port == 7000


def test_config_file_in_the_state_dir_is_read_when_present(tmp_path: Path) -> None:
    _write(tmp_path / "st" / "config.toml", "port = 7001\n")

    assert load_settings(environ={"THECLOUD_STATE_DIR": "st"}).port == 7001
    assert load_settings(environ={}, state_dir=tmp_path / "st").port == 7001


def test_config_file_in_the_state_dir_cannot_move_the_state_dir(tmp_path: Path) -> None:
    _write(tmp_path / ".thecloud" / "config.toml", 'state_dir = "/elsewhere"\n')

    with pytest.raises(ConfigError, match=r"invalid state_dir in \.thecloud/config\.toml"):
        load_settings(environ={})


def test_explicit_config_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"

    with pytest.raises(ConfigError, match="cannot read config file") as caught:
        load_settings(missing, environ={})
    assert str(missing) in str(caught.value)


def test_unknown_key_in_file_is_rejected_with_the_key_and_the_file(tmp_path: Path) -> None:
    config = _write(tmp_path / "c.toml", "prot = 80\n")

    with pytest.raises(ConfigError, match="prot") as caught:
        load_settings(config, environ={})
    assert str(config) in str(caught.value)


def test_invalid_toml_is_rejected_with_the_file(tmp_path: Path) -> None:
    config = _write(tmp_path / "c.toml", "port = = 1\n")

    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        load_settings(config, environ={})
    assert str(config) in str(caught.value)


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('port = "8080"', "port"),
        ("port = true", "port"),
        ("port = 70000", "port"),
        ("host = 1", "host"),
        ('host = ""', "host"),
        ('log_level = "verbose"', "log_level"),
        ('log_format = "xml"', "log_format"),
        ("metrics_cardinality_limit = 0", "metrics_cardinality_limit"),
        ("metrics_shm = 3", "metrics_shm"),
        ('state_dir = ""', "state_dir"),
        ('etcd_endpoint = "127.0.0.1:2379"', "etcd_endpoint"),
        ('etcd_endpoint = "http://a b"', "etcd_endpoint"),
        ("etcd_endpoint = 2379", "etcd_endpoint"),
    ],
)
def test_bad_file_values_name_the_field_and_the_file(tmp_path: Path, line: str, field: str) -> None:
    config = _write(tmp_path / "c.toml", line + "\n")

    with pytest.raises(ConfigError, match=rf"invalid {field} in ") as caught:
        load_settings(config, environ={})
    assert str(config) in str(caught.value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("THECLOUD_PORT", "http"),
        ("THECLOUD_PORT", "0"),
        ("THECLOUD_PORT", "65536"),
        ("THECLOUD_LOG_FORMAT", "yaml"),
        ("THECLOUD_METRICS_CARDINALITY_LIMIT", "-5"),
        ("THECLOUD_HOST", ""),
    ],
)
def test_bad_environment_values_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"environment variable {variable}"):
        load_settings(environ={variable: value})


def test_environment_values_are_parsed_from_text() -> None:
    settings = load_settings(
        environ={
            "THECLOUD_PORT": " 8080 ",
            "THECLOUD_LOG_LEVEL": "WARNING",
            "THECLOUD_METRICS_SHM": "/dev/shm/m",
            "THECLOUD_METRICS_CARDINALITY_LIMIT": "42",
        }
    )

    assert settings.port == 8080
    assert settings.log_level == "warning"
    assert settings.metrics_shm == Path("/dev/shm/m")
    assert settings.metrics_cardinality_limit == 42


def test_etcd_endpoint_is_a_url_and_unset_by_default() -> None:
    configured = load_settings(environ={"THECLOUD_ETCD_ENDPOINT": "http://127.0.0.1:2379/"})

    assert load_settings(environ={}).etcd_endpoint is None
    assert configured.etcd_endpoint == "http://127.0.0.1:2379"


def test_empty_environment_variable_unsets_the_metrics_shm_path(tmp_path: Path) -> None:
    config = _write(tmp_path / "c.toml", 'metrics_shm = "/dev/shm/m"\n')

    assert load_settings(config, environ={"THECLOUD_METRICS_SHM": ""}).metrics_shm is None


def test_bad_argument_is_rejected_with_the_argument_name() -> None:
    with pytest.raises(ConfigError, match="invalid port in argument port"):
        load_settings(environ={}, port=0)


def test_unknown_argument_is_rejected() -> None:
    with pytest.raises(ConfigError, match="prot"):
        load_settings(environ={}, prot=80)


def test_settings_built_directly_are_validated_and_normalised() -> None:
    with pytest.raises(ConfigError, match="invalid port"):
        Settings(port=0)
    # A str where a Path belongs is converted, so the type hint holds for every instance.
    assert Settings(state_dir="x").state_dir == Path("x")  # type: ignore[arg-type]


def test_config_error_is_a_value_error() -> None:
    # Callers of stdlib-shaped APIs catch ValueError; the hierarchy promises it.
    with pytest.raises(ValueError, match="port"):
        load_settings(environ={"THECLOUD_PORT": "x"})
