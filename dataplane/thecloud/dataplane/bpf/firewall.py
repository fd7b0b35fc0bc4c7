"""The instance firewall: stateful security groups and network ACLs in tc, a DDoS guard in XDP.

    with Firewall() as fw:
        fw.attach("vm1-host", [web], acl, addresses=["10.0.0.5"])
        fw.update_group(web2)          # atomic: no packet sees half of it
        fw.stats()

Every change validates the whole state, compiles the rule sets whose inputs changed into fresh
tries and flips the interfaces over to them at once (generation.py); bad input raises before
anything is touched. `close()` (also run at exit)
detaches everything and unloads the programs; tc filters and XDP attachments hold programs, so
interfaces are detached explicitly.

Calls block (compiling and filling maps take milliseconds to ~0.5 s for 100k rules) and are not
thread-safe: an asyncio caller runs them in one worker thread.

Implicit passes: ARP and other non-IP frames, IPv6 neighbour discovery, ICMP errors quoting a
packet of a tracked flow. Not done here (yet): implicit DHCP.
"""

from __future__ import annotations

import atexit
import dataclasses
import struct
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Final

from thecloud.core.errors import ConflictError, InvalidArgumentError, NotFoundError
from thecloud.dataplane.bpf import loader, netlink, syscall
from thecloud.dataplane.bpf.compiler import Attachment, RuleIds, compile_state
from thecloud.dataplane.bpf.generation import RuleSets
from thecloud.dataplane.bpf.metrics import FirewallMetrics
from thecloud.dataplane.bpf.rules import DdosGuard, NetworkAcl, SecurityGroup
from thecloud.dataplane.metrics import Registry

STAT_NAMES: Final = (
    # enum fw_stat in native/bpf/fw_maps.h, in order
    "malformed",
    "not_ip",
    "no_interface",
    "conntrack_hit",
    "conntrack_new",
    "group_deny",
    "acl_deny",
    "neighbour_discovery",
    "fragment",
    "guard_pass",
    "guard_syn_drop",
    "guard_udp_drop",
    "spoofed_source",
    "conntrack_related",
)
COUNTER_FIELDS: Final = ("packets", "bytes", "allowed", "denied")
_GUARD: Final = struct.Struct("<QQQQ")
_SKB_CTX: Final = struct.Struct("<11I")
"""struct __sk_buff up to ifindex (offset 40): what BPF_PROG_TEST_RUN lets a test set."""
_U32: Final = struct.Struct("<I")
DEFAULT_MAX_RULES: Final = 1 << 18
DEFAULT_CT_MAX: Final = 1 << 18


def skb_context(ifindex: int) -> bytes:
    """A __sk_buff context for BPF_PROG_TEST_RUN of a tc program as if on interface ifindex."""
    return _SKB_CTX.pack(*([0] * 10), ifindex)


def _closer(ref: weakref.ref[Firewall]) -> Callable[[], None]:
    """An exit hook that closes the firewall if it still exists (without keeping it alive)."""

    def close() -> None:
        firewall = ref()
        if firewall is not None:
            firewall.close()

    return close


