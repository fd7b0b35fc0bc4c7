"""Request path normalisation: the pure-Python reference of the engine's
(`native/crates/lb/src/http/path.rs`), used to check route paths.

The engine routes on, and forwards, the normal form of a request's path, as Envoy's
`normalize_path` followed by `merge_slashes`: percent-encoded unreserved characters
(ALPHA DIGIT - . _ ~) decoded and the hex of other escapes upper-cased (`%2F` and `%5C` stay
encoded), `.` and `..` segments resolved (RFC 3986 section 5.2.4, `..` stops at the root), then
runs of `/` merged. A route's exact or prefix path that is not in this form could never match,
nor could one hiding a dot segment behind `%2F`, `%5C`, a backslash or `;` parameters (the
engine refuses such requests: backends that decode those would resolve them elsewhere).
"""

from __future__ import annotations

import re
import string

__all__ = ["hides_dot_segment", "normalize_path"]

_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_HEX_DIGITS = frozenset(string.hexdigits)
_SLASHES = re.compile(r"/{2,}")
_HIDDEN_SEPARATORS = re.compile(r"/|\\|%2F|%5C")


def _decode_segment(segment: str) -> str:
    parts = []
    at = 0
    while at < len(segment):
        if segment[at] != "%":
            parts.append(segment[at])
            at += 1
            continue
        digits = segment[at + 1 : at + 3]
        if len(digits) != 2 or not set(digits) <= _HEX_DIGITS:
            raise ValueError(f"invalid percent-encoding at offset {at}")
        char = chr(int(digits, 16))
        parts.append(char if char in _UNRESERVED else f"%{digits.upper()}")
        at += 3
    return "".join(parts)


def normalize_path(path: str) -> str:
    """The normal form of `path` (which starts with '/'); ValueError for a bad '%' escape."""
    segments = path.removeprefix("/").split("/")
    out = ""
    for index, raw in enumerate(segments):
        last = index == len(segments) - 1
        segment = _decode_segment(raw)
        if segment == ".":
            out += "/" if last else ""
        elif segment == "..":
            out = out[: max(out.rfind("/"), 0)]
            out += "/" if last else ""
        else:
            out += "/" + segment
    # `..` is resolved before slashes merge, as Envoy does: `/a//../b` is `/a/b`.
    return _SLASHES.sub("/", out or "/")


def hides_dot_segment(path: str) -> bool:
    """Whether a normal `path` still holds a `.` or `..` segment once `%2F`, `%5C` and `\\`
    count as separators and `;` starts a segment's parameters."""
    return any(part.partition(";")[0] in {".", ".."} for part in _HIDDEN_SEPARATORS.split(path))
