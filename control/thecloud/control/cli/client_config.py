"""Writing the client config file that `thecloud admin bootstrap --save-config` leaves behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

from thecloud.core.config import Settings
from thecloud.core.errors import ConfigError

__all__ = ["api_url_of", "refuse_existing", "save_client_config"]


def api_url_of(settings: Settings) -> str:
    """Return the URL a client on this machine reaches the server at."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "") else settings.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}"


def refuse_existing(path: Path) -> None:
    """ConfigError if `path` exists: it may hold another key, which must not be lost."""
    if path.exists():
        raise _exists(path)


def _exists(path: Path) -> ConfigError:
    return ConfigError(
        f"{path} exists already; move it away or set THECLOUD_CLIENT_CONFIG to a new path"
    )


def save_client_config(path: Path, *, api_url: str, api_key: str, tenant: str) -> None:
    """Write a new 0600 config file; refuses to replace one (it may hold another key)."""
    # JSON strings are valid TOML basic strings for everything these values can hold.
    lines = [
        f"{name} = {json.dumps(value)}"
        for name, value in (("api_url", api_url), ("api_key", api_key), ("tenant", tenant))
    ]
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise _exists(path) from None
    with os.fdopen(fd, "w", encoding="utf-8") as sink:
        sink.write("\n".join(lines) + "\n")