class Firewall:
    """Filters instance interfaces with compiled BPF programs (see module doc)."""

    def __init__(
        self,
        metrics: Registry | None = None,
        *,
        max_rules: int = DEFAULT_MAX_RULES,
        ct_max: int = DEFAULT_CT_MAX,
    ) -> None:
        if not 2 <= max_rules <= 1 << 24 or not 1 <= ct_max <= 1 << 24:
            raise InvalidArgumentError("max_rules must be in 2..2^24 and ct_max in 1..2^24")
        self._max_rules = max_rules
        self._ct_max = ct_max
        self._metrics = None if metrics is None else FirewallMetrics(metrics)
        self._program = loader.load(max_rules=max_rules, ct_max=ct_max)
        try:
            self._sets = self._rule_sets(self._program)
        except BaseException:
            self._program.close()
            raise
        self._groups: dict[str, SecurityGroup] = {}
        self._acls: dict[str, NetworkAcl] = {}
        self._attached: dict[str, Attachment] = {}
        self._epochs = 0  # the last attachment epoch handed out (flow state of the maps)
        self._guards: dict[str, int] = {}
        self._ids = RuleIds(max_rules)
        self._closed = False
        self._atexit = _closer(weakref.ref(self))
        atexit.register(self._atexit)

    @staticmethod
    def _rule_sets(program: loader.LoadedProgram) -> RuleSets:
        fd = program.map_fd
        return RuleSets(
            (fd("set_rules"), fd("set_hash"), fd("set_info"), fd("set_overflow")),
            (fd("iface_cfg"), fd("iface_cfg_big"), fd("iface_addrs")),
            fd("cur_gen"),
            fd("prefix_masks"),
        )

    # -- state changes -----------------------------------------------------------------------

    def attach(
        self,
        ifname: str,
        groups: Sequence[SecurityGroup],
        acl: NetworkAcl | None = None,
        *,
        addresses: Sequence[str] = (),
    ) -> None:
        """Filters `ifname` (the host side of an instance interface) with these groups and ACL.

        `addresses` are the instance's addresses on it: they join the groups' members, so rules
        naming these groups as their source follow, and when given they are the only source
        addresses the instance may send from (anti-spoofing; IPv6 link-local sources and DHCP
        requests from 0.0.0.0 pass). Attaching again replaces the settings and keeps the
        interface's tracked flows; a detach ends them.
        """
        self._check_open()
        index = netlink.ifindex(ifname)
        new_groups = dict(self._groups)
        for group in groups:
            if not isinstance(group, SecurityGroup):
                raise InvalidArgumentError(f"attach {ifname}: {group!r} is not a SecurityGroup")
            new_groups[group.id] = group
        new_acls = dict(self._acls)
        if acl is not None:
            new_acls[acl.id] = acl
        attached = dict(self._attached)
        attached[ifname] = Attachment(
            ifindex=index,
            groups=tuple(g.id for g in groups),
            acl=None if acl is None else acl.id,
            addresses=tuple(addresses),
            epoch=self._epoch_for(ifname, index),
        )
        before = (self._groups, self._acls, self._attached)
        self._apply(new_groups, new_acls, attached)
        to_fd, from_fd = self._program.fds["tc_ingress"], self._program.fds["tc_egress"]
        try:
            netlink.attach_tc(index, to_fd, from_fd, loader.KERNEL_NAME_PREFIX + "fw")
        except BaseException:
            self._apply(*before)
            raise

    def update_group(self, group: SecurityGroup) -> None:
        """Replaces (or registers) a group everywhere it is used, atomically."""
        self._check_open()
        if not isinstance(group, SecurityGroup):
            raise InvalidArgumentError(f"update_group: {group!r} is not a SecurityGroup")
        self._apply({**self._groups, group.id: group}, self._acls, self._attached)

    def set_acl(self, ifname: str, acl: NetworkAcl | None) -> None:
        """Sets (or with None removes) the network ACL evaluated on an attached interface."""
        self._check_open()
        att = self._attachment(ifname)
        acls = dict(self._acls)
        if acl is not None:
            acls[acl.id] = acl
        attached = dict(self._attached)
        attached[ifname] = dataclasses.replace(att, acl=None if acl is None else acl.id)
        self._apply(self._groups, acls, attached)

    def detach(self, ifname: str) -> None:
        """Stops filtering `ifname`: removes our tc filters and its rules."""
        self._check_open()
        att = self._attachment(ifname)
        netlink.detach_tc(att.ifindex)
        self._forget(ifname)

    def attach_guard(self, ifname: str, guard: DdosGuard) -> None:
        """Runs the XDP DDoS guard on `ifname` with these per-source limits (shared by all)."""
        self._check_open()
        if not isinstance(guard, DdosGuard):
            raise InvalidArgumentError(f"attach_guard {ifname}: {guard!r} is not a DdosGuard")
        index = netlink.ifindex(ifname)
        syn_interval = 10**9 // guard.syn_rate if guard.syn_rate else 0
        udp_interval = 10**9 // guard.udp_rate if guard.udp_rate else 0
        syn_window = syn_interval * guard.syn_burst
        cfg = _GUARD.pack(syn_interval, syn_window, udp_interval, udp_interval * guard.udp_burst)
        syscall.map_update(self._program.map_fd("guard_cfg"), _U32.pack(0), cfg)
        netlink.attach_xdp(index, self._program.fds["xdp_guard"])
        self._guards[ifname] = index

    def detach_guard(self, ifname: str) -> None:
        """Removes the XDP guard from `ifname`."""
        index = self._guards.pop(ifname, None)
        if index is None:
            raise NotFoundError(f"no DDoS guard on {ifname!r}")
        netlink.detach_xdp(index)

    def reload(self, source: str | None = None) -> None:
        """Recompiles and reloads the programs (e.g. after an upgrade), keeping the rules.

        On a compile or verifier failure the error (with clang's output or the verifier log)
        propagates and the running programs and rules stay in force. Flow state and counters
        start afresh in the new programs' maps.
        """
        self._check_open()
        fresh = loader.load(source, max_rules=self._max_rules, ct_max=self._ct_max)
        try:
            sets = self._rule_sets(fresh)
        except BaseException:
            fresh.close()
            raise
        try:
            sets.install(compile_state(self._groups, self._acls, self._attached, self._ids))
            for att in self._attached.values():
                netlink.attach_tc(
                    att.ifindex,
                    fresh.fds["tc_ingress"],
                    fresh.fds["tc_egress"],
                    loader.KERNEL_NAME_PREFIX + "fw",
                )
            for index in self._guards.values():
                netlink.attach_xdp(index, fresh.fds["xdp_guard"])
        except BaseException:
            sets.close()
            fresh.close()
            raise
        old, old_sets = self._program, self._sets
        self._program, self._sets = fresh, sets
        old_sets.close()
        old.close()

    # -- reading -----------------------------------------------------------------------------

    def program_fds(self) -> dict[str, int]:
        """Program fds by name (tc_ingress, tc_egress, xdp_guard), e.g. for BPF_PROG_TEST_RUN.

        A tc program judges a test packet by the rules of the interface named in the context:
        pass `skb_context(ifindex)` of an attached interface as the test run's ctx.
        """
        self._check_open()
        return dict(self._program.fds)

    def ifindex(self, ifname: str) -> int:
        """The index of an attached interface (for `skb_context`)."""
        return self._attachment(ifname).ifindex

    def test_run(
        self, program: str, frame: bytes, *, ifname: str | None = None, repeat: int = 1
    ) -> syscall.TestRunResult:
        """Runs one program over a crafted frame with BPF_PROG_TEST_RUN (tc: as on `ifname`)."""
        self._check_open()
        fd = self._program.fds[program]
        ctx = None if ifname is None else skb_context(self.ifindex(ifname))
        return syscall.prog_test_run(fd, frame, repeat=repeat, ctx=ctx)

    def stats(self) -> dict[str, Any]:
        """Global counters, and per-rule counters of every group and ACL.

        {"global": {name: n}, "groups": {id: [per rule {"rule", packets, bytes, allowed,
        denied}]}, "acls": {id: [per rule {"number", "action", ...}]}}. Also refreshes the
        metrics registry given to the constructor.
        """
        self._check_open()
        glob = syscall.sum_percpu_u64(self._program.map_fd("fw_stats"), len(STAT_NAMES), 1)
        rows = syscall.sum_percpu_u64(
            self._program.map_fd("rule_counters"), self._ids.high_water, len(COUNTER_FIELDS)
        )

        def counters(rid: int) -> dict[str, int]:
            return dict(zip(COUNTER_FIELDS, rows[rid], strict=True))

        groups = {
            gid: [
                {"rule": i, **counters(rid)} for i, rid in enumerate(self._ids.ids_of(("sg", gid)))
            ]
            for gid in self._groups
        }
        acls = {
            aid: [
                {"number": rule.number, "action": rule.action, **counters(rid)}
                for rule, rid in zip(acl.rules, self._ids.ids_of(("acl", aid)), strict=True)
            ]
            for aid, acl in self._acls.items()
        }
        result = {
            "global": {name: row[0] for name, row in zip(STAT_NAMES, glob, strict=True)},
            "groups": groups,
            "acls": acls,
        }
        if self._metrics is not None:
            self._metrics.update(result)
        return result

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Detaches every interface and guard and unloads the programs (idempotent)."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self._atexit)
        for att in self._attached.values():
            netlink.detach_tc(att.ifindex)
        for index in self._guards.values():
            netlink.detach_xdp(index)
        self._attached.clear()
        self._guards.clear()
        self._sets.close()
        self._program.close()

    def __enter__(self) -> Firewall:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ConflictError("the firewall is closed")

    def _attachment(self, ifname: str) -> Attachment:
        try:
            return self._attached[ifname]
        except KeyError:
            raise NotFoundError(f"interface {ifname!r} is not attached") from None

    def _apply(
        self,
        groups: dict[str, SecurityGroup],
        acls: dict[str, NetworkAcl],
        attached: dict[str, Attachment],
    ) -> None:
        """Compiles and installs a whole new state; on any error the old one stays."""
        plan = compile_state(groups, acls, attached, self._ids, self._sets.sources())
        self._zero_counters(plan.reused_ids)
        self._sets.install(plan)
        self._ids.commit(plan.owners, plan.ids)
        self._groups, self._acls, self._attached = groups, acls, attached

    def _epoch_for(self, ifname: str, index: int) -> int:
        """The epoch of an attachment: kept when the same interface is attached again with new
        settings (its flows carry on, as on a group update), fresh for a new interface."""
        current = self._attached.get(ifname)
        if current is not None and current.ifindex == index:
            return current.epoch
        self._epochs += 1
        return self._epochs

    def _forget(self, ifname: str) -> None:
        attached = {k: v for k, v in self._attached.items() if k != ifname}
        self._apply(self._groups, self._acls, attached)

    def _zero_counters(self, ids: list[int]) -> None:
        """Counters of reused ids start at zero (they held an earlier rule's counts; ids never
        handed out before are still zero)."""
        if not ids:
            return
        fd = self._program.map_fd("rule_counters")
        stride = syscall.value_stride(syscall.map_info(fd))
        keys = b"".join(_U32.pack(i) for i in ids)
        syscall.map_update_many(fd, keys, bytes(stride * len(ids)), 4, stride, len(ids))
