#!/usr/bin/env bash
# Host set-up that needs no package: what later parts of the platform expect of the kernel
# (see shared notes/platform.md). Idempotent; skipped quietly when not root.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || exit 0
# Tracepoints need tracefs; BPF pinning needs bpffs.
mountpoint -q /sys/kernel/tracing 2>/dev/null || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
mountpoint -q /sys/fs/bpf 2>/dev/null || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
# bcc compiles against kernel headers: Debian splits them into -common and -amd64 trees and this
# kernel has no /lib/modules build tree, so merge the two (as symlinks) where the BPF loader
# (thecloud.dataplane.bpf.loader) points BCC_KERNEL_SOURCE. Redone when the headers change.
KH=/usr/local/lib/thecloud/kernel-headers
common=$(ls -d /usr/src/linux-headers-*-common 2>/dev/null | sort -V | tail -1 || true)
arch=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -1 || true)
if [ -n "$common" ] && [ -n "$arch" ] && [ "$(cat "$KH/.source" 2>/dev/null)" != "$arch" ]; then
  rm -rf "$KH" && mkdir -p "$KH"
  cp -as "$common/." "$KH/" && cp -as --remove-destination "$arch/." "$KH/"
  echo "$arch" > "$KH/.source"
fi
