"""Server settings and where they come from.

Precedence, lowest first:
1. the defaults in `Settings`;
2. a TOML file: the `path` given to `load_settings`, else the file named by `$THECLOUD_CONFIG`,
   else `<state_dir>/config.toml` if it exists;
3. `THECLOUD_<FIELD>` environment variables (`THECLOUD_PORT=8080`);
4. explicit keyword overrides, which the CLI fills from its flags.

Every value is checked where it is read, so a bad one fails with a ConfigError that names the field
and the file or environment variable it came from, instead of surfacing later as a confusing
failure deep inside the server.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final, Literal

from thecloud.core.errors import ConfigError

__all__ = [
    "CONFIG_ENV_VAR",
    "CONFIG_FILE_NAME",
    "DEFAULT_STATE_DIR",
    "ENV_PREFIX",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "LogFormat",
    "LogLevel",
    "Settings",
    "load_settings",
]

LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["json", "text"]

#: The values `Settings.log_level` accepts, most verbose first.
LOG_LEVELS: Final[tuple[LogLevel, ...]] = ("debug", "info", "warning", "error")
#: The values `Settings.log_format` accepts.
LOG_FORMATS: Final[tuple[LogFormat, ...]] = ("json", "text")
#: Environment variable naming the configuration file to read.
CONFIG_ENV_VAR: Final = "THECLOUD_CONFIG"
#: Prefix of the environment variables that override single settings.
ENV_PREFIX: Final = "THECLOUD_"
#: Name of the configuration file looked for inside the state directory.
CONFIG_FILE_NAME: Final = "config.toml"
#: Where state lives unless configured otherwise: relative, so each checkout gets its own.
DEFAULT_STATE_DIR: Final = Path(".thecloud")

_DIRECT_SOURCE: Final = "Settings()"


@dataclass(frozen=True, slots=True)
class _FieldRule:
    """How one setting is parsed from text and checked; the type comes from the rule's kind."""

    kind: Literal["str", "int", "path", "optional_path", "optional_url", "choice"]
    minimum: int = 0
    maximum: int | None = None
    choices: tuple[str, ...] = ()


