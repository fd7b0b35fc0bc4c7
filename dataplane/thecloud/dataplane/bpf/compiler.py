"""From the firewall's state (groups, ACLs, attachments) to one generation's map contents.

Everything is validated here, before any map is created: the Cython RuleCompiler checks each
rule's fields; this module checks what spans rules (source groups exist, ACL numbers unique,
member addresses valid). Rule ids (indexes of the per-rule counters) come from `RuleIds`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from thecloud.core.errors import CapacityError, InvalidArgumentError
from thecloud.dataplane.bpf._compile import KIND_ACL, KIND_SG, CompiledRules, RuleCompiler
from thecloud.dataplane.bpf.rules import AclRule, NetworkAcl, SecurityGroup, SecurityGroupRule

Owner = tuple[str, str]
"""("sg" or "acl", the group's or ACL's id)."""
ACL_NUMBER_MAX: Final = 32766


@dataclass(frozen=True)
class Attachment:
    """What an interface is attached with."""

    ifindex: int
    groups: tuple[str, ...]
    acl: str | None
    addresses: tuple[str, ...]
    epoch: int
    """Names this attachment in flow state: flows tracked under an earlier attachment of the
    same ifindex are judged anew instead of inherited."""


@dataclass
class RuleIds:
    """Counter indexes per rule: a rule keeps its id (and its counters) while it stays at the
    same position of its group or ACL.

    An owner whose rule sequence is the very same object as before keeps all its ids without
    looking at the rules; otherwise rules are compared position by position (a rewrite of 100k
    rules costs one comparison each, not a hash of every rule).
    """

    capacity: int
    owners: dict[Owner, tuple[Sequence[object], list[int]]] = field(default_factory=dict)
    free: list[int] = field(default_factory=list)
    next_id: int = 1

    def plan(
        self, owners: Mapping[Owner, Sequence[object]]
    ) -> tuple[dict[Owner, list[int]], list[int]]:
        """Ids for every owner's rules, and which ids come from the free list (their counters
        hold an earlier rule's counts); changes nothing."""
        free = list(self.free)
        next_id = self.next_id
        assigned: dict[Owner, list[int]] = {}
        reused: list[int] = []
        for owner, rules in owners.items():
            old = self.owners.get(owner)
            if old is not None and old[0] is rules:
                assigned[owner] = old[1]
                continue
            old_rules, old_ids = old if old is not None else ((), [])
            ids: list[int] = []
            for position, rule in enumerate(rules):
                if position < len(old_rules) and old_rules[position] == rule:
                    ids.append(old_ids[position])
                elif free:
                    ids.append(free.pop())
                    reused.append(ids[-1])
                elif next_id < self.capacity:
                    ids.append(next_id)
                    next_id += 1
                else:
                    raise CapacityError(
                        f"more than {self.capacity - 1} firewall rules (Firewall(max_rules=...))"
                    )
            assigned[owner] = ids
        return assigned, reused

    def commit(
        self, owners: Mapping[Owner, Sequence[object]], assigned: dict[Owner, list[int]]
    ) -> None:
        """Makes a plan current; ids no longer used return to the free list."""
        used: set[int] = set()
        for ids in assigned.values():
            used.update(ids)
        released = [rid for _rules, ids in self.owners.values() for rid in ids if rid not in used]
        self.free = [rid for rid in self.free if rid not in used] + released
        self.next_id = max([self.next_id, *(rid + 1 for rid in used)])
        self.owners = {owner: (owners[owner], assigned[owner]) for owner in assigned}

    @property
    def high_water(self) -> int:
        """One past the largest id ever handed out."""
        return self.next_id

    def ids_of(self, owner: Owner) -> list[int]:
        """The current ids of an owner's rules, in rule order (empty if unknown)."""
        found = self.owners.get(owner)
        return [] if found is None else found[1]


SetName = tuple[str, tuple[str, ...]]
"""A rule set: ("sg", sorted group ids) for an interface's groups, ("acl", (acl id,))."""


