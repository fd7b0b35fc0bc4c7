#!/usr/bin/env bash
# Installs the Debian packages The Cloud needs (idempotent: a no-op when all are present).
# Packages for later parts (BPF, libvirt, NBD, load-balancer anchors) are installed now so every
# session and CI run starts with them. No systemd here: nothing is started by this script.
set -euo pipefail

PACKAGES=(
  # build tools
  build-essential pkg-config clang llvm lld libffi-dev
  # metrics: promtool and a real Prometheus for scrape tests
  prometheus
  # eBPF (see shared notes/platform.md)
  bpfcc-tools python3-bpfcc libbpfcc-dev bpftool libbpf-dev linux-headers-amd64
  iproute2 nftables iptables iputils-ping
  # virtual machines
  libvirt-daemon-system libvirt-dev qemu-system-x86 qemu-utils genisoimage busybox-static cpio
  # block storage anchors and clients
  libisal2 python3-libnbd libnbd-bin fio fiu-utils python3-fiu
  # load-balancer and API anchors and load generators
  nginx-light haproxy wrk curl openssl
  # clustered state
  etcd-server
  # measuring
  valgrind hyperfine
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "bootstrap: missing Debian packages (${missing[*]}); run as root to install them" >&2
  exit 1
fi
echo "bootstrap: installing ${#missing[@]} Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o DPkg::Lock::Timeout=600 -y -q --no-install-recommends)
apt-get -o DPkg::Lock::Timeout=600 -q update
apt-get "${apt_opts[@]}" install "${missing[@]}"
