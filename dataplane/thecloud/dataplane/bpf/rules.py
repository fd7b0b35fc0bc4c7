"""What users write: security groups, network ACLs and the DDoS guard's limits.

Plain immutable records. They are validated when handed to a `Firewall` (attach, update_group,
set_acl): the Cython compiler checks every field while compiling and names the offending rule,
before any map is touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from thecloud.core.errors import InvalidArgumentError


@dataclass(frozen=True, slots=True)
class SecurityGroupRule:
    """An allow rule of a security group (stateful: replies of an allowed flow pass).

    ``direction`` is "ingress" (towards the instance) or "egress" (from it); ``protocol`` one of
    "tcp", "udp", "icmp", "icmpv6", "all"; ``ports`` an inclusive destination-port range, None
    for every port (only for tcp and udp); the remote end is ``cidr`` or the members of the
    security group ``source_group`` (exactly one of them).
    """

    direction: str
    protocol: str
    ports: tuple[int, int] | None = None
    cidr: str | None = None
    source_group: str | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class SecurityGroup:
    """A named set of allow rules; ``members`` are the addresses of the instances in it."""

    id: str
    rules: Sequence[SecurityGroupRule] = ()
    members: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class AclRule:
    """A numbered, stateless network-ACL rule: the lowest matching number decides.

    ``ports`` is the destination-port range (None: every port); ``cidr`` the remote end.
    """

    number: int
    action: str
    direction: str
    protocol: str
    cidr: str
    ports: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class NetworkAcl:
    """A subnet's network ACL; traffic no rule allows is denied."""

    id: str
    rules: Sequence[AclRule] = ()


@dataclass(frozen=True, slots=True)
class DdosGuard:
    """Per-source limits applied in XDP: new TCP connections (SYN without ACK) and UDP packets.

    Rates are per second, bursts in packets; a rate of 0 means unlimited.
    """

    syn_rate: int = 0
    syn_burst: int = 0
    udp_rate: int = 0
    udp_burst: int = 0

    def __post_init__(self) -> None:
        for name in ("syn_rate", "syn_burst", "udp_rate", "udp_burst"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidArgumentError(f"DdosGuard.{name} must be an int >= 0, got {value!r}")
