"""The raw bpf(2) system call for the control plane: maps, batch updates, raw loads, test runs.

A thin layer over native/bpf/sys (C, through cffi): each function is one C call, so filling
100k LPM entries (one batch system call, ~0.2 s) or reading every per-CPU counter of an array
crosses into C once. Compiling and attaching programs is bcc's job; this module is what bcc
does slowly or not at all.

Kernel failures raise `BpfError`, an OSError with the errno and the operation that failed; a
program the verifier rejects raises `VerifierError` carrying the verifier log. Arguments that do
not fit the map (a key of the wrong size, a short buffer) raise InvalidArgumentError before any
system call, because the kernel would read or write past the buffer instead of refusing them.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from typing import Any, Final

from typing_extensions import Buffer

from thecloud.core.errors import InvalidArgumentError
from thecloud.core.native import load_native

_module = load_native("thecloud.dataplane.bpf._bpf_cffi", "the raw bpf(2) helper")
_ffi: Any = _module.ffi
_lib: Any = _module.lib

BPF_MAP_TYPE_HASH: Final[int] = _lib.BPF_MAP_TYPE_HASH
BPF_MAP_TYPE_ARRAY: Final[int] = _lib.BPF_MAP_TYPE_ARRAY
BPF_MAP_TYPE_PROG_ARRAY: Final[int] = _lib.BPF_MAP_TYPE_PROG_ARRAY
BPF_MAP_TYPE_PERCPU_HASH: Final[int] = _lib.BPF_MAP_TYPE_PERCPU_HASH
BPF_MAP_TYPE_PERCPU_ARRAY: Final[int] = _lib.BPF_MAP_TYPE_PERCPU_ARRAY
BPF_MAP_TYPE_LRU_HASH: Final[int] = _lib.BPF_MAP_TYPE_LRU_HASH
BPF_MAP_TYPE_LRU_PERCPU_HASH: Final[int] = _lib.BPF_MAP_TYPE_LRU_PERCPU_HASH
BPF_MAP_TYPE_LPM_TRIE: Final[int] = _lib.BPF_MAP_TYPE_LPM_TRIE
BPF_MAP_TYPE_ARRAY_OF_MAPS: Final[int] = _lib.BPF_MAP_TYPE_ARRAY_OF_MAPS
BPF_MAP_TYPE_HASH_OF_MAPS: Final[int] = _lib.BPF_MAP_TYPE_HASH_OF_MAPS

BPF_ANY: Final[int] = _lib.BPF_ANY
BPF_NOEXIST: Final[int] = _lib.BPF_NOEXIST
BPF_EXIST: Final[int] = _lib.BPF_EXIST
BPF_F_NO_PREALLOC: Final[int] = _lib.BPF_F_NO_PREALLOC
BPF_F_NO_COMMON_LRU: Final[int] = _lib.BPF_F_NO_COMMON_LRU
BPF_F_INNER_MAP: Final[int] = _lib.BPF_F_INNER_MAP
BPF_F_RDONLY_PROG: Final[int] = _lib.BPF_F_RDONLY_PROG
BPF_F_WRONLY_PROG: Final[int] = _lib.BPF_F_WRONLY_PROG

BPF_PROG_TYPE_SOCKET_FILTER: Final[int] = _lib.BPF_PROG_TYPE_SOCKET_FILTER
BPF_PROG_TYPE_SCHED_CLS: Final[int] = _lib.BPF_PROG_TYPE_SCHED_CLS
BPF_PROG_TYPE_XDP: Final[int] = _lib.BPF_PROG_TYPE_XDP

XDP_ABORTED: Final[int] = _lib.XDP_ABORTED
XDP_DROP: Final[int] = _lib.XDP_DROP
XDP_PASS: Final[int] = _lib.XDP_PASS
XDP_TX: Final[int] = _lib.XDP_TX
XDP_REDIRECT: Final[int] = _lib.XDP_REDIRECT
TC_ACT_OK: Final[int] = _lib.TC_ACT_OK
TC_ACT_SHOT: Final[int] = _lib.TC_ACT_SHOT

OBJ_NAME_MAX: Final = _lib.TC_BPF_OBJ_NAME_LEN - 1
"""Longest program or map name the kernel keeps (BPF_OBJ_NAME_LEN without the NUL)."""

_NAME: Final = re.compile(r"[A-Za-z0-9_.]*")
_PERCPU_TYPES: Final = frozenset(
    {BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_LRU_PERCPU_HASH}
)
_LOG_SIZES: Final = (1 << 20, 16 << 20)
"""Verifier log buffers tried in turn (the kernel fails with ENOSPC when the log does not fit)."""
_U32_MAX: Final = 0xFFFF_FFFF


class BpfError(OSError):
    """A bpf(2) command the kernel refused: ``errno`` is its error, ``operation`` the command."""

    def __init__(self, err: int, operation: str, detail: str = "") -> None:
        message = f"bpf {operation}: {os.strerror(err)}"
        super().__init__(err, f"{message} ({detail})" if detail else message)
        self.operation = operation


class VerifierError(BpfError):
    """BPF_PROG_LOAD refused a program; ``log`` is the verifier's explanation."""

    def __init__(self, err: int, name: str, log: str) -> None:
        super().__init__(err, f"prog_load {name or '(unnamed)'}", f"verifier log:\n{log.strip()}")
        self.log = log


