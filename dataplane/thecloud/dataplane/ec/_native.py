"""The cffi module of thecloud_ec, loaded loudly (no pure-Python fallback)."""

from __future__ import annotations

from typing import Any

from thecloud.core.native import load_native

_module = load_native("thecloud.dataplane.ec._ec_cffi", "the native erasure-coding library")
ffi: Any = _module.ffi
lib: Any = _module.lib
