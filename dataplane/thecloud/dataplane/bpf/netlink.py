"""Attaching the programs to interfaces through netlink (pyroute2): tc clsact and XDP.

On the host side of an instance interface (veth or tap) the instance's outgoing packets arrive
on the clsact *ingress* hook and packets towards it leave through the clsact *egress* hook, so
`tc_egress` (from the instance) goes on ingress and `tc_ingress` (to the instance) on egress.
The firewall owns the clsact qdisc of the interfaces it attaches to: detaching deletes it, which
drops our filters and with them the kernel's last references to the programs.
"""

from __future__ import annotations

import errno
from typing import Final

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from thecloud.core.errors import NotFoundError

CLSACT_INGRESS: Final = "ffff:fff2"
CLSACT_EGRESS: Final = "ffff:fff3"
XDP_FLAGS_DRV_MODE: Final = 1 << 2
_GONE: Final = frozenset({errno.ENODEV, errno.ENOENT, errno.EINVAL})


def ifindex(ifname: str) -> int:
    """The interface's index; NotFoundError when there is no such interface."""
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=ifname)
    if not found:
        raise NotFoundError(f"no network interface named {ifname!r}")
    return int(found[0])


def attach_tc(index: int, to_instance_fd: int, from_instance_fd: int, name: str) -> None:
    """Adds a clsact qdisc (if missing) and our two direct-action filters, replacing ours."""
    with IPRoute() as ipr:
        try:
            ipr.tc("add", "clsact", index)
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise
        for fd, parent, suffix in (
            (from_instance_fd, CLSACT_INGRESS, "from"),
            (to_instance_fd, CLSACT_EGRESS, "to"),
        ):
            ipr.tc(
                "replace-filter",
                "bpf",
                index,
                ":1",
                fd=fd,
                name=f"{name}-{suffix}",
                parent=parent,
                classid=1,
                prio=1,
                protocol=0x0003,  # ETH_P_ALL
                direct_action=True,
            )


def detach_tc(index: int) -> None:
    """Deletes the clsact qdisc and our filters with it; a vanished interface is fine."""
    with IPRoute() as ipr:
        try:
            ipr.tc("del", "clsact", index)
        except NetlinkError as exc:
            if exc.code not in _GONE:
                raise


def attach_xdp(index: int, fd: int) -> None:
    """Attaches an XDP program in native (driver) mode."""
    with IPRoute() as ipr:
        ipr.link(
            "set",
            index=index,
            xdp={"attrs": [("IFLA_XDP_FD", fd), ("IFLA_XDP_FLAGS", XDP_FLAGS_DRV_MODE)]},
        )


def detach_xdp(index: int) -> None:
    """Removes the interface's XDP program; a vanished interface is fine."""
    with IPRoute() as ipr:
        try:
            ipr.link(
                "set",
                index=index,
                xdp={"attrs": [("IFLA_XDP_FD", -1), ("IFLA_XDP_FLAGS", XDP_FLAGS_DRV_MODE)]},
            )
        except NetlinkError as exc:
            if exc.code not in _GONE:
                raise
