"""Opening the embedded LMDB environment that holds a server's state, with one set of options.

Every store on top of LMDB (server identity now, the resource state store later) opens its
environment here, so durability options and file permissions cannot drift between them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import lmdb

from thecloud.core.errors import StateError

__all__ = ["DEFAULT_MAP_SIZE", "MAX_DATABASES", "open_environment"]

#: Upper bound of the memory map; LMDB reserves address space, not disk, so 1 GiB costs nothing.
DEFAULT_MAP_SIZE: Final = 1 << 30
#: Named databases one environment may hold (b"meta", and one per resource kind later).
MAX_DATABASES: Final = 16
# State may include credentials: only the owning user may list the directories or read the files.
_DIRECTORY_MODE: Final = 0o700
_FILE_MODE: Final = 0o600


def _make_private_directories(path: Path) -> None:
    """Create `path` and its missing ancestors with mode 0700; leave existing ones untouched."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        # exist_ok: another process starting on the same state dir may win the race.
        directory.mkdir(mode=_DIRECTORY_MODE, exist_ok=True)


def open_environment(path: Path, *, map_size: int = DEFAULT_MAP_SIZE) -> lmdb.Environment:
    """Open (creating if needed) the LMDB environment in directory `path`, durable on commit.

    `sync` and `metasync` make every committed write transaction survive a crash or power loss;
    `lock` keeps several processes on the same directory safe. The caller closes the returned
    environment, usually with `with open_environment(...) as env:`. Failures raise StateError.
    """
    try:
        _make_private_directories(path)
    except OSError as exc:
        raise StateError(f"cannot create state directory {path}: {exc.strerror or exc}") from exc
    try:
        return lmdb.open(
            str(path),
            map_size=map_size,
            subdir=True,
            max_dbs=MAX_DATABASES,
            sync=True,
            metasync=True,
            lock=True,
            # The directory already exists with 0700; this mode is for data.mdb and lock.mdb.
            mode=_FILE_MODE,
        )
    except lmdb.Error as exc:
        raise StateError(f"cannot open LMDB environment at {path}: {exc}") from exc
