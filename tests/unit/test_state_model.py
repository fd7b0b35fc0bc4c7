"""Validation and small helpers of the state store that need no backend."""

from __future__ import annotations

import pytest

from thecloud.core.errors import InvalidArgumentError, StateError
from thecloud.core.state.etcd_gateway import prefix_end
from thecloud.core.state.model import validate_key, validate_limit, validate_prefix
from thecloud.core.state.schema import check_schema_version, parse_schema_version

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("prefix", "end"),
    [(b"a/", b"a0"), (b"a\xff", b"b"), (b"a\xff\xff", b"b"), (b"\xff", b"\x00"), (b"", b"\x00")],
)
def test_prefix_end_is_the_first_key_after_the_prefix(prefix: bytes, end: bytes) -> None:
    assert prefix_end(prefix) == end


def test_keys_are_utf8_and_prefixes_may_be_empty() -> None:
    assert validate_key("vpc/é") == "vpc/é".encode()
    assert validate_prefix("") == b""
    with pytest.raises(InvalidArgumentError):
        validate_key("")
    with pytest.raises(InvalidArgumentError):
        validate_prefix("tab\there")
    for limit in (0, -1, True, 10_001, 1.5):
        with pytest.raises(InvalidArgumentError):
            validate_limit(limit)


def test_schema_versions_newer_than_the_code_are_refused() -> None:
    assert check_schema_version(None, 1, "here") == 1
    assert check_schema_version(1, 1, "here") == 1
    with pytest.raises(StateError, match="newer than version 1"):
        check_schema_version(2, 1, "here")
    with pytest.raises(StateError, match="invalid"):
        check_schema_version(0, 1, "here")
    with pytest.raises(StateError, match="unreadable"):
        parse_schema_version(b"one", "here")
