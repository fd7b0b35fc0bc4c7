"""Logging setup: JSON and text output, secret redaction, and idempotent configuration."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime

import pytest

from thecloud.core.errors import InvalidArgumentError
from thecloud.core.logging import REDACTED, configure_logging, looks_secret

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def _json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_format_writes_one_object_per_line_with_extra_fields() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)

    logging.getLogger("thecloud.test").info("hello %s", "world", extra={"volume_id": "vol-1"})
    logging.getLogger("thecloud.test").warning("second\nline")

    first, second = _json_lines(stream)
    assert first["level"] == "info"
    assert first["logger"] == "thecloud.test"
    assert first["msg"] == "hello world"
    assert first["volume_id"] == "vol-1"
    assert isinstance(first["ts"], str)
    assert first["ts"].endswith("Z")
    assert datetime.fromisoformat(first["ts"]).utcoffset() is not None
    assert second["msg"] == "second\nline"


def test_json_format_keeps_extra_fields_that_collide_with_the_envelope() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)

    logging.getLogger("thecloud.test").info("m", extra={"level": "custom"})

    (line,) = _json_lines(stream)
    assert line["level"] == "info"
    assert line["extra_level"] == "custom"


def test_json_format_includes_the_traceback() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)

    try:
        raise KeyError("boom")
    except KeyError:
        logging.getLogger("thecloud.test").exception("failed")

    (line,) = _json_lines(stream)
    assert "KeyError: 'boom'" in str(line["exc"])


def test_text_format_is_one_readable_line() -> None:
    stream = io.StringIO()
    configure_logging("info", "text", stream=stream)

    logging.getLogger("thecloud.test").info("serving", extra={"port": 8470, "note": "a b"})

    (line,) = stream.getvalue().splitlines()
    assert "INFO" in line
    assert "thecloud.test: serving" in line
    assert "port=8470" in line
    assert 'note="a b"' in line


def test_records_below_the_level_are_dropped() -> None:
    stream = io.StringIO()
    configure_logging("warning", "text", stream=stream)

    logging.getLogger("thecloud.test").info("quiet")
    logging.getLogger("thecloud.test").warning("loud")

    assert "quiet" not in stream.getvalue()
    assert "loud" in stream.getvalue()


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_secret_extra_fields_are_redacted(fmt: str) -> None:
    stream = io.StringIO()
    configure_logging("info", fmt, stream=stream)  # type: ignore[arg-type]

    logging.getLogger("thecloud.test").info(
        "login",
        extra={
            "password": "hunter2",
            "api_key": "ak-123",
            "Authorization": "Bearer abc",
            "request": {"headers": {"x-auth-token": "tok-9", "accept": "text/plain"}},
            "user": "alice",
        },
    )

    output = stream.getvalue()
    for secret in ("hunter2", "ak-123", "Bearer abc", "tok-9"):
        assert secret not in output
    assert REDACTED in output
    assert "alice" in output
    assert "text/plain" in output


def test_secret_keys_of_mapping_arguments_are_redacted() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)

    log = logging.getLogger("thecloud.test")
    log.info("user %(user)s token %(token)s", {"user": "bob", "token": "t0ps3cret"})
    log.info("headers %s and %s", {"cookie": "c00kie"}, [{"client_secret": "s3"}])

    first, second = _json_lines(stream)
    assert first["msg"] == f"user bob token {REDACTED}"
    assert "c00kie" not in str(second["msg"])
    assert "s3'" not in str(second["msg"])


def test_redaction_does_not_mutate_the_caller_objects() -> None:
    configure_logging("info", "json", stream=io.StringIO())
    headers = {"authorization": "Bearer abc"}

    logging.getLogger("thecloud.test").info("h", extra={"headers": headers})

    assert headers == {"authorization": "Bearer abc"}


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("password", True),
        ("db_passwd", True),
        ("API_KEY", True),
        ("apikey", True),
        ("x-api-key", True),
        ("refresh_token", True),
        ("client_secret", True),
        ("authorization", True),
        ("private_key", True),
        ("user", False),
        ("port", False),
        ("server_id", False),
    ],
)
def test_secret_names_are_recognised(name: str, secret: bool) -> None:
    assert looks_secret(name) is secret


def test_configuring_twice_does_not_duplicate_output() -> None:
    stream = io.StringIO()
    configure_logging("info", "text", stream=stream)
    configure_logging("info", "json", stream=stream)

    logging.getLogger("thecloud.test").info("once")

    (line,) = stream.getvalue().splitlines()
    assert json.loads(line)["msg"] == "once"


def test_other_handlers_on_the_root_logger_are_left_alone() -> None:
    foreign = logging.NullHandler()
    logging.getLogger().addHandler(foreign)

    configure_logging("info", "text", stream=io.StringIO())
    configure_logging("info", "text", stream=io.StringIO())

    assert foreign in logging.getLogger().handlers


def test_invalid_level_or_format_is_rejected() -> None:
    with pytest.raises(InvalidArgumentError, match="log level"):
        configure_logging("verbose", "text")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="log format"):
        configure_logging("info", "xml")  # type: ignore[arg-type]
