"""Process-wide logging: one handler on the root logger, JSON or text, with secrets redacted.

Code everywhere logs through `logging.getLogger(__name__)` and passes structured context with
`extra={...}`. `configure_logging` installs the single handler that formats those records; the
redaction filter sits on that handler, not on a logger, because handler filters also see records
that propagate up from child loggers (ours, uvicorn's, libraries').
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from typing import Final, TextIO

from thecloud.core.clock import format_utc
from thecloud.core.config import LOG_FORMATS, LOG_LEVELS, LogFormat, LogLevel
from thecloud.core.errors import InvalidArgumentError

__all__ = [
    "REDACTED",
    "JsonFormatter",
    "SecretRedactingFilter",
    "TextFormatter",
    "configure_logging",
    "looks_secret",
]

#: What a secret value is replaced with in log output.
REDACTED: Final = "[redacted]"

# Over-matching costs a redacted harmless value; under-matching leaks a credential into log files.
_SECRET_NAME: Final = re.compile(
    r"secret|token|passw|passphrase|authori[sz]ation|credential|cookie"
    r"|api[-_]?key|private[-_]?key|access[-_]?key|signing[-_]?key",
    re.IGNORECASE,
)

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES: Final = frozenset(
    logging.LogRecord("", logging.INFO, "", 0, "", None, None).__dict__
) | {"message", "asctime", "taskName"}
# uvicorn repeats each message with ANSI colours under this key; it is noise in structured output.
_IGNORED_EXTRAS: Final = frozenset({"color_message"})


def looks_secret(name: object) -> bool:
    """Tell whether a field or key called `name` probably holds a credential."""
    return bool(_SECRET_NAME.search(str(name)))


def _redact(value: object) -> object:
    """Return `value` with secret-named keys of any nested mapping redacted; never mutates it."""
    if isinstance(value, Mapping):
        return {
            key: REDACTED if looks_secret(key) else _redact(item) for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redact(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_redact(item) for item in value)
    return value


def _extras(record: logging.LogRecord) -> Iterator[tuple[str, object]]:
    for key, value in record.__dict__.items():
        if key not in _RECORD_ATTRIBUTES and key not in _IGNORED_EXTRAS:
            yield key, value


class SecretRedactingFilter(logging.Filter):
    """Replaces secret-looking `extra` fields and `%`-format mapping args with "[redacted]".

    Only names are inspected: a secret interpolated positionally into the message itself cannot be
    recognised, so code must pass credentials, if at all, as named fields.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact `record` in place (every later handler sees the redacted record); keep it."""
        for key, value in list(_extras(record)):
            record.__dict__[key] = REDACTED if looks_secret(key) else _redact(value)
        if isinstance(record.args, Mapping):
            record.args = {
                key: REDACTED if looks_secret(key) else _redact(item)
                for key, item in record.args.items()
            }
        elif isinstance(record.args, tuple):
            record.args = tuple(_redact(item) for item in record.args)
        return True


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: ts, level, logger, msg, then the `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a single line of JSON (newlines inside values are escaped)."""
        payload: dict[str, object] = {
            "ts": format_utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _extras(record):
            # An extra field must not overwrite the envelope, but it must not vanish either.
            payload[f"extra_{key}" if key in payload else key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


def _text_value(value: object) -> str:
    if isinstance(value, str) and value and not any(c.isspace() or c in "\"'=" for c in value):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Formats a record for people: `<ts> <LEVEL> <logger>: <msg> key=value ...`."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one line, followed by the traceback if there is one."""
        stamp = format_utc(record.created)
        line = f"{stamp} {record.levelname:<7} {record.name}: {record.getMessage()}"
        fields = " ".join(f"{key}={_text_value(value)}" for key, value in _extras(record))
        if fields:
            line = f"{line} {fields}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        if record.stack_info:
            line = f"{line}\n{self.formatStack(record.stack_info)}"
        return line


class _TheCloudHandler(logging.StreamHandler[TextIO]):
    """The root handler `configure_logging` owns; its class is how a second call finds it."""


def configure_logging(level: LogLevel, fmt: LogFormat, *, stream: TextIO | None = None) -> None:
    """Send every log record at `level` or above to `stream` (stderr by default) in format `fmt`.

    Calling it again replaces the handler it installed before instead of adding a second one, so
    tests and re-configuration never duplicate lines. Handlers installed by others are left alone.
    """
    if level not in LOG_LEVELS:
        raise InvalidArgumentError(f"log level must be one of {LOG_LEVELS}, got {level!r}")
    if fmt not in LOG_FORMATS:
        raise InvalidArgumentError(f"log format must be one of {LOG_FORMATS}, got {fmt!r}")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _TheCloudHandler)]:
        root.removeHandler(handler)
        handler.close()
    handler = _TheCloudHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(SecretRedactingFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