@dataclass
class SetSource:
    """What a rule set was compiled from: the same objects (by identity) and member lists mean
    the same compiled set, so it is reused rather than rebuilt."""

    objects: tuple[object, ...]
    members: tuple[tuple[str, tuple[str, ...]], ...]

    def same_as(self, other: SetSource) -> bool:
        """Whether both were compiled from identical inputs."""
        return (
            len(self.objects) == len(other.objects)
            and all(a is b for a, b in zip(self.objects, other.objects, strict=True))
            and self.members == other.members
        )


@dataclass(frozen=True)
class InterfacePlan:
    """What one interface uses in a generation."""

    sg_set: SetName
    acl_set: SetName | None
    epoch: int
    addresses: tuple[str, ...]
    """The instance's own addresses (canonical): when there are any, it may send from these only."""


@dataclass
class Plan:
    """One generation, compiled: the rule sets (new ones compiled, unchanged ones named only),
    what each interface uses, and the rule ids."""

    sources: dict[SetName, SetSource]
    compiled: dict[SetName, CompiledRules]
    ifaces: dict[int, InterfacePlan]
    owners: dict[Owner, Sequence[object]]
    ids: dict[Owner, list[int]]
    reused_ids: list[int]


def _members(
    groups: Mapping[str, SecurityGroup], attached: Mapping[str, Attachment]
) -> dict[str, list[str]]:
    """Each group's member addresses: its declared members and attached interfaces' addresses."""
    members: dict[str, set[str]] = {gid: set() for gid in groups}
    for gid, group in groups.items():
        for address in group.members:
            members[gid].add(_address(f"security group {gid}", address))
    for ifname, att in attached.items():
        for address in att.addresses:
            canonical = _address(f"interface {ifname}", address)
            for gid in att.groups:
                members[gid].add(canonical)
    return {gid: sorted(found) for gid, found in members.items()}


def _address(owner: str, text: object) -> str:
    try:
        return str(ipaddress.ip_address(text))  # type: ignore[arg-type]
    except ValueError:
        raise InvalidArgumentError(f"{owner}: invalid member address {text!r}") from None


def _add_group(
    compiler: RuleCompiler,
    group: SecurityGroup,
    ids: Mapping[Owner, list[int]],
    members: Mapping[str, list[str]],
) -> None:
    owner = f"security group {group.id}"
    rule_ids = ids[("sg", group.id)]
    for index, (rule, rid) in enumerate(zip(group.rules, rule_ids, strict=True)):
        if not isinstance(rule, SecurityGroupRule):
            raise InvalidArgumentError(f"{owner} rule {index}: not a SecurityGroupRule")
        args = (rule.direction, rule.protocol, rule.ports)
        if rule.source_group is not None:
            if rule.cidr is not None:
                raise InvalidArgumentError(
                    f"{owner} rule {index}: give cidr or source_group, not both"
                )
            if rule.source_group not in members:
                raise InvalidArgumentError(
                    f"{owner} rule {index}: unknown source group {rule.source_group!r}"
                )
            compiler.check(owner, index, *args)
            for address in members[rule.source_group]:
                compiler.add(KIND_SG, owner, index, *args, address, rid, member=True)
        elif rule.cidr is None:
            raise InvalidArgumentError(f"{owner} rule {index}: needs a cidr or a source_group")
        else:
            compiler.add(KIND_SG, owner, index, *args, rule.cidr, rid)


def _add_acl(compiler: RuleCompiler, acl: NetworkAcl, ids: Mapping[Owner, list[int]]) -> None:
    owner = f"network ACL {acl.id}"
    numbers: set[tuple[int, str]] = set()
    rule_ids = ids[("acl", acl.id)]
    for position, (rule, rid) in enumerate(zip(acl.rules, rule_ids, strict=True)):
        if not isinstance(rule, AclRule):
            raise InvalidArgumentError(f"{owner} rule #{position}: not an AclRule")
        number = rule.number
        if type(number) is not int or not 1 <= number <= ACL_NUMBER_MAX:
            raise InvalidArgumentError(
                f"{owner} rule #{position}: number {number!r} outside 1..{ACL_NUMBER_MAX}"
            )
        if (number, rule.direction) in numbers:
            raise InvalidArgumentError(f"{owner} rule {number}: duplicate {rule.direction} number")
        numbers.add((number, rule.direction))
        compiler.add(
            KIND_ACL,
            owner,
            number,
            rule.direction,
            rule.protocol,
            rule.ports,
            rule.cidr,
            rid,
            number,
            rule.action,
        )


