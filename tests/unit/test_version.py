"""The installed version comes from the distribution metadata, or a clear error."""

from __future__ import annotations

from importlib import metadata

import pytest

from thecloud.core.errors import StateError
from thecloud.core.version import version

pytestmark = pytest.mark.unit


def test_version_is_read_from_the_distribution_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metadata, "version", lambda name: {"thecloud": "4.5.6"}[name])

    assert version() == "4.5.6"


def test_missing_distribution_is_a_state_error_saying_how_to_fix_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)

    with pytest.raises(StateError, match="make run"):
        version()
