"""DirectoryDomain: a failure domain that is a local directory (one disk, one mount point).

Blob `ShardKey(volume, stripe, version, shard)` is the file
`<root>/v<volume>/<stripe // 4096>/<stripe>.<version>.<shard>` (numbers in hex, shard decimal):
the bucket level keeps directories at a few thousand entries for volumes of millions of stripes,
and the volume level lets a deleted volume go with one tree removal.

Durability follows POSIX: `write` leaves the file open, `sync` fdatasyncs each staged file
through the descriptor it was written with (so a writeback error is reported to us, not lost to
a fresh descriptor) and then fsyncs every directory that gained or lost an entry, including the
parents of directories created on the way.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from typing_extensions import Buffer

from thecloud.core.errors import NotFoundError, StateError
from thecloud.dataplane.volume.domain import ShardKey

__all__ = ["DirectoryDomain"]

_BUCKET_BITS: Final = 12
_FILE_MODE: Final = 0o600
_DIRECTORY_MODE: Final = 0o700
_VOLUME_DIR: Final = re.compile(r"v([0-9a-f]{1,16})")
_BLOB_FILE: Final = re.compile(r"([0-9a-f]{1,16})\.([0-9a-f]{1,16})\.([0-9]{1,3})")


class DirectoryDomain:
    """Shard blobs as files under one directory, which is created on first use."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()
        # Paths are plain strings on the I/O path: pathlib costs more than a 4 KiB read.
        self._root = str(self.root)
        # Blobs written since the last sync, with the descriptor their data went through.
        self._staged: dict[ShardKey, int] = {}
        # Directories whose entries changed since the last sync.
        self._changed_dirs: set[str] = set()

    def __repr__(self) -> str:
        return f"DirectoryDomain({str(self.root)!r})"

    @property
    def label(self) -> str:
        """The absolute path of the directory."""
        return str(self.root)

    def path(self, key: ShardKey) -> Path:
        """The file holding a blob."""
        return Path(self._file(key))

    def write(self, key: ShardKey, data: Buffer) -> None:
        """Writes the blob's file (replacing an old one); durable after `sync()`."""
        path = self._file(key)
        self._forget(key)
        try:
            fd = self._create(path)
        except OSError as exc:
            raise _state_error("create", path, exc) from exc
        try:
            view = memoryview(data).cast("B")
            written = 0
            while written < view.nbytes:
                written += os.write(fd, view[written:])
        except OSError as exc:
            os.close(fd)
            self._unlink_quietly(path)
            raise _state_error("write", path, exc) from exc
        self._staged[key] = fd
        self._changed_dirs.add(os.path.dirname(path))

    def sync(self) -> None:
        """fdatasyncs the staged files, then fsyncs the directories whose entries changed."""
        staged, self._staged = self._staged, {}
        changed, self._changed_dirs = self._changed_dirs, set()
        try:
            for key, fd in staged.items():
                try:
                    os.fdatasync(fd)
                except OSError as exc:
                    raise _state_error("fdatasync", self._file(key), exc) from exc
            for directory in changed:
                _fsync_directory(directory)
        finally:
            for fd in staged.values():
                os.close(fd)

    def read_into(self, key: ShardKey, out: memoryview) -> int:
        """Reads the blob's file into `out`; NotFoundError if it does not exist."""
        path = self._file(key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NotFoundError(f"no shard blob {path}") from None
        except OSError as exc:
            raise _state_error("open", path, exc) from exc
        try:
            total = 0
            while total < out.nbytes:
                count = os.preadv(fd, [out[total:]], total)
                if count == 0:
                    break
                total += count
            return total
        except OSError as exc:
            raise _state_error("read", path, exc) from exc
        finally:
            os.close(fd)

    def delete(self, key: ShardKey) -> None:
        """Unlinks the blob's file if it exists."""
        self._forget(key)
        path = self._file(key)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _state_error("unlink", path, exc) from exc
        self._changed_dirs.add(os.path.dirname(path))

    def drop_volume(self, volume: int) -> None:
        """Removes the volume's directory tree."""
        for key in [key for key in self._staged if key.volume == volume]:
            self._forget(key)
        directory = self._volume_dir(volume)
        try:
            shutil.rmtree(directory)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _state_error("remove", directory, exc) from exc
        self._changed_dirs.discard(directory)
        self._changed_dirs.add(self._root)

    def list_blobs(self) -> Iterator[ShardKey]:
        """Every well-formed blob file under the root; other files are left alone."""
        try:
            for volume_entry in _entries(self._root):
                volume_match = _VOLUME_DIR.fullmatch(volume_entry.name)
                if volume_match is None or not volume_entry.is_dir():
                    continue
                volume = int(volume_match.group(1), 16)
                for bucket_entry in _entries(volume_entry.path):
                    if not bucket_entry.is_dir():
                        continue
                    for blob_entry in _entries(bucket_entry.path):
                        blob = _BLOB_FILE.fullmatch(blob_entry.name)
                        if blob is not None:
                            stripe, version, shard = blob.groups()
                            yield ShardKey(volume, int(stripe, 16), int(version, 16), int(shard))
        except OSError as exc:
            raise _state_error("list", self._root, exc) from exc

    def _volume_dir(self, volume: int) -> str:
        return f"{self._root}/v{volume:x}"

    def _file(self, key: ShardKey) -> str:
        bucket = key.stripe >> _BUCKET_BITS
        return f"{self._root}/v{key.volume:x}/{bucket:x}/{key.stripe:x}.{key.version:x}.{key.shard}"

    def _create(self, path: str) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        try:
            return os.open(path, flags, _FILE_MODE)
        except FileNotFoundError:
            self._make_directories(os.path.dirname(path))
        except FileExistsError:
            # A repair replacing a damaged blob, or a leftover of an interrupted run: the new
            # content must not be written into an inode someone may still be reading.
            os.unlink(path)
        return os.open(path, flags, _FILE_MODE)

    def _make_directories(self, directory: str) -> None:
        missing: list[str] = []
        while not os.path.exists(directory):
            missing.append(directory)
            directory = os.path.dirname(directory)
        for new in reversed(missing):
            try:
                os.mkdir(new, _DIRECTORY_MODE)
            except FileExistsError:
                continue
            # The new directory's own entry lives in its parent.
            self._changed_dirs.add(os.path.dirname(new))

    def _forget(self, key: ShardKey) -> None:
        fd = self._staged.pop(key, None)
        if fd is not None:
            os.close(fd)

    @staticmethod
    def _unlink_quietly(path: str) -> None:
        # Cleanup after a failed write: if the unlink fails too, the partial file is an
        # unreferenced orphan that the next sweep removes.
        try:
            os.unlink(path)
        except OSError:
            return


def _entries(directory: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as entries:
            return list(entries)
    except FileNotFoundError:
        return []


def _fsync_directory(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        # Removed since it changed (a dropped volume): its parent's sync covers the removal.
        return
    except OSError as exc:
        raise _state_error("open directory", directory, exc) from exc
    try:
        os.fsync(fd)
    except OSError as exc:
        raise _state_error("fsync directory", directory, exc) from exc
    finally:
        os.close(fd)


def _state_error(action: str, path: str, exc: OSError) -> StateError:
    return StateError(f"cannot {action} {path}: {exc.strerror or exc}")
