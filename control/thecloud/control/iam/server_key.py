"""The server's secret keys: 32 random bytes in a file only its owner reads.

One file holds the HMAC key for API-key digests, another the master key for secrets at rest.

The key is created on first use with mode 0600 (atomically, so two starting processes agree on
one key) and refused later if anyone widened its permissions: a key others could read would let
them forge API-key digests or decrypt secrets. The bytes never appear in a repr or message.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import Final

from thecloud.core.errors import ConfigError, StateError

__all__ = ["SERVER_KEY_BYTES", "ServerKey", "load_or_create_server_key"]

#: Size of a server key: 256 bits, as HMAC-SHA256 and AES-256-GCM want.
SERVER_KEY_BYTES: Final = 32
_FILE_MODE: Final = 0o600


class ServerKey:
    """Secret key material; its repr and str never show the bytes."""

    __slots__ = ("_material",)

    def __init__(self, material: bytes) -> None:
        if len(material) != SERVER_KEY_BYTES:
            raise StateError(f"a server key must hold {SERVER_KEY_BYTES} bytes")
        self._material = material

    @property
    def material(self) -> bytes:
        """The raw key bytes, for HMAC; never log them."""
        return self._material

    def __repr__(self) -> str:
        return "ServerKey(<redacted>)"


def load_or_create_server_key(path: Path) -> ServerKey:
    """Return the key in `path`, creating it (mode 0600) if the file does not exist.

    ConfigError if the file is not a regular file owned by this user with mode 0600 or
    stricter; StateError if it holds the wrong number of bytes.
    """
    if not os.path.lexists(path):
        # Another process may win the race to create it; then its key is the one to use.
        with contextlib.suppress(FileExistsError):
            _create(path)
    return _load(path)


def _create(path: Path) -> None:
    material = secrets.token_bytes(SERVER_KEY_BYTES)
    # O_EXCL makes creation atomic; the mode is applied at creation, so the key is never readable
    # by others, not even briefly. A temporary name plus link keeps readers from seeing a
    # half-written file.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, _FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(material)
            file.flush()
            os.fsync(file.fileno())
        os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _load(path: Path) -> ServerKey:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as error:
        raise ConfigError(f"cannot open the server key file {str(path)!r}") from error
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"the server key file {str(path)!r} is not a regular file")
        if info.st_uid != os.geteuid():
            raise ConfigError(f"the server key file {str(path)!r} belongs to another user")
        if info.st_mode & 0o077:
            raise ConfigError(
                f"the server key file {str(path)!r} has mode "
                f"{stat.S_IMODE(info.st_mode):04o}; it must be 0600 or stricter"
            )
        material = file.read(SERVER_KEY_BYTES + 1)
    return ServerKey(material)
