/* The Cloud's instance firewall: tc programs on the host side of an instance interface, plus an
 * XDP DDoS guard. Compiled and loaded by bcc from thecloud.dataplane.bpf.loader.
 *
 *   tc_ingress  traffic towards the instance   (host veth/tap clsact *egress* hook)
 *   tc_egress   traffic from the instance      (host veth/tap clsact *ingress* hook)
 *   xdp_guard   per-source token buckets for new TCP connections and UDP, early drops
 *
 * Order per packet: parse (malformed -> drop), network ACL (stateless, first match wins, decided
 * at compile time), connection tracking (a tracked flow passes), security groups (allow rules;
 * an allowed packet opens a flow), otherwise drop.
 *
 * Atomic updates: a rule set's LPM trie is never modified; a changed set gets a fresh trie in a
 * free slot of `set_rules`. Interface settings (which set slots an interface uses) are double
 * buffered by generation; the packet reads `cur_gen` once, so it is judged entirely by one
 * generation (user space: thecloud.dataplane.bpf.generation).
 *
 * Non-first fragments have no ports: they pass only when the rules allow every port of their
 * protocol for that address (FW_VAL_ALL_PORTS), and never touch connection tracking.
 * ICMP errors (destination unreachable, time exceeded, parameter problem, packet too big) that
 * quote a packet of a tracked flow of the interface pass as related to it (path MTU discovery
 * keeps working without an ICMP rule); other ICMP is judged by the rules. IPv6 neighbour
 * discovery (ICMPv6 133-137) always passes, like ARP.
 *
 * Connection tracking timeouts (FW_CT_*_J): TCP opening 60 s, established 5 days, closing 60 s,
 * reset 10 s; UDP, ICMP echo and other protocols 120 s after the last packet.
 */
#include <uapi/linux/bpf.h>
#include <uapi/linux/if_ether.h>
#include <uapi/linux/in.h>
#include <uapi/linux/ip.h>
#include <uapi/linux/ipv6.h>
#include <uapi/linux/pkt_cls.h>
#include <uapi/linux/tcp.h>
#include <uapi/linux/udp.h>

#include "fw_maps.h"
#include "fw_parse.h"

#ifndef FW_MAX_RULES
#define FW_MAX_RULES 262144
#endif
#ifndef FW_CT_MAX
#define FW_CT_MAX 262144
#endif
#ifndef FW_GUARD_MAX
#define FW_GUARD_MAX 65536
#endif

/* Flow timestamps are jiffies (bpf_jiffies64 costs a fraction of a clock read); user space
 * measures the tick rate and passes it as FW_HZ. */
#ifndef FW_HZ
#error "FW_HZ (the kernel's tick rate) must be defined"
#endif
#define FW_CT_SYN_J (60ULL * FW_HZ)
#define FW_CT_EST_J (5ULL * 24 * 3600 * FW_HZ)
#define FW_CT_FIN_J (60ULL * FW_HZ)
#define FW_CT_RST_J (10ULL * FW_HZ)
#define FW_CT_OTHER_J (120ULL * FW_HZ)
/* A tracked flow's timestamp is rewritten at most once a second (keeps the entry's cache line
 * from bouncing between CPUs on every packet). */
#define FW_CT_REFRESH_J ((__u64)FW_HZ)

/* Templates of the rule sets' tries and hashes (user space creates the real ones). */
BPF_LPM_TRIE(rules_tmpl, struct fw_rule_key, struct fw_rule_val, 1);
BPF_HASH(hash_tmpl, struct fw_rule_key, struct fw_rule_val, 1);
BPF_ARRAY_OF_MAPS(set_rules, "rules_tmpl", FW_MAX_SETS);
BPF_ARRAY_OF_MAPS(set_hash, "hash_tmpl", FW_MAX_SETS);
BPF_ARRAY(set_info, struct fw_set_info, FW_MAX_SETS);
BPF_ARRAY(prefix_masks, struct fw_mask, 129);
BPF_F_TABLE("hash", struct fw_overflow_key, struct fw_overflow, set_overflow, FW_OVERFLOW_MAX,
            BPF_F_NO_PREALLOC);
