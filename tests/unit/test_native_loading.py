"""A missing native module fails loudly with the fix, never silently."""

from __future__ import annotations

import pytest

from thecloud.core.errors import NativeModuleError
from thecloud.core.native import load_native

pytestmark = pytest.mark.unit


def test_missing_native_module_says_how_to_build_it() -> None:
    with pytest.raises(NativeModuleError, match=r"make run.*no pure-Python fallback"):
        load_native("thecloud._no_such_engine", "an engine that does not exist")


def test_present_native_module_loads() -> None:
    assert load_native("thecloud._native", "the native engines").__version__ == "0.1.0"