@dataclass(frozen=True)
class TestRunResult:
    """What BPF_PROG_TEST_RUN reports."""

    retval: int
    """The program's return value (an XDP action, a TC action...)."""
    duration_ns: int
    """The kernel's average time per run, in nanoseconds."""
    data_out: bytes
    """The packet after the program ran (empty unless data_out_size was given)."""

    __test__ = False  # not a pytest test class, despite the name


@dataclass(frozen=True)
class ProgInfo:
    """A loaded program as BPF_OBJ_GET_INFO_BY_FD describes it."""

    id: int
    type: int
    name: str


@dataclass(frozen=True)
class MapInfo:
    """A map as BPF_OBJ_GET_INFO_BY_FD describes it."""

    id: int
    type: int
    name: str
    key_size: int
    value_size: int
    max_entries: int
    flags: int


def _check(rc: int, operation: str, detail: str = "") -> int:
    if rc < 0:
        raise BpfError(-rc, operation, detail)
    return rc


def _checked_name(name: str, field: str) -> bytes:
    if len(name) > OBJ_NAME_MAX or _NAME.fullmatch(name) is None:
        raise InvalidArgumentError(
            f"{field} {name!r}: at most {OBJ_NAME_MAX} characters of A-Z a-z 0-9 _ ."
        )
    return name.encode()


def _checked_u32(value: int, field: str) -> int:
    if not 0 <= value <= _U32_MAX:
        raise InvalidArgumentError(f"{field} must be in 0..2^32-1, got {value}")
    return value


def map_create(
    map_type: int,
    key_size: int,
    value_size: int,
    max_entries: int,
    *,
    flags: int = 0,
    inner_map_fd: int = -1,
    name: str = "",
) -> int:
    """BPF_MAP_CREATE; returns the new map's fd (the caller closes it)."""
    encoded = _checked_name(name, "map name")
    for value, field in (
        (map_type, "map_type"),
        (key_size, "key_size"),
        (value_size, "value_size"),
        (max_entries, "max_entries"),
        (flags, "flags"),
    ):
        _checked_u32(value, field)
    rc = _lib.tc_bpf_map_create(
        map_type, key_size, value_size, max_entries, flags, inner_map_fd, encoded
    )
    return _check(rc, f"map_create {name or '(unnamed)'}")