BPF_ARRAY(cur_gen, __u32, 1);
BPF_ARRAY(iface_cfg, struct fw_iface, 2 * FW_IFACE_DIRECT);
BPF_HASH(iface_cfg_big, struct fw_iface_key, struct fw_iface, FW_IFACE_BIG_MAX);
BPF_HASH(iface_addrs, struct fw_iface_addr, __u32, FW_IFACE_ADDRS_MAX);

BPF_PERCPU_ARRAY(rule_counters, struct fw_counter, FW_MAX_RULES);
BPF_PERCPU_ARRAY(fw_stats, __u64, FW_STAT_COUNT);
BPF_TABLE("lru_hash", struct fw_ct_key4, struct fw_ct_val, conntrack4, FW_CT_MAX);
BPF_TABLE("lru_hash", struct fw_ct_key, struct fw_ct_val, conntrack6, FW_CT_MAX);

BPF_TABLE("lru_hash", struct fw_guard_key, struct fw_guard_val, guard_state, FW_GUARD_MAX);
BPF_ARRAY(guard_cfg, struct fw_guard_cfg, 1);

static __always_inline void fw_stat(__u32 which)
{
    __u64 *v = fw_stats.lookup(&which);
    if (v)
        *v += 1;
}

static __always_inline void fw_count(__u32 rule, __u32 len)
{
    __u32 id = rule & ~FW_RANGE_DENY;
    struct fw_counter *c = rule_counters.lookup(&id);
    if (!c)
        return;
    c->packets += 1;
    c->bytes += len;
    if (rule & FW_RANGE_DENY)
        c->denied += 1;
    else
        c->allowed += 1;
}

/* The rule deciding `port` in this value: 0 when no range covers it. */
static __always_inline __u32 fw_ranges(struct fw_rule_val *v, __u32 slot, __u16 port)
{
    if (v->nranges != FW_NRANGES_OVERFLOW) {
#pragma unroll
        for (int i = 0; i < FW_INLINE_RANGES; i++) {
            if (i >= v->nranges)
                break;
            if (port >= v->r[i].lo && port <= v->r[i].hi)
                return v->r[i].rule;
        }
        return 0;
    }
    struct fw_overflow_key ok = {.slot = slot, .id = v->overflow_id};
    struct fw_overflow *o = set_overflow.lookup(&ok);
    if (!o)
        return 0;
    __u32 lo = 0, hi = o->nranges;
    if (hi > FW_OVERFLOW_RANGES)
        hi = FW_OVERFLOW_RANGES;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        if (lo >= hi)
            break;
        __u32 mid = ((lo + hi) >> 1) & (FW_OVERFLOW_RANGES - 1);
        struct fw_range *r = &o->r[mid];
        if (port < r->lo)
            hi = mid;
        else if (port > r->hi)
            lo = mid + 1;
        else
            return r->rule;
    }
    return 0;
}

/* Looks up (set, kind, dir) for the packet's remote address; returns the deciding rule or 0.
 * A non-first fragment (no ports) needs a value that allows every port. */
