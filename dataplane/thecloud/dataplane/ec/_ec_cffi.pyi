"""cffi binding of native/ec (thecloud_ec.h); its functions are typed by the header itself."""

from typing import Any

ffi: Any
lib: Any
