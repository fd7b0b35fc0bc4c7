"""eBPF packet filtering for instance interfaces: stateful security groups, network ACLs and a
DDoS guard, compiled into tc and XDP programs (native/bpf) and swapped atomically.

    from thecloud.dataplane.bpf import Firewall, SecurityGroup, SecurityGroupRule

    web = SecurityGroup("sg-web", [SecurityGroupRule("ingress", "tcp", (443, 443), "0.0.0.0/0")])
    with Firewall() as fw:
        fw.attach("vm1-host", [web], addresses=["10.0.0.5"])

Needs root, bcc (Debian python3-bpfcc) and merged kernel headers (scripts/bootstrap-host.sh).
`syscall` is the raw bpf(2) helper the firewall fills its maps with.
"""

from thecloud.dataplane.bpf.firewall import Firewall, skb_context
from thecloud.dataplane.bpf.rules import (
    AclRule,
    DdosGuard,
    NetworkAcl,
    SecurityGroup,
    SecurityGroupRule,
)

__all__ = [
    "AclRule",
    "DdosGuard",
    "Firewall",
    "NetworkAcl",
    "SecurityGroup",
    "SecurityGroupRule",
    "skb_context",
]