static __always_inline __u32 fw_judge(__u32 slot, __u8 kind, __u8 dir, struct fw_pkt *p,
                                      __u8 *remote, __u16 port)
{
    struct fw_set_info *si = set_info.lookup(&slot);
    if (!si)
        return 0;
    __u8 kind_dir = (kind << 1) | dir;
    __u32 cls = ((kind_dir * 2) + (p->family == FW_FAMILY_V6)) * 5 + p->pclass;
    if (cls >= FW_CLASSES)
        return 0;
    __u8 n = si->nlens[cls];
    if (n == 0)
        return 0;
    struct fw_rule_key k = {};
    k.kind_dir = kind_dir;
    k.family = p->family;
    k.proto = p->pclass;
    struct fw_rule_val *v = NULL;
    if (n == FW_CLASS_TRIE) {
        void *rules = set_rules.lookup(&slot);
        if (!rules)
            return 0;
        if (p->family == FW_FAMILY_V4) {
            k.prefixlen = FW_KEY_FIXED_BITS + 32;
            __builtin_memcpy(k.addr, remote, 4);
        } else {
            k.prefixlen = FW_KEY_FIXED_BITS + 128;
            __builtin_memcpy(k.addr, remote, 16);
        }
        v = bpf_map_lookup_elem(rules, &k);
    } else {
        void *hashes = set_hash.lookup(&slot);
        if (!hashes)
            return 0;
        __u32 addr[4];
        __builtin_memcpy(addr, remote, 16); /* IPv4: zero beyond the first word */
#pragma unroll
        for (int i = 0; i < FW_HASH_LENS; i++) {
            if (i >= n)
                break;
            __u32 plen = si->lens[cls][i];
            /* Masks come from a table: a branch per address byte here would multiply the
             * verifier's states past its limit. */
            struct fw_mask *m = prefix_masks.lookup(&plen);
            if (!m)
                break;
            k.prefixlen = FW_KEY_FIXED_BITS + plen;
            __u32 masked[4];
            masked[0] = addr[0] & m->w[0];
            masked[1] = addr[1] & m->w[1];
            masked[2] = addr[2] & m->w[2];
            masked[3] = addr[3] & m->w[3];
            __builtin_memcpy(k.addr, masked, 16);
            v = bpf_map_lookup_elem(hashes, &k);
            if (v)
                break;
        }
    }
    if (!v)
        return 0;
    if (p->fragment) {
        /* The deciding rule of port 0 is as good as any when all ports pass. */
        if (!(v->flags & FW_VAL_ALL_PORTS))
            return 0;
        return fw_ranges(v, slot, 0);
    }
    return fw_ranges(v, slot, port);
}

/* Whether a flow entry still holds: made by this attachment of the interface and not expired. */
static __always_inline int fw_ct_live(struct fw_ct_val *ct, __u8 ipproto, __u64 now, __u32 epoch)
{
    if (ct->epoch != epoch)
        return 0;
    __u64 timeout = FW_CT_OTHER_J;
    if (ipproto == IPPROTO_TCP) {
        if (ct->state == FW_CT_SYN_SENT)
            timeout = FW_CT_SYN_J;
        else if (ct->state == FW_CT_ESTABLISHED)
            timeout = FW_CT_EST_J;
        else if (ct->state == FW_CT_FIN)
            timeout = FW_CT_FIN_J;
        else
            timeout = FW_CT_RST_J;
    }
    return now - ct->last <= timeout;
}

/* Advances a tracked flow; returns 0 when the entry has expired or belongs to an earlier
 * attachment of the interface (then the packet is judged anew). */
static __always_inline int fw_ct_step(struct fw_ct_val *ct, struct fw_pkt *p, __u8 dir, __u64 now,
                                      __u32 epoch)
{
    if (!fw_ct_live(ct, p->ipproto, now, epoch))
        return 0;
    __u8 state = ct->state;
    if (p->ipproto == IPPROTO_TCP) {
        __u8 f = p->tcp_flags;
        if (f & FW_TCP_RST)
            state = FW_CT_CLOSED;
        else if (f & FW_TCP_FIN)
            state = state == FW_CT_CLOSED ? FW_CT_CLOSED : FW_CT_FIN;
        else if (state == FW_CT_SYN_SENT && dir != ct->origin && (f & FW_TCP_ACK))
            state = FW_CT_ESTABLISHED;
        else if (state == FW_CT_CLOSED && (f & FW_TCP_SYN) && !(f & FW_TCP_ACK))
            return 0; /* a new connection reusing the tuple: judge it by the rules */
    }
    if (state != ct->state || now - ct->last > FW_CT_REFRESH_J) {
        ct->state = state;
        ct->last = now;
    }
    return 1;
}

static __always_inline int fw_tracked(struct fw_pkt *p)
{
    if (p->fragment)
        return 0;
    if (p->pclass == FW_PROTO_ICMP || p->pclass == FW_PROTO_ICMPV6)
        return p->icmp_echo;
    return 1;
}

