"""Label values for benchmark series, generated the same way for ours and the anchor."""

from __future__ import annotations

LABEL_NAMES = ("method", "route")
"""Two label names, in sorted order so both libraries render them alike."""


def label_pairs(count: int) -> list[tuple[str, str]]:
    """`count` distinct (method, route) pairs of fresh strings, e.g. ("m7", "/r123")."""
    return [(f"m{i % 100}", f"/r{i // 100}") for i in range(count)]
