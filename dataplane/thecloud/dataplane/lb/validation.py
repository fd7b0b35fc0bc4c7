"""Field-level checks for the load balancer configuration.

Every check raises `InvalidArgumentError` whose message starts with the path of the bad field
(`pools[1].backends[0].address: ...`), so a user can find it in a large document.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import re
from collections.abc import Mapping, Sequence
from typing import NoReturn

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from thecloud.core.errors import InvalidArgumentError
from thecloud.dataplane.lb.paths import hides_dot_segment, normalize_path

__all__ = [
    "ConfigReader",
    "check_absolute_file_parent",
    "check_header_name",
    "check_header_value",
    "check_host_pattern",
    "check_name",
    "check_certificate_pair",
    "check_regex",
    "check_route_path",
    "check_url_path",
    "fail",
    "parse_socket_address",
    "read_pem_file",
]

_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# RFC 9110 token: the characters allowed in header and cookie names.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_DNS_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})*")
_PORT = re.compile(r"[0-9]{1,5}")
# Request-target characters a path may hold (RFC 3986 pchar, '/', '?' and '%'-escapes).
_URL_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/%?]*")
# Constructs Python's `re` accepts but Rust's `regex` crate does not (it guarantees linear
# time by leaving out lookaround, backreferences, atomic groups and conditionals).
_UNSUPPORTED_REGEX = (
    (re.compile(r"\(\?<?[=!]"), "lookaround (?=, (?!, (?<=, (?<! is not supported"),
    (re.compile(r"\\[1-9]|\\g[<0-9]|\(\?P=|\\k<"), "backreferences are not supported"),
    (re.compile(r"\(\?>"), "atomic groups (?> are not supported"),
    (re.compile(r"\(\?\("), "conditionals (?( are not supported"),
    (re.compile(r"(?<!\\)[*+?}]\+"), "possessive quantifiers are not supported"),
    (re.compile(r"(?<!\\)\\Z"), "\\Z is not supported (use $)"),
)
MAX_REGEX_LENGTH = 1024
MAX_PEM_BYTES = 1 << 20
# Headers that frame the message or belong to one connection: rewriting them would let a rule
# desynchronise the proxy and the backend (request smuggling) or break keep-alive.
_RESERVED_HEADERS = frozenset(
    {
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "expect",
    }
)


def fail(path: str, message: str) -> NoReturn:
    """Raises the error for one bad field."""
    raise InvalidArgumentError(f"{path}: {message}")


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


class ConfigReader:
    """Reads one JSON object of the configuration, remembering its path and the keys it used."""

    def __init__(self, value: object, path: str, what: str = "an object") -> None:
        if not isinstance(value, Mapping):
            fail(path or "config", f"expected {what}, got {_type_name(value)}")
        for key in value:
            if not isinstance(key, str):
                fail(path or "config", f"keys must be strings, got {key!r}")
        self._values: Mapping[str, object] = value
        self._path = path
        self._used: set[str] = set()

    def at(self, key: str) -> str:
        """The path of `key` in this object."""
        return f"{self._path}.{key}" if self._path else key

    def has(self, key: str) -> bool:
        """Whether `key` is present (even as null)."""
        return key in self._values

    def raw(self, key: str) -> object:
        """The value of `key`, None when absent."""
        self._used.add(key)
        return self._values.get(key)

    def string(self, key: str, default: str | None = None) -> str:
        """A required string, or `default` when absent."""
        value = self.raw(key)
        if value is None:
            if default is None:
                fail(self.at(key), "is required")
            return default
        if not isinstance(value, str):
            fail(self.at(key), f"expected a string, got {_type_name(value)}")
        return value

    def optional_string(self, key: str) -> str | None:
        """A string or None."""
        return None if self.raw(key) is None else self.string(key)

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        """An integer within [low, high]; booleans and floats are refused."""
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            fail(self.at(key), f"expected an integer, got {_type_name(value)}")
        if not low <= value <= high:
            fail(self.at(key), f"{value} is not within {low}..{high}")
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        """A finite number in (low, high]."""
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            fail(self.at(key), f"expected a number, got {_type_name(value)}")
        number = float(value)
        if not (math.isfinite(number) and low < number <= high):
            fail(self.at(key), f"{value} is not within ({low:g}, {high:g}]")
        return number

    def boolean(self, key: str, default: bool) -> bool:
        """A true/false value (not 0/1 or a string)."""
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            fail(self.at(key), f"expected true or false, got {_type_name(value)}")
        return value

    def child(self, key: str) -> ConfigReader | None:
        """The nested object at `key`, None when absent or null."""
        value = self.raw(key)
        return None if value is None else ConfigReader(value, self.at(key))

    def items(self, key: str, *, required: bool = False) -> list[tuple[str, object]]:
        """The elements of the list at `key` with their paths."""
        value = self.raw(key)
        if value is None:
            if required:
                fail(self.at(key), "is required")
            return []
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            fail(self.at(key), f"expected a list, got {_type_name(value)}")
        return [(f"{self.at(key)}[{i}]", item) for i, item in enumerate(value)]

    def finish(self) -> None:
        """Refuses keys nobody read: a typo must not silently fall back to a default."""
        for key in self._values:
            if key not in self._used:
                close = difflib.get_close_matches(key, sorted(self._used), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                fail(self.at(key), f"unknown key{hint}")


def check_name(path: str, value: str) -> str:
    """A DNS-label-like name: lowercase letters, digits and '-', at most 63 characters."""
    if not _NAME.fullmatch(value):
        fail(
            path,
            f"{value!r} is not a valid name (lowercase letters, digits and '-', "
            "1 to 63 characters, starting and ending with a letter or digit)",
        )
    return value


def parse_socket_address(path: str, value: str, *, min_port: int, role: str) -> str:
    """Normalises an 'ip:port' (IPv6 as '[ip]:port') address; hostnames are refused."""
    if value.startswith("["):
        host, sep, port = value[1:].partition("]:")
        if not sep:
            fail(path, f"{value!r} is not host:port (IPv6 as '[::1]:80')")
    else:
        host, sep, port = value.rpartition(":")
        if not sep or not host:
            fail(path, f"{value!r} is not host:port")
        if ":" in host:
            fail(path, f"{value!r}: write IPv6 addresses in brackets, as '[::1]:80'")
    if not _PORT.fullmatch(port) or not min_port <= int(port) <= 65535:
        fail(path, f"{value!r}: port must be a number within {min_port}..65535")
    if "%" in host:
        fail(path, f"{value!r}: IPv6 zone identifiers are not supported")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if role == "backend":
            fail(
                path,
                f"{value!r}: backends must be IP addresses, not hostnames (the engine does "
                "not resolve names: an address resolved once at configuration time would "
                "silently go stale)",
            )
        fail(path, f"{value!r}: {host!r} is not an IP address")
    if role == "backend" and (ip.is_unspecified or ip.is_multicast):
        fail(path, f"{value!r}: a backend cannot be an unspecified or multicast address")
    shown = f"[{ip.compressed}]" if ip.version == 6 else ip.compressed
    return f"{shown}:{int(port)}"


def check_url_path(path: str, value: str, *, query: bool) -> str:
    """An origin-form path: starts with '/', only URL characters; a '?query' if `query`."""
    if not _URL_PATH.fullmatch(value):
        fail(path, f"{value!r} must start with '/' and hold only URL characters")
    if not query and "?" in value:
        fail(path, f"{value!r}: routes match the path without its query string; drop the '?'")
    return value


def check_route_path(path: str, value: str) -> str:
    """An exact or prefix route path: a URL path already in the normal form requests are routed
    on (see `paths`), since any other spelling could never match."""
    check_url_path(path, value, query=False)
    try:
        normal = normalize_path(value)
    except ValueError as error:
        fail(path, f"{value!r}: {error}")
    if normal != value:
        fail(
            path,
            f"{value!r} never matches: requests are routed on normalised paths; use {normal!r}",
        )
    if hides_dot_segment(value):
        fail(path, f"{value!r} never matches: requests hiding a dot segment are refused")
    return value


def check_regex(path: str, value: str) -> str:
    """A regular expression both Python's `re` and Rust's `regex` crate accept alike."""
    if not value:
        fail(path, "empty regex matches every path; use a prefix match of '/' instead")
    if len(value) > MAX_REGEX_LENGTH:
        fail(path, f"regex longer than {MAX_REGEX_LENGTH} characters")
    for pattern, reason in _UNSUPPORTED_REGEX:
        if pattern.search(value):
            fail(path, f"{value!r}: {reason} (the engine uses Rust's linear-time regex)")
    try:
        re.compile(value)
    except re.error as error:
        fail(path, f"{value!r} is not a valid regex: {error}")
    return value


def check_host_pattern(path: str, value: str, *, wildcard: bool) -> str:
    """A hostname (lowercased), or '*.suffix' when `wildcard` is allowed; no port."""
    host = value.lower()
    name = host[2:] if wildcard and host.startswith("*.") else host
    if len(host) > 253 or not _HOSTNAME.fullmatch(name) or name.replace(".", "").isdigit():
        allowed = "a hostname or '*.domain'" if wildcard else "a hostname"
        fail(path, f"{value!r} is not {allowed} (no port, no IP address)")
    return host


def check_header_name(path: str, value: str, *, rewritable: bool = False) -> str:
    """An HTTP token, lowercased; `rewritable` also refuses framing and hop-by-hop headers."""
    if not _TOKEN.fullmatch(value):
        fail(path, f"{value!r} is not a valid header name (an HTTP token)")
    name = value.lower()
    if rewritable and name in _RESERVED_HEADERS:
        fail(
            path,
            f"{value!r} frames the message or belongs to one connection; "
            "rules may not add, set or remove it",
        )
    return name


def check_header_value(path: str, value: str) -> str:
    """A header value without control characters: CR or LF would split the header (response
    splitting), NUL truncates it in some servers; only HTAB is allowed, as in RFC 9110."""
    if any((c < " " and c != "\t") or c == "\x7f" for c in value):
        fail(path, "header values may not contain CR, LF, NUL or other control characters")
    if value != value.strip(" \t"):
        fail(path, "header values may not start or end with whitespace")
    return value


def read_pem_file(path: str, value: str, marker: str) -> tuple[str, bytes]:
    """The absolute path and contents of a readable file holding a PEM `marker` block."""
    file = os.path.abspath(value)
    try:
        with open(file, "rb") as handle:
            data = handle.read(MAX_PEM_BYTES + 1)
    except OSError as error:
        fail(path, f"cannot read {file!r}: {error.strerror}")
    if len(data) > MAX_PEM_BYTES:
        fail(path, f"{file!r} is larger than {MAX_PEM_BYTES} bytes")
    if re.search(rb"-----BEGIN [A-Z0-9 ]*" + marker.encode() + rb"-----", data) is None:
        fail(path, f"{file!r} holds no PEM {marker} block")
    return file, data


def check_certificate_pair(cert_path: str, cert_file: str, key_path: str, key_file: str) -> None:
    """Parses a PEM certificate chain and private key and checks that they belong together."""
    cert_file, cert_pem = read_pem_file(cert_path, cert_file, "CERTIFICATE")
    key_file, key_pem = read_pem_file(key_path, key_file, "PRIVATE KEY")
    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
    except ValueError as error:
        fail(cert_path, f"{cert_file!r} is not a valid PEM certificate chain: {error}")
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        fail(key_path, f"{key_file!r} is encrypted; the engine needs an unencrypted key")
    except (ValueError, UnsupportedAlgorithm) as error:
        fail(key_path, f"{key_file!r} is not a valid PEM private key: {error}")
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if chain[0].public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        fail(key_path, f"{key_file!r} is not the key of the first certificate in {cert_file!r}")


def check_absolute_file_parent(path: str, value: str) -> str:
    """An absolute file path whose directory exists."""
    if not os.path.isabs(value):
        fail(path, f"{value!r} must be an absolute path")
    if not os.path.isdir(os.path.dirname(value)):
        fail(path, f"the directory of {value!r} does not exist")
    return value
