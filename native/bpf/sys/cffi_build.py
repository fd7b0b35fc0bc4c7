"""cffi build of bpf_sys as `thecloud.dataplane.bpf._bpf_cffi` (API mode, compiled in).

The declarations come from the header itself (between its cffi-begin/end markers), so the
Python binding and the C code cannot drift apart.
"""

import re
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
HEADER = HERE / "bpf_sys.h"


def declarations() -> str:
    """The header's API section, without preprocessor lines."""
    text = HEADER.read_text()
    section = text.split("/* cffi-begin", 1)[1].split("/* cffi-end */", 1)[0]
    section = section.split("*/", 1)[1]  # the rest of the begin marker's comment
    return "\n".join(line for line in section.splitlines() if not line.lstrip().startswith("#"))


# UAPI constants Python needs, read from the kernel headers by the C compiler at build time.
CONSTANTS = [
    "BPF_MAP_TYPE_HASH",
    "BPF_MAP_TYPE_ARRAY",
    "BPF_MAP_TYPE_PROG_ARRAY",
    "BPF_MAP_TYPE_PERCPU_HASH",
    "BPF_MAP_TYPE_PERCPU_ARRAY",
    "BPF_MAP_TYPE_LRU_HASH",
    "BPF_MAP_TYPE_LRU_PERCPU_HASH",
    "BPF_MAP_TYPE_LPM_TRIE",
    "BPF_MAP_TYPE_ARRAY_OF_MAPS",
    "BPF_MAP_TYPE_HASH_OF_MAPS",
    "BPF_ANY",
    "BPF_NOEXIST",
    "BPF_EXIST",
    "BPF_F_NO_PREALLOC",
    "BPF_F_NO_COMMON_LRU",
    "BPF_F_INNER_MAP",
    "BPF_F_RDONLY_PROG",
    "BPF_F_WRONLY_PROG",
    "BPF_PROG_TYPE_XDP",
    "BPF_PROG_TYPE_SCHED_CLS",
    "BPF_PROG_TYPE_SOCKET_FILTER",
    "XDP_ABORTED",
    "XDP_DROP",
    "XDP_PASS",
    "XDP_TX",
    "XDP_REDIRECT",
    "TC_ACT_OK",
    "TC_ACT_SHOT",
]

ffibuilder = FFI()
ffibuilder.cdef(re.sub(r"/\*.*?\*/", "", declarations(), flags=re.S))
ffibuilder.cdef("".join(f"static const int {name};\n" for name in CONSTANTS))
ffibuilder.set_source(
    "thecloud.dataplane.bpf._bpf_cffi",
    '#include <linux/bpf.h>\n#include <linux/pkt_cls.h>\n#include "bpf_sys.h"',
    sources=[str((HERE / "bpf_sys.c").relative_to(HERE.parent.parent.parent))],
    include_dirs=[str(HERE)],
    extra_compile_args=["-O2", "-Wall", "-Wextra"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