def _sg_source(
    combo: tuple[str, ...], groups: Mapping[str, SecurityGroup], members: Mapping[str, list[str]]
) -> SetSource:
    refs: set[str] = set()
    for gid in combo:
        for rule in groups[gid].rules:
            ref = rule.source_group if isinstance(rule, SecurityGroupRule) else None
            if ref is not None and ref in members:
                refs.add(ref)
    return SetSource(
        objects=tuple(groups[gid] for gid in combo),
        members=tuple((ref, tuple(members[ref])) for ref in sorted(refs)),
    )


def compile_state(
    groups: Mapping[str, SecurityGroup],
    acls: Mapping[str, NetworkAcl],
    attached: Mapping[str, Attachment],
    rule_ids: RuleIds,
    previous: Mapping[SetName, SetSource] | None = None,
) -> Plan:
    """Validates everything and compiles the rule sets that changed since `previous`.

    Raises before returning anything on bad input.
    """
    owners: dict[Owner, Sequence[object]] = {("sg", gid): g.rules for gid, g in groups.items()}
    owners.update((("acl", aid), acl.rules) for aid, acl in acls.items())
    ids, reused = rule_ids.plan(owners)
    members = _members(groups, attached)
    previous = previous or {}

    sources: dict[SetName, SetSource] = {}
    compiled: dict[SetName, CompiledRules] = {}
    ifaces: dict[int, InterfacePlan] = {}
    for ifname, att in attached.items():
        combo = tuple(sorted(set(att.groups)))
        sg_name: SetName = ("sg", combo)
        if sg_name not in sources:
            sources[sg_name] = _sg_source(combo, groups, members)
            old = previous.get(sg_name)
            if old is None or not old.same_as(sources[sg_name]):
                compiler = RuleCompiler()
                for gid in combo:
                    _add_group(compiler, groups[gid], ids, members)
                compiled[sg_name] = compiler.build()
        acl_name: SetName | None = None
        if att.acl is not None:
            acl_name = ("acl", (att.acl,))
            if acl_name not in sources:
                sources[acl_name] = SetSource(objects=(acls[att.acl],), members=())
                old = previous.get(acl_name)
                if old is None or not old.same_as(sources[acl_name]):
                    compiler = RuleCompiler()
                    _add_acl(compiler, acls[att.acl], ids)
                    compiled[acl_name] = compiler.build()
        own = tuple(_address(f"interface {ifname}", a) for a in att.addresses)
        ifaces[att.ifindex] = InterfacePlan(sg_name, acl_name, att.epoch, own)
    # Everything not compiled above is still checked, so bad input never waits in state.
    compiled_groups = {gid for name in compiled if name[0] == "sg" for gid in name[1]}
    for gid, group in groups.items():
        if gid not in compiled_groups and group is not _previous_object(previous, gid):
            _add_group(RuleCompiler(), group, ids, members)
    compiled_acls = {name[1][0] for name in compiled if name[0] == "acl"}
    for aid, acl in acls.items():
        if aid not in compiled_acls and acl is not _previous_object(previous, aid, "acl"):
            _add_acl(RuleCompiler(), acl, ids)
    return Plan(
        sources=sources,
        compiled=compiled,
        ifaces=ifaces,
        owners=owners,
        ids=ids,
        reused_ids=reused,
    )


def _previous_object(
    previous: Mapping[SetName, SetSource], owner_id: str, kind: str = "sg"
) -> object:
    """The group or ACL object a previous set was compiled from (already validated then)."""
    for (set_kind, ids), source in previous.items():
        if set_kind == kind and owner_id in ids:
            return source.objects[ids.index(owner_id)]
    return None
