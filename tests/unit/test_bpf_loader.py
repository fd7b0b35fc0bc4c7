"""Loading the BPF programs fails loudly, naming the fix, when bcc or kernel headers are missing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "BCC_KERNEL_SOURCE"} | env
    return subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )


def test_missing_bcc_raises_native_module_error() -> None:
    code = (
        "from thecloud.dataplane.bpf import loader\n"
        "loader.BCC_PYTHON = '/nonexistent'\n"
        "loader.import_bcc()\n"
    )
    out = run(code, BCC_KERNEL_SOURCE="/nonexistent")
    assert out.returncode != 0
    assert "NativeModuleError" in out.stderr
    assert "python3-bpfcc" in out.stderr


@pytest.mark.skipif(
    os.path.isdir(f"/lib/modules/{os.uname().release}/build/include"),
    reason="this kernel has its own build tree, which bcc uses",
)
def test_missing_kernel_headers_raise_native_module_error() -> None:
    code = (
        "from pathlib import Path\n"
        "from thecloud.dataplane.bpf import loader\n"
        "loader.KERNEL_HEADERS = Path('/nonexistent')\n"
        "loader.import_bcc()\n"
    )
    out = run(code)
    assert out.returncode != 0
    assert "NativeModuleError" in out.stderr
    assert "bootstrap-host.sh" in out.stderr
