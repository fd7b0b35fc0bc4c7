"""Loading, failing and unloading: nothing of ours stays in the kernel, and failures change nothing.

Checked with `bpftool prog list` by program id (other users of the machine may load programs
with similar names). The kernel frees a program after an RCU grace period once its last
reference (fd or tc filter) is gone, so the checks poll for a few seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.integration.bpf_frames import eth, ipv4, tcp, udp
from tests.integration.bpf_netns import sh
from thecloud.core.errors import InvalidArgumentError, NotFoundError
from thecloud.dataplane.bpf import Firewall, SecurityGroup, loader, syscall
from thecloud.dataplane.bpf import SecurityGroupRule as Rule

pytestmark = pytest.mark.integration

OK, SHOT = 0, 2
GROUP = SecurityGroup("sg-life", [Rule("ingress", "tcp", (22, 22), "192.0.2.0/24")])
SSH = eth(ipv4("192.0.2.1", "10.0.0.5", 6, tcp(1234, 22)))
HTTP = eth(ipv4("192.0.2.1", "10.0.0.5", 6, tcp(1234, 80)))


def loaded_ids() -> set[int]:
    out = sh("bpftool", "-j", "prog", "list").stdout
    return {int(prog["id"]) for prog in json.loads(out)}


def wait_gone(ids: set[int]) -> set[int]:
    deadline = time.monotonic() + 5
    while (left := ids & loaded_ids()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.fixture
def veth() -> Iterator[str]:
    name = f"fwl{uuid.uuid4().hex[:6]}"
    sh("ip", "link", "add", name, "type", "veth", "peer", "name", f"{name}p")
    sh("ip", "link", "set", name, "up")
    try:
        yield name
    finally:
        sh("ip", "link", "del", name, check=False)


def our_ids(fw: Firewall) -> set[int]:
    return {syscall.prog_info(fd).id for fd in fw.program_fds().values()}


def test_close_leaves_no_program_loaded(veth: str) -> None:
    fw = Firewall()
    fw.attach(veth, [GROUP])
    ids = our_ids(fw)
    assert ids <= loaded_ids()
    assert "tcfw" in sh("tc", "filter", "show", "dev", veth, "ingress").stdout
    fw.close()
    assert wait_gone(ids) == set()
    assert "clsact" not in sh("tc", "qdisc", "show", "dev", veth).stdout
    fw.close()  # idempotent


def test_detach_then_close_via_context_manager(veth: str) -> None:
    with Firewall() as fw:
        fw.attach(veth, [GROUP])
        ids = our_ids(fw)
        fw.detach(veth)
        assert "clsact" not in sh("tc", "qdisc", "show", "dev", veth).stdout
        with pytest.raises(NotFoundError):
            fw.detach(veth)
    assert wait_gone(ids) == set()


CHILD = """
import json, sys
from thecloud.dataplane.bpf import Firewall, SecurityGroup, syscall
fw = Firewall()
fw.attach(sys.argv[1], [SecurityGroup("sg", [])])
print(json.dumps([syscall.prog_info(fd).id for fd in fw.program_fds().values()]), flush=True)
"""


def test_process_exit_unloads_everything(veth: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, veth], check=True, capture_output=True, text=True, timeout=60
    )
    ids = set(json.loads(out.stdout))
    assert len(ids) == 3
    assert wait_gone(ids) == set()
    assert "clsact" not in sh("tc", "qdisc", "show", "dev", veth).stdout


def test_a_killed_owner_leaves_the_interface_filtered_until_the_next_attach(veth: str) -> None:
    # A crashed control plane must not leave instances unfiltered: its filters stay in force
    # (with their last rules) until a new Firewall attaches the interface, replacing them.
    with subprocess.Popen(
        [sys.executable, "-c", CHILD + "import time; time.sleep(60)\n", veth],
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            orphaned = set(json.loads(child.stdout.readline()))
        finally:
            child.kill()
    time.sleep(0.5)
    assert len(orphaned & loaded_ids()) == 2  # the tc pair, held by their filters
    assert "tcfw" in sh("tc", "filter", "show", "dev", veth, "ingress").stdout
    with Firewall() as fw:
        fw.attach(veth, [GROUP])
        assert wait_gone(orphaned) == set()
        ours = our_ids(fw)
    assert wait_gone(ours) == set()
    assert "clsact" not in sh("tc", "qdisc", "show", "dev", veth).stdout


def test_bad_input_changes_nothing(veth: str) -> None:
    with Firewall() as fw:
        fw.attach(veth, [GROUP])
        bad = SecurityGroup(
            "sg-life",
            [Rule("ingress", "tcp", (80, 80), "0.0.0.0/0"), Rule("ingress", "tcp", (1, 0), "0/0")],
        )
        with pytest.raises(
            InvalidArgumentError, match="security group sg-life rule 1: invalid port"
        ):
            fw.update_group(bad)
        with pytest.raises(
            InvalidArgumentError, match=r"sg-life rule 0: invalid CIDR '10\.0\.0\.1/8'"
        ):
            fw.update_group(SecurityGroup("sg-life", [Rule("ingress", "udp", None, "10.0.0.1/8")]))
        with pytest.raises(InvalidArgumentError, match="sg-x rule 0: invalid protocol 'sctp'"):
            fw.attach(veth, [SecurityGroup("sg-x", [Rule("ingress", "sctp", None, "0.0.0.0/0")])])
        assert fw.test_run("tc_ingress", SSH, ifname=veth).retval == OK
        assert fw.test_run("tc_ingress", HTTP, ifname=veth).retval == SHOT
        assert list(fw.stats()["groups"]) == ["sg-life"]


def test_verifier_rejection_reports_the_log_and_keeps_the_rules(veth: str) -> None:
    with Firewall() as fw:
        fw.attach(veth, [GROUP])
        before = our_ids(fw)
        # Read a packet byte without a bounds check: compiles, the verifier refuses it.
        source = loader.SOURCE.read_text().replace(
            "return fw_tc(skb, FW_DIR_INGRESS);",
            "return fw_tc(skb, FW_DIR_INGRESS) + *(__u8 *)(long)skb->data;",
        )
        with pytest.raises(syscall.VerifierError) as failure:
            fw.reload(source)
        assert "invalid access to packet" in failure.value.log
        assert "invalid access to packet" in str(failure.value)
        assert our_ids(fw) == before
        assert fw.test_run("tc_ingress", SSH, ifname=veth).retval == OK
        assert fw.test_run("tc_ingress", HTTP, ifname=veth).retval == SHOT
        # A source that does not compile reports clang's diagnostics.
        with pytest.raises(loader.BpfCompileError, match="error"):
            fw.reload(source + "\nthis is not C;\n")
        assert fw.test_run("tc_ingress", HTTP, ifname=veth).retval == SHOT
        # A good reload swaps programs and keeps the rules.
        fw.reload()
        assert our_ids(fw).isdisjoint(before)
        assert fw.test_run("tc_ingress", SSH, ifname=veth).retval == OK
        assert fw.test_run("tc_ingress", HTTP, ifname=veth).retval == SHOT
    assert wait_gone(before) == set()


def test_hundred_thousand_rules_apply_quickly_and_judge_correctly(veth: str) -> None:
    rules = [
        Rule(
            "ingress",
            "udp",
            (1000 + i % 50_000, 1000 + i % 50_000),
            f"100.{64 + (i >> 14)}.{(i >> 6) & 255}.{(i & 63) << 2}/30",
        )
        for i in range(100_000)
    ]
    with Firewall() as fw:
        start = time.perf_counter()
        fw.attach(veth, [SecurityGroup("sg-100k", rules)])
        elapsed = time.perf_counter() - start
        # Well under a second on a quiet machine (~0.5 s measured); generous for a busy one.
        assert elapsed < 2.0, f"compiling and applying 100k rules took {elapsed:.2f} s"
        for i in (0, 4242, 99_999):
            source = f"100.{64 + (i >> 14)}.{(i >> 6) & 255}.{((i & 63) << 2) + 1}"
            port = 1000 + i % 50_000
            allowed = eth(ipv4(source, "10.0.0.5", 17, udp(5555, port)))
            denied = eth(ipv4(source, "10.0.0.5", 17, udp(5555, port + 1)))
            assert fw.test_run("tc_ingress", allowed, ifname=veth).retval == OK
            assert fw.test_run("tc_ingress", denied, ifname=veth).retval == SHOT
        start = time.perf_counter()
        fw.update_group(SecurityGroup("sg-other", [Rule("ingress", "tcp", None, "0.0.0.0/0")]))
        assert time.perf_counter() - start < 0.5  # the 100k set is not rebuilt