/* Whether an ICMP error quotes a packet of a flow tracked on this interface. The quoted packet
 * went the other way: towards the instance an error quotes what the instance sent (its source
 * is the instance), from the instance it quotes what the instance received. k4/k6 are scratch. */
static __always_inline int fw_icmp_related(struct fw_pkt *p, __u32 ifindex, __u8 dir,
                                           __u32 epoch, struct fw_ct_key4 *k4,
                                           struct fw_ct_key *k6)
{
    __u8 *inst = dir == FW_DIR_INGRESS ? p->q_saddr : p->q_daddr;
    __u8 *remote = dir == FW_DIR_INGRESS ? p->q_daddr : p->q_saddr;
    __u16 inst_port = dir == FW_DIR_INGRESS ? p->q_sport : p->q_dport;
    __u16 remote_port = dir == FW_DIR_INGRESS ? p->q_dport : p->q_sport;
    if (p->q_proto == IPPROTO_ICMP || p->q_proto == IPPROTO_ICMPV6)
        remote_port = 0; /* echo flows are keyed by the identifier alone */
    struct fw_ct_val *ct;
    if (p->family == FW_FAMILY_V4) {
        k4->ifindex = ifindex;
        k4->proto = p->q_proto;
        k4->inst_port = inst_port;
        k4->remote_port = remote_port;
        __builtin_memcpy(&k4->inst_addr, inst, 4);
        __builtin_memcpy(&k4->remote_addr, remote, 4);
        ct = conntrack4.lookup(k4);
        asm volatile("/* rel4 */" : "+r"(ct));
    } else {
        k6->ifindex = ifindex;
        k6->family = FW_FAMILY_V6;
        k6->proto = p->q_proto;
        k6->inst_port = inst_port;
        k6->remote_port = remote_port;
        __builtin_memcpy(k6->inst_addr, inst, 16);
        __builtin_memcpy(k6->remote_addr, remote, 16);
        ct = conntrack6.lookup(k6);
        asm volatile("/* rel6 */" : "+r"(ct));
    }
    return ct && fw_ct_live(ct, p->q_proto, bpf_jiffies64(), epoch);
}

static __always_inline int fw_is_nd(struct fw_pkt *p)
{
    return p->pclass == FW_PROTO_ICMPV6 && !p->fragment && p->icmp_type >= 133 &&
           p->icmp_type <= 137;
}

/* Whether a packet from the instance may carry its source address: one of the instance's own
 * (of this attachment), or one a host without an address yet must use (IPv6 link-local, and
 * the unspecified address of a DHCP request). */
static __always_inline int fw_source_allowed(struct fw_pkt *p, __u32 ifindex, __u32 epoch)
{
    if (p->family == FW_FAMILY_V6 && p->saddr[0] == 0xfe && (p->saddr[1] & 0xc0) == 0x80)
        return 1;
    if (p->family == FW_FAMILY_V4 && p->pclass == FW_PROTO_UDP && p->sport == 68 &&
        p->dport == 67 && !(p->saddr[0] | p->saddr[1] | p->saddr[2] | p->saddr[3]))
        return 1;
    struct fw_iface_addr key = {.ifindex = ifindex, .family = p->family};
    __builtin_memcpy(key.addr, p->saddr, 16);
    __u32 *owner = iface_addrs.lookup(&key);
    return owner && *owner == epoch;
}

