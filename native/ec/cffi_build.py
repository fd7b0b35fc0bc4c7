"""cffi build of thecloud_ec as `thecloud.dataplane.ec._ec_cffi` (API mode, compiled in).

The declarations come from the public header itself (between its cffi-begin/end markers), so
the Python binding and the C library cannot drift apart.
"""

import re
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
HEADER = HERE / "include" / "thecloud_ec.h"


def declarations() -> str:
    """The header's API section, without preprocessor lines."""
    text = HEADER.read_text()
    section = text.split("/* cffi-begin", 1)[1].split("/* cffi-end */", 1)[0]
    section = section.split("*/", 1)[1]  # the rest of the begin marker's comment
    return "\n".join(line for line in section.splitlines() if not line.lstrip().startswith("#"))


ffibuilder = FFI()
ffibuilder.cdef(re.sub(r"/\*.*?\*/", "", declarations(), flags=re.S))
ffibuilder.set_source(
    "thecloud.dataplane.ec._ec_cffi",
    '#include "thecloud_ec.h"',
    sources=[str(p.relative_to(HERE.parent.parent)) for p in sorted((HERE / "src").glob("*.c"))],
    include_dirs=[str(HERE / "include"), str(HERE / "src")],
    extra_compile_args=["-O3", "-Wall"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
