/* Layouts shared by the BPF programs (firewall.bpf.c) and the Python side that fills the maps
 * (thecloud.dataplane.bpf: the Cython compiler packs exactly these structs, little-endian).
 * Changing a struct here means changing its format in dataplane/.../bpf/layout.py.
 *
 * Rule lookup, one immutable LPM trie per rule set (an interface has a security-group set and
 * optionally an ACL set; sets sit in slots of the map of maps `set_rules`):
 *   key  = (kind|direction, family, protocol class, remote address prefix)
 *   value = the allowed destination ports of that prefix as disjoint ranges, each naming the rule
 *           that decided it; "containing prefixes" are already folded in by the compiler, so the
 *           longest match carries every rule that covers the address.
 * Prefixes with more than FW_INLINE_RANGES ranges spill into the overflow hash, keyed by
 * (set slot, overflow id), searched by bisection.
 */
#ifndef THECLOUD_FW_MAPS_H
#define THECLOUD_FW_MAPS_H

#define FW_KIND_SG 0  /* security group: allow rules, stateful */
#define FW_KIND_ACL 1 /* network ACL: allow/deny, numbered, stateless */
#define FW_DIR_INGRESS 0 /* towards the instance */
#define FW_DIR_EGRESS 1  /* from the instance */

#define FW_FAMILY_V4 4
#define FW_FAMILY_V6 6

#define FW_PROTO_OTHER 0
#define FW_PROTO_TCP 1
#define FW_PROTO_UDP 2
#define FW_PROTO_ICMP 3
#define FW_PROTO_ICMPV6 4

#define FW_INLINE_RANGES 6
#define FW_OVERFLOW_RANGES 128
#define FW_NRANGES_OVERFLOW 0xffff
#define FW_RANGE_DENY 0x80000000u /* set in fw_range.rule: the deciding ACL rule denies */
#define FW_VAL_ALL_PORTS 1        /* every port is allowed: non-first fragments may pass */

#define FW_IFACE_HAS_ACL 1
#define FW_IFACE_ATTACHED 2 /* set in every configured entry: array slots start zeroed */
#define FW_IFACE_CHECK_SOURCE 4 /* the instance may send only from its addresses (iface_addrs) */
/* Interface settings live outside the maps of maps, in plain maps the verifier can inline
 * (a lookup through an inner map is an indirect call, ~25 ns here): an array indexed by
 * gen * FW_IFACE_DIRECT + ifindex, and for larger ifindexes a hash keyed by (gen, ifindex).
 * User space writes only the idle generation's half. */
#define FW_IFACE_DIRECT 65536
#define FW_IFACE_BIG_MAX 4096

struct fw_iface_key {
    __u32 gen;
    __u32 ifindex;
};

/* An instance's own address on an interface (anti-spoofing); the value is the attachment's
 * epoch, so an entry left over from an earlier attachment does not count. */
#define FW_IFACE_ADDRS_MAX 65536
struct fw_iface_addr {
    __u32 ifindex;
    __u8 family;
    __u8 pad[3];
    __u8 addr[16];
};

/* Bits before the address in the LPM key: kind_dir, family, proto, pad. */
#define FW_KEY_FIXED_BITS 32
/* Rule-set slots (each interface uses one or two; identical sets are shared). */
#define FW_MAX_SETS 8192
#define FW_OVERFLOW_MAX 65536

struct fw_rule_key {
    __u32 prefixlen;
    __u8 kind_dir; /* kind << 1 | direction */
    __u8 family;
    __u8 proto;
    __u8 pad;
    __u8 addr[16];
};

struct fw_range {
    __u16 lo;
    __u16 hi;
    __u32 rule; /* rule id (index into the counters), | FW_RANGE_DENY for an ACL deny */
};

struct fw_rule_val {
    __u32 overflow_id; /* with the set's slot, the overflow key when nranges is OVERFLOW */
    __u16 nranges;
    __u16 flags;
    struct fw_range r[FW_INLINE_RANGES];
};

struct fw_overflow_key {
    __u32 slot;
    __u32 id;
};

struct fw_overflow {
    __u32 nranges;
    __u32 pad;
    struct fw_range r[FW_OVERFLOW_RANGES];
};

