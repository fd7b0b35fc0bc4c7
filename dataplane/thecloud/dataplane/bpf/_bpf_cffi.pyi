"""cffi binding of native/bpf/sys (bpf_sys.h); its functions are typed by the header itself."""

from typing import Any

ffi: Any
lib: Any
