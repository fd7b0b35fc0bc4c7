"""Loading native extension modules: loudly, with the fix, and never with a slow fallback."""

from __future__ import annotations

import importlib
from types import ModuleType

from thecloud.core.errors import NativeModuleError


def load_native(module: str, what: str) -> ModuleType:
    """Imports a compiled module, or raises NativeModuleError naming it and how to build it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise NativeModuleError(
            f"{what} ({module}) failed to load: {exc}; run `make run` to build it. "
            "There is deliberately no pure-Python fallback."
        ) from exc
