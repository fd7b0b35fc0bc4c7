#!/usr/bin/env bash
# Host set-up that needs no package: what later parts of the platform expect of the kernel
# (see shared notes/platform.md). Idempotent; skipped quietly when not root.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || exit 0
# Tracepoints need tracefs; BPF pinning needs bpffs.
mountpoint -q /sys/kernel/tracing 2>/dev/null || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
mountpoint -q /sys/fs/bpf 2>/dev/null || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