_RULES: Final[Mapping[str, _FieldRule]] = {
    "host": _FieldRule("str"),
    "port": _FieldRule("int", minimum=1, maximum=65535),
    "state_dir": _FieldRule("path"),
    "log_level": _FieldRule("choice", choices=LOG_LEVELS),
    "log_format": _FieldRule("choice", choices=LOG_FORMATS),
    "metrics_shm": _FieldRule("optional_path"),
    "metrics_cardinality_limit": _FieldRule("int", minimum=1),
    "etcd_endpoint": _FieldRule("optional_url"),
}


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a control plane process needs to know before it starts serving.

    Constructing one directly validates it too, with the same rules `load_settings` applies.
    """

    host: str = "127.0.0.1"
    """Address the API server listens on; loopback unless the operator opens it up."""
    port: int = 8470
    """TCP port of the API server, 1 to 65535."""
    state_dir: Path = DEFAULT_STATE_DIR
    """Directory of the embedded state (LMDB) and of the default config file; created 0700."""
    log_level: LogLevel = "info"
    """Lowest level of log records that are written."""
    log_format: LogFormat = "text"
    """`json` for one JSON object per line (for collectors), `text` for people."""
    metrics_shm: Path | None = None
    """Shared-memory file backing multi-process metric registries; None keeps metrics in-process."""
    metrics_cardinality_limit: int = 10000
    """Most label combinations one metric family may hold; more is refused with CapacityError."""
    etcd_endpoint: str | None = None
    """Client URL of the etcd cluster holding the state (`http://host:2379`); None keeps the state
    in the embedded LMDB store under `state_dir`. The key files stay in `state_dir` either way."""

    def __post_init__(self) -> None:
        for field in fields(self):
            value = _parse(field.name, getattr(self, field.name), _DIRECT_SOURCE, from_text=False)
            # Normalises in place (a str path becomes a Path); allowed on a frozen instance
            # because nobody can have observed the object yet.
            object.__setattr__(self, field.name, value)


def _check_value(rule: _FieldRule, value: object, *, from_text: bool) -> object:
    """Return `value` converted to the rule's type; raise ValueError with the reason if it can't."""
    if rule.kind == "str":
        if not isinstance(value, str) or not value.strip() or value != value.strip():
            raise ValueError(f"expected a non-empty string without outer spaces, got {value!r}")
        return value
    if rule.kind == "int":
        bounds = (
            f"from {rule.minimum} to {rule.maximum}"
            if rule.maximum is not None
            else f">= {rule.minimum}"
        )
        number: object = value
        if from_text and isinstance(value, str):
            try:
                number = int(value.strip(), 10)
            except ValueError:
                number = value
        # bool is an int subclass, but `port = true` in a file is a mistake, not 1.
        if not isinstance(number, int) or isinstance(number, bool):
            raise ValueError(f"expected an integer {bounds}, got {value!r}")
        if number < rule.minimum or (rule.maximum is not None and number > rule.maximum):
            raise ValueError(f"expected an integer {bounds}, got {number}")
        return number
    if rule.kind == "choice":
        if not isinstance(value, str) or value.strip().lower() not in rule.choices:
            raise ValueError(f"expected one of {', '.join(rule.choices)}, got {value!r}")
        return value.strip().lower()
    if rule.kind.startswith("optional_") and (value is None or (from_text and value == "")):
        # An empty environment variable is the only way to unset a setting from the shell.
        return None
    if rule.kind == "optional_url":
        return _check_url(value)
    if not isinstance(value, str | os.PathLike) or not os.fspath(value):
        raise ValueError(f"expected a non-empty path, got {value!r}")
    return Path(value).expanduser()


def _check_url(value: object) -> str:
    if (
        not isinstance(value, str)
        or not value.startswith(("http://", "https://"))
        or any(c.isspace() for c in value)
    ):
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    return value.rstrip("/")


def _parse(name: str, value: object, source: str, *, from_text: bool) -> object:
    rule = _RULES[name]
    try:
        return _check_value(rule, value, from_text=from_text)
    except ValueError as exc:
        raise ConfigError(f"invalid {name} in {source}: {exc}") from None


def _env_var(name: str) -> str:
    return f"{ENV_PREFIX}{name.upper()}"


def _read_file(path: Path, *, found_in_state_dir: bool) -> dict[str, object]:
    try:
        with path.open("rb") as file:
            document = tomllib.load(file)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(document) - set(_RULES))
    if unknown:
        raise ConfigError(
            f"unknown setting(s) {', '.join(unknown)} in {path}; "
            f"known settings: {', '.join(_RULES)}"
        )
    if found_in_state_dir and "state_dir" in document:
        # The file was found through the state dir, so letting it move the state dir elsewhere
        # would leave the config and the state it describes in different places.
        raise ConfigError(
            f"invalid state_dir in {path}: a config file inside the state directory cannot move it"
        )
    values: dict[str, object] = {}
    for name, raw in document.items():
        value = _parse(name, raw, str(path), from_text=False)
        if isinstance(value, Path) and not value.is_absolute():
            # Relative paths in a file mean "next to this file", whatever the working directory.
            value = path.parent / value
        values[name] = value
    return values


def _locate_file(
    path: Path | None, environ: Mapping[str, str], state_dir: Path
) -> tuple[Path, bool] | None:
    """Return the config file to read and whether it was found in the state dir, or None."""
    if path is not None:
        return Path(path), False
    named = environ.get(CONFIG_ENV_VAR, "")
    if named:
        return Path(named).expanduser(), False
    candidate = state_dir / CONFIG_FILE_NAME
    return (candidate, True) if candidate.is_file() else None


def load_settings(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: object,
) -> Settings:
    """Build Settings from the defaults, a TOML file, the environment and `overrides`.

    `environ` defaults to `os.environ`; `overrides` are field names, and None values among them are
    ignored so the CLI can pass every flag through whether the user gave it or not. An explicitly
    named file that does not exist is an error; the implicit `<state_dir>/config.toml` is optional.
    """
    env = os.environ if environ is None else environ
    unknown = sorted(set(overrides) - set(_RULES))
    if unknown:
        raise ConfigError(
            f"unknown setting(s) {', '.join(unknown)} in arguments; "
            f"known settings: {', '.join(_RULES)}"
        )

    from_env: dict[str, object] = {}
    for name in _RULES:
        var = _env_var(name)
        if var in env:
            from_env[name] = _parse(name, env[var], f"environment variable {var}", from_text=True)
    from_args = {
        name: _parse(name, value, f"argument {name}", from_text=False)
        for name, value in overrides.items()
        if value is not None
    }

    # The state dir must be known before the file is, since the file may live inside it.
    chosen = from_args.get("state_dir", from_env.get("state_dir"))
    state_dir = chosen if isinstance(chosen, Path) else DEFAULT_STATE_DIR
    located = _locate_file(path, env, state_dir)
    from_file = {} if located is None else _read_file(located[0], found_in_state_dir=located[1])

    # Any, not object: every value was checked against its field's rule by _parse above.
    merged: dict[str, Any] = {**from_file, **from_env, **from_args}
    return Settings(**merged)