/* 1 = pass, 0 = drop. */
static __always_inline int fw_filter(void *data, void *data_end, __u32 ifindex, __u32 len,
                                     __u8 dir)
{
    struct fw_pkt p = {};
    int rc = fw_parse(data, data_end, &p);
    if (rc == FW_PARSE_NOT_IP) {
        fw_stat(FW_STAT_NOT_IP);
        return 1;
    }
    if (rc != FW_PARSE_OK) {
        fw_stat(FW_STAT_MALFORMED);
        return 0;
    }
    if (p.fragment)
        fw_stat(FW_STAT_FRAGMENT);
    if (fw_is_nd(&p)) {
        fw_stat(FW_STAT_ND_PASS);
        return 1;
    }

    __u32 zero = 0;
    __u32 *genp = cur_gen.lookup(&zero);
    if (!genp)
        return 0;
    __u32 gen = *genp & 1;
    struct fw_iface *ifc;
    if (ifindex < FW_IFACE_DIRECT) {
        __u32 slot = gen * FW_IFACE_DIRECT + ifindex;
        ifc = iface_cfg.lookup(&slot);
    } else {
        struct fw_iface_key big = {.gen = gen, .ifindex = ifindex};
        ifc = iface_cfg_big.lookup(&big);
    }
    if (!ifc || !(ifc->flags & FW_IFACE_ATTACHED)) {
        fw_stat(FW_STAT_NO_IFACE);
        return 0;
    }

    if (dir == FW_DIR_EGRESS && (ifc->flags & FW_IFACE_CHECK_SOURCE) &&
        !fw_source_allowed(&p, ifindex, ifc->epoch)) {
        fw_stat(FW_STAT_SPOOFED);
        return 0;
    }

    /* Towards the instance the remote end is the source; from it, the destination. */
    __u8 *remote = dir == FW_DIR_INGRESS ? p.saddr : p.daddr;
    if (ifc->flags & FW_IFACE_HAS_ACL) {
        __u32 rule = fw_judge(ifc->acl_set, FW_KIND_ACL, dir, &p, remote, p.dport);
        if (rule)
            fw_count(rule, len);
        if (!rule || (rule & FW_RANGE_DENY)) {
            fw_stat(FW_STAT_ACL_DENY);
            return 0;
        }
    }

    struct fw_ct_key4 k4 = {};
    struct fw_ct_key k6 = {};
    int tracked = fw_tracked(&p);
    __u64 now = 0;
    if (tracked) {
        /* Oriented from the instance; the echo identifier alone names an echo exchange. */
        __u16 inst_port = dir == FW_DIR_INGRESS ? p.dport : p.sport;
        __u16 remote_port = p.icmp_echo ? 0 : (dir == FW_DIR_INGRESS ? p.sport : p.dport);
        __u8 *inst = dir == FW_DIR_INGRESS ? p.daddr : p.saddr;
        struct fw_ct_val *ct;
        now = bpf_jiffies64();
        if (p.family == FW_FAMILY_V4) {
            k4.ifindex = ifindex;
            k4.proto = p.ipproto;
            k4.inst_port = inst_port;
            k4.remote_port = remote_port;
            __builtin_memcpy(&k4.inst_addr, inst, 4);
            __builtin_memcpy(&k4.remote_addr, remote, 4);
            ct = conntrack4.lookup(&k4);
            /* Distinct barriers keep clang from merging the two lookups into one call with
             * a variable map, which the verifier could not inline (an indirect call). */
            asm volatile("/* ct4 */" : "+r"(ct));
        } else {
            k6.ifindex = ifindex;
            k6.family = p.family;
            k6.proto = p.ipproto;
            k6.inst_port = inst_port;
            k6.remote_port = remote_port;
            __builtin_memcpy(k6.inst_addr, inst, 16);
            __builtin_memcpy(k6.remote_addr, remote, 16);
            ct = conntrack6.lookup(&k6);
            asm volatile("/* ct6 */" : "+r"(ct));
        }
        if (ct && fw_ct_step(ct, &p, dir, now, ifc->epoch)) {
            fw_stat(FW_STAT_CT_HIT);
            return 1;
        }
    }

    __u32 rule = fw_judge(ifc->sg_set, FW_KIND_SG, dir, &p, remote, p.dport);
    if (!rule) {
        if (p.quoted && fw_icmp_related(&p, ifindex, dir, ifc->epoch, &k4, &k6)) {
            fw_stat(FW_STAT_CT_RELATED);
            return 1;
        }
        fw_stat(FW_STAT_SG_DENY);
        return 0;
    }
    fw_count(rule, len);
    if (tracked) {
        struct fw_ct_val nv = {};
        nv.last = now;
        nv.origin = dir;
        nv.epoch = ifc->epoch;
        nv.state = FW_CT_ESTABLISHED;
        if (p.ipproto == IPPROTO_TCP) {
            if (p.tcp_flags & FW_TCP_RST)
                nv.state = FW_CT_CLOSED;
            else if (p.tcp_flags & FW_TCP_FIN)
                nv.state = FW_CT_FIN;
            else if ((p.tcp_flags & FW_TCP_SYN) && !(p.tcp_flags & FW_TCP_ACK))
                nv.state = FW_CT_SYN_SENT;
        }
        long err;
        if (p.family == FW_FAMILY_V4) {
            err = conntrack4.update(&k4, &nv);
            asm volatile("/* ct4 */" : "+r"(err));
        } else {
            err = conntrack6.update(&k6, &nv);
            asm volatile("/* ct6 */" : "+r"(err));
        }
        fw_stat(FW_STAT_CT_NEW);
    }
    return 1;
}

