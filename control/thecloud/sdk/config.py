"""Where the SDK and the CLI find the API: arguments, then environment, then a config file.

Precedence, highest first: explicit arguments (CLI flags), `THECLOUD_API_URL`,
`THECLOUD_API_KEY`, `THECLOUD_TENANT`, `THECLOUD_PROJECT`, `THECLOUD_OUTPUT`, then the TOML file
named by `$THECLOUD_CLIENT_CONFIG`, else `~/.config/thecloud/config.toml` (honouring
`$XDG_CONFIG_HOME`). The file's keys are `api_url`, `api_key`, `tenant`, `project`, `output`.

The client file has its own variable rather than the server's `THECLOUD_CONFIG`: the server
refuses unknown settings, so one file cannot serve both.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, cast, get_args

from thecloud.core.errors import ConfigError

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_API_URL",
    "ClientConfig",
    "OutputFormat",
    "default_config_path",
    "load_client_config",
]

#: Names the client's config file.
CONFIG_ENV_VAR: Final = "THECLOUD_CLIENT_CONFIG"
#: Where `make run` serves.
DEFAULT_API_URL: Final = "http://127.0.0.1:8470"
#: How the CLI prints results.
OutputFormat = Literal["table", "json", "yaml", "id"]
_FIELDS: Final = ("api_url", "api_key", "tenant", "project", "output")


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Resolved client settings; the key stays out of reprs."""

    api_url: str = DEFAULT_API_URL
    api_key: str | None = field(default=None, repr=False)
    tenant: str | None = None
    project: str | None = None
    output: OutputFormat = "table"

    def __post_init__(self) -> None:
        if not self.api_url.startswith(("http://", "https://")):
            raise ConfigError(f"api_url must start with http:// or https://, not {self.api_url!r}")
        if self.output not in get_args(OutputFormat):
            choices = ", ".join(get_args(OutputFormat))
            raise ConfigError(f"output must be one of {choices}, not {self.output!r}")


def default_config_path(environ: Mapping[str, str]) -> Path:
    """Return the config file to read: `$THECLOUD_CLIENT_CONFIG`, else the XDG location."""
    named = environ.get(CONFIG_ENV_VAR)
    if named:
        return Path(named)
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "thecloud" / "config.toml"


def _read_file(path: Path, required: bool) -> dict[str, str]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file {path} does not exist") from None
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read config file {path}: {error}") from None
    unknown = sorted(set(document) - set(_FIELDS))
    if unknown:
        raise ConfigError(
            f"unknown setting(s) {', '.join(unknown)} in {path}; known: {', '.join(_FIELDS)}"
        )
    for name, value in document.items():
        if not isinstance(value, str):
            raise ConfigError(f"{name} in {path} must be a string")
    return dict(document)


def load_client_config(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: str | None,
) -> ClientConfig:
    """Resolve the settings from `overrides` (None means not given), environment and file.

    ConfigError names the file or value at fault. A missing default file is fine; a file named
    by `path` or `$THECLOUD_CLIENT_CONFIG` must exist.
    """
    env = os.environ if environ is None else environ
    unknown = sorted(set(overrides) - set(_FIELDS))
    if unknown:
        raise TypeError(f"unknown client setting(s): {', '.join(unknown)}")
    explicit = path is not None or bool(env.get(CONFIG_ENV_VAR))
    values: dict[str, str] = _read_file(path or default_config_path(env), required=explicit)
    for name in _FIELDS:
        from_env = env.get(f"THECLOUD_{name.upper()}")
        if from_env:
            values[name] = from_env
        given = overrides.get(name)
        if given is not None:
            values[name] = given
    output = values.pop("output", "table")
    if output not in get_args(OutputFormat):
        choices = ", ".join(get_args(OutputFormat))
        raise ConfigError(f"output must be one of {choices}, not {output!r}")
    return ClientConfig(**values, output=cast(OutputFormat, output))
