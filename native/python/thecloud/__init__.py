"""The top of the `thecloud` package, shipped with the native wheel beside `_native`.

`thecloud` spans several folders: `core/`, `dataplane/` and `control/` in the source tree (or
their editable install) and this one, where `thecloud-native` installs `_native`.
`extend_path` joins every `thecloud` folder on `sys.path` into this package's `__path__`, so
`thecloud.core`, `thecloud._native` and the rest import however the folders were installed.

It also holds the one name of the top package: `thecloud.Cloud`, The Cloud in-process
(`thecloud.sdk.embedded.Cloud`), imported on first use so `import thecloud` stays cheap.
"""

from __future__ import annotations

from pkgutil import extend_path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from thecloud.sdk.embedded import Cloud

__all__ = ["Cloud"]

__path__ = extend_path(__path__, __name__)


def __getattr__(name: str) -> Any:
    """Import `Cloud` when first asked for; it pulls in the whole control plane."""
    if name == "Cloud":
        from thecloud.sdk.embedded import Cloud

        return Cloud
    raise AttributeError(f"module 'thecloud' has no attribute {name!r}")