/* Headers of a non-linear skb may sit outside the direct-access window: pull what we parse. */
#define FW_PULL_BYTES 256

static __always_inline int fw_tc(struct __sk_buff *skb, __u8 dir)
{
    void *data = (void *)(long)skb->data;
    void *data_end = (void *)(long)skb->data_end;
    if (data_end - data < FW_PULL_BYTES && skb->len > data_end - data) {
        bpf_skb_pull_data(skb, skb->len < FW_PULL_BYTES ? skb->len : FW_PULL_BYTES);
        data = (void *)(long)skb->data;
        data_end = (void *)(long)skb->data_end;
    }
    return fw_filter(data, data_end, skb->ifindex, skb->len, dir) ? TC_ACT_OK : TC_ACT_SHOT;
}

int tc_ingress(struct __sk_buff *skb)
{
    return fw_tc(skb, FW_DIR_INGRESS);
}

int tc_egress(struct __sk_buff *skb)
{
    return fw_tc(skb, FW_DIR_EGRESS);
}

/* GCRA: pass when the theoretical arrival time is not further ahead than the burst window. */
static __always_inline int fw_gcra(__u64 *tat, __u64 now, __u64 interval, __u64 window)
{
    if (!interval)
        return 1;
    __u64 t = *tat < now ? now : *tat;
    if (t - now > window)
        return 0;
    *tat = t + interval;
    return 1;
}

int xdp_guard(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct fw_pkt p = {};
    int rc = fw_parse(data, data_end, &p);
    if (rc == FW_PARSE_NOT_IP)
        return XDP_PASS;
    if (rc != FW_PARSE_OK) {
        fw_stat(FW_STAT_MALFORMED);
        return XDP_DROP;
    }
    int syn = p.pclass == FW_PROTO_TCP && !p.fragment &&
              (p.tcp_flags & (FW_TCP_SYN | FW_TCP_ACK)) == FW_TCP_SYN;
    int udp = p.pclass == FW_PROTO_UDP;
    if (!syn && !udp)
        return XDP_PASS;
    __u32 zero = 0;
    struct fw_guard_cfg *cfg = guard_cfg.lookup(&zero);
    if (!cfg)
        return XDP_PASS;
    struct fw_guard_key gk = {};
    gk.family = p.family;
    __builtin_memcpy(gk.addr, p.saddr, 16);
    __u64 now = bpf_ktime_get_ns();
    struct fw_guard_val *g = guard_state.lookup(&gk);
    if (!g) {
        struct fw_guard_val fresh = {};
        guard_state.update(&gk, &fresh);
        g = guard_state.lookup(&gk);
        if (!g)
            return XDP_PASS;
    }
    int ok = syn ? fw_gcra(&g->syn_tat, now, cfg->syn_interval_ns, cfg->syn_window_ns)
                 : fw_gcra(&g->udp_tat, now, cfg->udp_interval_ns, cfg->udp_window_ns);
    if (ok) {
        fw_stat(FW_STAT_GUARD_PASS);
        return XDP_PASS;
    }
    fw_stat(syn ? FW_STAT_GUARD_SYN_DROP : FW_STAT_GUARD_UDP_DROP);
    return XDP_DROP;
}