def map_info(fd: int) -> MapInfo:
    """BPF_OBJ_GET_INFO_BY_FD on a map fd."""
    info = _ffi.new("struct tc_bpf_obj_info *")
    _check(_lib.tc_bpf_obj_info(fd, 1, info), "map_info", f"fd {fd}")
    return MapInfo(
        id=info.id,
        type=info.type,
        name=_ffi.string(info.name).decode(),
        key_size=info.key_size,
        value_size=info.value_size,
        max_entries=info.max_entries,
        flags=info.flags,
    )


def prog_info(fd: int) -> ProgInfo:
    """BPF_OBJ_GET_INFO_BY_FD on a program fd."""
    info = _ffi.new("struct tc_bpf_obj_info *")
    _check(_lib.tc_bpf_obj_info(fd, 0, info), "prog_info", f"fd {fd}")
    return ProgInfo(id=info.id, type=info.type, name=_ffi.string(info.name).decode())


def obj_get_info_by_fd(fd: int) -> ProgInfo | MapInfo:
    """The program or map behind fd (told apart by the fd's anon inode, bpf-prog or bpf-map)."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError as exc:
        raise BpfError(exc.errno or errno.EBADF, "obj_get_info_by_fd", f"fd {fd}") from exc
    if target == "anon_inode:bpf-map":
        return map_info(fd)
    if target == "anon_inode:bpf-prog":
        return prog_info(fd)
    raise InvalidArgumentError(f"fd {fd} is neither a BPF program nor a map ({target})")


def possible_cpus() -> int:
    """Possible CPUs: per-CPU map values hold one slot (rounded up to 8 bytes) per CPU."""
    return _check(_lib.tc_bpf_possible_cpus(), "possible_cpus")


def value_stride(info: MapInfo) -> int:
    """Bytes of one value as user space reads and writes it (per-CPU maps: every CPU's slot)."""
    if info.type in _PERCPU_TYPES:
        return (info.value_size + 7) // 8 * 8 * possible_cpus()
    return info.value_size


def _checked_key(fd: int, key: Buffer) -> tuple[MapInfo, memoryview]:
    info = map_info(fd)
    view = memoryview(key).cast("B")
    if view.nbytes != info.key_size:
        raise InvalidArgumentError(
            f"key of {view.nbytes} bytes for map {info.name or info.id} with "
            f"{info.key_size}-byte keys"
        )
    return info, view


def map_update(fd: int, key: Buffer, value: Buffer, flags: int = BPF_ANY) -> None:
    """BPF_MAP_UPDATE_ELEM (flags: BPF_ANY, BPF_NOEXIST or BPF_EXIST)."""
    info, key_view = _checked_key(fd, key)
    value_view = memoryview(value).cast("B")
    if value_view.nbytes != value_stride(info):
        raise InvalidArgumentError(
            f"value of {value_view.nbytes} bytes for map {info.name or info.id} with "
            f"{value_stride(info)}-byte values"
        )
    rc = _lib.tc_bpf_map_update(fd, _ffi.from_buffer(key_view), _ffi.from_buffer(value_view), flags)
    _check(rc, "map_update", info.name)


def map_lookup(fd: int, key: Buffer, value_size: int) -> bytes | None:
    """BPF_MAP_LOOKUP_ELEM: the value, or None when the key is absent.

    value_size must be the map's value size as user space sees it (`value_stride`): the kernel
    writes that many bytes, so a smaller buffer is refused here rather than overrun.
    """
    info, key_view = _checked_key(fd, key)
    if value_size != value_stride(info):
        raise InvalidArgumentError(
            f"value_size {value_size} for map {info.name or info.id} with "
            f"{value_stride(info)}-byte values"
        )
    value = _ffi.new("uint8_t[]", value_size)
    rc = _lib.tc_bpf_map_lookup(fd, _ffi.from_buffer(key_view), value)
    if rc == -errno.ENOENT:
        return None
    _check(rc, "map_lookup", info.name)
    return bytes(_ffi.buffer(value, value_size))


def map_delete(fd: int, key: Buffer) -> bool:
    """BPF_MAP_DELETE_ELEM: whether the key was there."""
    info, key_view = _checked_key(fd, key)
    rc = _lib.tc_bpf_map_delete(fd, _ffi.from_buffer(key_view))
    if rc == -errno.ENOENT:
        return False
    _check(rc, "map_delete", info.name)
    return True


def map_update_many(  # noqa: PLR0917 - the packed-buffer arguments of the bpf-core contract
    fd: int,
    keys: Buffer,
    values: Buffer,
    key_size: int,
    value_size: int,
    count: int,
    flags: int = BPF_ANY,
) -> None:
    """Writes count packed keys and values in one C call.

    One BPF_MAP_UPDATE_BATCH (this kernel has it for hash, array, LPM-trie and map-of-maps
    types); map types the kernel has no batch update for (devmaps; LPM tries on older kernels)
    get a C loop of BPF_MAP_UPDATE_ELEM. On failure the error says how many elements were
    written before it (they stay written).
    """
    info = map_info(fd)
    if key_size != info.key_size:
        raise InvalidArgumentError(f"key_size {key_size}, map {info.name} has {info.key_size}")
    if value_size != value_stride(info):
        raise InvalidArgumentError(
            f"value_size {value_size}, map {info.name} has {value_stride(info)}-byte values"
        )
    if count < 0:
        raise InvalidArgumentError(f"count must be >= 0, got {count}")
    key_view = memoryview(keys).cast("B")
    value_view = memoryview(values).cast("B")
    if key_view.nbytes != key_size * count or value_view.nbytes != value_size * count:
        raise InvalidArgumentError(
            f"{count} elements need {key_size * count} bytes of keys and "
            f"{value_size * count} of values, got {key_view.nbytes} and {value_view.nbytes}"
        )
    if count == 0:
        return
    done = _ffi.new("uint32_t *")
    rc = _lib.tc_bpf_map_update_many(
        fd,
        _ffi.from_buffer(key_view),
        _ffi.from_buffer(value_view),
        key_size,
        value_size,
        _checked_u32(count, "count"),
        flags,
        done,
    )
    _check(rc, "map_update_many", f"map {info.name}: {done[0]} of {count} written")


def sum_percpu_u64(fd: int, count: int, fields_per_entry: int) -> list[tuple[int, ...]]:
    """Entries 0..count-1 of a per-CPU array of u64 records, each summed over every CPU.

    One batch lookup in C: the per-CPU counters of a whole rule table in one call.
    """
    info = map_info(fd)
    if info.type != BPF_MAP_TYPE_PERCPU_ARRAY:
        raise InvalidArgumentError(f"map {info.name or info.id} is not a per-CPU array")
    if info.value_size != 8 * fields_per_entry or fields_per_entry <= 0:
        raise InvalidArgumentError(
            f"fields_per_entry {fields_per_entry}: map {info.name} holds "
            f"{info.value_size}-byte values ({info.value_size // 8} u64)"
        )
    if not 0 <= count <= info.max_entries:
        raise InvalidArgumentError(f"count {count} outside 0..{info.max_entries}")
    out = _ffi.new("uint64_t[]", max(count * fields_per_entry, 1))
    _check(_lib.tc_bpf_sum_percpu_u64(fd, count, fields_per_entry, out), "sum_percpu_u64")
    flat = list(_ffi.unpack(out, count * fields_per_entry))
    return [tuple(flat[i : i + fields_per_entry]) for i in range(0, len(flat), fields_per_entry)]


def prog_load(
    prog_type: int,
    insns: Buffer,
    license: str = "GPL",
    *,
    name: str = "",
    expected_attach_type: int = 0,
) -> int:
    """BPF_PROG_LOAD of raw instructions (8 bytes each); returns the program's fd.

    Loads without a log first (the verifier is faster without one); on refusal loads again with
    the log on and raises VerifierError carrying it.
    """
    encoded = _checked_name(name, "program name")
    view = memoryview(insns).cast("B")
    if view.nbytes == 0 or view.nbytes % 8:
        raise InvalidArgumentError(
            f"insns must be a whole number of 8-byte instructions, got {view.nbytes} bytes"
        )
    code = _ffi.from_buffer(view)
    lic = license.encode()
    count = view.nbytes // 8
    rc = _lib.tc_bpf_prog_load(
        prog_type, code, count, lic, encoded, expected_attach_type, 0, _ffi.NULL, 0
    )
    if rc >= 0:
        return int(rc)
    first_error = -rc
    for size in _LOG_SIZES:
        log = _ffi.new("char[]", size)
        rc = _lib.tc_bpf_prog_load(
            prog_type, code, count, lic, encoded, expected_attach_type, 1, log, size
        )
        if rc >= 0:  # accepted the second time (a transient failure): keep it
            return int(rc)
        if rc != -errno.ENOSPC:  # ENOSPC: the log did not fit, try a bigger buffer
            raise VerifierError(-rc, name, _ffi.string(log).decode(errors="replace"))
    raise VerifierError(first_error, name, "(the verifier log exceeded 16 MiB)")


def prog_test_run(
    prog_fd: int,
    data: Buffer,
    *,
    repeat: int = 1,
    ctx: Buffer | None = None,
    data_out_size: int = 0,
) -> TestRunResult:
    """BPF_PROG_TEST_RUN: runs the program repeat times over data (a whole frame).

    ctx is the program's context as bytes (struct xdp_md, struct __sk_buff) or None; with
    data_out_size > 0 the output packet (up to that many bytes) is returned too.
    """
    if repeat < 1:
        raise InvalidArgumentError(f"repeat must be >= 1, got {repeat}")
    data_view = memoryview(data).cast("B")
    ctx_view = None if ctx is None else memoryview(ctx).cast("B")
    out = _ffi.new("uint8_t[]", data_out_size) if data_out_size > 0 else _ffi.NULL
    out_size = _ffi.new("uint32_t *", max(data_out_size, 0))
    retval = _ffi.new("uint32_t *")
    duration = _ffi.new("uint32_t *")
    rc = _lib.tc_bpf_prog_test_run(
        prog_fd,
        _ffi.from_buffer(data_view),
        data_view.nbytes,
        _checked_u32(repeat, "repeat"),
        _ffi.NULL if ctx_view is None else _ffi.from_buffer(ctx_view),
        0 if ctx_view is None else ctx_view.nbytes,
        out,
        out_size,
        retval,
        duration,
    )
    _check(rc, "prog_test_run", f"prog fd {prog_fd}")
    output = b"" if out == _ffi.NULL else bytes(_ffi.buffer(out, min(out_size[0], data_out_size)))
    return TestRunResult(retval=retval[0], duration_ns=duration[0], data_out=output)


def _ids(is_map: int) -> list[int]:
    ids: list[int] = []
    current = _ffi.new("uint32_t *", 0)
    while True:
        rc = _lib.tc_bpf_next_id(is_map, current[0], current)
        if rc == -errno.ENOENT:  # past the last one
            return ids
        _check(rc, "map_get_next_id" if is_map else "prog_get_next_id")
        ids.append(int(current[0]))


def _described(is_map: int, object_id: int) -> ProgInfo | MapInfo | None:
    fd = _lib.tc_bpf_fd_by_id(is_map, object_id)
    if fd == -errno.ENOENT:  # unloaded since it was listed
        return None
    _check(fd, "map_get_fd_by_id" if is_map else "prog_get_fd_by_id", f"id {object_id}")
    try:
        return map_info(fd) if is_map else prog_info(fd)
    finally:
        os.close(fd)


def prog_ids() -> list[ProgInfo]:
    """Every program loaded in the kernel (all owners), with its id, type and name."""
    return [info for i in _ids(0) if isinstance(info := _described(0, i), ProgInfo)]


def map_ids() -> list[MapInfo]:
    """Every map in the kernel (all owners), with its id, type, name and geometry."""
    return [info for i in _ids(1) if isinstance(info := _described(1, i), MapInfo)]
