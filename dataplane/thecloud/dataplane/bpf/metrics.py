"""Firewall counters in the native metrics registry (thecloud.dataplane.metrics).

Per-rule counters stay in `Firewall.stats()`; the registry gets them summed per group and per
ACL (a series per rule would exhaust the registry's cardinality limit at 100k rules), plus the
global packet counters. The BPF maps hold running totals; each refresh adds the increase since
the previous one.
"""

from __future__ import annotations

from typing import Any

from thecloud.dataplane.metrics import Counter, Registry


class FirewallMetrics:
    """Counter families of one firewall in one registry."""

    def __init__(self, registry: Registry) -> None:
        labels = ["kind", "owner"]
        self._rules = {
            field: Counter(
                f"thecloud_firewall_rule_{field}",
                f"Rule {field} of the BPF firewall, summed per security group or network ACL.",
                labels,
                registry=registry,
            )
            for field in ("packets", "bytes", "allowed", "denied")
        }
        self._events = Counter(
            "thecloud_firewall_events",
            "Packets of the BPF firewall by outcome (drops, conntrack hits, guard decisions).",
            ["event"],
            registry=registry,
        )
        self._last: dict[tuple[str, ...], int] = {}

    def _add(self, key: tuple[str, ...], total: int, counter: Any, *labels: str) -> None:
        delta = total - self._last.get(key, 0)
        self._last[key] = total
        if delta > 0:
            counter.labels(*labels).inc(delta)

    def update(self, stats: dict[str, Any]) -> None:
        """Adds what grew since the previous update."""
        for name, value in stats["global"].items():
            self._add(("global", name), value, self._events, name)
        for kind, owners in (("security_group", stats["groups"]), ("acl", stats["acls"])):
            for owner, rules in owners.items():
                for field, counter in self._rules.items():
                    total = sum(rule[field] for rule in rules)
                    self._add((kind, owner, field), total, counter, kind, owner)