/* Deep tries are slow (a 100k-prefix trie costs ~100 ns per lookup here), so a class with many
 * prefixes of at most FW_HASH_LENS distinct lengths goes into a hash instead (same key and
 * value layout, address masked to the length): one exact lookup per length, longest first.
 * A class is numbered ((kind_dir * 2) + is_ipv6) * 5 + protocol class. */
#define FW_CLASSES 40
#define FW_HASH_LENS 3
#define FW_CLASS_TRIE 0xff /* nlens: the class is in the set's trie; 0: the class is empty */

/* prefix_masks[n]: an address mask of n leading one bits (filled by user space at load). */
struct fw_mask {
    __u32 w[4];
};

struct fw_set_info {
    __u8 nlens[FW_CLASSES];
    __u8 lens[FW_CLASSES][FW_HASH_LENS]; /* address prefix lengths, longest first */
};

/* Per interface (keyed by ifindex) in each generation: the slots of its rule sets. */
struct fw_iface {
    __u32 sg_set;
    __u32 acl_set;
    __u32 flags;
    __u32 epoch; /* the attachment's; flows tracked under another epoch are not honoured */
};

/* Per-rule counters, per CPU, indexed by rule id (stable across generations). */
struct fw_counter {
    __u64 packets;
    __u64 bytes;
    __u64 allowed;
    __u64 denied;
};

/* Connection tracking, oriented from the instance: no normalisation needed. IPv4 flows use a
 * 20-byte key of their own (hashing 44 bytes for every IPv4 packet costs ~10 ns more). */
struct fw_ct_key4 {
    __u32 ifindex;
    __u8 proto; /* IP protocol number */
    __u8 pad;
    __u16 inst_port;
    __u16 remote_port;
    __u16 pad2;
    __u32 inst_addr;
    __u32 remote_addr;
};

struct fw_ct_key {
    __u32 ifindex;
    __u8 family;
    __u8 proto; /* IP protocol number */
    __u16 pad;
    __u16 inst_port;
    __u16 remote_port;
    __u8 inst_addr[16];
    __u8 remote_addr[16];
};

#define FW_CT_SYN_SENT 1
#define FW_CT_ESTABLISHED 2
#define FW_CT_FIN 3
#define FW_CT_CLOSED 4

struct fw_ct_val {
    __u64 last; /* jiffies of the last refresh */
    __u8 state;
    __u8 origin; /* direction of the packet that opened the flow */
    __u8 pad[2];
    /* The interface attachment that admitted the flow: a detach leaves its entries to age out
     * of the LRU, and an interface attached later under the same ifindex must not inherit them. */
    __u32 epoch;
};

/* DDoS guard: per-source GCRA state (theoretical arrival times) for new TCP and for UDP. */
struct fw_guard_key {
    __u8 family;
    __u8 pad[3];
    __u8 addr[16];
};

struct fw_guard_val {
    __u64 syn_tat;
    __u64 udp_tat;
};

struct fw_guard_cfg {
    __u64 syn_interval_ns; /* 1e9 / rate; 0 = unlimited */
    __u64 syn_window_ns;   /* burst * interval */
    __u64 udp_interval_ns;
    __u64 udp_window_ns;
};

/* Global per-CPU statistics (index into the stats array). */
enum fw_stat {
    FW_STAT_MALFORMED = 0,  /* truncated or inconsistent headers: dropped */
    FW_STAT_NOT_IP,         /* ARP and other non-IP frames: passed */
    FW_STAT_NO_IFACE,       /* interface without a configuration in this generation: dropped */
    FW_STAT_CT_HIT,         /* passed as part of a tracked flow */
    FW_STAT_CT_NEW,         /* flow entries created */
    FW_STAT_SG_DENY,        /* no security-group rule allowed: dropped */
    FW_STAT_ACL_DENY,       /* a network ACL denied (explicitly or by default): dropped */
    FW_STAT_ND_PASS,        /* IPv6 neighbour discovery: always passed */
    FW_STAT_FRAGMENT,       /* non-first fragments seen */
    FW_STAT_GUARD_PASS,
    FW_STAT_GUARD_SYN_DROP,
    FW_STAT_GUARD_UDP_DROP,
    FW_STAT_SPOOFED,        /* from an instance, with a source address not its own: dropped */
    FW_STAT_CT_RELATED,     /* ICMP errors about a tracked flow, passed without a rule */
    FW_STAT_COUNT,
};

#endif
