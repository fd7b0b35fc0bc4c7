"""Compiling native/bpf/firewall.bpf.c with bcc and loading its programs.

bcc is Debian's (python3-bpfcc, pure Python over libbcc; not on PyPI): its directory is put on
sys.path here. Debian's kernel headers come in two trees that bcc cannot combine, and the
running kernel has no /lib/modules tree: scripts/bootstrap-host.sh merges them into
KERNEL_HEADERS, which bcc is pointed at through BCC_KERNEL_SOURCE. A missing piece raises
NativeModuleError saying how to fix it: there is no filtering without the programs.

The programs are loaded through `syscall.prog_load` rather than bcc's `load_func`, so a program
the verifier refuses raises `VerifierError` carrying the verifier log.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import struct
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from thecloud.core.errors import NativeModuleError
from thecloud.dataplane.bpf import syscall

BCC_PYTHON: Final = "/usr/lib/python3/dist-packages"
KERNEL_HEADERS: Final = Path("/usr/local/lib/thecloud/kernel-headers")
SOURCE_DIR: Final = Path(__file__).resolve().parents[4] / "native" / "bpf"
SOURCE: Final = SOURCE_DIR / "firewall.bpf.c"

PROGRAMS: Final = {
    # contract name -> (function in firewall.bpf.c, kernel name, program type)
    "tc_ingress": ("tc_ingress", "tcfw_ingress", syscall.BPF_PROG_TYPE_SCHED_CLS),
    "tc_egress": ("tc_egress", "tcfw_egress", syscall.BPF_PROG_TYPE_SCHED_CLS),
    "xdp_guard": ("xdp_guard", "tcfw_guard", syscall.BPF_PROG_TYPE_XDP),
}
"""Every program of the firewall; kernel names start with `tcfw_` (tests look for them)."""
KERNEL_NAME_PREFIX: Final = "tcfw_"


class BpfCompileError(NativeModuleError):
    """bcc could not compile the BPF C source; the message holds clang's diagnostics."""


def import_bcc() -> Any:
    """bcc's Python module, with the kernel headers it needs; NativeModuleError if absent."""
    if "BCC_KERNEL_SOURCE" not in os.environ:
        release = os.uname().release
        if not Path(f"/lib/modules/{release}/build/include").is_dir():
            if not (KERNEL_HEADERS / "include").is_dir():
                raise NativeModuleError(
                    f"bcc needs kernel headers: neither /lib/modules/{release}/build nor "
                    f"{KERNEL_HEADERS} exists; run `make bootstrap` as root "
                    "(scripts/bootstrap-host.sh merges Debian's linux-headers trees there)"
                )
            os.environ["BCC_KERNEL_SOURCE"] = str(KERNEL_HEADERS)
    if BCC_PYTHON not in sys.path:
        sys.path.append(BCC_PYTHON)
    try:
        import bcc  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:
        raise NativeModuleError(
            f"bcc (Debian python3-bpfcc in {BCC_PYTHON}) failed to import: {exc}; run "
            "`make bootstrap` as root to install it. There is no filtering without it."
        ) from exc
    return bcc


_HZ_CHOICES: Final = (100, 250, 300, 1000)
_JIFFIES_PROGRAM: Final = struct.pack("<BBhi", 0x85, 0, 0, 118) + struct.pack(
    "<BBhi", 0x95, 0, 0, 0
)
"""r0 = bpf_jiffies64(); exit."""


@functools.cache
def kernel_hz() -> int:
    """The kernel's tick rate (CONFIG_HZ), measured: the jiffies a tiny program reads over 0.2 s.

    Measured rather than read from a config file, which not every kernel exposes.
    """
    fd = syscall.prog_load(syscall.BPF_PROG_TYPE_XDP, _JIFFIES_PROGRAM, name="tcfw_hz")
    try:
        frame = bytes(64)
        first, start = syscall.prog_test_run(fd, frame).retval, time.monotonic()
        time.sleep(0.2)
        last, end = syscall.prog_test_run(fd, frame).retval, time.monotonic()
    finally:
        os.close(fd)
    rate = ((last - first) & 0xFFFF_FFFF) / (end - start)
    return min(_HZ_CHOICES, key=lambda hz: abs(hz - rate))


@contextlib.contextmanager
def _captured_stderr() -> Iterator[list[str]]:
    """Collects what libbcc and clang write to fd 2 (they print diagnostics, not return them)."""
    lines: list[str] = []
    with tempfile.TemporaryFile(mode="w+b") as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.append(sink.read().decode(errors="replace"))


@dataclass
class LoadedProgram:
    """The compiled bcc module (it owns the maps) and our program fds."""

    bpf: Any
    fds: dict[str, int]

    def map_fd(self, name: str) -> int:
        """The fd of a map declared in firewall.bpf.c."""
        return int(self.bpf.get_table(name.encode()).map_fd)

    def close(self) -> None:
        """Closes the program fds and the maps (tc/XDP attachments must be gone first)."""
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()
        self.bpf.cleanup()
        atexit.unregister(self.bpf.cleanup)  # bcc's own exit hook would keep the object alive


def load(source: str | None = None, *, max_rules: int, ct_max: int) -> LoadedProgram:
    """Compiles the firewall (or `source`, a replacement text) and loads all its programs.

    Raises BpfCompileError with clang's diagnostics, or syscall.VerifierError with the verifier
    log; nothing stays loaded after a failure.
    """
    bcc = import_bcc()
    text = SOURCE.read_text() if source is None else source
    # bcc wants bytes (str arguments trigger a DeprecationWarning per call).
    cflags = [
        f"-I{SOURCE_DIR}",
        f"-DFW_MAX_RULES={max_rules}",
        f"-DFW_CT_MAX={ct_max}",
        f"-DFW_HZ={kernel_hz()}",
    ]
    with _captured_stderr() as diagnostics:
        try:
            bpf = bcc.BPF(text=text.encode(), cflags=cflags)
            compile_error = None
        except Exception as exc:  # bcc raises bare Exception on compile failures
            compile_error = exc
    if compile_error is not None:
        # bcc's own message repeats the whole source: clang's diagnostics are what matter.
        raise BpfCompileError(
            f"compiling {SOURCE.name} failed:\n{''.join(diagnostics).strip()}"
        ) from compile_error
    fds: dict[str, int] = {}
    try:
        for key, (function, kernel_name, prog_type) in PROGRAMS.items():
            insns = bpf.dump_func(function.encode())
            fds[key] = syscall.prog_load(prog_type, insns, "GPL", name=kernel_name)
    except BaseException:
        for fd in fds.values():
            os.close(fd)
        bpf.cleanup()
        raise
    return LoadedProgram(bpf=bpf, fds=fds)
