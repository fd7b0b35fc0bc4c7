"""Names people give to tenants, projects, users, service accounts and roles.

Names end up in URLs, CLI arguments and DNS-like labels, so they follow DNS label rules: 1 to 63
lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen.
"""

from __future__ import annotations

import re
from typing import Final

from thecloud.core.errors import InvalidArgumentError

__all__ = ["MAX_NAME_LENGTH", "validate_name"]

#: Longest name, as for a DNS label.
MAX_NAME_LENGTH: Final = 63
_NAME_PATTERN = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")


def validate_name(name: object, what: str) -> str:
    """Return `name` if it is a valid name for a `what` (used in the message), else raise."""
    if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name):
        raise InvalidArgumentError(
            f"{what} name must be 1 to {MAX_NAME_LENGTH} lowercase letters, digits or hyphens, "
            f"starting with a letter and not ending with a hyphen, not {name!r}"
        )
    return name
